// A list of pages fetched with forEach, then checked with every() over map().
import http from 'k6/http';
import { check } from 'k6';

export const options = { vus: 1, iterations: 2 };
const PAGES = ['/', '/products', '/product/1', '/product/2'];

export default function () {
  const responses = [];
  PAGES.forEach((p) => responses.push(http.get(`${__ENV.BASE}${p}`)));
  check(responses.map((r) => r.status), { 'all pages 200': (s) => s.every((x) => x === 200) });
  PAGES.map((p) => `${__ENV.BASE}${p}?from=map`).forEach((url) => {
    check(http.get(url), { 'page ok': (r) => r.status === 200 });
  });
}
