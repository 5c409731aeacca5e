// Helpers a test suite shares: each calls k6/http and checks its answer.
import http from 'k6/http';
import { check } from 'k6';

export function listProducts(base) {
  const res = http.get(`${base}/products`, { tags: { name: 'list' } });
  check(res, { 'list ok': (r) => r.status === 200 });
  return res.json();
}

export function viewProduct(base, id) {
  const res = http.get(`${base}/product/${id}`, { tags: { name: 'view' } });
  check(res, { 'view ok': (r) => r.status === 200 });
  return res;
}

export function addToCart(base, product) {
  return http.post(`${base}/cart`, JSON.stringify({ items: [{ id: product.id, qty: 1 }] }), {
    headers: { 'Content-Type': 'application/json' },
    tags: { name: 'add to cart' },
  });
}
