// Plan time's k6: what init code may use works (open, SharedArray, custom
// metric declarations, k6/encoding, http.file, expectedStatuses…); what only
// VU code may use throws, located at the script's call by the caller.
(function (host) {
  "use strict";
  const vuOnly = (what) => function () {
    throw new Error(`${what} cannot be used in the init context (the top level of a module): k6 allows it only in VU code (the default function, setup, teardown)`);
  };

  const k6 = {
    check: vuOnly('check()'),
    group: vuOnly('group()'),
    sleep: vuOnly('sleep()'),
    fail: (message) => { throw new Error(message === undefined ? 'fail() called' : String(message)); },
    randomSeed: () => {},
  };

  const http = {};
  for (const m of ['get', 'post', 'put', 'patch', 'del', 'head', 'options', 'request', 'batch']) {
    http[m] = vuOnly(`http.${m}()`);
  }
  http.url = (strings, ...values) => String.raw({ raw: strings }, ...values);
  http.file = (data, filename, contentType) => ({
    data,
    filename: filename === undefined ? `file-${Date.now()}` : String(filename),
    content_type: contentType === undefined ? 'application/octet-stream' : String(contentType),
  });
  http.cookieJar = vuOnly('http.cookieJar()');
  http.CookieJar = class CookieJar {
    set() { throw new Error('CookieJar.set() cannot be used in the init context'); }
    cookiesForURL() { return {}; }
  };
  http.expectedStatuses = (...statuses) => ({ expectedStatuses: statuses });
  http.setResponseCallback = () => {};

  const metric = (kind) => class {
    constructor(name, isTime) {
      host.metric(kind, String(name), !!isTime);
      this.name = String(name);
    }
    add() {
      throw new Error('metrics cannot be added to in the init context: add samples in VU code');
    }
  };
  const metrics = { Counter: metric('Counter'), Gauge: metric('Gauge'), Rate: metric('Rate'), Trend: metric('Trend') };

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
      if (name === undefined || name === null || String(name) === '') {
        throw new TypeError('SharedArray needs a non-empty name');
      }
      const key = String(name);
      if (sharedArrays.has(key)) return sharedArrays.get(key);
      if (typeof fn !== 'function') throw new TypeError('SharedArray needs a function that returns an array');
      const items = fn();
      if (!Array.isArray(items)) throw new TypeError('only arrays can be made into a SharedArray');
      // k6 keeps each element as JSON: what JSON drops, a VU never sees.
      const copy = deepFreeze(JSON.parse(JSON.stringify(items)));
      host.shared(key, copy.length);
      sharedArrays.set(key, copy);
      return copy;
    }
  }

  const initOnlyInfo = (what) => { throw new Error(`${what} is not available in the init context`); };
  const exec = {
    vu: {
      get idInTest() { return 0; },
      get idInInstance() { return 0; },
      get iterationInInstance() { return initOnlyInfo('exec.vu.iterationInInstance'); },
      get iterationInScenario() { return initOnlyInfo('exec.vu.iterationInScenario'); },
    },
    scenario: {
      get name() { return initOnlyInfo('exec.scenario.name'); },
      get iterationInTest() { return initOnlyInfo('exec.scenario.iterationInTest'); },
    },
    test: {
      abort: (reason) => { throw new Error(`test.abort() in the init code${reason === undefined ? '' : `: ${reason}`}`); },
    },
  };

  const encoding = {
    b64encode: (input, enc) => host.b64encode(
      typeof input === 'string' ? input : Array.from(new Uint8Array(input)), enc),
    b64decode: (input, enc, format) => host.b64decode(String(input), enc, format),
  };

  const crypto = {};
  for (const f of ['md5', 'sha1', 'sha256', 'sha512', 'hmac', 'randomBytes']) {
    crypto[f] = () => { throw new Error(`k6/crypto's ${f}() is not available in the init code yet (it is in VU code)`); };
  }

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
    try {
      const j = JSON.stringify(v);
      return j === undefined ? String(v) : j;
    } catch (_) {
      return String(v);
    }
  };
  const log = (level) => (...args) => host.console(level, args.map(text).join(' '));
  const console = { log: log('log'), info: log('info'), warn: log('warn'), error: log('error'), debug: log('debug') };

  Object.defineProperty(globalThis, 'console', { value: console, writable: true, configurable: true });
  Object.defineProperty(globalThis, 'open', {
    value: (path, mode) => host.open(String(path), mode === undefined ? '' : String(mode)),
    writable: true,
    configurable: true,
  });
  Object.defineProperty(globalThis, '__ENV', { value: host.env, writable: false, configurable: false });
  Object.defineProperty(globalThis, '__VU', { value: 0, writable: false, configurable: false });
  Object.defineProperty(globalThis, '__ITER', { value: 0, writable: false, configurable: false });

  const unusedAtPlanTime = vuOnly('this');
  return {
    module: (name) => modules[name],
    groupAsync: unusedAtPlanTime,
    checkAsync: unusedAtPlanTime,
    A: {},
  };
})
