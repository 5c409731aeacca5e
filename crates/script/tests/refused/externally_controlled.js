export const options = {
  scenarios: {
    manual: { executor: 'externally-controlled', vus: 1, maxVUs: 10, duration: '10m' },
  },
};
export default function () {}
