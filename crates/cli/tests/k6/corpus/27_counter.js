// Counters fed from the answers (items bought, errors), with thresholds on their totals.
import http from 'k6/http';
import { Counter } from 'k6/metrics';

const itemsBought = new Counter('items_bought');
const cartErrors = new Counter('cart_errors');

export const options = {
  vus: 2,
  iterations: 6,
  thresholds: { items_bought: ['count==18'], cart_errors: ['count<1'] },
};

export default function () {
  const items = [{ id: 1, qty: 1 }, { id: 2, qty: 2 }];
  const res = http.post(`${__ENV.BASE}/cart`, JSON.stringify({ items }));
  const ok = res.status === 201;
  itemsBought.add(ok ? res.json('cart.items.0.qty') + res.json('cart.items.1.qty') : 0);
  cartErrors.add(ok ? 0 : 1);
}
