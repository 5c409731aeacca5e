// Every verb helper of k6/http against one echo endpoint; the echo says which method arrived.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const url = `${__ENV.BASE}/echo`;
  const body = JSON.stringify({ sku: 'A-1' });
  const params = { headers: { 'Content-Type': 'application/json' } };
  const responses = {
    GET: http.get(url),
    POST: http.post(url, body, params),
    PUT: http.put(url, body, params),
    PATCH: http.patch(url, body, params),
    DELETE: http.del(url, body, params),
    OPTIONS: http.options(url, null, params),
  };
  for (const [method, res] of Object.entries(responses)) {
    check(res, { 'echoed method': (r) => r.json('method') === method });
  }
  const head = http.head(url);
  check(head, { 'HEAD has no body': (r) => r.status === 200 && !r.body });
}
