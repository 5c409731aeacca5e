// The `timeout` param: an answer slower than it is a failed request with status 0; a quick one passes.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2, thresholds: { http_req_failed: ['rate==0.5'] } };

export default function () {
  const slow = http.get(`${__ENV.BASE}/delay/1500`, { timeout: '300ms', tags: { name: 'slow' } });
  check(slow, { 'timed out': (r) => r.status === 0 && r.error_code === 1050 });
  const quick = http.get(`${__ENV.BASE}/delay/10`, { timeout: '2s', tags: { name: 'quick' } });
  check(quick, { 'quick ok': (r) => r.status === 200 });
}
