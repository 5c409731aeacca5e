import { check } from 'k6';
check(1, { 'one is one': (x) => x === 1 });
export default function () {}
