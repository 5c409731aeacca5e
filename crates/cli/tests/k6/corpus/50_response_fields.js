// The Response object: status and status text, headers, body, url, timings and the request made.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };

export default function () {
  const res = http.get(`${__ENV.BASE}/product/2?ref=corpus`);
  check(res, {
    'status': (r) => r.status === 200 && r.status_text === '200 OK',
    'content type header': (r) => r.headers['Content-Type'] === 'application/json',
    'body is a string': (r) => typeof r.body === 'string' && r.body.length > 10,
    'final url': (r) => r.url === `${__ENV.BASE}/product/2?ref=corpus`,
    'timings': (r) => r.timings.duration >= 0 && r.timings.waiting >= 0,
    'request method': (r) => r.request.method === 'GET',
  });
}
