import http from 'k6/http';
function show(res = http.get('http://127.0.0.1:1/')) {
  return res.status;
}
export default function () {
  show();
}
