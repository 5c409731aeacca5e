// Two scenarios run different exported functions (exec), with their own env, tags and start time.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    browsers: { executor: 'shared-iterations', vus: 2, iterations: 6, exec: 'browse', tags: { flow: 'browse' } },
    buyers: { executor: 'per-vu-iterations', vus: 1, iterations: 3, exec: 'buy', env: { QTY: '2' }, startTime: '500ms' },
  },
  thresholds: {
    'http_reqs{flow:browse}': ['count==6'],
    'http_reqs{scenario:buyers}': ['count==3'],
  },
};

export function browse() {
  check(http.get(`${__ENV.BASE}/products`), { 'listed': (r) => r.status === 200 });
}

export function buy() {
  const res = http.post(`${__ENV.BASE}/cart`, JSON.stringify({ items: [{ id: 1, qty: Number(__ENV.QTY) }] }));
  check(res, { 'quantity from the scenario env': (r) => r.json('cart.items.0.qty') === 2 });
}
