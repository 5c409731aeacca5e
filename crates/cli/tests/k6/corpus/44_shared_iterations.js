// shared-iterations: 3 VUs share 12 iterations; however they split them, the totals are exact.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

export const options = {
  scenarios: { shared: { executor: 'shared-iterations', vus: 3, iterations: 12, maxDuration: '3s' } },
  thresholds: { iterations: ['count==12'] },
};

export default function () {
  const id = (exec.scenario.iterationInTest % 4) + 1;
  check(http.get(`${__ENV.BASE}/product/${id}`), { 'found': (r) => r.status === 200 });
}
