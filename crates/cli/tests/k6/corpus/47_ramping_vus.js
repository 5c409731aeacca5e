// ramping-vus: from 1 to 3 VUs in 1 s, then down to 0 in 1 s; in-flight iterations finish.
import http from 'k6/http';
import { check, sleep } from 'k6';

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-vus',
      startVUs: 1,
      stages: [
        { duration: '1s', target: 3 },
        { duration: '1s', target: 0 },
      ],
    },
  },
  thresholds: { checks: ['rate==1'], http_req_failed: ['rate==0'] },
};

export default function () {
  check(http.get(`${__ENV.BASE}/`), { 'home ok': (r) => r.status === 200 });
  sleep(0.3);
}
