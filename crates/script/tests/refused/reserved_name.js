import http from 'k6/http';
const __k6 = { base: 'http://127.0.0.1:1' };
export default function () {}
