// Cookies do not outlive an iteration (k6 resets the VU's jar), and a new CookieJar starts empty.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 3 };

export default function () {
  const base = __ENV.BASE;
  const before = http.get(`${base}/cookies`);
  check(before, { 'no cookie at the start': (r) => Object.keys(r.json('cookies')).length === 0 });
  http.get(`${base}/cookies/set?visit=${__ITER}`);
  const res = http.get(`${base}/cookies`, { jar: new http.CookieJar() });
  check(res, { 'own jar is empty': (r) => Object.keys(r.json('cookies')).length === 0 });
}
