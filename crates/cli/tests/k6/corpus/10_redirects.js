// Redirect chains: followed by default (each hop is a request), kept as is with `redirects: 0`.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const followed = http.get(`${__ENV.BASE}/redirect/3`);
  check(followed, { 'followed to the end': (r) => r.status === 200 && r.url.endsWith('/redirect/0') });
  const kept = http.get(`${__ENV.BASE}/redirect/2`, { redirects: 0 });
  check(kept, { 'not followed': (r) => r.status === 302 && r.headers['Location'] === '/redirect/1' });
}
