// options with scenarios and exec, setup/teardown, custom metrics, thresholds
import http from 'k6/http';
import { check, sleep } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const orders = new Counter('orders');
const cartTime = new Trend('cart_time', true);

export const options = {
  scenarios: {
    browse: { executor: 'constant-vus', vus: 5, duration: '10s', exec: 'browse' },
    buy: { executor: 'constant-arrival-rate', rate: 10, timeUnit: '1s', duration: '10s',
           preAllocatedVUs: 5, maxVUs: 20, exec: 'buy', startTime: '2s' },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{scenario:buy}': [{ threshold: 'p(95)<500', abortOnFail: true, delayAbortEval: '5s' }],
    orders: ['count>10'],
  },
};

export function setup() {
  const res = http.post(`${__ENV.BASE}/login`, JSON.stringify({ user: 'admin' }));
  return { token: res.json('token') };
}

export function browse(data) {
  http.get(`${__ENV.BASE}/products`, { headers: { Authorization: `Bearer ${data.token}` } });
  sleep(0.5);
}

export function buy(data) {
  const t0 = Date.now();
  const res = http.post(`${__ENV.BASE}/cart`, '{}');
  cartTime.add(Date.now() - t0);
  if (check(res, { 'added': (r) => r.status === 200 })) orders.add(1, { kind: 'web' });
}

export function teardown(data) {
  http.del(`${__ENV.BASE}/session`);
}
