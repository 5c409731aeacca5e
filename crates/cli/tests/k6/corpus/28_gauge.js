// A Gauge keeps the last value set (and its min and max): the price of the product seen last.
import http from 'k6/http';
import { Gauge } from 'k6/metrics';

const lastPrice = new Gauge('last_price');

export const options = {
  vus: 1,
  iterations: 3,
  thresholds: { last_price: ['value==30', 'value>40'] },
};

export default function () {
  for (const id of [5, 1, 3]) {
    lastPrice.add(http.get(`${__ENV.BASE}/product/${id}`).json('price'));
  }
}
