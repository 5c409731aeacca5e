// user helpers that call http, group callbacks, checks, a response used in an expression
import http from 'k6/http';
import { check, group, sleep } from 'k6';

const BASE = __ENV.BASE;

function getJson(path) {
  const res = http.get(`${BASE}${path}`, { tags: { name: path } });
  check(res, { 'status 200': (r) => r.status === 200 });
  return res;
}

const login = (user) => http.post(`${BASE}/login`, JSON.stringify({ user })).status === 200;

export default function () {
  group('catalog', function () {
    getJson('/products');
    group('details', () => {
      const token = JSON.parse(getJson('/product/1').body).token;
      if (!token) throw new Error('no token');
    });
  });
  if (login(`user${__VU}`)) {
    check(http.get(`${BASE}/cart`), { 'cart ok': (r) => r.status === 200 });
  }
  sleep(0.01);
}
