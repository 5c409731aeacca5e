export const options = {
  scenarios: {
    browse: { executor: 'constant-vu', vus: 5, duration: '10s' },
  },
};
export default function () {}
