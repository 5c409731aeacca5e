// http.setResponseCallback: 200 and 404 are the expected answers, anything else counts as failed.
import http from 'k6/http';
import { check } from 'k6';

http.setResponseCallback(http.expectedStatuses(200, 404));

export const options = {
  vus: 1,
  iterations: 4,
  thresholds: { http_req_failed: ['rate==0.5'] },
};

export default function () {
  http.get(`${__ENV.BASE}/product/1`);
  const missing = http.get(`${__ENV.BASE}/product/404`);
  check(missing, { 'missing is 404': (r) => r.status === 404 });
  http.get(`${__ENV.BASE}/status/503`);
  http.get(`${__ENV.BASE}/status/201`);
}
