// edge cases for the transform
import http from 'k6/http';
import * as k6 from 'k6';

export default function main() {
  const items = http.get(`${__ENV.BASE}/list`).json().items;
  const r = items ? http.get(`${__ENV.BASE}/a`) : http.get(`${__ENV.BASE}/b`);
  const msg = `status ${http.get(`${__ENV.BASE}/c`).status}`;
  for (const u of ['/d', '/e']) http.get(`${__ENV.BASE}${u}`);
  later();
  k6.sleep(0.01);
  function later() {
    return http.get(`${__ENV.BASE}/later`);
  }
  k6.check(r, { 'ok': (x) => x.status === 200, msg: () => msg.length > 0 });
}

function helper() { return 1; }
export { helper as util };
