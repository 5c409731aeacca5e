import http from 'k6/http';
const session = { get token() { return http.get('http://127.0.0.1:1/t').body; } };
export default function () { session.token; }
