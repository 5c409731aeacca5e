// An exception thrown mid-iteration ends that iteration only; the VU goes on with the next one.
import http from 'k6/http';
import { Counter } from 'k6/metrics';

const carts = new Counter('carts_filled');

export const options = { vus: 1, iterations: 5 };

export default function () {
  const id = __ITER + 1;
  http.get(`${__ENV.BASE}/product/${id}`, { tags: { name: 'product' } });
  if (id % 2 === 0) {
    throw new Error(`refusing even product ${id}`);
  }
  http.post(`${__ENV.BASE}/cart`, JSON.stringify({ items: [{ id }] }));
  carts.add(1);
}
