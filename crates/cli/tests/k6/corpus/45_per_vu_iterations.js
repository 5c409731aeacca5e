// per-vu-iterations: each of 3 VUs runs exactly 4 iterations, so each VU's own name counts 4.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

export const options = {
  scenarios: { each: { executor: 'per-vu-iterations', vus: 3, iterations: 4, maxDuration: '3s' } },
  thresholds: { 'iterations{scenario:each}': ['count==12'] },
};

export default function () {
  const vu = exec.vu.idInTest;
  const res = http.get(`${__ENV.BASE}/echo?vu=${vu}`, { tags: { name: `vu-${vu}` } });
  check(res, { 'echo ok': (r) => r.status === 200 });
}
