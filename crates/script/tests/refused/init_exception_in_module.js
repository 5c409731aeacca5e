import { base } from './lib/throws.js';
export default function () {}
