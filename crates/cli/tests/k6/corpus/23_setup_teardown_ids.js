// setup() reads test data from the API, iterations share it out, teardown() cleans up per id.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

export const options = { vus: 1, iterations: 4 };

export function setup() {
  const ids = http.get(`${__ENV.BASE}/products`).json('#.id');
  return { ids: ids.slice(0, 2) };
}

export default function (data) {
  const id = data.ids[exec.scenario.iterationInTest % data.ids.length];
  const res = http.get(`${__ENV.BASE}/product/${id}`);
  check(res, { 'product from setup': (r) => r.json('id') === id });
}

export function teardown(data) {
  for (const id of data.ids) {
    http.del(`${__ENV.BASE}/echo?id=${id}`);
  }
}
