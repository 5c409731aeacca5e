import { sleep } from 'k6';
const ready = await Promise.resolve(true);
export default function () {
  sleep(1);
}
