// group() returns its callback's value; a helper wraps its requests in a group of its own.
import http from 'k6/http';
import { check, group } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { 'http_reqs{group:::product page}': ['count==8'] },
};

function productPage(base, id) {
  return group('product page', () => {
    const res = http.get(`${base}/product/${id}`);
    http.get(`${base}/`);
    return res.json('price');
  });
}

export default function () {
  const total = productPage(__ENV.BASE, 1) + productPage(__ENV.BASE, 5);
  check(total, { 'total is 60': (t) => t === 60 });
}
