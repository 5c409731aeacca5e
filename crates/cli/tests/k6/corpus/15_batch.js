// http.batch with plain URLs, [method, url, body, params] arrays and request objects; answers in order.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const base = __ENV.BASE;
  const responses = http.batch([
    `${base}/products`,
    ['GET', `${base}/product/1`],
    ['POST', `${base}/cart`, JSON.stringify({ items: [] }), { tags: { name: 'cart' } }],
    { method: 'GET', url: `${base}/product/2`, params: { tags: { name: 'product' } } },
  ]);
  check(responses[0], { 'list ok': (r) => r.json('#') === 5 });
  check(responses[2], { 'cart created': (r) => r.status === 201 });
  check(responses[3], { 'second product': (r) => r.json('id') === 2 });
}
