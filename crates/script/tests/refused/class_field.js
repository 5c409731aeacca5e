import http from 'k6/http';
class Client {
  banner = http.get('http://127.0.0.1:1/banner').body;
}
export default function () {
  new Client();
}
