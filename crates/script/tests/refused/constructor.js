import http from 'k6/http';
class Session {
  constructor(base) {
    this.token = http.post(`${base}/login`).json('token');
  }
}
export default function () {
  const s = new Session('http://127.0.0.1:1');
}
