// JSON request bodies and res.json() with and without a path (gjson syntax).
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const list = http.get(`${__ENV.BASE}/products`);
  check(list, {
    'five products': (r) => r.json().length === 5,
    'count via #': (r) => r.json('#') === 5,
    'third price': (r) => r.json('2.price') === 30,
  });
  const items = list.json().slice(0, 2).map((p) => ({ id: p.id, qty: p.id * 2 }));
  const res = http.post(`${__ENV.BASE}/cart`, JSON.stringify({ items }), {
    headers: { 'Content-Type': 'application/json' },
  });
  check(res, {
    'created': (r) => r.status === 201,
    'two lines': (r) => r.json('cart.items.#') === 2,
    'ids': (r) => JSON.stringify(r.json('cart.items.#.id')) === '[1,2]',
  });
}
