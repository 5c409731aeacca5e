import { sleep } from 'k6';
export default function () {
  const p = new Promise((resolve) => {
    sleep(1);
    resolve();
  });
}
