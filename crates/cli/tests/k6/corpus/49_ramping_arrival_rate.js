// ramping-arrival-rate: from 5 to 10 iterations a second over 1 s, then 10 a second for 1 s.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-arrival-rate',
      startRate: 5,
      timeUnit: '1s',
      preAllocatedVUs: 2,
      maxVUs: 5,
      stages: [
        { duration: '1s', target: 10 },
        { duration: '1s', target: 10 },
      ],
    },
  },
  thresholds: { iterations: ['count>=10'], checks: ['rate==1'] },
};

export default function () {
  check(http.get(`${__ENV.BASE}/products`), { 'list ok': (r) => r.status === 200 });
}
