// discardResponseBodies drops bodies by default; responseType: 'text' keeps one where it is needed.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2, discardResponseBodies: true };

export default function () {
  const skipped = http.get(`${__ENV.BASE}/products`);
  check(skipped, { 'body discarded': (r) => r.status === 200 && r.body === null });
  const kept = http.get(`${__ENV.BASE}/product/1`, { responseType: 'text' });
  check(kept, { 'body kept': (r) => r.json('id') === 1 });
}
