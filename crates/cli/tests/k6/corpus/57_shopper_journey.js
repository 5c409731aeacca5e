// A whole shopper journey in groups: home, browse, form login (303 + cookie), account, cart.
import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Counter } from 'k6/metrics';

const orders = new Counter('orders');

export const options = {
  vus: 2,
  iterations: 4,
  thresholds: { checks: ['rate==1'], orders: ['count==4'], 'http_reqs{group:::login}': ['count==8'] },
};

export default function () {
  const base = __ENV.BASE;
  let ids = [];
  group('browse', () => {
    http.get(`${base}/`, { tags: { name: 'home' } });
    ids = http.get(`${base}/products`, { tags: { name: 'products' } }).json('#.id');
  });
  group('login', () => {
    const res = http.post(`${base}/login`, { user: `shopper${__VU}`, pass: 'secret' }, { tags: { name: 'login' } });
    check(res, { 'logged in': (r) => r.status === 200 && r.json('user') === `shopper${__VU}` });
  });
  sleep(0.1);
  group('buy', () => {
    const res = http.post(`${base}/cart`, JSON.stringify({ items: [{ id: ids[0], qty: 1 }] }), { tags: { name: 'cart' } });
    if (check(res, { 'order placed': (r) => r.status === 201 })) orders.add(1);
  });
}
