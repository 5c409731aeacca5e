// The `name` tag groups dynamic URLs under one name; custom tags feed sub-metric thresholds.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: {
    'http_reqs{name:product}': ['count==10'],
    'http_reqs{page:detail}': ['count==10'],
    'http_req_duration{name:product}': ['max<2000'],
  },
};

export default function () {
  for (let id = 1; id <= 5; id++) {
    const res = http.get(`${__ENV.BASE}/product/${id}`, { tags: { name: 'product', page: 'detail' } });
    check(res, { 'product found': (r) => r.status === 200 });
  }
}
