import http from 'k6/http';
import { randomIntBetween } from 'https://jslib.k6.io/k6-utils/1.4.0/index.js';
export default function () {
  http.get(`http://127.0.0.1:1/item/${randomIntBetween(1, 9)}`);
}
