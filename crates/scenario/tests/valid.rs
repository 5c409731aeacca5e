//! Valid scenario files compile into the plan the engine expects.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use stampede_scenario::template::RenderContext;
use stampede_scenario::threshold::{Aggregation, Comparison, Metric};
use stampede_scenario::*;

fn smoke_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/smoke.toml")
}

fn parse(src: &str) -> Plan {
    parse_with(src, &Overrides::default())
}

fn parse_with(src: &str, overrides: &Overrides) -> Plan {
    match parse_str(src, Path::new("test.toml"), overrides) {
        Ok(plan) => plan,
        Err(e) => panic!("{e}"),
    }
}

fn render(t: &template::Template, plan: &Plan, vars: &[Option<String>], rows: &[usize]) -> String {
    let mut rng = fastrand::Rng::with_seed(1);
    let mut ctx = RenderContext {
        vars,
        data: &plan.data,
        data_rows: rows,
        vu_id: 7,
        iteration: 2,
        scenario: "s",
        rng: &mut rng,
        item: "",
    };
    let mut out = String::new();
    t.render(&mut ctx, &mut out);
    out
}

const MINIMAL: &str = r#"
[target]
base_url = "http://localhost:8080/"
[flows.f]
steps = [{ url = "/" }]
"#;

#[test]
fn smoke_toml_parses() {
    let plan = load(&smoke_path(), &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.scenarios.len(), 2);
    assert!(plan.flows.iter().all(|f| !f.steps.is_empty()));
    // It targets the bundled shop, started by `stampede run`.
    assert_eq!(plan.target.shop, Some(stampede_scenario::ShopSpec::default()));
    assert_eq!(plan.target.base_url.as_deref(), Some(stampede_scenario::SHOP_PLACEHOLDER));
    let aimed = Overrides { target: Some("http://127.0.0.1:9000".into()), ..Default::default() };
    let plan2 = load(&smoke_path(), &aimed).unwrap();
    assert_eq!(plan2.target.shop, None, "--target replaces the bundled shop");
    assert!(plan.thresholds.len() >= 4);
    assert_eq!(plan.data[0].name.as_ref(), "terms");
    // Short enough for a smoke test.
    for s in &plan.scenarios {
        assert!(s.start_time + s.executor.planned_duration() <= Duration::from_secs(15), "{}", s.name);
    }
}

#[test]
fn the_bundled_shop_target_is_checked() {
    let with = |target: &str| {
        format!(
            "[target]\n{target}\n[flows.f]\nsteps = [{{ url = \"/\" }}]\n[scenarios.s]\nexecutor = \"constant-vus\"\nduration = \"1s\"\nflow = \"f\"\n"
        )
    };
    let plan = parse_str(
        &with("shop = { flags = [\"cdn-misconfigured\"], products = 5000 }"),
        Path::new("s.toml"),
        &Overrides::default(),
    )
    .unwrap();
    assert_eq!(plan.target.shop.as_ref().unwrap().flags, vec!["cdn-misconfigured".to_string()]);
    assert_eq!(plan.target.shop.as_ref().unwrap().products, Some(5000));
    assert!(!plan.target.shop.as_ref().unwrap().origin, "the edge by default");
    let plan = parse_str(&with("shop = { origin = true }"), Path::new("s.toml"), &Overrides::default()).unwrap();
    assert!(plan.target.shop.as_ref().unwrap().origin);
    let e = parse_str(&with("shop = { origin = \"yes\" }"), Path::new("s.toml"), &Overrides::default()).unwrap_err();
    assert!(e.to_string().contains("origin"), "{e}");
    let e = parse_str(&with("shop = { flags = [\"cdn-misconfigurd\"] }"), Path::new("s.toml"), &Overrides::default())
        .unwrap_err();
    assert!(e.to_string().contains("did you mean `cdn-misconfigured`"), "{e}");
    let e =
        parse_str(&with("shop = true\nbase_url = \"http://127.0.0.1:1\""), Path::new("s.toml"), &Overrides::default())
            .unwrap_err();
    assert!(e.to_string().contains("`base_url` and `shop`"), "{e}");
}

#[test]
fn defaults_follow_k6() {
    let src = format!(
        r#"{MINIMAL}
[scenarios.a]
executor = "shared-iterations"
flow = "f"
[scenarios.b]
executor = "per-vu-iterations"
flow = "f"
[scenarios.c]
executor = "constant-vus"
duration = "1m"
flow = "f"
[scenarios.d]
executor = "ramping-vus"
stages = [{{ duration = "30s", target = 10 }}]
flow = "f"
[scenarios.e]
executor = "constant-arrival-rate"
rate = 5
duration = "1m"
pre_allocated_vus = 3
flow = "f"
[scenarios.g]
executor = "ramping-arrival-rate"
stages = [{{ duration = "1m", target = 50 }}]
pre_allocated_vus = 2
max_vus = 9
flow = "f"
"#
    );
    let plan = parse(&src);
    let ten_min = Duration::from_secs(600);
    let ex: Vec<&Executor> = plan.scenarios.iter().map(|s| &s.executor).collect();
    assert_eq!(*ex[0], Executor::SharedIterations { vus: 1, iterations: 1, max_duration: ten_min });
    assert_eq!(*ex[1], Executor::PerVuIterations { vus: 1, iterations: 1, max_duration: ten_min });
    assert_eq!(*ex[2], Executor::ConstantVus { vus: 1, duration: Duration::from_secs(60) });
    assert_eq!(
        *ex[3],
        Executor::RampingVus {
            start_vus: 1,
            stages: vec![Stage { duration: Duration::from_secs(30), target: 10 }],
            graceful_ramp_down: Duration::from_secs(30)
        }
    );
    assert_eq!(
        *ex[4],
        Executor::ConstantArrivalRate {
            rate: 5,
            time_unit: Duration::from_secs(1),
            duration: Duration::from_secs(60),
            pre_allocated_vus: 3,
            max_vus: 3
        }
    );
    assert_eq!(
        *ex[5],
        Executor::RampingArrivalRate {
            start_rate: 0,
            time_unit: Duration::from_secs(1),
            stages: vec![Stage { duration: Duration::from_secs(60), target: 50 }],
            pre_allocated_vus: 2,
            max_vus: 9
        }
    );
    for s in &plan.scenarios {
        assert_eq!(s.start_time, Duration::ZERO);
        assert_eq!(s.graceful_stop, Duration::from_secs(30));
    }
    assert_eq!(plan.target.timeout, Duration::from_secs(60));
    assert_eq!(plan.target.connect_timeout, Duration::from_secs(10));
    assert_eq!(plan.target.http_version, HttpVersion::Auto);
    assert!(!plan.target.insecure_skip_tls_verify);
    assert_eq!(plan.think_time, ThinkTime::None);
    // The base URL's trailing `/` is dropped before joining.
    assert_eq!(plan.flows[0].steps[0].url.as_static(), Some("http://localhost:8080/"));
    assert_eq!(&*plan.flows[0].steps[0].name, "GET /");
    assert_eq!(plan.flows[0].steps[0].method, http::Method::GET);
}

#[test]
fn shared_iterations_caps_vus_at_iterations() {
    let plan = parse(&format!(
        "{MINIMAL}\n[scenarios.a]\nexecutor = \"shared-iterations\"\nvus = 10\niterations = 3\nflow = \"f\"\n"
    ));
    assert_eq!(
        plan.scenarios[0].executor,
        Executor::SharedIterations { vus: 3, iterations: 3, max_duration: Duration::from_secs(600) }
    );
}

#[test]
fn weights_are_cumulative_in_file_order() {
    let src = r#"
[target]
base_url = "http://h"
[flows.zeta]
steps = [{ url = "/z" }]
[flows.alpha]
steps = [{ url = "/a" }]
[flows.mid]
steps = [{ url = "/m" }]
[scenarios.s]
executor = "constant-vus"
duration = "1s"
flows = { zeta = 70, alpha = 20, mid = 10 }
"#;
    let plan = parse(src);
    let names: Vec<&str> = plan.flows.iter().map(|f| &*f.name).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"]);
    let s = &plan.scenarios[0];
    assert_eq!(s.total_weight, 100);
    let w: Vec<(usize, u32)> = s.flows.iter().map(|f| (f.flow, f.cumulative_weight)).collect();
    assert_eq!(w, [(0, 70), (1, 90), (2, 100)]);
}

#[test]
fn templates_render_vars_data_env_and_builtins() {
    let dir = std::env::temp_dir().join(format!("stampede-scn-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/users.csv"), "id,email\n1,a@x.io\n2,\"b\"\"q\"\"@x.io\"\n").unwrap();
    std::fs::write(
        dir.join("data/items.json"),
        r#"[{"sku": "A-1", "price": 9.5, "live": true}, {"sku": "B\"2", "price": 3, "live": null}]"#,
    )
    .unwrap();
    let src = r#"
[target]
base_url = "http://shop.test"
headers = { "X-Env" = "{{ env.STAMPEDE_TEST_REGION }}" }
[data.users]
file = "data/users.csv"
order = "unique"
[data.items]
file = "data/items.json"
order = "random"
[flows.f]
[[flows.f.steps]]
name = "login"
method = "POST"
url = "/login/{{ data.users.id }}?vu={{vu}}&i={{ iter }}&s={{ scenario }}"
json = { email = "{{ data.users.email }}", sku = "{{ data.items.sku }} x", qty = 1, tags = ["{{ token }}", 2.5, false], nested = { k = "{{ \"{{\" }}" } }
extract = [{ var = "token", json = "$.token" }, { var = "loc", header = "Location" }]
[[flows.f.steps]]
url = "{{ loc }}"
headers = { Authorization = "Bearer {{ token }}" }
body = "price={{ data.items.price }}&live={{ data.items.live }}"
[scenarios.s]
executor = "constant-vus"
duration = "1s"
flow = "f"
"#;
    let path = dir.join("t.toml");
    let overrides = Overrides { env: vec![("STAMPEDE_TEST_REGION".into(), "eu-1".into())], ..Default::default() };
    let plan = parse_str(src, &path, &overrides).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.var_names, [Arc::<str>::from("token"), Arc::from("loc")]);
    assert_eq!(plan.var_slots, 2);
    assert_eq!(plan.data[0].order, DataOrder::UniquePerVu);
    assert_eq!(plan.data[1].order, DataOrder::Random);
    assert_eq!(plan.target.headers[0].1.as_static(), Some("eu-1"), "env resolved at plan time");

    let step = &plan.flows[0].steps[0];
    let vars = vec![Some("t\"k".to_string()), Some("http://shop.test/next".to_string())];
    assert_eq!(render(&step.url, &plan, &vars, &[1, 1]), "http://shop.test/login/2?vu=7&i=2&s=s");
    let Some(Body::Json(json)) = &step.body else { panic!("json body") };
    let text = render(json, &plan, &vars, &[1, 1]);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(
        value,
        serde_json::json!({"email": "b\"q\"@x.io", "sku": "B\"2 x", "qty": 1, "tags": ["t\"k", 2.5, false], "nested": {"k": "{{"}})
    );
    assert!(step.needs_json && step.needs_body);

    let next = &plan.flows[0].steps[1];
    assert_eq!(render(&next.url, &plan, &vars, &[0, 0]), "http://shop.test/next");
    assert_eq!(render(&next.headers[0].1, &plan, &vars, &[0, 0]), "Bearer t\"k");
    let Some(Body::Raw(body)) = &next.body else { panic!("raw body") };
    assert_eq!(render(body, &plan, &vars, &[0, 0]), "price=9.5&live=true");
    assert_eq!(render(body, &plan, &vars, &[0, 1]), "price=3&live=");
    assert!(!next.needs_body);
    assert_eq!(&*next.name, "GET {{ loc }}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn checks_extractors_and_names_are_interned() {
    let src = r#"
[target]
base_url = "https://h"
think_time = "1s"
[flows.f]
think_time = { min = "1s", max = "3s" }
[[flows.f.steps]]
name = "home"
url = "/"
think_time = "0s"
checks = [
  { status = 200 },
  { status = [200, 201] },
  { body_contains = "Welcome" },
  { json_path = "$.ok", equals = true },
  { header = "Content-Type" },
  { duration_below = "500ms" },
  { name = "custom name", status = 200 },
]
extract = [{ var = "csrf", regex = 'name="csrf" value="([^"]+)"' }, { var = "sid", cookie = "session" }]
[[flows.f.steps]]
name = "home"
url = "/again"
checks = [{ status = 200 }, { name = "custom name", header = "ETag" }]
[scenarios.s]
executor = "constant-vus"
duration = "1s"
flow = "f"
"#;
    let plan = parse(src);
    let names: Vec<&str> = plan.check_names.iter().map(|n| &**n).collect();
    assert_eq!(
        names,
        [
            "home: status is 200",
            "home: status is 200 or 201",
            "home: body contains \"Welcome\"",
            "home: $.ok == true",
            "home: header Content-Type is present",
            "home: duration < 500ms",
            "custom name",
        ]
    );
    let [a, b] = &plan.flows[0].steps[..] else { panic!() };
    assert_eq!(a.name_id, b.name_id, "same request name, same id");
    assert_eq!(plan.request_names.len(), 1);
    assert_eq!(b.checks[0].id, 0);
    assert_eq!(b.checks[1].id, 6);
    assert!(a.needs_body && a.needs_json);
    assert!(!b.needs_body && !b.needs_json);
    assert_eq!(plan.think_time, ThinkTime::Fixed(Duration::from_secs(1)));
    assert_eq!(a.think_time, Some(ThinkTime::None), "the step's own think time wins");
    assert_eq!(
        b.think_time,
        Some(ThinkTime::Uniform { min: Duration::from_secs(1), max: Duration::from_secs(3) }),
        "the flow's default"
    );
    assert!(matches!(&a.extract[0].source, ExtractSource::Regex(_)));
    assert!(matches!(&a.extract[1].source, ExtractSource::Cookie(c) if &**c == "session"));
    assert_eq!(a.extract[1].slot, 1);
}

#[test]
fn thresholds_parse_k6_syntax() {
    let src = format!(
        r#"{MINIMAL}
[scenarios.s]
executor = "constant-vus"
duration = "1s"
flow = "f"
[thresholds]
http_req_duration = ["p(95)<500", "p(99.9) < 1000", " avg <= 200 "]
"http_req_duration{{name:checkout}}" = ["p(95)<800"]
http_req_failed = [{{ threshold = "rate<0.01", abort_on_fail = true, delay_abort_eval = "10s" }}]
checks = ["rate>=0.99"]
http_reqs = ["count>10", "rate>5"]
vus = ["value<100"]
"#
    );
    let plan = parse(&src);
    let t = &plan.thresholds;
    assert_eq!(t.len(), 9);
    assert_eq!((t[0].aggregation, t[0].comparison, t[0].value), (Aggregation::Percentile(95.0), Comparison::Lt, 500.0));
    assert_eq!((t[1].aggregation, t[1].value), (Aggregation::Percentile(99.9), 1000.0));
    assert_eq!((t[2].aggregation, t[2].comparison), (Aggregation::Avg, Comparison::Le));
    assert_eq!(t[3].metric, Metric::HttpReqDuration);
    assert_eq!(t[3].tags, vec![(Arc::from("name"), Arc::from("checkout"))]);
    assert_eq!(&*t[3].selector, "http_req_duration{name:checkout}");
    assert!(t[4].abort_on_fail);
    assert_eq!(t[4].delay_abort_eval, Duration::from_secs(10));
    assert_eq!(
        (t[5].metric.clone(), t[5].aggregation, t[5].comparison, t[5].value),
        (Metric::Checks, Aggregation::Rate, Comparison::Ge, 0.99)
    );
    assert_eq!(t[7].aggregation, Aggregation::Rate);
    assert_eq!(t[8].aggregation, Aggregation::Value);
}

#[test]
fn overrides_turn_scenarios_into_constant_vus() {
    let src = format!(
        r#"{MINIMAL}
[scenarios.ramp]
executor = "ramping-vus"
start_vus = 2
stages = [{{ duration = "30s", target = 20 }}, {{ duration = "1m", target = 5 }}]
flow = "f"
[scenarios.open]
executor = "constant-arrival-rate"
rate = 10
duration = "45s"
pre_allocated_vus = 4
max_vus = 12
flow = "f"
"#
    );
    let plan = parse_with(&src, &Overrides { vus: Some(3), ..Default::default() });
    assert_eq!(plan.scenarios[0].executor, Executor::ConstantVus { vus: 3, duration: Duration::from_secs(90) });
    assert_eq!(plan.scenarios[1].executor, Executor::ConstantVus { vus: 3, duration: Duration::from_secs(45) });

    let plan = parse_with(&src, &Overrides { duration: Some(Duration::from_secs(5)), ..Default::default() });
    assert_eq!(plan.scenarios[0].executor, Executor::ConstantVus { vus: 20, duration: Duration::from_secs(5) });
    assert_eq!(plan.scenarios[1].executor, Executor::ConstantVus { vus: 12, duration: Duration::from_secs(5) });

    let plan =
        parse_with(&src, &Overrides { target: Some("https://staging.example:8443/".into()), ..Default::default() });
    assert_eq!(plan.target.base_url.as_deref(), Some("https://staging.example:8443"));
    assert_eq!(plan.flows[0].steps[0].url.as_static(), Some("https://staging.example:8443/"));
    assert!(matches!(plan.scenarios[0].executor, Executor::RampingVus { .. }), "no --vus/--duration: unchanged");

    let err = parse_str(&src, Path::new("t.toml"), &Overrides { target: Some("ftp://x".into()), ..Default::default() })
        .unwrap_err();
    assert_eq!(err.field(), "--target");
    let err = parse_str(&src, Path::new("t.toml"), &Overrides { vus: Some(0), ..Default::default() }).unwrap_err();
    assert_eq!(err.field(), "--vus");
}

#[test]
fn target_override_supplies_a_missing_base_url() {
    let src = "[flows.f]\nsteps = [{ url = \"/x\" }]\n[scenarios.s]\nexecutor = \"constant-vus\"\nduration = \"1s\"\nflow = \"f\"\n";
    assert!(parse_str(src, Path::new("t.toml"), &Overrides::default()).unwrap_err().to_string().contains("--target"));
    let plan = parse_with(src, &Overrides { target: Some("http://127.0.0.1:9".into()), ..Default::default() });
    assert_eq!(plan.flows[0].steps[0].url.as_static(), Some("http://127.0.0.1:9/x"));
}

#[test]
fn errors_point_at_the_offending_value() {
    let src =
        format!("{MINIMAL}\n[scenarios.s]\nexecutor = \"constant-vus\"\nduration = \"1s\"\nflow = \"f\"\nvuss = 3\n");
    let err = parse_str(&src, Path::new("dir/s.toml"), &Overrides::default()).unwrap_err();
    assert_eq!(err.line(), Some(11));
    assert_eq!(err.column(), Some(1));
    assert_eq!(err.field(), "scenarios.s.vuss");
    let text = err.to_string();
    assert!(
        text.starts_with("dir/s.toml:11:1: error in `scenarios.s.vuss`: unknown field `vuss`; did you mean `vus`?"),
        "{text}"
    );
    assert!(
        text.contains("help: allowed here: executor, flow, flows, start_time, graceful_stop, vus, duration"),
        "{text}"
    );
    assert!(text.contains("11 | vuss = 3\n   | ^^^^"), "{text}");

    // Inside a template, the caret lands on the placeholder.
    let src = "[target]\nbase_url = \"http://h\"\n[flows.f]\nsteps = [{ url = \"/a/{{ tokn }}\" }]\n[scenarios.s]\nexecutor = \"constant-vus\"\nduration = \"1s\"\nflow = \"f\"\n";
    let err = parse_str(src, Path::new("s.toml"), &Overrides::default()).unwrap_err();
    assert_eq!((err.line(), err.column()), (Some(4), Some(25)), "{err}");
    assert!(
        err.to_string().contains("4 | steps = [{ url = \"/a/{{ tokn }}\" }]\n  |                         ^^^^"),
        "{err}"
    );
}

#[test]
fn docs_examples_compile() {
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scenarios.md")).unwrap();
    let blocks: Vec<&str> = docs.split("```toml\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    assert!(blocks.len() >= 2);
    let dir = std::env::temp_dir().join(format!("stampede-docs-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/users.csv"), "id,email,password,card\n1,a@x.io,pw,4242\n").unwrap();
    let plan = parse_str(blocks[0], &dir.join("example.toml"), &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.scenarios.len(), 2);
    assert_eq!(plan.scenarios[0].total_weight, 100);
    // The thresholds block on its own, appended to a minimal file.
    let thresholds =
        blocks.iter().find(|b| b.trim_start().starts_with("[thresholds]")).expect("a [thresholds] example");
    let with_thresholds =
        format!("{MINIMAL}\n[scenarios.s]\nexecutor = \"constant-vus\"\nduration = \"1s\"\nflow = \"f\"\n{thresholds}");
    assert_eq!(parse(&with_thresholds).thresholds.len(), 6);
    // The custom metrics example: a whole file but its target.
    let metrics = blocks.iter().find(|b| b.trim_start().starts_with("[metrics.")).expect("a [metrics.NAME] example");
    let plan = parse(&format!("[target]\nbase_url = \"http://127.0.0.1:8081\"\n{metrics}"));
    assert_eq!((plan.metrics.len(), plan.thresholds.len()), (4, 5));
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
    // Every other example compiles too: whole files as they are, fragments
    // completed with what they leave out (a target, a flow, a scenario).
    for (i, block) in blocks.iter().enumerate() {
        let mut src = String::new();
        if !block.contains("[target]") {
            src.push_str("[target]\nbase_url = \"http://localhost:8080/\"\n");
        }
        src.push_str(block);
        if !block.contains("[data.") {
            src.push_str("\n[data.users]\nfile = \"data/users.csv\"\n");
        }
        if !block.contains("[flows.") {
            src.push_str("\n[flows.f]\nsteps = [{ url = \"/\" }]\n");
        }
        if !block.contains("[scenarios.") {
            // The first flow the file defines (`[flows.NAME]` or `[[flows.NAME.steps]]`).
            let flow = src
                .lines()
                .filter_map(|l| l.trim_start_matches('[').strip_prefix("flows."))
                .find_map(|rest| rest.split(['.', ']']).next())
                .unwrap_or("f");
            src.push_str(&format!(
                "\n[scenarios.docs]\nexecutor = \"constant-vus\"\nduration = \"1s\"\nflow = \"{flow}\"\n"
            ));
        }
        if let Err(e) = parse_str(&src, &dir.join("example.toml"), &Overrides::default()) {
            panic!("docs/scenarios.md example {} does not compile:\n{e}\n--- as compiled:\n{src}", i + 1);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn non_ascii_in_urls_is_percent_encoded_as_browsers_do() {
    let dir = std::env::temp_dir().join(format!("stampede-scn-url-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("terms.csv"), "q\nsmörgås bord\n").unwrap();
    let src = r#"
[target]
base_url = "http://shop.test/bücher"
[data.terms]
file = "terms.csv"
[[flows.f.steps]]
url = "/suche/größe?q={{ data.terms.q }}&page=1%202"
[[flows.f.steps]]
url = "http://127.0.0.1:8080/ü"
[scenarios.s]
executor = "constant-vus"
duration = "1s"
flow = "f"
"#;
    let plan = parse_str(src, &dir.join("t.toml"), &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    let steps = &plan.flows[0].steps;
    // Literal parts at plan time, substituted values when rendered; `%20` already encoded stays.
    assert_eq!(
        render(&steps[0].url, &plan, &[], &[0]),
        "http://shop.test/b%C3%BCcher/suche/gr%C3%B6%C3%9Fe?q=sm%C3%B6rg%C3%A5s%20bord&page=1%202"
    );
    assert_eq!(steps[1].url.as_static(), Some("http://127.0.0.1:8080/%C3%BC"));
    // The request name keeps the URL as written.
    assert_eq!(&*steps[1].name, "GET http://127.0.0.1:8080/ü");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_threshold_on_an_unknown_name_compiles_with_a_located_warning() {
    let src = r#"[target]
base_url = "http://localhost:8080"
[[flows.f.steps]]
name = "checkout"
url = "/checkout"
checks = [{ status = 200, name = "paid" }]
[thresholds]
"http_req_duration{name:chekout}" = ["p(95)<500"]
"checks{check:paid}" = ["rate>0.9"]
"checks{scenario:smoke}" = ["rate>0.9"]
"http_reqs{name:checkout}" = ["count>0"]
[scenarios.s]
executor = "constant-vus"
duration = "1s"
flow = "f"
"#;
    let plan = parse(src);
    assert_eq!(plan.thresholds.len(), 4, "still valid, as in k6");
    let texts: Vec<String> = plan.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(plan.warnings.iter().all(|w| w.is_warning()));
    assert!(texts[0].starts_with("test.toml:8:1: warning in `thresholds.\"http_req_duration{name:chekout}\"`: no request name is `chekout`; did you mean `checkout`?"), "{}", texts[0]);
    assert!(texts[0].contains("help: request names in this file: `checkout`"), "{}", texts[0]);
    assert!(
        texts[1].contains("no scenario is `smoke`") && texts[1].contains("scenarios in this file: `s`"),
        "{}",
        texts[1]
    );
}

#[test]
fn connections_per_vu_count_the_origins_a_flow_reaches() {
    let src = r#"
[target]
base_url = "http://localhost:8080"
[[flows.one.steps]]
url = "/a"
[[flows.one.steps]]
url = "/b?x={{ vu }}"
[[flows.three.steps]]
url = "/a"
[[flows.three.steps]]
url = "https://cdn.test/img/{{ vu }}.png"
[[flows.three.steps]]
url = "https://cdn.test"
[[flows.three.steps]]
url = "{{ next }}"
extract = [{ var = "next", header = "Location" }]
[scenarios.single]
executor = "constant-vus"
vus = 10
duration = "1s"
flow = "one"
[scenarios.mixed]
executor = "constant-vus"
vus = 5
duration = "1s"
flows = { one = 1, three = 1 }
"#;
    let plan = parse(src);
    // `three`: localhost:8080, cdn.test (twice, one origin), and a templated origin.
    assert_eq!(plan.connections_per_vu(&plan.scenarios[0]), 1);
    assert_eq!(plan.connections_per_vu(&plan.scenarios[1]), 3);
    assert_eq!(plan.peak_connections(), 10 + 5 * 3);
}

#[test]
fn redirects_hosts_local_ips_and_bodies_compile_with_their_precedence() {
    let src = r#"
[target]
base_url = "http://shop.example.com:8080"
max_redirects = 5
hosts = { "shop.example.com" = "127.0.0.1:18080", "*.example.com" = "127.0.0.1" }
local_ips = ["127.0.0.2", "127.0.0.3-127.0.0.4", "127.0.1.0/31"]
[flows.f]
max_redirects = 3
steps = [
  { url = "/" },
  { url = "/login", method = "POST", max_redirects = 0, form = { "user name" = "{{ vu }}" } },
  { url = "/up", method = "POST", multipart = [{ name = "note", value = "hi" }] },
]
[flows.g]
steps = [{ url = "/" }]
[scenarios.s]
executor = "constant-vus"
vus = 1
duration = "1s"
flow = "f"
"#;
    let overrides = Overrides { hosts: vec!["api.example.com=[::1]:9000".into()], ..Overrides::default() };
    let plan = parse_with(src, &overrides);
    let steps = &plan.flows[0].steps;
    assert_eq!([steps[0].max_redirects, steps[1].max_redirects, plan.flows[1].steps[0].max_redirects], [3, 0, 5]);
    let m = plan.target.map_host("shop.example.com").unwrap();
    assert_eq!(m.addr(8080).to_string(), "127.0.0.1:18080");
    assert_eq!(plan.target.map_host("cdn.example.com").unwrap().addr(8080).to_string(), "127.0.0.1:8080");
    assert_eq!(plan.target.map_host("api.example.com").unwrap().addr(80).to_string(), "[::1]:9000");
    assert_eq!(plan.target.local_ips.len(), 5);
    match &steps[1].body {
        Some(Body::Form(fields)) => assert_eq!(&*fields[0].0, "user+name"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(&steps[2].body, Some(Body::Multipart(m)) if m.parts.len() == 1));
}

/// `only_if` in both forms compiles to a condition on the variable's slot,
/// on the item that runs the step; steps without it have none.
#[test]
fn only_if_compiles_to_a_condition_on_the_variable() {
    let plan = parse(
        r#"
[target]
base_url = "http://127.0.0.1:8080"
[[flows.f.steps]]
url = "/cart"
extract = [{ var = "cart_id", json = "$.id" }, { var = "state", json = "$.state" }]
[[flows.f.steps]]
url = "/checkout/{{ cart_id }}"
only_if = "cart_id"
[[flows.f.steps]]
url = "/open"
only_if = { var = "state", equals = "open" }
[scenarios.s]
executor = "constant-vus"
duration = "1s"
flow = "f"
"#,
    );
    let flow = &plan.flows[0];
    assert_eq!(flow.steps.len(), 3);
    let conds: Vec<_> = flow.items.iter().map(|i| i.only_if.clone()).collect();
    assert_eq!(conds, [None, Some(Condition::Set(0)), Some(Condition::Equals(1, "open".into()))]);
    assert!(flow.items.iter().enumerate().all(|(n, i)| matches!(i.kind, ItemKind::Request(s) if s == n)));
    let open = Some("open".to_string());
    assert!(conds[1].as_ref().unwrap().holds(&[Some(String::new()), None]), "set, even to the empty string");
    assert!(!conds[1].as_ref().unwrap().holds(&[None, open.clone()]));
    assert!(conds[2].as_ref().unwrap().holds(&[None, open]));
    assert!(!conds[2].as_ref().unwrap().holds(&[None, Some("closed".into())]));
}

#[test]
fn setup_and_teardown_compile_to_flows_with_read_only_values() {
    let plan = parse(
        r#"
[target]
base_url = "http://127.0.0.1:8081"

[setup]
timeout = "15s"
[[setup.steps]]
name = "login"
method = "POST"
url = "/api/login"
extract = [{ var = "token", json = "$.token" }, { var = "user", header = "X-User" }]

[teardown]
[[teardown.steps]]
method = "DELETE"
url = "/api/session/{{ user }}"
headers = { Authorization = "Bearer {{ token }}" }

[flows.browse]
[[flows.browse.steps]]
url = "/api/cart"
headers = { Authorization = "Bearer {{ token }}" }
extract = [{ var = "cart", json = "$.id" }]

[scenarios.s]
executor = "constant-vus"
duration = "10s"
flow = "browse"
"#,
    );
    let setup = plan.setup.as_ref().expect("setup");
    assert_eq!(setup.steps.len(), 1);
    assert_eq!(&*setup.steps[0].name, "login");
    assert_eq!(plan.setup_timeout, std::time::Duration::from_secs(15));
    // k6's default teardownTimeout.
    assert_eq!(plan.teardown_timeout, std::time::Duration::from_secs(60));
    assert_eq!(plan.teardown.as_ref().expect("teardown").steps[0].method, http::Method::DELETE);
    let names: Vec<&str> = plan.setup_vars.iter().map(|&s| &*plan.var_names[s]).collect();
    assert_eq!(names, ["token", "user"]);
    assert!(plan.var_names.iter().any(|v| &**v == "cart"));
    // Flows run what scenarios name; setup and teardown are not flows.
    assert_eq!(plan.flows.len(), 1);

    let plain = load(&smoke_path(), &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(plain.setup.is_none() && plain.teardown.is_none() && plain.setup_vars.is_empty());
}

#[test]
fn custom_metrics_compile_to_declarations_feeds_and_thresholds() {
    let plan = parse(
        r#"
[target]
base_url = "http://127.0.0.1:8081"

[metrics.orders]
kind = "counter"
[metrics.server_time]
kind = "trend"
time = true
[metrics.cart_not_empty]
kind = "rate"
[metrics.stock]
kind = "gauge"
[metrics.unused]
kind = "counter"

[[flows.buy.steps]]
name = "checkout"
method = "POST"
url = "/checkout"
extract = [{ var = "qty", json = "$.qty" }]
metrics = [
  { name = "orders", if_status = [200, 201] },
  { name = "orders", add = "{{ qty }}" },
  { name = "server_time", header = "X-Server-Time" },
  { name = "cart_not_empty", json = "$.items[0]" },
  { name = "cart_not_empty", value = false, if_status = 404 },
  { name = "stock", regex = 'stock=(\d+)' },
]

[scenarios.s]
executor = "constant-vus"
duration = "1s"
flow = "buy"

[thresholds]
orders = ["count>10", "rate>1"]
"server_time{name:checkout}" = ["p(95)<200"]
cart_not_empty = ["rate>0.9"]
"stock{scenario:s}" = ["value>0", "min>=0"]
"#,
    );
    let names: Vec<(&str, threshold::MetricKind, bool)> =
        plan.metrics.iter().map(|m| (&*m.name, m.kind, m.time)).collect();
    use threshold::MetricKind::*;
    assert_eq!(
        names,
        [
            ("orders", Counter, false),
            ("server_time", Trend, true),
            ("cart_not_empty", Rate, false),
            ("stock", Gauge, false),
            ("unused", Counter, false)
        ]
    );
    let step = &plan.flows[0].steps[0];
    let feeds: Vec<(u16, &[u16])> = step.metrics.iter().map(|f| (f.metric, &f.if_status[..])).collect();
    assert_eq!(feeds, [(0, &[200, 201][..]), (0, &[][..]), (1, &[][..]), (2, &[][..]), (2, &[404][..]), (3, &[][..])]);
    assert!(matches!(step.metrics[0].value, FeedValue::Const(1.0)), "a counter adds 1 by default");
    assert!(matches!(step.metrics[1].value, FeedValue::Template(_)));
    assert!(matches!(step.metrics[2].value, FeedValue::Response(ExtractSource::Header(_))));
    assert!(matches!(step.metrics[4].value, FeedValue::Const(0.0)));
    assert!(step.needs_json && step.needs_body, "json and regex sources need the body");
    assert_eq!(plan.thresholds.len(), 6);
    let server_time = &plan.thresholds[2];
    assert_eq!(server_time.metric, Metric::Custom(plan.metrics[1].clone()));
    assert!(server_time.metric.is_time());
    assert_eq!(server_time.tags, vec![("name".into(), "checkout".into())]);
    let warnings: Vec<String> = plan.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(warnings[0].contains("no step feeds the metric `unused`"), "{}", warnings[0]);
    assert!(warnings[0].starts_with("test.toml:14:10: warning"), "{}", warnings[0]);
    assert!(parse(MINIMAL_WITH_SCENARIO).metrics.is_empty());
}

#[test]
fn samples_read_from_text_and_json_by_kind() {
    use threshold::MetricKind::*;
    assert_eq!(read_sample(Trend, " 12.5 "), Some(12.5));
    assert_eq!(read_sample(Trend, "app;dur=87.3;desc=\"db\", cache;dur=1"), Some(87.3));
    assert_eq!(read_sample(Counter, "true"), Some(1.0));
    assert_eq!(read_sample(Trend, "fast"), None);
    assert_eq!(read_sample(Rate, "fast"), Some(1.0), "non-empty text is true for a rate");
    assert_eq!(read_sample(Rate, ""), Some(0.0));
    assert_eq!(read_sample(Rate, "0"), Some(0.0));
    let json: serde_json::Value = serde_json::json!([3, true, "4.5", null, [], {"a": 1}]);
    let got: Vec<Option<f64>> = json.as_array().unwrap().iter().map(|v| read_json_sample(Gauge, v)).collect();
    assert_eq!(got, [Some(3.0), Some(1.0), Some(4.5), None, None, None]);
    let got: Vec<Option<f64>> = json.as_array().unwrap().iter().map(|v| read_json_sample(Rate, v)).collect();
    assert_eq!(got, [Some(3.0), Some(1.0), Some(4.5), Some(0.0), Some(0.0), Some(1.0)]);
}

const MINIMAL_WITH_SCENARIO: &str = r#"
[target]
base_url = "http://localhost:8080/"
[flows.f]
steps = [{ url = "/" }]
[scenarios.s]
executor = "constant-vus"
duration = "1s"
flow = "f"
"#;

#[test]
fn groups_nest_and_tags_merge_from_target_to_flow_to_step() {
    let plan = parse(
        r#"
[target]
base_url = "http://localhost:8080/"
tags = { team = "shop", page = "any" }
[flows.buy]
group = "checkout"
tags = { page = "cart" }
[[flows.buy.steps]]
name = "cart"
url = "/cart"
[[flows.buy.steps]]
name = "pay"
url = "/pay"
group = "payment"
tags = { page = "pay", step = "2" }
[[flows.buy.steps]]
name = "again"
url = "/cart"
[[flows.browse.steps]]
url = "/"
[scenarios.s]
executor = "constant-vus"
duration = "1s"
flows = { buy = 1, browse = 1 }
"#,
    );
    let names = |flow: usize| -> Vec<(String, Vec<(String, String)>)> {
        plan.flows[flow]
            .steps
            .iter()
            .map(|s| {
                let tags = plan.tag_sets[s.tags as usize].iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                (plan.group_names[s.group as usize].to_string(), tags)
            })
            .collect()
    };
    let t = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>();
    let buy = plan.flows.iter().position(|f| &*f.name == "buy").unwrap();
    let browse = plan.flows.iter().position(|f| &*f.name == "browse").unwrap();
    assert_eq!(
        names(buy),
        vec![
            ("::checkout".into(), t(&[("page", "cart"), ("team", "shop")])),
            ("::checkout::payment".into(), t(&[("page", "pay"), ("step", "2"), ("team", "shop")])),
            ("::checkout".into(), t(&[("page", "cart"), ("team", "shop")])),
        ]
    );
    assert_eq!(names(browse), vec![("".into(), t(&[("page", "any"), ("team", "shop")]))]);
    // `::checkout::payment` is inside `::checkout`, which is inside the root.
    let payment = plan.group_names.iter().position(|g| &**g == "::checkout::payment").unwrap();
    let checkout = plan.group_parents[payment] as usize;
    assert_eq!(&*plan.group_names[checkout], "::checkout");
    assert_eq!(plan.group_parents[checkout], 0);
    // Steps with the same tags share one interned set.
    let steps = &plan.flows[buy].steps;
    assert_eq!(steps[0].tags, steps[2].tags);
}

/// A batch is one item holding its requests (each a step of the flat list),
/// with the batch's per-host limit, think time, group and tags; `for_each`
/// names a list variable's slot with its cap; `{{ item }}` renders the
/// element; the final URL is an extractor source and a check.
#[test]
fn batches_for_each_and_the_final_url_compile_into_items() {
    let plan = parse(
        r#"
[target]
base_url = "http://shop.test"
batch_per_host = 4
[flows.pdp]
think_time = "2s"
[[flows.pdp.steps]]
name = "listing"
url = "/api/products"
extract = [
  { var = "ids", json = "$.items[*].id", all = true },
  { var = "images", regex = 'src="([^"]+)"', all = true },
]
[[flows.pdp.steps]]
name = "product"
url = "/product/{{ item }}"
for_each = "{{ ids }}"
for_each_max = 3
[[flows.pdp.steps]]
group = "page"
think_time = "1s"
batch_per_host = 2
for_each = "images"
tags = { kind = "asset" }
batch = [{ name = "image", url = "{{ item }}" }, { url = "https://cdn.test/app.js?v={{ item }}" }]
[[flows.pdp.steps]]
batch = [{ url = "/a.css" }, { url = "/img/{{ item }}", for_each = "ids", only_if = "ids" }]
[[flows.pdp.steps]]
name = "checkout"
method = "POST"
url = "/checkout"
extract = [{ var = "order_url", url = true }, { var = "order", url = '/orders/(\d+)' }]
checks = [{ url_contains = "/orders/" }]
[scenarios.s]
executor = "constant-vus"
duration = "1s"
flow = "pdp"
"#,
    );
    assert_eq!(plan.target.batch_per_host, 4);
    let flow = &plan.flows[0];
    let names: Vec<&str> = flow.steps.iter().map(|s| &*s.name).collect();
    assert_eq!(
        names,
        [
            "listing",
            "product",
            "image",
            "GET https://cdn.test/app.js?v={{ item }}",
            "GET /a.css",
            "GET /img/{{ item }}",
            "checkout"
        ],
        "batch requests join the flat list of steps"
    );
    let (ids, images) = (0, 1);
    assert!(matches!(flow.items[0].kind, ItemKind::Request(0)) && flow.items[0].for_each.is_none());
    assert!(matches!(flow.items[1].kind, ItemKind::Request(1)));
    assert_eq!(flow.items[1].for_each, Some(ForEach { slot: ids, max: 3 }));

    let ItemKind::Batch(page) = &flow.items[2].kind else { panic!("{:?}", flow.items[2]) };
    assert_eq!(flow.items[2].for_each, Some(ForEach { slot: images, max: 100 }), "the default cap");
    assert_eq!(page.requests().collect::<Vec<_>>(), [2, 3]);
    assert_eq!((page.per_host, page.think_time), (2, Some(ThinkTime::Fixed(Duration::from_secs(1)))));
    assert_eq!(&*plan.group_names[page.group as usize], "::page");
    assert!(flow.steps[2..4].iter().all(|s| s.group == page.group), "the batch's requests are in its group");
    assert_eq!(&*plan.tag_sets[flow.steps[2].tags as usize][0].1, "asset");

    let ItemKind::Batch(assets) = &flow.items[3].kind else { panic!() };
    assert_eq!((assets.per_host, assets.think_time), (4, Some(ThinkTime::Fixed(Duration::from_secs(2)))), "inherited");
    assert_eq!(assets.items[1].for_each, Some(ForEach { slot: ids, max: 100 }));
    assert_eq!(assets.items[1].only_if, Some(Condition::Set(ids)));

    let checkout = &flow.steps[6];
    assert!(checkout.needs_url && !checkout.needs_body);
    assert!(matches!(checkout.extract[0].source, ExtractSource::Url));
    assert!(matches!(&checkout.extract[1].source, ExtractSource::UrlRegex(re) if re.is_match("/orders/42")));
    assert!(matches!(&checkout.checks[0].kind, CheckKind::UrlContains(s) if &**s == "/orders/"));
    assert!(flow.steps[0].extract.iter().all(|e| e.all) && !checkout.extract[0].all);

    let mut rng = fastrand::Rng::with_seed(1);
    let mut ctx = RenderContext {
        vars: &[],
        data: &[],
        data_rows: &[],
        vu_id: 1,
        iteration: 0,
        scenario: "s",
        rng: &mut rng,
        item: "42",
    };
    let mut url = String::new();
    flow.steps[1].url.render(&mut ctx, &mut url);
    assert_eq!(url, "http://shop.test/product/42");

    // shop.test: 1 for plain steps, 4 for the assets batch; cdn.test 2; the
    // templated image origin 2.
    assert_eq!(plan.connections_per_vu(&plan.scenarios[0]), 4 + 2 + 2);
}

/// A list variable holds its matches as a JSON array; `for_each` takes the
/// elements as text, at most its cap.
#[test]
fn list_values_round_trip_through_their_json_text() {
    let value = list_value(vec![7.into(), "a\"b".into(), serde_json::json!({ "k": 1 })]);
    assert_eq!(value, r#"[7,"a\"b",{"k":1}]"#);
    assert_eq!(list_items(&value, 10), ["7", "a\"b", r#"{"k":1}"#]);
    assert_eq!(list_items(&value, 2), ["7", "a\"b"]);
    assert_eq!(list_items("plain", 10), ["plain"], "a value that is not a list is one element");
    let each = ForEach { slot: 1, max: 5 };
    assert!(each.items(&[None, None]).is_empty(), "an unset list repeats nothing");
    assert_eq!(each.items(&[None, Some("[1,2]".into())]), ["1", "2"]);
}

#[test]
fn compare_budgets_are_read_with_their_series_normalized() {
    let plan = parse(
        r#"
[target]
base_url = "http://127.0.0.1:8080"

[metrics.cart_value]
kind = "trend"

[[flows.main.steps]]
name = "checkout"
url = "/"

[scenarios.buy]
executor = "constant-vus"
vus = 1
duration = "1s"
flow = "main"

[compare]
"http_req_duration{ name: checkout }" = ["p(95) +10%", "p(99) +50ms"]
http_req_duration = ["median +5%"]
"iteration_duration{scenario:buy}" = ["p(90) +1s"]
cart_value = ["p(50) +3"]
"#,
    );
    let b: Vec<(&str, f64, Option<f64>, Option<f64>)> =
        plan.budgets.iter().map(|b| (b.selector.as_str(), b.q, b.percent, b.absolute)).collect();
    assert_eq!(
        b,
        [
            ("http_req_duration{name:checkout}", 0.95, Some(10.0), None),
            ("http_req_duration{name:checkout}", 0.99, None, Some(50.0)),
            ("http_req_duration", 0.5, Some(5.0), None),
            ("iteration_duration{scenario:buy}", 0.9, None, Some(1000.0)),
            ("cart_value", 0.5, None, Some(3.0)),
        ]
    );
}

#[test]
fn outputs_are_read_as_the_out_flag_takes_them() {
    let plan = parse(
        r#"
[target]
base_url = "http://127.0.0.1:8080"

[[flows.main.steps]]
url = "/"

[scenarios.main]
executor = "constant-vus"
vus = 1
duration = "1s"
flow = "main"

[outputs]
out = ["csv=results/run.csv", "prometheus-rw=http://127.0.0.1:9090/api/v1/write"]
"#,
    );
    assert_eq!(
        plan.outputs,
        [
            ("csv".to_string(), "results/run.csv".to_string()),
            ("prometheus-rw".to_string(), "http://127.0.0.1:9090/api/v1/write".to_string())
        ]
    );
}
