// A Trend of plain values (prices) and a time Trend fed from res.timings, with thresholds on both.
import http from 'k6/http';
import { Trend } from 'k6/metrics';

const price = new Trend('price');
const waiting = new Trend('product_waiting', true);

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: {
    price: ['min>=10', 'max<=50', 'avg==30', 'p(90)<=50'],
    product_waiting: ['max<2000'],
  },
};

export default function () {
  for (const p of http.get(`${__ENV.BASE}/products`).json()) {
    const res = http.get(`${__ENV.BASE}/product/${p.id}`, { tags: { name: 'product' } });
    price.add(res.json('price'));
    waiting.add(res.timings.waiting);
  }
}
