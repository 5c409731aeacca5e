export const options = {
  thresholds: {
    http_req_failed: ['rate<0.01'],
    http_req_duration: ['p95<500'],
  },
};
export default function () {}
