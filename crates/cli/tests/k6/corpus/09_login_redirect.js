// A form login answered 303: k6 follows it with a GET that carries the new session cookie.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 3 };

export default function () {
  const res = http.post(`${__ENV.BASE}/login`, { user: `user${__ITER}`, pass: 'secret' });
  check(res, {
    'landed on the account': (r) => r.status === 200 && r.url === `${__ENV.BASE}/account`,
    'logged in as the user': (r) => r.json('user') === `user${__ITER}`,
  });
  const bad = http.post(`${__ENV.BASE}/login`, { user: 'eve', pass: 'guess' });
  check(bad, { 'wrong password refused': (r) => r.status === 401 });
}
