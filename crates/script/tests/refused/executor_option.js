export const options = {
  scenarios: {
    steady: { executor: 'constant-arrival-rate', rate: 20, duration: '1m', preAllocatedVUs: 5, startVUs: 2 },
  },
};
export default function () {}
