import http from 'k6/http';
const token = http.get('http://127.0.0.1:1/token').body;
export default function () {}
