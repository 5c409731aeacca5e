// a realistic shop flow: SharedArray data, nested groups, tagged checks, thresholds on groups
import http from 'k6/http';
import { check, group, sleep, fail } from 'k6';
import { SharedArray } from 'k6/data';
import exec from 'k6/execution';

const users = new SharedArray('users', () => JSON.parse(open('./users.json')));

export const options = {
  stages: [{ duration: '10s', target: 20 }, { duration: '20s', target: 20 }],
  thresholds: { 'group_duration{group:::checkout}': ['p(95)<800'], checks: ['rate>0.99'] },
};

function addToCart(id, qty = 1) {
  const res = http.post(`${__ENV.BASE}/cart`, JSON.stringify({ id, qty }),
    { headers: { 'Content-Type': 'application/json' }, tags: { name: 'add-to-cart' } });
  if (!check(res, { 'added to cart': (r) => r.status === 200 }, { step: 'cart' })) {
    fail(`cart failed for ${id}`);
  }
  return res;
}

export default function () {
  const user = users[exec.vu.idInTest % users.length];
  group('browse', () => {
    http.get(`${__ENV.BASE}/`);
    for (const id of [1, 2, 3]) {
      http.get(`${__ENV.BASE}/product/${id}`, { tags: { name: 'product' } });
    }
  });
  group('checkout', () => {
    addToCart(2);
    group('payment', () => {
      const r = http.post(`${__ENV.BASE}/pay`, JSON.stringify({ user: user.name }));
      check(r, { 'paid': (x) => x.status === 200 });
    });
  });
  sleep(Math.random() * 0.02);
}
