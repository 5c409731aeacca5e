// __VU, __ITER and __ENV: a per-VU name, a per-iteration query and a default for a variable not set.
import http from 'k6/http';
import { check } from 'k6';

const PAGE_SIZE = Number(__ENV.PAGE_SIZE || '2');

export const options = {
  scenarios: { each: { executor: 'per-vu-iterations', vus: 3, iterations: 2 } },
};

export default function () {
  const res = http.get(`${__ENV.BASE}/echo?vu=${__VU}&iter=${__ITER}&size=${PAGE_SIZE}`, {
    tags: { name: `vu${__VU}` },
  });
  check(res, { 'query carries vu and iter': (r) => r.json('query') === `vu=${__VU}&iter=${__ITER}&size=2` });
}
