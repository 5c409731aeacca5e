// Run time's k6, one per worker thread, shared by every VU of the worker:
// each host function acts on the VU that runs now (the driver sets it before
// resuming a VU). Blocking calls (requests, sleep) return promises the
// transformed script awaits; the worker's engine performs them.
(function (host) {
  "use strict";

  const flatTags = (tags) => {
    const out = [];
    if (tags !== undefined && tags !== null && typeof tags === 'object') {
      for (const k of Object.keys(tags)) {
        const v = tags[k];
        if (v === undefined || v === null) continue;
        out.push(String(k), String(v));
      }
    }
    return out;
  };

  // ---- k6 ----
  const checkResult = (name, r, tags) => {
    const pass = !!r;
    host.check(String(name), pass, tags);
    return pass;
  };
  const check = (val, sets, tags) => {
    const t = flatTags(tags);
    let all = true;
    if (sets === undefined || sets === null) return true;
    for (const name of Object.keys(sets)) {
      const f = sets[name];
      let r = f;
      if (typeof f === 'function') {
        try {
          r = f(val);
        } catch (e) {
          // As k6: a callback that throws is a failed check, then the exception goes on.
          checkResult(name, false, t);
          throw e;
        }
      }
      if (!checkResult(name, r, t)) all = false;
    }
    return all;
  };
  const checkAsync = async (val, sets, tags) => {
    const t = flatTags(tags);
    let all = true;
    if (sets === undefined || sets === null) return true;
    for (const name of Object.keys(sets)) {
      const f = sets[name];
      let r = f;
      if (typeof f === 'function') {
        try {
          r = await f(val);
        } catch (e) {
          checkResult(name, false, t);
          throw e;
        }
      }
      if (!checkResult(name, r, t)) all = false;
    }
    return all;
  };
  const groupName = (name) => {
    const n = String(name);
    if (n.includes('::')) throw new Error(`group and check names may not contain '::': ${n}`);
    return n;
  };
  const group = (name, fn) => {
    host.groupEnter(groupName(name));
    try {
      return fn();
    } finally {
      host.groupExit();
    }
  };
  const groupAsync = async (name, fn) => {
    host.groupEnter(groupName(name));
    try {
      return await fn();
    } finally {
      host.groupExit();
    }
  };
  const k6 = {
    check,
    group,
    sleep: (s) => host.sleep(Number(s)),
    fail: (message) => { throw new Error(message === undefined ? 'fail() called' : String(message)); },
    randomSeed: (seed) => host.randomSeed(Number(seed)),
  };

  // ---- k6/http ----
  const canonical = (name) => String(name).split('-').map((p) => p.charAt(0).toUpperCase() + p.slice(1).toLowerCase()).join('-');
  const formEncode = (obj) => Object.keys(obj)
    .map((k) => `${encodeURIComponent(k).replace(/%20/g, '+')}=${encodeURIComponent(obj[k] === undefined || obj[k] === null ? '' : String(obj[k])).replace(/%20/g, '+')}`)
    .join('&');
  const isFile = (v) => v !== null && typeof v === 'object' && v.__k6file === true;
  const multipart = (obj) => {
    const boundary = `----stampede${host.boundary()}`;
    const parts = [];
    for (const k of Object.keys(obj)) {
      const v = obj[k];
      if (isFile(v)) {
        parts.push({ head: `--${boundary}\r\nContent-Disposition: form-data; name="${k}"; filename="${v.filename}"\r\nContent-Type: ${v.content_type}\r\n\r\n`, data: v.data });
      } else {
        parts.push({ head: `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n`, data: String(v) });
      }
    }
    return { boundary, body: host.multipart(parts, `--${boundary}--\r\n`) };
  };
  const durationMs = (v) => {
    if (typeof v === 'number') return v;
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(v).trim());
    if (!m) throw new TypeError(`invalid timeout '${v}' (e.g. 500ms, 10s, 1m)`);
    const n = Number(m[1]);
    return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60000 : m[2] === 'h' ? n * 3600000 : n * 1000;
  };

  // The common part of GJSON paths k6's res.json(selector) takes: keys,
  // array indexes, `#` (the length) and `#.rest` (rest of the path on each element).
  const gjson = (v, keys) => {
    for (let i = 0; i < keys.length; i++) {
      if (v === null || v === undefined) return undefined;
      const key = keys[i];
      if (key === '#' && Array.isArray(v)) {
        if (i === keys.length - 1) return v.length;
        const rest = keys.slice(i + 1);
        return v.map((e) => gjson(e, rest)).filter((e) => e !== undefined);
      }
      v = v[key];
    }
    return v;
  };

  // A response arrives from the host as [status, method, url, proto, body,
  // headers ("name\0value\0…", lower-case names), error, error_code,
  // then the 7 timings in ms]; headers, timings and request are built on first use.
  const timingNames = ['duration', 'blocked', 'connecting', 'tls_handshaking', 'sending', 'waiting', 'receiving'];
  class Response {
    // Seven fields now; headers, timings, request, cookies and the parsed
    // JSON are made on first use (a tight loop that never reads them pays
    // for none of them).
    constructor(raw) {
      this.status = raw[0];
      this.url = raw[2];
      this.body = raw[4];
      this.error = raw[6];
      this.error_code = raw[7];
      this.proto = raw[3];
      this._raw = raw;
    }
    get headers() {
      if (this._headers === undefined) {
        const o = {};
        const parts = this._raw[5] === '' ? [] : this._raw[5].split('\0');
        for (let i = 0; i + 1 < parts.length; i += 2) {
          const k = canonical(parts[i]);
          o[k] = o[k] === undefined ? parts[i + 1] : `${o[k]}, ${parts[i + 1]}`;
        }
        this._headers = o;
      }
      return this._headers;
    }
    set headers(v) { this._headers = v; }
    get timings() {
      if (this._timings === undefined) {
        const o = {};
        const raw = this._raw;
        for (let i = 0; i < timingNames.length; i++) o[timingNames[i]] = raw[8 + i];
        this._timings = o;
      }
      return this._timings;
    }
    set timings(v) { this._timings = v; }
    get status_text() { return host.statusText(this.status); }
    get request() {
      if (this._request === undefined) this._request = { method: this._raw[1], url: this._raw[2], body: '', headers: {}, cookies: {} };
      return this._request;
    }
    set request(v) { this._request = v; }
    get cookies() {
      if (this._cookies === undefined) this._cookies = host.responseCookies(this.headers['Set-Cookie'] || '', this.url);
      return this._cookies;
    }
    json(selector) {
      if (this.body === null || this.body === undefined) {
        throw new Error('the response has no body (responseType none, or discardResponseBodies)');
      }
      if (this._json === undefined) this._json = JSON.parse(typeof this.body === 'string' ? this.body : host.utf8(this.body));
      if (selector === undefined) return this._json;
      return gjson(this._json, String(selector).split('.'));
    }
    // k6's Selection of the body's document, parsed once (html.rs);
    // html(selector) is html().find(selector).
    html(selector) {
      if (this.body === null || this.body === undefined) {
        throw new Error("the body is null so we can't transform it to HTML - this likely was because of a request error getting the response");
      }
      if (this._html === undefined || this._htmlOf !== this.body) {
        this._html = host.html.parse(typeof this.body === 'string' ? this.body : host.utf8(this.body), this.url);
        this._htmlOf = this.body;
      }
      return selector === undefined ? this._html : this._html.find(selector);
    }
    clickLink() { throw new Error('res.clickLink() is not supported'); }
    submitForm() { throw new Error('res.submitForm() is not supported'); }
  }

  let responseCallback = null; // null: k6's default (200–399 expected)
  const statusesOf = (cb) => (cb === null ? null : cb.expectedStatuses);
  const expectedStatuses = (...statuses) => {
    const flat = [];
    for (const s of statuses) {
      if (typeof s === 'number') flat.push(s, s);
      else if (s && typeof s === 'object' && 'min' in s && 'max' in s) flat.push(Number(s.min), Number(s.max));
      else throw new TypeError('expectedStatuses takes status codes and {min, max} ranges');
    }
    return { expectedStatuses: flat };
  };

  // Response types as the host takes them.
  const responseTypes = { text: 0, binary: 1, none: 2 };
  let defaultType; // the run's (discardResponseBodies), read once
  const NONE = Object.freeze([]);
  // A request as the host takes it: [METHOD, url, body, headers (flat),
  // name, tags (flat), timeout ms, redirects, response type, expected
  // statuses (flat ranges), jar]; -1 or null: the default.
  const prepare = (method, url, body, params) => {
    if (defaultType === undefined) defaultType = responseTypes[host.defaultResponseType()];
    if ((params === undefined || params === null) && (body === null || body === undefined) && typeof url === 'string') {
      // The common case (`http.get(url)`): nothing to read or convert.
      return [method, url, null, NONE, null, NONE, -1, -1, defaultType, statusesOf(responseCallback), -1];
    }
    const p = params === undefined || params === null ? {} : params;
    let name;
    if (url !== null && typeof url === 'object' && url.__k6url === true) {
      name = url.name;
      url = url.url;
    }
    const headers = [];
    let hasContentType = false;
    if (p.headers) {
      for (const k of Object.keys(p.headers)) {
        const v = p.headers[k];
        if (v === undefined || v === null) continue;
        if (k.toLowerCase() === 'content-type') hasContentType = true;
        headers.push(String(k), String(v));
      }
    }
    const tags = [];
    if (p.tags) {
      for (const k of Object.keys(p.tags)) {
        const v = p.tags[k];
        if (v === undefined || v === null) continue;
        if (k === 'name') name = String(v);
        else tags.push(String(k), String(v));
      }
    }
    if (p.auth !== undefined && p.auth !== 'basic') {
      throw new Error(`auth '${p.auth}' is not supported (basic is: credentials in the URL)`);
    }
    let payload = body === undefined ? null : body;
    if (payload !== null && typeof payload === 'object' && !(payload instanceof ArrayBuffer) && !ArrayBuffer.isView(payload)) {
      if (Object.keys(payload).some((k) => isFile(payload[k]))) {
        const m = multipart(payload);
        payload = m.body;
        if (!hasContentType) headers.push('Content-Type', `multipart/form-data; boundary=${m.boundary}`);
      } else {
        payload = formEncode(payload);
        if (!hasContentType) headers.push('Content-Type', 'application/x-www-form-urlencoded');
      }
    } else if (payload !== null && typeof payload !== 'string' && !(payload instanceof ArrayBuffer)) {
      if (ArrayBuffer.isView(payload)) payload = payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength);
      else payload = String(payload);
    }
    if (p.cookies) {
      const pairs = [];
      for (const k of Object.keys(p.cookies)) {
        const c = p.cookies[k];
        const v = c !== null && typeof c === 'object' ? c.value : c;
        pairs.push(`${k}=${v}`);
      }
      if (pairs.length > 0) headers.push('Cookie', pairs.join('; '));
    }
    const cb = p.responseCallback !== undefined ? p.responseCallback : responseCallback;
    const rt = p.responseType === undefined ? defaultType : responseTypes[String(p.responseType)];
    if (typeof rt !== 'number') throw new TypeError(`unknown responseType '${p.responseType}' (text, binary or none)`);
    return [
      String(method).toUpperCase(),
      String(url),
      payload,
      headers,
      name === undefined ? null : String(name),
      tags,
      p.timeout === undefined ? -1 : durationMs(p.timeout),
      p.redirects === undefined ? -1 : Number(p.redirects),
      rt,
      statusesOf(cb === undefined ? null : cb),
      p.jar === undefined || p.jar === null ? -1 : p.jar._own,
    ];
  };
  const requestOf = (args) => ({ method: args[0], url: args[1], body: args[2] === null ? '' : args[2], headers: {}, cookies: {} });
  // The host resolves the promise through settle(resolve, raw) itself (no extra job).
  const send = (method, url, body, params) => host.request(prepare(method, url, body, params));
  const batch = (reqs) => {
    const list = Array.isArray(reqs) ? reqs.map((r, i) => [i, r]) : Object.keys(reqs).map((k) => [k, reqs[k]]);
    const prepared = list.map(([, r]) => {
      if (typeof r === 'string') return prepare('GET', r, null, undefined);
      if (Array.isArray(r)) return prepare(String(r[0]).toUpperCase(), r[1], r[2], r[3]);
      if (r !== null && typeof r === 'object' && r.__k6url === true) return prepare('GET', r, null, undefined);
      return prepare(r.method === undefined ? 'GET' : String(r.method).toUpperCase(), r.url, r.body, r.params);
    });
    return host.batch(prepared).then((raws) => {
      const out = Array.isArray(reqs) ? [] : {};
      list.forEach(([key], i) => { out[key] = new Response(raws[i]); });
      return out;
    });
  };
  class CookieJar {
    constructor() { this._own = host.newJar(); }
    cookiesForURL(url) { return host.jarCookies(this._own, String(url)); }
    set(url, name, value, options) { host.jarSet(this._own, String(url), String(name), String(value), options || {}); }
    clear(url) { host.jarClear(this._own, String(url)); }
    delete(url, name) { host.jarDelete(this._own, String(url), String(name)); }
  }
  const vuJar = new CookieJar();
  vuJar._own = 0; // 0: the running VU's own jar
  const http = {
    // The common case straight to the host: nothing to prepare.
    get: (url, params) => (params === undefined && typeof url === 'string' ? host.get(url) : send('GET', url, null, params)),
    head: (url, params) => send('HEAD', url, null, params),
    post: (url, body, params) => send('POST', url, body, params),
    put: (url, body, params) => send('PUT', url, body, params),
    patch: (url, body, params) => send('PATCH', url, body, params),
    del: (url, body, params) => send('DELETE', url, body, params),
    options: (url, body, params) => send('OPTIONS', url, body, params),
    request: (method, url, body, params) => send(String(method).toUpperCase(), url, body, params),
    batch,
    url: (strings, ...values) => ({
      __k6url: true,
      name: strings.join('${}'),
      url: String.raw({ raw: strings }, ...values),
      toString() { return this.url; },
    }),
    file: (data, filename, contentType) => ({
      __k6file: true,
      data,
      filename: filename === undefined ? `file-${Date.now()}` : String(filename),
      content_type: contentType === undefined ? 'application/octet-stream' : String(contentType),
    }),
    cookieJar: () => vuJar,
    CookieJar,
    expectedStatuses,
    setResponseCallback: (cb) => {
      responseCallback = cb === undefined ? null : cb;
      host.setExpected(statusesOf(responseCallback));
    },
  };

  // ---- k6/metrics ----
  const metric = (kind) => class {
    constructor(name, isTime) {
      this.name = String(name);
      this._id = host.metricId(kind, this.name, !!isTime);
    }
    add(value, tags) {
      if (kind === 'Rate') {
        host.metricAdd(this._id, value ? 1 : 0, flatTags(tags));
      } else {
        const v = Number(value);
        if (Number.isNaN(v)) throw new TypeError(`${this.name}.add(): '${value}' is not a number`);
        host.metricAdd(this._id, v, flatTags(tags));
      }
      return true;
    }
  };
  const metrics = { Counter: metric('Counter'), Gauge: metric('Gauge'), Rate: metric('Rate'), Trend: metric('Trend') };

  // ---- k6/data: one copy per worker, frozen, shared by its VUs ----
  const sharedArrays = new Map();
  const deepFreeze = (v) => {
    if (v !== null && typeof v === 'object') {
      Object.freeze(v);
      for (const k of Object.keys(v)) deepFreeze(v[k]);
    }
    return v;
  };
  class SharedArray {
    constructor(name, fn) {
      if (name === undefined || name === null || String(name) === '') throw new TypeError('SharedArray needs a non-empty name');
      const key = String(name);
      if (sharedArrays.has(key)) return sharedArrays.get(key);
      if (typeof fn !== 'function') throw new TypeError('SharedArray needs a function that returns an array');
      const items = fn();
      if (!Array.isArray(items)) throw new TypeError('only arrays can be made into a SharedArray');
      const copy = deepFreeze(JSON.parse(JSON.stringify(items)));
      sharedArrays.set(key, copy);
      return copy;
    }
  }

  // ---- k6/execution ----
  const exec = {
    vu: {
      get idInTest() { return host.vuId(); },
      get idInInstance() { return host.vuId(); },
      get iterationInInstance() { return host.iter(); },
      get iterationInScenario() { return host.iter(); },
      get tags() { return {}; },
    },
    scenario: {
      get name() { return host.scenarioName(); },
      get iterationInTest() { return host.iterationInTest(); },
      get iterationInInstance() { return host.iter(); },
      get executor() { return host.executor(); },
      get startTime() { return host.scenarioStart(); },
      get progress() { return 0; },
    },
    instance: {
      get vusActive() { return host.vusActive(); },
      get vusInitialized() { return host.vusActive(); },
      get iterationsCompleted() { return 0; },
      get iterationsInterrupted() { return 0; },
      get currentTestRunDuration() { return host.testDuration(); },
    },
    test: {
      abort: (reason) => {
        host.abort(reason === undefined ? '' : String(reason));
        throw new Error(`test aborted${reason === undefined ? '' : `: ${reason}`}`);
      },
      get options() { return host.options(); },
    },
  };

  // ---- k6/encoding ----
  const encoding = {
    b64encode: (input, enc) => host.b64encode(typeof input === 'string' ? input : Array.from(new Uint8Array(input)), enc === undefined ? 'std' : String(enc)),
    b64decode: (input, enc, format) => host.b64decode(String(input), enc === undefined ? 'std' : String(enc), format === undefined ? '' : String(format)),
  };

  // ---- k6/crypto ----
  const bytesOrText = (v) => (typeof v === 'string' ? v : Array.from(new Uint8Array(v)));
  const crypto = {
    md5: (input, enc) => host.hash('md5', bytesOrText(input), enc === undefined ? 'binary' : String(enc)),
    sha1: (input, enc) => host.hash('sha1', bytesOrText(input), enc === undefined ? 'binary' : String(enc)),
    sha256: (input, enc) => host.hash('sha256', bytesOrText(input), enc === undefined ? 'binary' : String(enc)),
    sha384: (input, enc) => host.hash('sha384', bytesOrText(input), enc === undefined ? 'binary' : String(enc)),
    sha512: (input, enc) => host.hash('sha512', bytesOrText(input), enc === undefined ? 'binary' : String(enc)),
    hmac: (alg, key, input, enc) => host.hmac(String(alg), bytesOrText(key), bytesOrText(input), enc === undefined ? 'binary' : String(enc)),
    randomBytes: (n) => host.randomBytes(Number(n)),
  };

  const modules = {
    'k6': k6,
    'k6/http': http,
    'k6/metrics': metrics,
    'k6/data': { SharedArray },
    'k6/execution': exec,
    'k6/encoding': encoding,
    'k6/crypto': crypto,
    'k6/html': { parseHTML: host.html.parseHTML },
  };

  const text = (v) => {
    if (typeof v === 'string') return v;
    if (v instanceof Error) return String(v);
    try {
      const j = JSON.stringify(v);
      return j === undefined ? String(v) : j;
    } catch (_) {
      return String(v);
    }
  };
  const log = (level) => (...args) => host.log(level, args.map(text).join(' '));
  const console = { log: log('info'), info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') };

  Object.defineProperty(globalThis, 'console', { value: console, writable: true, configurable: true });
  Object.defineProperty(globalThis, 'open', {
    value: (path, mode) => host.open(String(path), mode === undefined ? '' : String(mode)),
    writable: true,
    configurable: true,
  });
  Object.defineProperty(globalThis, '__ENV', { get: () => host.envs[host.scenarioIndex()] || host.env, configurable: false });
  Object.defineProperty(globalThis, '__VU', { get: () => host.vuId(), configurable: false });
  Object.defineProperty(globalThis, '__ITER', { get: () => host.iter(), configurable: false });
  Math.random = () => host.random();

  // The array methods as sequential async loops (callbacks that block).
  const entriesOf = (recv) => {
    if (recv instanceof Map) return Array.from(recv, ([k, v]) => [v, k]);
    if (recv instanceof Set) return Array.from(recv, (v) => [v, v]);
    return Array.from(recv, (v, i) => [v, i]);
  };
  const A = {
    async forEach(recv, cb, thisArg) {
      for (const [v, k] of entriesOf(recv)) await cb.call(thisArg, v, k, recv);
    },
    async map(recv, cb, thisArg) {
      const out = [];
      for (const [v, k] of entriesOf(recv)) out.push(await cb.call(thisArg, v, k, recv));
      return out;
    },
    async filter(recv, cb, thisArg) {
      const out = [];
      for (const [v, k] of entriesOf(recv)) if (await cb.call(thisArg, v, k, recv)) out.push(v);
      return out;
    },
    async some(recv, cb, thisArg) {
      for (const [v, k] of entriesOf(recv)) if (await cb.call(thisArg, v, k, recv)) return true;
      return false;
    },
    async every(recv, cb, thisArg) {
      for (const [v, k] of entriesOf(recv)) if (!(await cb.call(thisArg, v, k, recv))) return false;
      return true;
    },
    async find(recv, cb, thisArg) {
      for (const [v, k] of entriesOf(recv)) if (await cb.call(thisArg, v, k, recv)) return v;
      return undefined;
    },
    async findIndex(recv, cb, thisArg) {
      for (const [v, k] of entriesOf(recv)) if (await cb.call(thisArg, v, k, recv)) return k;
      return -1;
    },
    async reduce(recv, cb, ...init) {
      const items = entriesOf(recv);
      let i = 0;
      let acc;
      if (init.length > 0) acc = init[0];
      else {
        if (items.length === 0) throw new TypeError('Reduce of empty array with no initial value');
        acc = items[0][0];
        i = 1;
      }
      for (; i < items.length; i++) acc = await cb(acc, items[i][0], items[i][1], recv);
      return acc;
    },
    async flatMap(recv, cb, thisArg) {
      const out = [];
      for (const [v, k] of entriesOf(recv)) {
        const r = await cb.call(thisArg, v, k, recv);
        if (Array.isArray(r)) out.push(...r);
        else out.push(r);
      }
      return out;
    },
  };

  // `each` is jQuery's and k6/html's (no array has it): the receiver's own.
  A.each = async (recv, cb, ...rest) => recv.each(cb, ...rest);
  // A receiver with methods of these names of its own (k6/html's Selection)
  // gets the call back, with its own semantics.
  for (const name of Object.keys(A)) {
    const loop = A[name];
    A[name] = (recv, ...args) => (recv !== null && typeof recv === 'object' && typeof recv.__k6hof === 'function'
      ? recv.__k6hof(name, args)
      : loop(recv, ...args));
  }

  return {
    settle: (resolve, raw) => resolve(new Response(raw)),
    module: (name) => modules[name],
    groupAsync,
    checkAsync,
    A,
  };
})
