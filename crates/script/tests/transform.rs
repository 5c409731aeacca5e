//! The transform on constructs the realistic scripts do not show: local
//! modules, ASI hazards, operators that need parentheses, class features,
//! calls through values. Every factory is compiled by QuickJS, and a few
//! scripts are run against a mock k6 (requests resolved at once, in order)
//! to check that the awaited code does what the blocking code meant.

use std::path::Path;

use rquickjs::context::EvalOptions;
use rquickjs::{CatchResultExt, Context, Function, Object, Runtime};
use stampede_script::transform::{Transformed, transform, transform_source};

fn compile_all(t: &Transformed) {
    let rt = Runtime::new().unwrap();
    let ctx = Context::full(&rt).unwrap();
    ctx.with(|ctx| {
        for m in &t.bundle.modules {
            let mut opts = EvalOptions::default();
            opts.global = true;
            opts.strict = true;
            if let Err(e) = ctx.eval_with_options::<Function, _>(m.factory.as_str(), opts).catch(&ctx) {
                panic!("{} does not compile: {e}\n{}", m.name, m.factory);
            }
        }
    });
}

fn one(src: &str) -> String {
    let t = transform_source("t.js", src).unwrap_or_else(|e| panic!("{e}"));
    compile_all(&t);
    t.bundle.main().factory.clone()
}

fn has(factory: &str, text: &str) {
    assert!(factory.contains(text), "{text:?} not in:\n{factory}");
}

const HTTP: &str = "import http from 'k6/http';\nimport { sleep, group, check } from 'k6';\n";

#[test]
fn a_parenthesized_await_at_a_statement_start_gets_a_semicolon() {
    let f = one(&format!("{HTTP}export default function () {{\n  const a = 1\n  http.get('u').json()\n}}\n"));
    has(&f, "  const a = 1\n  ;(await http.get('u')).json()\n");
}

#[test]
fn operators_that_need_parentheses() {
    let f = one(&format!(
        "{HTTP}function n() {{ sleep(1); return 2; }}\nexport default function () {{\n  const x = n() ** 2;\n  const y = n()?.toFixed(1);\n  const z = `${{n()}}`;\n}}\n"
    ));
    has(&f, "const x = (await n()) ** 2;");
    has(&f, "const y = (await n())?.toFixed(1);");
    has(&f, "const z = `${await n()}`;");
}

#[test]
fn class_features_private_static_and_computed_methods() {
    let f = one(&format!(
        "{HTTP}class Api {{\n  #get(p) {{ return http.get(p); }}\n  static make() {{ return http.get('/m'); }}\n  ['fe' + 'tch'](p) {{ return this.#get(p); }}\n  load(p) {{ return this.#get(p).status; }}\n}}\nexport default function () {{\n  const a = new Api();\n  a.load('/x');\n  Api.make();\n  a?.load('/y');\n}}\n"
    ));
    has(&f, "async #get(p) { return await http.get(p); }");
    has(&f, "static async make() { return await http.get('/m'); }");
    has(&f, "async ['fe' + 'tch'](p) { return await this.#get(p); }");
    has(&f, "async load(p) { return (await this.#get(p)).status; }");
    has(&f, "await a.load('/x');");
    has(&f, "await Api.make();");
    has(&f, "await a?.load('/y');");
}

#[test]
fn calls_the_user_already_awaits_are_awaited_once() {
    let f = one(&format!("{HTTP}export default async function () {{\n  const r = await http.get('/a');\n}}\n"));
    has(&f, "const r = await http.get('/a');");
    assert!(!f.contains("await await"), "{f}");
}

#[test]
fn blocking_functions_as_values() {
    let f = one(&format!(
        "{HTTP}const get = http.get;\nconst pause = sleep;\nexport default function () {{\n  get('/a');\n  pause(1);\n  http['post']('/b');\n  const m = 'put';\n  http[m]('/c');\n}}\n"
    ));
    has(&f, "await get('/a');");
    has(&f, "await pause(1);");
    has(&f, "await http['post']('/b');");
    has(&f, "await http[m]('/c');");
}

#[test]
fn functions_bound_by_assignment_and_tagged_templates() {
    let f = one(&format!(
        "{HTTP}const api = {{}};\napi.home = function () {{ return http.get('/'); }};\nlet later;\nlater = () => sleep(1);\nfunction tag(s) {{ return http.get(s[0]); }}\nexport default function () {{\n  api.home();\n  later();\n  tag`/t`;\n}}\n"
    ));
    has(&f, "api.home = async function () { return await http.get('/'); };");
    has(&f, "later = async () => await sleep(1);");
    has(&f, "await api.home();");
    has(&f, "await later();");
    has(&f, "await tag`/t`;");
}

#[test]
fn a_possible_request_where_nothing_can_be_awaited_is_a_warning() {
    // `store.get` may be the blocking method `get`: awaited where it can be,
    // left alone (with a warning) inside a getter.
    let t = transform_source(
        "t.js",
        &format!(
            "{HTTP}class Api {{ get(p) {{ return http.get(p); }} }}\nconst store = new Map();\nconst cfg = {{ get size() {{ return store.get('n'); }} }};\nexport default function () {{ new Api().get('/'); }}\n"
        ),
    )
    .unwrap();
    compile_all(&t);
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    let w = t.warnings[0].to_string();
    assert!(w.contains("t.js:5:35: warning"), "{w}");
    assert!(w.contains("`store.get(…)` may make a request"), "{w}");
    has(&t.bundle.main().factory, "await new Api().get('/');");
}

#[test]
fn export_forms() {
    let f = one(&format!(
        "{HTTP}export const options = {{ vus: 1 }};\nexport function setup() {{ return http.get('/s').json(); }}\nfunction main() {{ sleep(1); }}\nexport {{ main as default }};\nexport class Client {{}}\nexport let counter = 0;\n"
    ));
    has(&f, "async function setup() { return (await http.get('/s')).json(); }");
    has(&f, "async function main() { await sleep(1); }");
    has(&f, "\"options\": options");
    has(&f, "\"default\": main");
    has(&f, "\"Client\": Client");
    has(&f, "\"counter\": counter");
    let f = one(&format!("{HTTP}export default () => http.get('/');\n"));
    has(&f, "const __k6_default = async () => await http.get('/');");
}

#[test]
fn local_modules_their_blocking_exports_and_re_exports() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    write(
        "lib/base.js",
        "import http from 'k6/http';\nexport function fetchJson(u) { return http.get(u).json(); }\nexport const pure = (x) => x + 1;\n",
    );
    write(
        "lib/api.js",
        "import { fetchJson } from './base.js';\nexport default function products() { return fetchJson('/products'); }\nexport { fetchJson as getJson } from './base.js';\nexport * from './base.js';\n",
    );
    write(
        "main.js",
        "import products, { getJson, pure } from './lib/api.js';\nimport * as base from './lib/base.js';\nexport default function () {\n  products();\n  getJson('/a');\n  base.fetchJson('/b');\n  pure(1);\n}\n",
    );
    let main = dir.path().join("main.js");
    let t = transform(&main, &mut |p: &Path| std::fs::read_to_string(p)).unwrap_or_else(|e| panic!("{e}"));
    compile_all(&t);
    let names: Vec<String> =
        t.bundle.modules.iter().map(|m| m.path.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
    assert_eq!(names, ["lib/base.js", "lib/api.js", "main.js"], "dependencies come first");
    let base = &t.bundle.modules[0].factory;
    has(base, "export function fetchJson".replace("export ", "async ").as_str());
    has(base, "return (await http.get(u)).json();");
    let api = &t.bundle.modules[1].factory;
    has(api, "const fetchJson = __k6_import(0)[\"fetchJson\"];");
    has(api, "async function products() { return await fetchJson('/products'); }");
    has(api, "\"getJson\": __k6_import(0)[\"fetchJson\"]");
    has(api, "...__k6_rest }) => __k6_rest)");
    let main_f = &t.bundle.modules[2].factory;
    has(main_f, "const products = __k6_import(1)[\"default\"];");
    has(main_f, "const base = __k6_import(0);");
    has(main_f, "await products();");
    has(main_f, "await getJson('/a');");
    has(main_f, "await base.fetchJson('/b');");
    has(main_f, "  pure(1);");
}

/// Runs a transformed script's default function once against a mock k6:
/// every request resolves at once with `{ status: 200, url }` (a `/404`
/// path with 404), in the order made; returns the request log and what the
/// script put in `globalThis.out`.
fn run_mock(src: &str) -> (Vec<String>, String) {
    let t = transform_source("run.js", src).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::new().unwrap();
    let ctx = Context::full(&rt).unwrap();
    ctx.with(|ctx| {
        let k6: Object = ctx
            .eval(
                r#"(() => {
  globalThis.log = [];
  globalThis.out = [];
  const res = (u) => ({ status: u.endsWith('/404') ? 404 : 200, url: u, json: () => ({ u }) });
  const http = { get: (u) => { log.push('GET ' + u); return Promise.resolve(res(u)); } };
  const sleep = (s) => { log.push('sleep ' + s); return Promise.resolve(); };
  const check = (v, sets) => { for (const k in sets) out.push(k + '=' + !!sets[k](v)); return true; };
  const group = (n, f) => { log.push('group ' + n); return f(); };
  const seq = async (a, f, t, pick) => { const r = []; let i = 0; for (const x of a) r.push(await f.call(t, x, i++, a)); return pick(r, a); };
  const A = {
    forEach: (a, f, t) => seq(a, f, t, () => undefined),
    map: (a, f, t) => seq(a, f, t, (r) => r),
    filter: (a, f, t) => seq(a, f, t, (r, a) => a.filter((_, i) => r[i])),
    find: async (a, f, t) => { let i = 0; for (const x of a) if (await f.call(t, x, i++, a)) return x; },
  };
  const modules = { 'k6/http': http, 'k6': { sleep, check, group } };
  return {
    module: (n) => modules[n],
    groupAsync: async (n, f) => { log.push('group ' + n); return await f(); },
    checkAsync: async (v, sets) => { for (const k in sets) out.push(k + '=' + !!(await sets[k](v))); return true; },
    A,
  };
})()"#,
            )
            .catch(&ctx)
            .unwrap();
        let mut opts = EvalOptions::default();
        opts.global = true;
        opts.strict = true;
        let factory: Function = ctx.eval_with_options(t.bundle.main().factory.as_str(), opts).catch(&ctx).unwrap();
        let import = Function::new(ctx.clone(), |_: usize| ()).unwrap();
        let exports: Object = factory.call((k6, import)).catch(&ctx).unwrap();
        let default: Function = exports.get("default").unwrap();
        let _: rquickjs::Value = default.call(()).catch(&ctx).unwrap();
        while ctx.execute_pending_job() {}
        let log: Vec<String> = ctx.globals().get("log").unwrap();
        let out: Vec<String> = ctx.globals().get("out").unwrap();
        (log, out.join(" "))
    })
}

#[test]
fn awaited_code_makes_the_requests_the_blocking_code_meant_in_order() {
    let (log, out) = run_mock(
        "import http from 'k6/http';\nimport { sleep, group, check } from 'k6';\n\
         class Api { constructor(b) { this.b = b; } get(p) { return http.get(this.b + p); } }\n\
         const api = new Api('http://h');\n\
         const ok = (r) => r.status === 200;\n\
         export default function () {\n\
           const codes = ['/a', '/404', '/b'].map((p) => api.get(p).status);\n\
           out.push(codes.join(','));\n\
           group('g', () => { ['/c', '/d'].forEach((p) => http.get('http://h' + p)); sleep(0.5); });\n\
           const first404 = ['/e', '/404', '/f'].find((p) => api.get(p).status === 404);\n\
           out.push(first404);\n\
           check(api.get('/g'), { 'is ok': ok, 'via a request': (r) => http.get(r.url + '/again').status === 200 });\n\
         }\n",
    );
    assert_eq!(
        log,
        [
            "GET http://h/a",
            "GET http://h/404",
            "GET http://h/b",
            "group g",
            "GET http://h/c",
            "GET http://h/d",
            "sleep 0.5",
            "GET http://h/e",
            "GET http://h/404",
            "GET http://h/g",
            "GET http://h/g/again",
        ]
    );
    assert_eq!(out, "200,404,200 /404 is ok=true via a request=true");
}

#[test]
fn a_long_chain_of_helpers_is_analysed_in_linear_time() {
    // f0 calls f1 … calls f4999, which makes the request; written so that
    // each function is declared after its caller and methods share names.
    let n = 5000;
    let mut src = String::from("import http from 'k6/http';\nexport default function () { f0(); }\n");
    for i in 0..n - 1 {
        src.push_str(&format!(
            "function f{i}() {{ return o{i}.m{i}() || f{}(); }}\nconst o{i} = {{ m{i}() {{ return 0; }} }};\n",
            i + 1
        ));
    }
    src.push_str(&format!("function f{}() {{ return http.get('/'); }}\n", n - 1));
    let started = std::time::Instant::now();
    let t = transform_source("chain.js", &src).unwrap();
    let took = started.elapsed();
    assert_eq!(t.bundle.main().stats.async_functions, n + 1);
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
}
