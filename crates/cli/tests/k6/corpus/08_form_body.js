// An object body is sent form-urlencoded, as a browser's form post.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 3 };

export default function () {
  const res = http.post(`${__ENV.BASE}/echo`, { user: 'ana', comment: 'two words & more' });
  check(res, {
    'form content type': (r) => r.json('headers.content-type') === 'application/x-www-form-urlencoded',
    'fields decoded': (r) => r.json('form.user') === 'ana' && r.json('form.comment') === 'two words & more',
  });
}
