// indirect calls: a class client, an object of actions picked at run time, a retry(fn) wrapper
import http from 'k6/http';
import { check, sleep } from 'k6';

class Api {
  constructor(base) { this.base = base; this.calls = 0; }
  get(path) { this.calls++; return http.get(this.base + path); }
  get count() { return this.calls; }
}

const actions = {
  home: () => http.get(`${__ENV.BASE}/`),
  search(q) { return http.get(`${__ENV.BASE}/search?q=${q}`); },
};

function retry(fn, times) {
  for (let i = 0; i < times; i++) {
    const r = fn();
    if (r.status < 500) return r;
  }
  return null;
}

function pick(arr) { return arr[Math.floor(Math.random() * arr.length)]; }

const api = new Api(__ENV.BASE);

export default function () {
  const name = pick(Object.keys(actions));
  const res = actions[name]('shoes');
  check(res, { 'action ok': (r) => r.status === 200 });
  retry(() => api.get('/missing'), 2);
  actions.search('hats');
  sleep(0.01);
}
