// Thresholds on built-in metrics that all hold: the run exits 0.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 2,
  iterations: 10,
  thresholds: {
    http_reqs: ['count==20'],
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(95)<2000', 'max<3000'],
    checks: ['rate==1'],
    iterations: ['count==10'],
    'http_reqs{name:home}': ['count==10'],
  },
};

export default function () {
  check(http.get(`${__ENV.BASE}/`, { tags: { name: 'home' } }), { 'home ok': (r) => r.status === 200 });
  check(http.get(`${__ENV.BASE}/products`), { 'list ok': (r) => r.status === 200 });
}
