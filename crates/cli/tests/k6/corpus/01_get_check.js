// The simplest test: one GET per iteration and two checks on the answer.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 5 };

export default function () {
  const res = http.get(`${__ENV.BASE}/`);
  check(res, {
    'status is 200': (r) => r.status === 200,
    'title is the shop': (r) => r.body.includes('<title>Stampede shop</title>'),
  });
}
