export const options = {
  thresholds: {
    http_req_duraton: ['p(95)<500'],
  },
};
export default function () {}
