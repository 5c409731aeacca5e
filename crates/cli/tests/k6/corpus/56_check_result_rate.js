// check() returns whether all its assertions held; a Rate of good journeys is fed from it.
import http from 'k6/http';
import { check } from 'k6';
import { Rate } from 'k6/metrics';

const journeyOk = new Rate('journey_ok');

export const options = { vus: 1, iterations: 4, thresholds: { journey_ok: ['rate>=0.75', 'rate==1'] } };

export default function () {
  const res = http.get(`${__ENV.BASE}/product/${__ITER + 3}`, { tags: { name: 'product' } });
  const ok = check(res, {
    'status 200': (r) => r.status === 200,
    'has a price': (r) => r.json('price') > 0,
  });
  journeyOk.add(ok);
}
