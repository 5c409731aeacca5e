// fail() ends the iteration with a message when a check does not hold; later iterations go on.
import http from 'k6/http';
import { check, fail } from 'k6';

export const options = { vus: 1, iterations: 4 };

export default function () {
  const code = __ITER % 2 === 0 ? 200 : 500;
  const res = http.get(`${__ENV.BASE}/status/${code}`, { tags: { name: 'status' } });
  if (!check(res, { 'status is 200': (r) => r.status === 200 })) {
    fail(`unexpected status ${res.status}`);
  }
  http.get(`${__ENV.BASE}/`, { tags: { name: 'next page' } });
}
