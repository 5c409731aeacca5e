// A Rate of products found, with one threshold that holds and one that fails (exit 99).
import http from 'k6/http';
import { Rate } from 'k6/metrics';

const found = new Rate('found');

export const options = {
  vus: 1,
  iterations: 2,
  thresholds: { found: ['rate>0.5', 'rate>0.9'] },
};

export default function () {
  for (let id = 1; id <= 6; id++) {
    const res = http.get(`${__ENV.BASE}/product/${id}`, { tags: { name: 'product' } });
    found.add(res.status === 200);
  }
}
