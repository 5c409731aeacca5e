import { sleep } from 'k6';
const pacing = {
  set delay(seconds) { sleep(seconds); },
};
export default function () {
  pacing.delay = 1;
}
