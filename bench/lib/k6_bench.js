// k6 side of bench/run.sh. One script, three workloads chosen by MODE:
//   a: closed loop, VUS VUs, GET without sleep, for DURATION
//   b: ramping-vus 0 → VUS over RAMP then HOLD, each iteration a GET then sleep(THINK)
//   c: constant-arrival-rate RATE/s for DURATION, PRE..MAX VUs
// The end-of-test data goes to SUMMARY as JSON (handleSummary), with p(99).
import http from 'k6/http';
import { sleep } from 'k6';

const E = __ENV;
const workloads = {
  a: { executor: 'constant-vus', vus: Number(E.VUS), duration: E.DURATION },
  b: {
    executor: 'ramping-vus',
    startVUs: 0,
    stages: [
      { duration: E.RAMP, target: Number(E.VUS) },
      { duration: E.HOLD, target: Number(E.VUS) },
    ],
    gracefulRampDown: '0s',
  },
  c: {
    executor: 'constant-arrival-rate',
    rate: Number(E.RATE),
    timeUnit: '1s',
    duration: E.DURATION,
    preAllocatedVUs: Number(E.PRE),
    maxVUs: Number(E.MAX),
  },
};

export const options = {
  scenarios: { bench: workloads[E.MODE] },
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(99)'],
  discardResponseBodies: true,
};

export default function () {
  http.get(E.URL);
  if (E.MODE === 'b') sleep(Number(E.THINK));
}

export function handleSummary(data) {
  return { [E.SUMMARY]: JSON.stringify(data) };
}
