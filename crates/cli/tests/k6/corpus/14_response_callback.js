// A per-request responseCallback: a status range plus one status, overriding the default 200–399.
import http from 'k6/http';

const okOrTeapot = http.expectedStatuses({ min: 200, max: 299 }, 418);

export const options = {
  vus: 1,
  iterations: 5,
  thresholds: {
    http_req_failed: ['rate<0.4'],
    'http_req_failed{expect:any}': ['rate==0'],
  },
};

export default function () {
  const base = __ENV.BASE;
  http.get(`${base}/status/418`, { responseCallback: okOrTeapot, tags: { name: 'teapot' } });
  http.get(`${base}/status/500`, {
    responseCallback: http.expectedStatuses(500),
    tags: { name: 'error page', expect: 'any' },
  });
  http.get(`${base}/status/302`, { responseCallback: okOrTeapot, redirects: 0, tags: { name: 'moved' } });
}
