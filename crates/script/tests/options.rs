//! `options` onto the plan: k6's shortcuts and their precedence, the six
//! executors with k6's option names and defaults, every threshold form,
//! target options, the command line's overrides, and the errors.

use std::time::Duration;

use stampede_scenario::threshold::{Aggregation, Comparison, Metric, MetricKind};
use stampede_scenario::{Executor, Overrides, Scenario, Stage};
use stampede_script::{ScriptError, ScriptPlan};

const S: Duration = Duration::from_secs(1);

fn load_with(options: &str, rest: &str, overrides: &Overrides) -> Result<ScriptPlan, ScriptError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.js");
    let exports = if rest.contains("export default") { "" } else { "export default function () {}\n" };
    std::fs::write(&path, format!("export const options = {options};\n{rest}\n{exports}")).unwrap();
    stampede_script::load(&path, overrides)
}

fn load(options: &str) -> ScriptPlan {
    load_with(options, "", &Overrides::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn error(options: &str) -> String {
    error_with(options, "", &Overrides::default())
}

fn error_with(options: &str, rest: &str, overrides: &Overrides) -> String {
    match load_with(options, rest, overrides) {
        Ok(_) => panic!("accepted: {options}"),
        Err(e) => e.to_string(),
    }
}

fn only(sp: &ScriptPlan) -> &Scenario {
    assert_eq!(sp.plan.scenarios.len(), 1, "{:?}", sp.plan.scenarios);
    &sp.plan.scenarios[0]
}

fn scenario<'a>(sp: &'a ScriptPlan, name: &str) -> &'a Scenario {
    sp.plan.scenarios.iter().find(|s| &*s.name == name).unwrap_or_else(|| panic!("no scenario {name}"))
}

fn contains(text: &str, want: &str) {
    assert!(text.contains(want), "{want:?} not in:\n{text}");
}

// === shortcuts ===

#[test]
fn no_execution_options_run_one_iteration_of_one_vu() {
    let sp = load("{}");
    let s = only(&sp);
    assert_eq!(&*s.name, "default");
    assert_eq!(s.exec.as_deref(), Some("default"));
    assert_eq!(s.executor, Executor::PerVuIterations { vus: 1, iterations: 1, max_duration: 600 * S });
    assert_eq!(s.graceful_stop, 30 * S);
    assert_eq!(s.start_time, Duration::ZERO);
}

#[test]
fn vus_alone_share_as_many_iterations() {
    let sp = load("{ vus: 5 }");
    assert_eq!(only(&sp).executor, Executor::SharedIterations { vus: 5, iterations: 5, max_duration: 600 * S });
}

#[test]
fn iterations_share_them_among_vus_within_duration() {
    let sp = load("{ vus: 4, iterations: 100, duration: '2m' }");
    assert_eq!(only(&sp).executor, Executor::SharedIterations { vus: 4, iterations: 100, max_duration: 120 * S });
    let sp = load("{ iterations: 3 }");
    assert_eq!(only(&sp).executor, Executor::SharedIterations { vus: 1, iterations: 3, max_duration: 600 * S });
    // Never more VUs than iterations, as in k6.
    let sp = load("{ vus: 10, iterations: 3 }");
    assert_eq!(only(&sp).executor, Executor::SharedIterations { vus: 3, iterations: 3, max_duration: 600 * S });
}

#[test]
fn duration_runs_constant_vus_and_takes_milliseconds_too() {
    let sp = load("{ vus: 10, duration: '1m30s' }");
    assert_eq!(only(&sp).executor, Executor::ConstantVus { vus: 10, duration: 90 * S });
    let sp = load("{ duration: 1500 }");
    assert_eq!(only(&sp).executor, Executor::ConstantVus { vus: 1, duration: Duration::from_millis(1500) });
}

#[test]
fn stages_ramp_from_vus() {
    let sp = load("{ vus: 2, stages: [{ duration: '10s', target: 20 }, { duration: '5s', target: 0 }] }");
    assert_eq!(
        only(&sp).executor,
        Executor::RampingVus {
            start_vus: 2,
            stages: vec![Stage { duration: 10 * S, target: 20 }, Stage { duration: 5 * S, target: 0 }],
            graceful_ramp_down: 30 * S,
        }
    );
}

#[test]
fn shortcuts_that_conflict_are_refused_as_k6_refuses_them() {
    for (options, a, b) in [
        ("{ iterations: 5, stages: [{ duration: '1s', target: 1 }] }", "iterations", "stages"),
        (
            "{ iterations: 5, scenarios: { s: { executor: 'constant-vus', duration: '1s' } } }",
            "iterations",
            "scenarios",
        ),
        ("{ duration: '5s', stages: [{ duration: '1s', target: 1 }] }", "duration", "stages"),
        ("{ duration: '5s', scenarios: { s: { executor: 'constant-vus', duration: '1s' } } }", "duration", "scenarios"),
        (
            "{ stages: [{ duration: '1s', target: 1 }], scenarios: { s: { executor: 'constant-vus', duration: '1s' } } }",
            "stages",
            "scenarios",
        ),
    ] {
        contains(&error(options), &format!("using `{a}` and `{b}` options simultaneously is not allowed"));
    }
    contains(&error("{ duration: '0s' }"), "`duration` must be more than 0");
}

#[test]
fn empty_stages_or_scenarios_warn_and_run_once() {
    let sp = load("{ stages: [] }");
    assert_eq!(only(&sp).executor, Executor::PerVuIterations { vus: 1, iterations: 1, max_duration: 600 * S });
    assert_eq!(sp.warnings().len(), 1);
    contains(&sp.warnings()[0].to_string(), "`stages` is empty");
    let sp = load("{ scenarios: {} }");
    assert_eq!(only(&sp).executor, Executor::PerVuIterations { vus: 1, iterations: 1, max_duration: 600 * S });
    contains(&sp.warnings()[0].to_string(), "`scenarios` is empty");
}

// === the six executors ===

#[test]
fn every_executor_with_k6s_names_and_defaults() {
    let sp = load(
        "{ scenarios: {
            shared: { executor: 'shared-iterations' },
            shared_all: { executor: 'shared-iterations', vus: 3, iterations: 30, maxDuration: '1m' },
            pervu: { executor: 'per-vu-iterations', vus: 4, iterations: 2 },
            constant: { executor: 'constant-vus', duration: '30s' },
            ramping: { executor: 'ramping-vus', stages: [{ duration: '20s', target: 5 }] },
            ramping_all: { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '20s', target: 5 }], gracefulRampDown: '5s' },
            arrival: { executor: 'constant-arrival-rate', rate: 30, duration: '1m', preAllocatedVUs: 10 },
            arrival_all: { executor: 'constant-arrival-rate', rate: 90, timeUnit: '1m', duration: '1m', preAllocatedVUs: 2, maxVUs: 8 },
            ramping_rate: { executor: 'ramping-arrival-rate', preAllocatedVUs: 5, stages: [{ duration: '10s', target: 50 }] },
            ramping_rate_all: { executor: 'ramping-arrival-rate', startRate: 5, timeUnit: '2s', preAllocatedVUs: 5, maxVUs: 50,
                                stages: [{ duration: '10s', target: 50 }, { duration: '10s', target: 0 }] },
        } }",
    );
    assert_eq!(sp.plan.scenarios.len(), 10);
    assert_eq!(
        scenario(&sp, "shared").executor,
        Executor::SharedIterations { vus: 1, iterations: 1, max_duration: 600 * S }
    );
    assert_eq!(
        scenario(&sp, "shared_all").executor,
        Executor::SharedIterations { vus: 3, iterations: 30, max_duration: 60 * S }
    );
    assert_eq!(
        scenario(&sp, "pervu").executor,
        Executor::PerVuIterations { vus: 4, iterations: 2, max_duration: 600 * S }
    );
    assert_eq!(scenario(&sp, "constant").executor, Executor::ConstantVus { vus: 1, duration: 30 * S });
    assert_eq!(
        scenario(&sp, "ramping").executor,
        Executor::RampingVus {
            start_vus: 1,
            stages: vec![Stage { duration: 20 * S, target: 5 }],
            graceful_ramp_down: 30 * S
        }
    );
    assert_eq!(
        scenario(&sp, "ramping_all").executor,
        Executor::RampingVus {
            start_vus: 0,
            stages: vec![Stage { duration: 20 * S, target: 5 }],
            graceful_ramp_down: 5 * S
        }
    );
    assert_eq!(
        scenario(&sp, "arrival").executor,
        Executor::ConstantArrivalRate { rate: 30, time_unit: S, duration: 60 * S, pre_allocated_vus: 10, max_vus: 10 }
    );
    assert_eq!(
        scenario(&sp, "arrival_all").executor,
        Executor::ConstantArrivalRate {
            rate: 90,
            time_unit: 60 * S,
            duration: 60 * S,
            pre_allocated_vus: 2,
            max_vus: 8
        }
    );
    assert_eq!(
        scenario(&sp, "ramping_rate").executor,
        Executor::RampingArrivalRate {
            start_rate: 0,
            time_unit: S,
            stages: vec![Stage { duration: 10 * S, target: 50 }],
            pre_allocated_vus: 5,
            max_vus: 5
        }
    );
    assert_eq!(
        scenario(&sp, "ramping_rate_all").executor,
        Executor::RampingArrivalRate {
            start_rate: 5,
            time_unit: 2 * S,
            stages: vec![Stage { duration: 10 * S, target: 50 }, Stage { duration: 10 * S, target: 0 }],
            pre_allocated_vus: 5,
            max_vus: 50
        }
    );
    for s in &sp.plan.scenarios {
        assert_eq!(s.exec.as_deref(), Some("default"), "{}", s.name);
        assert_eq!(s.graceful_stop, 30 * S, "{}", s.name);
        assert!(s.flows.is_empty());
    }
}

#[test]
fn common_scenario_options_exec_start_time_graceful_stop_env_tags() {
    let sp = load_with(
        "{ scenarios: { buy: { executor: 'constant-vus', vus: 2, duration: '10s', exec: 'buy', startTime: '5s',
            gracefulStop: '3s', env: { SKU: '42' }, tags: { flow: 'checkout' } } } }",
        "export function buy() {}",
        &Overrides::default(),
    )
    .unwrap();
    let s = only(&sp);
    assert_eq!(s.exec.as_deref(), Some("buy"));
    assert_eq!(s.start_time, 5 * S);
    assert_eq!(s.graceful_stop, 3 * S);
    let extras = &sp.options.scenarios[0];
    assert_eq!(&*extras.name, "buy");
    assert_eq!(extras.env, [("SKU".to_string(), "42".to_string())]);
    assert_eq!(extras.tags, [("flow".to_string(), "checkout".to_string())]);
}

#[test]
fn scenario_mistakes_name_the_option() {
    contains(&error("{ scenarios: { s: { vus: 1 } } }"), "scenario `s` has no `executor`");
    contains(
        &error("{ scenarios: { s: { executor: 'constant-vus', vus: 1, duraton: '1s' } } }"),
        "unknown option `duraton` in scenario `s`; did you mean `duration`?",
    );
    contains(
        &error("{ scenarios: { s: { executor: 'per-vu-iterations', maxVUs: 3 } } }"),
        "`maxVUs` is not an option of the per-vu-iterations executor (it belongs to constant-arrival-rate, ramping-arrival-rate)",
    );
    contains(
        &error("{ scenarios: { s: { executor: 'constant-arrival-rate', rate: 5, duration: '1s' } } }"),
        "the constant-arrival-rate executor needs `preAllocatedVUs`",
    );
    contains(
        &error(
            "{ scenarios: { s: { executor: 'constant-arrival-rate', rate: 5, duration: '1s', preAllocatedVUs: 5, maxVUs: 2 } } }",
        ),
        "maxVUs (2) is less than preAllocatedVUs (5)",
    );
    contains(
        &error("{ scenarios: { s: { executor: 'constant-vus', vus: 1 } } }"),
        "the constant-vus executor needs `duration`",
    );
    contains(
        &error(
            "{ scenarios: { s: { executor: 'ramping-vus', startVUs: 0, stages: [{ duration: '1s', target: 0 }] } } }",
        ),
        "no VU would ever start",
    );
    contains(
        &error(
            "{ scenarios: { s: { executor: 'constant-arrival-rate', rate: 10000000, timeUnit: '1ms', duration: '1s', preAllocatedVUs: 1 } } }",
        ),
        "the most is 10000000 per second",
    );
    contains(
        &error("{ scenarios: { s: { executor: 'constant-vus', duration: '1s', startTime: '-1s' } } }"),
        "durations cannot be negative",
    );
    let text = error("{ scenarios: { s: { executor: 'constant-vus', duration: '1s', exec: 'brows' } } }");
    contains(&text, "scenario `s` runs function `brows`, which the script does not export");
    contains(&text, "exported functions: default");
}

// === thresholds ===

#[test]
fn every_threshold_form() {
    let sp = load_with(
        "{ thresholds: {
            http_req_duration: ['p(95)<500', 'avg<200'],
            'http_req_duration{name:checkout}': [{ threshold: 'p(99)<800', abortOnFail: true, delayAbortEval: '10s' }],
            http_req_failed: [{ threshold: 'rate<0.01', abortOnFail: false }],
            'checks{check:status 200}': ['rate>=0.99'],
            'http_reqs{expected_response:true}': ['count>10'],
            'group_duration{group:::checkout}': ['med<1000'],
            vus: ['value<=100'],
            iteration_duration: [{ threshold: 'max<2000', delayAbortEval: 1500 }],
            orders: ['count>0', 'rate>1'],
            cart_time: ['p(90)<150'],
            ok_rate: ['rate>0.5'],
            queue: ['value<10'],
          } }",
        "import { Counter, Trend, Rate, Gauge } from 'k6/metrics';\n\
         const orders = new Counter('orders');\nconst cart = new Trend('cart_time', true);\n\
         const ok = new Rate('ok_rate');\nconst queue = new Gauge('queue');",
        &Overrides::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let find = |selector: &str, source: &str| {
        sp.plan
            .thresholds
            .iter()
            .find(|t| &*t.selector == selector && &*t.source == source)
            .unwrap_or_else(|| panic!("no {selector} {source}"))
    };
    assert_eq!(sp.plan.thresholds.len(), 14);
    let t = find("http_req_duration", "p(95)<500");
    assert_eq!(
        (t.metric.clone(), t.aggregation, t.comparison, t.value),
        (Metric::HttpReqDuration, Aggregation::Percentile(95.0), Comparison::Lt, 500.0)
    );
    assert!(!t.abort_on_fail);
    let t = find("http_req_duration{name:checkout}", "p(99)<800");
    assert_eq!(t.tags, vec![("name".into(), "checkout".into())]);
    assert!(t.abort_on_fail);
    assert_eq!(t.delay_abort_eval, 10 * S);
    let t = find("checks{check:status 200}", "rate>=0.99");
    assert_eq!(t.tags, vec![("check".into(), "status 200".into())]);
    let t = find("http_reqs{expected_response:true}", "count>10");
    assert_eq!(t.tags, vec![("expected_response".into(), "true".into())]);
    assert_eq!(find("group_duration{group:::checkout}", "med<1000").tags, vec![("group".into(), "::checkout".into())]);
    assert_eq!(find("vus", "value<=100").comparison, Comparison::Le);
    assert_eq!(find("iteration_duration", "max<2000").delay_abort_eval, Duration::from_millis(1500));
    assert!(!find("http_req_failed", "rate<0.01").abort_on_fail);

    let custom: Vec<(&str, &str, MetricKind)> = sp
        .plan
        .thresholds
        .iter()
        .filter(|t| matches!(t.metric, Metric::Custom(_)))
        .map(|t| (t.metric.name(), &*t.source, t.metric.kind()))
        .collect();
    assert_eq!(custom.len(), 5);
    for want in [
        ("orders", "count>0", MetricKind::Counter),
        ("orders", "rate>1", MetricKind::Counter),
        ("cart_time", "p(90)<150", MetricKind::Trend),
        ("ok_rate", "rate>0.5", MetricKind::Rate),
        ("queue", "value<10", MetricKind::Gauge),
    ] {
        assert!(custom.contains(&want), "{want:?} not in {custom:?}");
    }
    let cart = find("cart_time", "p(90)<150");
    assert!(cart.metric.is_time());
    let metrics: Vec<(&str, MetricKind, bool)> = sp.plan.metrics.iter().map(|m| (&*m.name, m.kind, m.time)).collect();
    assert_eq!(
        metrics,
        [
            ("orders", MetricKind::Counter, false),
            ("cart_time", MetricKind::Trend, true),
            ("ok_rate", MetricKind::Rate, false),
            ("queue", MetricKind::Gauge, false)
        ]
    );
}

#[test]
fn threshold_mistakes_are_located_and_explained() {
    contains(&error("{ thresholds: { http_req_duration: 'p(95)<500' } }"), "expected an array, found the string");
    contains(
        &error("{ thresholds: { http_req_failed: ['p(95)<0.1'] } }"),
        "`p(95)` does not apply to `http_req_failed`, a rate metric",
    );
    contains(
        &error("{ thresholds: { checks: [{ threshold: 'rate>0.9', abortOnFial: true }] } }"),
        "unknown option `abortOnFial`; did you mean `abortOnFail`?",
    );
    contains(&error("{ thresholds: { checks: [{ abortOnFail: true }] } }"), "the threshold object has no `threshold`");
    let text = error("{ thresholds: { odrers: ['count>1'] } }");
    contains(&text, "script.js:1:40: error in `options.thresholds.odrers`: unknown metric `odrers`");
    contains(&text, "custom metrics: none is declared (new Counter('name') in the init code declares one)");
    let text = error_with(
        "{ thresholds: { orders: ['p(95)<10'] } }",
        "import { Counter } from 'k6/metrics';\nconst orders = new Counter('orders');",
        &Overrides::default(),
    );
    contains(&text, "`p(95)` does not apply to `orders`, a counter metric; use count, rate");
    contains(&text, "script.js:1:49: error");
}

// === other options ===

#[test]
fn target_and_run_options() {
    let sp = load(
        "{ maxRedirects: 3, insecureSkipTLSVerify: true, userAgent: 'MyK6/1.0',
           hosts: { 'shop.example.com': '127.0.0.1:8080', '*.cdn.example.com': '127.0.0.2' },
           tags: { team: 'checkout', env: 'staging' }, summaryTrendStats: ['avg', 'p(99.9)', 'count'],
           noConnectionReuse: true, setupTimeout: '2m', teardownTimeout: 5000, localIPs: '127.0.0.1-127.0.0.2',
           batchPerHost: 2 }",
    );
    let t = &sp.plan.target;
    assert_eq!(t.max_redirects, 3);
    assert_eq!(t.batch_per_host, 2);
    assert!(t.insecure_skip_tls_verify);
    assert_eq!(t.headers.len(), 1);
    assert_eq!(t.headers[0].0.as_str(), "user-agent");
    assert_eq!(t.headers[0].1.as_static(), Some("MyK6/1.0"));
    let shop = t.map_host("shop.example.com").unwrap();
    assert_eq!(shop.addr(80).to_string(), "127.0.0.1:8080");
    assert_eq!(t.map_host("img.cdn.example.com").unwrap().addr(443).to_string(), "127.0.0.2:443");
    assert_eq!(t.local_ips.len(), 2);
    assert_eq!(sp.plan.setup_timeout, 120 * S);
    assert_eq!(sp.plan.teardown_timeout, 5 * S);
    assert_eq!(
        sp.options.tags,
        [("env".to_string(), "staging".to_string()), ("team".to_string(), "checkout".to_string())]
    );
    assert_eq!(sp.options.summary_trend_stats, ["avg", "p(99.9)", "count"]);
    assert!(sp.options.no_connection_reuse);
    assert!(sp.plan.target.base_url.is_none());
}

#[test]
fn defaults_of_the_other_options() {
    let sp = load("{}");
    assert_eq!(sp.plan.target.max_redirects, 10);
    assert_eq!(sp.plan.target.batch_per_host, 6);
    assert!(sp.plan.metrics.is_empty());
    assert!(!sp.plan.target.insecure_skip_tls_verify);
    assert!(sp.plan.target.headers.is_empty());
    assert_eq!(sp.plan.setup_timeout, 60 * S);
    assert_eq!(sp.plan.teardown_timeout, 60 * S);
    assert_eq!(sp.options.summary_trend_stats, ["avg", "min", "med", "max", "p(90)", "p(95)"]);
    assert!(!sp.options.no_connection_reuse);
    assert!(sp.options.tags.is_empty());
}

#[test]
fn unknown_and_wrongly_typed_options_name_the_option() {
    let text = error("{ vu: 5 }");
    contains(&text, "script.js:1:26: error in `options.vu`: unknown option `vu`; did you mean `vus`?");
    contains(&text, "options Stampede honours: vus, duration");
    contains(&error("{ maxRedirect: 5 }"), "unknown option `maxRedirect`; did you mean `maxRedirects`?");
    contains(&error("{ vus: 1.5 }"), "expected a whole number, found the number 1.5");
    contains(&error("{ vus: 0 }"), "0 is out of range");
    contains(&error("{ duration: '10' }"), "has a number without a unit");
    contains(&error("{ duration: true }"), "expected a duration, found the boolean true");
    contains(&error("{ insecureSkipTLSVerify: 'yes' }"), "expected true or false, found the string \"yes\"");
    contains(&error("{ tags: { team: 5 } }"), "error in `options.tags.team`: expected a string, found the number 5");
    contains(&error("{ summaryTrendStats: ['p99'] }"), "`p99` is not a trend statistic");
    // A percentile the summary does not compute is refused, never given another's value.
    contains(&error("{ summaryTrendStats: ['p(75)'] }"), "`p(75)` is not a trend statistic the summary computes");
    contains(&error("{ hosts: { 'a.example': 'not-an-ip' } }"), "is not an IP address");
    contains(&error("{ stages: [{ duration: '1s', goal: 3 }] }"), "unknown option `goal`");
    contains(&error("{ minIterationDuration: '1s' }"), "option `minIterationDuration` is not supported");
}

#[test]
fn options_k6_has_that_do_not_change_the_requests_warn() {
    let sp = load("{ vus: 1, systemTags: ['status'], summaryTimeUnit: 'ms', ext: { loadimpact: {} } }");
    let warnings: Vec<String> = sp.warnings().iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("option `systemTags` is not honoured by Stampede yet")));
    // discardResponseBodies is honoured: requests default to responseType 'none'.
    let sp = load("{ vus: 1, discardResponseBodies: true }");
    assert!(sp.warnings().is_empty());
    assert!(sp.options.discard_response_bodies);
}

#[test]
fn options_built_at_run_time_still_map_and_their_errors_point_at_options() {
    let sp = load("Object.assign({ vus: 3 }, { duration: '20s' })");
    assert_eq!(only(&sp).executor, Executor::ConstantVus { vus: 3, duration: 20 * S });
    let text = error("Object.assign({}, { vuss: 3 })");
    contains(&text, "script.js:1:14: error in `options.vuss`: unknown option `vuss`");
    // A spread in a literal: what is written is located, the rest points at the literal.
    let text = error("{ ...{ vuss: 3 }, duration: '1s' }");
    contains(&text, "error in `options.vuss`: unknown option `vuss`");
    // Null and undefined options are not set (JSON drops undefined; k6 ignores null).
    let sp = load("{ vus: null, duration: undefined, iterations: 2 }");
    assert_eq!(only(&sp).executor, Executor::SharedIterations { vus: 1, iterations: 2, max_duration: 600 * S });
}

#[test]
fn options_that_are_not_an_object() {
    contains(&error("[1, 2]"), "`options` must be an object, found an array");
}

// === command line ===

#[test]
fn duration_on_the_command_line_replaces_the_scripts_execution_options() {
    let overrides = Overrides { duration: Some(10 * S), ..Default::default() };
    let sp = load_with("{ vus: 4, iterations: 100 }", "", &overrides).unwrap();
    assert_eq!(only(&sp).executor, Executor::ConstantVus { vus: 4, duration: 10 * S });
    let sp =
        load_with("{ vus: 2, scenarios: { s: { executor: 'shared-iterations', iterations: 5 } } }", "", &overrides)
            .unwrap();
    assert_eq!(only(&sp).executor, Executor::ConstantVus { vus: 2, duration: 10 * S });
    contains(&sp.warnings()[0].to_string(), "--duration replaces the script's scenarios entirely");
    let overrides = Overrides { duration: Some(10 * S), vus: Some(7), ..Default::default() };
    let sp = load_with("{ stages: [{ duration: '1m', target: 20 }] }", "", &overrides).unwrap();
    assert_eq!(only(&sp).executor, Executor::ConstantVus { vus: 7, duration: 10 * S });
}

#[test]
fn vus_on_the_command_line_changes_the_shortcuts_not_the_scenarios() {
    let overrides = Overrides { vus: Some(9), ..Default::default() };
    let sp = load_with("{ vus: 2, duration: '30s' }", "", &overrides).unwrap();
    assert_eq!(only(&sp).executor, Executor::ConstantVus { vus: 9, duration: 30 * S });
    let sp = load_with("{ stages: [{ duration: '1m', target: 20 }] }", "", &overrides).unwrap();
    assert!(matches!(only(&sp).executor, Executor::RampingVus { start_vus: 9, .. }));
    let sp = load_with("{ scenarios: { s: { executor: 'constant-vus', vus: 2, duration: '5s' } } }", "", &overrides)
        .unwrap();
    assert_eq!(only(&sp).executor, Executor::ConstantVus { vus: 2, duration: 5 * S });
    contains(&sp.warnings()[0].to_string(), "--vus does not change a script's `scenarios`");
}

#[test]
fn env_hosts_and_target_from_the_command_line() {
    let overrides = Overrides {
        env: vec![("BASE".into(), "http://127.0.0.1:9".into()), ("VUS".into(), "3".into())],
        hosts: vec!["shop.example.com=127.0.0.1:7000".into()],
        ..Default::default()
    };
    let sp = load_with(
        "{ vus: Number(__ENV.VUS), hosts: { 'shop.example.com': '127.0.0.1:8080' } }",
        "if (__ENV.BASE !== 'http://127.0.0.1:9') throw new Error('no BASE');",
        &overrides,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(only(&sp).executor, Executor::SharedIterations { vus: 3, iterations: 3, max_duration: 600 * S });
    assert_eq!(sp.plan.target.map_host("shop.example.com").unwrap().addr(80).to_string(), "127.0.0.1:7000");
    let overrides = Overrides { target: Some("http://127.0.0.1:1".into()), ..Default::default() };
    contains(&error_with("{}", "", &overrides), "--target does not apply to a script");
}
