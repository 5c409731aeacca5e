// http.url`` names a request by its template, so every product shares one name.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 3 };
const BASE = __ENV.BASE;

export default function () {
  for (const id of [1, 2]) {
    const res = http.get(http.url`${BASE}/product/${id}`);
    check(res, { 'id matches': (r) => r.json('id') === id });
  }
}
