// exec.test.abort() stops the whole test from inside an iteration; k6 then exits 108.
import http from 'k6/http';
import exec from 'k6/execution';

export const options = { vus: 1, iterations: 10 };

export default function () {
  const res = http.get(`${__ENV.BASE}/product/${__ITER + 1}`, { tags: { name: 'product' } });
  if (res.status === 404) {
    exec.test.abort('ran out of products');
  }
}
