// setup() logs in once; its data (a token) reaches every iteration, and teardown() gets it too.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 2, iterations: 6 };

export function setup() {
  const res = http.post(`${__ENV.BASE}/api/login`, JSON.stringify({ user: 'admin', pass: 'secret' }), {
    headers: { 'Content-Type': 'application/json' },
  });
  check(res, { 'setup logged in': (r) => r.status === 200 });
  return { token: res.json('token') };
}

export default function (data) {
  const res = http.get(`${__ENV.BASE}/api/me`, { headers: { Authorization: `Bearer ${data.token}` } });
  check(res, { 'me is admin': (r) => r.json('user') === 'admin' });
}

export function teardown(data) {
  const res = http.post(`${__ENV.BASE}/echo`, JSON.stringify({ logout: data.token }));
  check(res, { 'teardown saw the token': (r) => r.json('body').includes('tok-admin') });
}
