import http from 'k6/http';
export default function () {
  const text = 'a b c'.replace(/\w/g, (w) => http.get(`http://127.0.0.1:1/${w}`).body);
}
