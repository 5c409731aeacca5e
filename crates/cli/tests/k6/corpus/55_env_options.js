// Options computed from __ENV with defaults, as CI pipelines parametrise one script.
import http from 'k6/http';

const VUS = Number(__ENV.VUS || 2);
const ITERATIONS = Number(__ENV.ITERATIONS || 6);

export const options = {
  vus: VUS,
  iterations: ITERATIONS,
  thresholds: { iterations: [`count==${ITERATIONS}`], 'http_reqs{name:list}': [`count==${ITERATIONS}`] },
};

export default function () {
  http.get(`${__ENV.BASE}/products`, { tags: { name: 'list' } });
}
