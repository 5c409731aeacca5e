// array methods with blocking callbacks; http.batch; a non-blocking map stays sync
import http from 'k6/http';
import { check } from 'k6';

const BASE = __ENV.BASE;
const paths = ['/a', '/b', '/c'];
const urls = paths.map((p) => `${BASE}${p}`); // init: no request, stays sync

export default function () {
  urls.forEach((u) => http.get(u));
  const codes = urls.map((u) => http.get(u).status);
  const ok = codes.every((c) => c === 200);
  const found = paths.find((p) => http.get(`${BASE}${p}`).status === 404);
  const responses = http.batch([['GET', `${BASE}/x`], ['GET', `${BASE}/y`]]);
  responses.forEach((r) => check(r, { 'batch 200': (x) => x.status === 200 }));
  const sorted = [...codes].sort((a, b) => a - b);
  check(null, { 'all ok': () => ok && !found && sorted.length === 3 });
}
