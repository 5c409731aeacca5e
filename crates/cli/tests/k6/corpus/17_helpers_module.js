// Helpers imported from a local module make the requests; the default function only composes them.
import { check } from 'k6';
import { listProducts, viewProduct, addToCart } from './lib/shop.js';

export const options = { vus: 1, iterations: 3 };

export default function () {
  const base = __ENV.BASE;
  const products = listProducts(base);
  const cheap = products.filter((p) => p.price <= 20);
  for (const p of cheap) {
    viewProduct(base, p.id);
  }
  const res = addToCart(base, cheap[0]);
  check(res, { 'added': (r) => r.status === 201 });
}
