// k6/execution: the scenario's iteration in the test, the VU's ids and iterations, the scenario name.
import http from 'k6/http';
import { check } from 'k6';
import exec from 'k6/execution';

export const options = {
  scenarios: { catalog: { executor: 'shared-iterations', vus: 2, iterations: 6 } },
};

export default function () {
  const id = (exec.scenario.iterationInTest % 5) + 1;
  const res = http.get(`${__ENV.BASE}/product/${id}`, { tags: { name: `product-${id}` } });
  check(res, {
    'right product': (r) => r.json('id') === id,
    'scenario name': () => exec.scenario.name === 'catalog',
    'vu id in range': () => exec.vu.idInTest >= 1 && exec.vu.idInTest <= 2 && exec.vu.idInInstance >= 1,
    'vu iterations': () => exec.vu.iterationInScenario >= 0 && exec.vu.iterationInInstance >= 0,
  });
}
