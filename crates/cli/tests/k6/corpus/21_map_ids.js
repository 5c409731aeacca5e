// Ids read from one answer drive the next requests (filter and map over JSON), a check per product.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const base = __ENV.BASE;
  const ids = http.get(`${base}/products`).json().map((p) => p.id);
  const details = ids
    .filter((id) => id % 2 === 1)
    .map((id) => http.get(`${base}/product/${id}`, { tags: { name: 'odd product' } }));
  details.forEach((res) => check(res, { 'has sale tag': (r) => r.json('tags').includes('sale') }));
  check(details, { 'three odd products': (d) => d.length === 3 });
}
