import { vu } from 'k6/execution';
export default function () {
  vu.tags.team = 'checkout';
}
