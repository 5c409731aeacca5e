// Test-wide tags (options.tags) reach every request; request tags add to them.
import http from 'k6/http';

export const options = {
  vus: 1,
  iterations: 3,
  tags: { team: 'shop' },
  thresholds: {
    'http_reqs{team:shop}': ['count==6'],
    'http_reqs{team:shop,kind:api}': ['count==3'],
  },
};

export default function () {
  http.get(`${__ENV.BASE}/`);
  http.get(`${__ENV.BASE}/products`, { tags: { kind: 'api' } });
}
