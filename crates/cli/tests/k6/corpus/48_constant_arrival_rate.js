// constant-arrival-rate: 10 iterations a second for 2 s, whatever the answers' speed.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    arrivals: {
      executor: 'constant-arrival-rate',
      rate: 10,
      timeUnit: '1s',
      duration: '2s',
      preAllocatedVUs: 2,
      maxVUs: 5,
    },
  },
  thresholds: { iterations: ['count>=15'], checks: ['rate==1'] },
};

export default function () {
  check(http.get(`${__ENV.BASE}/product/1`), { 'found': (r) => r.status === 200 });
}
