// Test users from a JSON file in a SharedArray; each VU logs in as its own user.
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';

const users = new SharedArray('users', () => JSON.parse(open('./data/users.json')));

export const options = {
  scenarios: { login: { executor: 'per-vu-iterations', vus: 3, iterations: 2 } },
};

export default function () {
  const user = users[(__VU - 1) % users.length];
  const res = http.post(`${__ENV.BASE}/api/login`, JSON.stringify(user), {
    headers: { 'Content-Type': 'application/json' },
  });
  check(res, { 'logged in': (r) => r.status === 200 });
}
