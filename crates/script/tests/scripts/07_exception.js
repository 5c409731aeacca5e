// a JS exception in an iteration: counted, reported with its line, the VU goes on
import http from 'k6/http';
import { check } from 'k6';

function parseToken(res) {
  return JSON.parse(res.body).missing.token; // TypeError on every response
}

export default function () {
  const res = http.get(`${__ENV.BASE}/login`);
  check(res, { 'ok': (r) => r.status === 200 });
  parseToken(res);
}
