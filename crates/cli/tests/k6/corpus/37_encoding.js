// k6/encoding: a Basic auth header built with b64encode, b64decode back, and URL-safe base64.
import http from 'k6/http';
import { check } from 'k6';
import encoding from 'k6/encoding';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const credentials = encoding.b64encode('ana:secret');
  const res = http.get(`${__ENV.BASE}/echo`, { headers: { Authorization: `Basic ${credentials}` } });
  check(res, {
    'basic header': (r) => r.json('headers.authorization') === 'Basic YW5hOnNlY3JldA==',
    'decodes back': (r) => encoding.b64decode(r.json('headers.authorization').slice(6), 'std', 's') === 'ana:secret',
    'url-safe': () => encoding.b64encode('a?b>c~', 'rawurl') === 'YT9iPmN-',
    'url-safe round trip': () => encoding.b64decode('YT9iPmN-', 'rawurl', 's') === 'a?b>c~',
  });
}
