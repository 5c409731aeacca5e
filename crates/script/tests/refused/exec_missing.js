export const options = {
  scenarios: {
    shoppers: { executor: 'per-vu-iterations', vus: 2, iterations: 5, exec: 'brose' },
  },
};
export function browse() {}
