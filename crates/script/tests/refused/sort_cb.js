import http from 'k6/http';
export default function () {
  const ids = [3, 1, 2];
  ids.sort((a, b) => http.get(`http://127.0.0.1:1/cmp?a=${a}&b=${b}`).status - 200);
}
