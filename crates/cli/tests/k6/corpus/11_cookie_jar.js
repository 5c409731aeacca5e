// The per-VU cookie jar: cookies set by responses and by jar.set() go back to the server.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const base = __ENV.BASE;
  http.get(`${base}/cookies/set?flavor=chocolate`);
  const jar = http.cookieJar();
  jar.set(base, 'lang', 'en');
  check(jar.cookiesForURL(`${base}/cookies`), { 'jar holds flavor': (c) => c.flavor[0] === 'chocolate' });
  const res = http.get(`${base}/cookies`);
  check(res, {
    'server got flavor': (r) => r.json('cookies.flavor') === 'chocolate',
    'server got lang': (r) => r.json('cookies.lang') === 'en',
  });
  const own = http.get(`${base}/cookies`, { cookies: { extra: 'yes' } });
  check(own, { 'request cookie added': (r) => r.json('cookies.extra') === 'yes' && r.json('cookies.flavor') === 'chocolate' });
}
