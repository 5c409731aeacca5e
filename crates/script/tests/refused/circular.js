import { a } from './lib/cycle_a.js';
export default function () {
  a();
}
