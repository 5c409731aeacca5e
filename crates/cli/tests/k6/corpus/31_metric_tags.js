// Custom metric samples with tags, and thresholds on their tagged sub-metrics.
import http from 'k6/http';
import { Counter, Trend } from 'k6/metrics';

const orders = new Counter('orders');
const basket = new Trend('basket_size');

export const options = {
  vus: 1,
  iterations: 4,
  thresholds: {
    'orders{channel:web}': ['count==2'],
    'orders{channel:app}': ['count==2'],
    'basket_size{channel:app}': ['max==4', 'min==2'],
  },
};

export default function () {
  const channel = __ITER % 2 === 0 ? 'web' : 'app';
  const items = Array.from({ length: __ITER + 1 }, (_, i) => ({ id: i + 1 }));
  const res = http.post(`${__ENV.BASE}/cart`, JSON.stringify({ items }), { tags: { channel } });
  orders.add(1, { channel });
  basket.add(res.json('cart.items.#'), { channel });
}
