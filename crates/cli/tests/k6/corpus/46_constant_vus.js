// constant-vus: 2 VUs loop for 2 s with a pause; the counts depend on timing, but no check may fail.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  scenarios: { steady: { executor: 'constant-vus', vus: 2, duration: '2s' } },
  thresholds: { checks: ['rate==1'], http_reqs: ['count>=4'] },
};

export default function () {
  check(http.get(`${__ENV.BASE}/products`), { 'list ok': (r) => r.status === 200 });
  sleep(0.5);
}
