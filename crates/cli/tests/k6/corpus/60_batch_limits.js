// http.batch under the `batch` option: at most 2 requests in flight in all,
// whatever batchPerHost allows; 6 requests of 300 ms take three rounds.
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2, batch: 2, batchPerHost: 6 };

export default function () {
  const base = __ENV.BASE;
  const started = Date.now();
  const responses = http.batch([1, 2, 3, 4, 5, 6].map(() => ['GET', `${base}/delay/300`, null, { tags: { name: 'slow' } }]));
  const took = Date.now() - started;
  check(responses, { 'all answered': (rs) => rs.every((r) => r.status === 200) });
  // Three rounds of two: at least 900 ms (six at once would take 300 ms).
  check(took, { 'two at a time': (t) => t >= 880 });
}
