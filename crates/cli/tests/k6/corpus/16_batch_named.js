// http.batch with an object of named requests, the way a page load is modelled.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 2, iterations: 4 };

export default function () {
  const base = __ENV.BASE;
  const page = http.batch({
    home: ['GET', `${base}/`],
    list: { method: 'GET', url: `${base}/products` },
    three: `${base}/product/3`,
  });
  check(page.home, { 'home ok': (r) => r.status === 200 });
  check(page.list, { 'list ok': (r) => r.status === 200 });
  check(page.three, { 'three costs 30': (r) => r.json('price') === 30 });
}
