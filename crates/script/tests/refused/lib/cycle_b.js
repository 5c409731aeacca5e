import { a } from './cycle_a.js';
export function b() { return 1; }
export function c() { return a(); }
