// Checks with tags of their own, and thresholds on the tagged `checks` sub-metrics (one fails: exit 99).
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  vus: 1,
  iterations: 3,
  thresholds: {
    'checks{area:catalog}': ['rate==1'],
    'checks{area:account}': ['rate==1'],
  },
};

export default function () {
  const list = http.get(`${__ENV.BASE}/products`);
  check(list, { 'catalog answers': (r) => r.status === 200 }, { area: 'catalog' });
  const me = http.get(`${__ENV.BASE}/account`);
  check(
    me,
    { 'account needs a login': (r) => r.status === 401, 'account open': (r) => r.status === 200 },
    { area: 'account' },
  );
}
