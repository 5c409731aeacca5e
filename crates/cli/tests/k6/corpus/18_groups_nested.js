// Nested groups with checks inside; group-tagged sub-metric thresholds count their own requests.
import http from 'k6/http';
import { check, group } from 'k6';

export const options = {
  vus: 1,
  iterations: 3,
  thresholds: {
    'http_reqs{group:::shop}': ['count==3'],
    'http_reqs{group:::shop::browse}': ['count==6'],
    'http_reqs{group:::shop::checkout}': ['count==3'],
    'checks{group:::shop::checkout}': ['rate==1'],
  },
};

export default function () {
  const base = __ENV.BASE;
  group('shop', function () {
    http.get(`${base}/`);
    group('browse', function () {
      http.get(`${base}/products`);
      http.get(`${base}/product/4`);
    });
    group('checkout', function () {
      const res = http.post(`${base}/cart`, JSON.stringify({ items: [{ id: 4 }] }));
      check(res, { 'cart created': (r) => r.status === 201 });
    });
  });
}
