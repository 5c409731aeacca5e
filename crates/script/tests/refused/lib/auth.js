import http from 'k6/http';
export function login() {
  return http.post('http://127.0.0.1:1/login');
}
