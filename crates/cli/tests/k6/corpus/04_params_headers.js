// Request params: per-request headers, the userAgent option, and the echo of what was sent.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 4, userAgent: 'stampede-corpus/1.0' };

export default function () {
  const res = http.get(`${__ENV.BASE}/echo`, {
    headers: { 'X-Request-Id': `req-${__ITER}`, Accept: 'application/json' },
  });
  check(res, {
    'user agent from options': (r) => r.json('headers.user-agent') === 'stampede-corpus/1.0',
    'request id': (r) => r.json('headers.x-request-id') === `req-${__ITER}`,
    'accept': (r) => r.json('headers.accept') === 'application/json',
  });
}
