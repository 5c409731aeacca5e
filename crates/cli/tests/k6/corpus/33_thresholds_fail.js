// Thresholds that fail (checks and errors): the run still completes every iteration, then exits 99.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 4,
  thresholds: {
    checks: ['rate>0.9'],
    http_req_failed: ['rate<0.1'],
    'http_req_duration{name:missing}': ['p(99)<3000'],
  },
};

export default function () {
  http.get(`${__ENV.BASE}/products`);
  const res = http.get(`${__ENV.BASE}/product/99`, { tags: { name: 'missing' } });
  check(res, { 'product exists': (r) => r.status === 200 });
}
