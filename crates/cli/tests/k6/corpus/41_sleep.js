// sleep() between requests: think time counts in the iteration duration, not in the request timings.
import http from 'k6/http';
import { sleep } from 'k6';

export const options = {
  vus: 2,
  iterations: 4,
  thresholds: { iteration_duration: ['min>=300'], http_req_duration: ['max<300'] },
};

export default function () {
  http.get(`${__ENV.BASE}/`);
  sleep(0.2);
  http.get(`${__ENV.BASE}/products`);
  sleep(0.1);
}
