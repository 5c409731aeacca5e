// A CSV file parsed by hand into a SharedArray (no papaparse); each row is checked against the API.
import http from 'k6/http';
import { check } from 'k6';
import { SharedArray } from 'k6/data';
import exec from 'k6/execution';

const rows = new SharedArray('products', function () {
  const [header, ...lines] = open('./data/products.csv').trim().split('\n');
  const keys = header.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    return Object.fromEntries(keys.map((k, i) => [k, cells[i]]));
  });
});

export const options = { vus: 2, iterations: 8 };

export default function () {
  const row = rows[exec.scenario.iterationInTest % rows.length];
  const res = http.get(`${__ENV.BASE}/product/${row.id}`, { tags: { name: 'product' } });
  check(res, {
    'name matches': (r) => r.json('name') === row.name,
    'price matches': (r) => r.json('price') === Number(row.price),
  });
}
