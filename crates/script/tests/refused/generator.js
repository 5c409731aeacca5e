import http from 'k6/http';
function* pages(base) {
  for (let i = 1; i <= 3; i++) yield http.get(`${base}/page/${i}`);
}
export default function () {
  for (const p of pages('http://127.0.0.1:1')) {}
}
