//! The realistic k6 scripts of the design spike (`tests/scripts/`, copied
//! from it) transform as the design says and validate: their init code runs
//! at plan time without a request, their options map onto the plan.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stampede_scenario::{Executor, Overrides, Stage};
use stampede_script::{ScriptPlan, transform::Stats};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts").join(name)
}

fn load(name: &str) -> ScriptPlan {
    let overrides = Overrides { env: vec![("BASE".into(), "http://127.0.0.1:1".into())], ..Default::default() };
    stampede_script::load(&script(name), &overrides).unwrap_or_else(|e| panic!("{name}:\n{e}"))
}

/// Lines of the main module's factory, trimmed.
fn factory_lines(sp: &ScriptPlan) -> Vec<String> {
    sp.bundle.main().factory.lines().map(|l| l.trim().to_string()).collect()
}

fn has_line(sp: &ScriptPlan, line: &str) {
    let lines = factory_lines(sp);
    assert!(lines.iter().any(|l| l == line), "no line {line:?} in:\n{}", sp.bundle.main().factory);
}

fn stats(async_functions: usize, awaited_calls: usize, rewritten_callbacks: usize) -> Stats {
    Stats { async_functions, awaited_calls, rewritten_callbacks }
}

#[test]
fn every_spike_script_validates_without_warnings() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('0') && n.ends_with(".js"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 9);
    for name in &names {
        let sp = load(name);
        assert!(sp.warnings().is_empty(), "{name}: {:?}", sp.warnings());
        assert!(sp.console.is_empty(), "{name}: {:?}", sp.console);
        // Lines keep their numbers: the factory's line N+1 is the script's line N.
        let source_lines = sp.bundle.main().source.lines().count();
        let factory_lines = sp.bundle.main().factory.lines().count();
        assert_eq!(factory_lines, source_lines + 4, "{name}");
    }
}

#[test]
fn bench_b_awaits_its_request_and_its_sleep() {
    let sp = load("01_bench_b.js");
    assert_eq!(sp.bundle.main().stats, stats(1, 2, 0));
    has_line(&sp, "const __k6_default = async function () {");
    has_line(&sp, "await http.get(`${__ENV.BASE}/`);");
    has_line(&sp, "await sleep(1);");
    let s = &sp.plan.scenarios[0];
    assert_eq!(&*s.name, "default");
    assert_eq!(s.exec.as_deref(), Some("default"));
    assert_eq!(s.executor, Executor::ConstantVus { vus: 10, duration: Duration::from_secs(30) });
}

#[test]
fn helpers_and_nested_group_callbacks_become_async() {
    let sp = load("02_helpers_groups.js");
    assert_eq!(sp.bundle.main().stats, stats(5, 9, 2));
    has_line(&sp, "async function getJson(path) {");
    has_line(&sp, "const res = await http.get(`${BASE}${path}`, { tags: { name: path } });");
    // A check whose callbacks do not block stays k6's own check.
    has_line(&sp, "check(res, { 'status 200': (r) => r.status === 200 });");
    has_line(
        &sp,
        "const login = async (user) => (await http.post(`${BASE}/login`, JSON.stringify({ user }))).status === 200;",
    );
    has_line(&sp, "await __k6.groupAsync('catalog', async function () {");
    has_line(&sp, "const token = JSON.parse((await getJson('/product/1')).body).token;");
    has_line(&sp, "if (await login(`user${__VU}`)) {");
    // No options: one iteration of one VU, as k6 runs it.
    assert_eq!(
        sp.plan.scenarios[0].executor,
        Executor::PerVuIterations { vus: 1, iterations: 1, max_duration: Duration::from_secs(600) }
    );
}

#[test]
fn array_callbacks_that_block_are_rewritten_and_the_others_stay() {
    let sp = load("03_foreach_urls.js");
    assert_eq!(sp.bundle.main().stats, stats(4, 7, 3));
    has_line(&sp, "const urls = paths.map((p) => `${BASE}${p}`); // init: no request, stays sync");
    has_line(&sp, "await __k6.A.forEach(urls, async (u) => await http.get(u));");
    has_line(&sp, "const codes = await __k6.A.map(urls, async (u) => (await http.get(u)).status);");
    has_line(&sp, "const ok = codes.every((c) => c === 200);");
    has_line(&sp, "const responses = await http.batch([['GET', `${BASE}/x`], ['GET', `${BASE}/y`]]);");
    has_line(&sp, "const sorted = [...codes].sort((a, b) => a - b);");
}

#[test]
fn scenarios_with_exec_setup_and_custom_metrics() {
    let sp = load("04_scenarios_setup.js");
    let names: Vec<&str> = sp.functions().collect();
    assert_eq!(names, ["setup", "browse", "buy", "teardown"]);
    has_line(&sp, "async function setup() {");
    has_line(&sp, "cartTime.add(Date.now() - t0);");
    let browse = sp.plan.scenarios.iter().find(|s| &*s.name == "browse").unwrap();
    assert_eq!(browse.exec.as_deref(), Some("browse"));
    assert_eq!(browse.executor, Executor::ConstantVus { vus: 5, duration: Duration::from_secs(10) });
    let buy = sp.plan.scenarios.iter().find(|s| &*s.name == "buy").unwrap();
    assert_eq!(buy.exec.as_deref(), Some("buy"));
    assert_eq!(buy.start_time, Duration::from_secs(2));
    assert_eq!(buy.graceful_stop, Duration::from_secs(30));
    assert_eq!(
        buy.executor,
        Executor::ConstantArrivalRate {
            rate: 10,
            time_unit: Duration::from_secs(1),
            duration: Duration::from_secs(10),
            pre_allocated_vus: 5,
            max_vus: 20
        }
    );
    let metrics: Vec<(&str, &str, bool)> = sp.plan.metrics.iter().map(|m| (&*m.name, m.kind.name(), m.time)).collect();
    assert_eq!(metrics, [("orders", "counter", false), ("cart_time", "trend", true)]);
    assert_eq!(sp.plan.thresholds.len(), 3);
    let buy_p95 = sp.plan.thresholds.iter().find(|t| &*t.selector == "http_req_duration{scenario:buy}").unwrap();
    assert!(buy_p95.abort_on_fail);
    assert_eq!(buy_p95.delay_abort_eval, Duration::from_secs(5));
    let orders = sp.plan.thresholds.iter().find(|t| &*t.selector == "orders").unwrap();
    assert_eq!((orders.metric.name(), &*orders.source), ("orders", "count>10"));
}

#[test]
fn a_class_an_object_of_actions_and_a_retry_wrapper() {
    let sp = load("05_indirect_calls.js");
    assert_eq!(sp.bundle.main().stats, stats(6, 9, 0));
    has_line(&sp, "async get(path) { this.calls++; return await http.get(this.base + path); }");
    // The getter does not block: it stays a getter.
    has_line(&sp, "get count() { return this.calls; }");
    has_line(&sp, "async search(q) { return await http.get(`${__ENV.BASE}/search?q=${q}`); },");
    has_line(&sp, "const r = await fn();");
    has_line(&sp, "function pick(arr) { return arr[Math.floor(Math.random() * arr.length)]; }");
    has_line(&sp, "const res = await actions[name]('shoes');");
    has_line(&sp, "await retry(async () => await api.get('/missing'), 2);");
}

#[test]
fn a_shop_flow_with_shared_data_reads_its_file_at_plan_time() {
    let sp = load("06_shop_flow.js");
    assert_eq!(sp.shared_arrays.len(), 1);
    assert_eq!((sp.shared_arrays[0].name.as_str(), sp.shared_arrays[0].len), ("users", 2));
    assert_eq!(sp.files.len(), 1);
    assert_eq!(sp.files[0].written, "./users.json");
    assert_eq!(sp.files[0].path, script("users.json"));
    assert_eq!(
        sp.plan.scenarios[0].executor,
        Executor::RampingVus {
            start_vus: 1,
            stages: vec![
                Stage { duration: Duration::from_secs(10), target: 20 },
                Stage { duration: Duration::from_secs(20), target: 20 }
            ],
            graceful_ramp_down: Duration::from_secs(30),
        }
    );
    has_line(&sp, "await __k6.groupAsync('payment', async () => {");
    has_line(&sp, "await addToCart(2);");
    let selectors: Vec<&str> = sp.plan.thresholds.iter().map(|t| &*t.selector).collect();
    assert_eq!(selectors, ["checks", "group_duration{group:::checkout}"]);
}

#[test]
fn edge_cases_of_the_transform() {
    let sp = load("09_edge_cases.js");
    has_line(&sp, "const items = (await http.get(`${__ENV.BASE}/list`)).json().items;");
    has_line(&sp, "const r = items ? await http.get(`${__ENV.BASE}/a`) : await http.get(`${__ENV.BASE}/b`);");
    has_line(&sp, "const msg = `status ${(await http.get(`${__ENV.BASE}/c`)).status}`;");
    has_line(&sp, "for (const u of ['/d', '/e']) await http.get(`${__ENV.BASE}${u}`);");
    // Called before its (hoisted) declaration.
    has_line(&sp, "await later();");
    has_line(&sp, "async function later() {");
    has_line(&sp, "await k6.sleep(0.01);");
    let names: Vec<&str> = sp.functions().collect();
    assert_eq!(names, ["default", "util"]);
}

#[test]
fn positions_in_a_factory_map_back_to_the_script() {
    let sp = load("04_scenarios_setup.js");
    let main = sp.bundle.main();
    let column = |factory_line: u32, text: &str| -> u32 {
        let line = main.factory.lines().nth(factory_line as usize - 1).unwrap();
        line.find(text).unwrap_or_else(|| panic!("{text:?} not in {line:?}")) as u32 + 1
    };
    // `res.json('token')` on the script's line 24, column 19: factory line 25.
    assert_eq!(main.locate(25, column(25, "res.json")), (24, 19));
    // Past an inserted `await ` on line 23: `http.post` is at column 15.
    assert_eq!(main.locate(24, column(24, "http.post")), (23, 15));
    // Inside the inserted text: where it was inserted.
    assert_eq!(main.locate(24, column(24, "await") + 2), (23, 15));
    // The prefix line (imports): the start of the script.
    assert_eq!(main.locate(1, 10), (1, 1));
}
