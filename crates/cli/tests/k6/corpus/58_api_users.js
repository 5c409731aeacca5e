// An API test: users from a SharedArray get a token each iteration, then call the API with it.
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import exec from 'k6/execution';
import { Trend } from 'k6/metrics';

const users = new SharedArray('api users', () => JSON.parse(open('./data/users.json')));
const basketValue = new Trend('basket_value');
const json = { headers: { 'Content-Type': 'application/json' } };

export const options = {
  scenarios: { api: { executor: 'shared-iterations', vus: 2, iterations: 6 } },
  thresholds: { 'checks{step:token}': ['rate>0.6'], basket_value: ['max==60'] },
};

export default function () {
  const user = users[exec.scenario.iterationInTest % users.length];
  const login = http.post(`${__ENV.BASE}/api/login`, JSON.stringify(user), { ...json, tags: { name: 'token' } });
  if (!check(login, { 'token issued': (r) => r.status === 200 }, { step: 'token' })) return;
  const auth = { headers: { Authorization: `Bearer ${login.json('token')}` }, tags: { name: 'me' } };
  check(http.get(`${__ENV.BASE}/api/me`, auth), { 'me matches': (r) => r.json('user') === user.user });
  const product = http.get(`${__ENV.BASE}/product/${(exec.scenario.iterationInTest % 3) + 2}`, { tags: { name: 'product' } });
  basketValue.add(product.json('price') * 2);
}
