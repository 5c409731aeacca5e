// Idle VUs for bench/js-memory.sh: VUS VUs, each suspended in sleep() for the whole
// test, the shape of a k6 VU between requests (module instance + suspended frame).
import { sleep } from 'k6';

export const options = {
  scenarios: {
    idle: { executor: 'constant-vus', vus: Number(__ENV.VUS), duration: __ENV.DURATION, gracefulStop: '0s' },
  },
};

const visited = [];

export default function () {
  visited.push(__ITER);
  sleep(3600);
}
