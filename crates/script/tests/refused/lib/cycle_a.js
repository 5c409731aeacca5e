import { b } from './cycle_b.js';
export function a() { return b(); }
