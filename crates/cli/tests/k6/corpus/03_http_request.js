// http.request() with the method as a string, a body and params, as generic helpers use it.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 3 };

function call(method, path, body) {
  return http.request(method, `${__ENV.BASE}${path}`, body, { headers: { 'X-Client': 'corpus' } });
}

export default function () {
  const created = call('POST', '/cart', JSON.stringify({ items: [{ id: 1, qty: 2 }] }));
  check(created, { 'cart created': (r) => r.status === 201 && r.json('cart.items.0.qty') === 2 });
  const echoed = call('PUT', '/echo', 'plain text');
  check(echoed, {
    'header sent': (r) => r.json('headers.x-client') === 'corpus',
    'body sent': (r) => r.json('body') === 'plain text',
  });
  const gone = call('DELETE', '/product/9');
  check(gone, { 'unknown product is 404': (r) => r.status === 404 });
}
