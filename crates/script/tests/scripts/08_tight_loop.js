// bench part a's shape: 50 VUs looping http.get, no sleep
import http from 'k6/http';
export default function () {
  http.get(`${__ENV.BASE}/`);
}
