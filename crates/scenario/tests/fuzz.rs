//! No input may panic the parser: random bytes, and random mutations of
//! valid files (seeded, so a failure names its seed and can be replayed).
//!
//! Budget: 2,000 random inputs + 3,000 mutations of `scenarios/smoke.toml` +
//! 3,000 mutations of [`RICH`] per `cargo test` (CI runs them; a few seconds
//! in a debug build). `STAMPEDE_FUZZ_CASES=N` sets every test's count for a
//! longer hunt (docs/scenarios.md, "Limits").

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use stampede_scenario::template::RenderContext;
use stampede_scenario::{Body, Overrides, Plan, parse_bytes, parse_str};

/// Cases per test; `STAMPEDE_FUZZ_CASES=200000` for a longer hunt.
fn cases(default: u64) -> u64 {
    std::env::var("STAMPEDE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn smoke() -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/smoke.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    (path, text)
}

/// Renders every template of a plan, as the engine would.
fn render_all(plan: &Plan, rng: &mut fastrand::Rng) {
    let vars: Vec<Option<String>> = (0..plan.var_slots).map(|i| (i % 2 == 0).then(|| "v\"\\\n".to_string())).collect();
    let rows: Vec<usize> = plan.data.iter().map(|_| rng.usize(..1000)).collect();
    let mut out = String::new();
    let mut ctx = RenderContext {
        vars: &vars,
        data: &plan.data,
        data_rows: &rows,
        vu_id: 1,
        iteration: 0,
        scenario: "s",
        rng,
        item: "",
    };
    for (_, t) in &plan.target.headers {
        t.render(&mut ctx, &mut out);
    }
    for step in plan.flows.iter().flat_map(|f| &f.steps) {
        step.url.render(&mut ctx, &mut out);
        for (_, t) in &step.headers {
            t.render(&mut ctx, &mut out);
        }
        match &step.body {
            Some(Body::Json(t)) => {
                let start = out.len();
                t.render(&mut ctx, &mut out);
                assert!(
                    serde_json::from_str::<serde_json::Value>(&out[start..]).is_ok(),
                    "json body renders to JSON: {}",
                    &out[start..]
                );
            }
            Some(Body::Raw(t)) => t.render(&mut ctx, &mut out),
            Some(Body::Form(fields)) => fields.iter().for_each(|(_, t)| t.render(&mut ctx, &mut out)),
            Some(Body::Multipart(m)) => {
                for p in &m.parts {
                    if let stampede_scenario::PartContent::Value(t) = &p.content {
                        t.render(&mut ctx, &mut out);
                    }
                }
            }
            None => {}
        }
    }
}

const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{{ vu }}",
    "{{ tokn }}",
    "\"",
    "'",
    "[",
    "]",
    "[[",
    "]]",
    "=",
    "\n",
    ",",
    "{",
    "}",
    ".",
    "#",
    "\\",
    "-",
    "0",
    "9",
    "99999999999999999999",
    "-1",
    "nan",
    "inf",
    "1.5",
    "é",
    "\u{0}",
    "\t",
    "\"\"\"",
    "s",
    "ms",
    "p(95)",
    "<",
    "rate",
    "vus",
    "executor",
    "flow",
    "url",
    "json",
    "$.[",
    "(",
    ")",
    "random_int(",
    "data.terms.",
    "env.",
    "true",
    "[scenarios.x]",
    "🙂",
    // Reach the plan-time checks of issue 13: ports, hosts, rates, ramps, bodies, threshold names.
    ":99999",
    ":0",
    "bücher",
    "/ü",
    "1ns",
    "time_unit",
    "10000000",
    "target = 0",
    "start_rate = 0",
    "json = 5",
    "json = '{}'",
    "{name:chekout}",
    "ramping-arrival-rate",
    // Batches, loops and the final URL (issue 15).
    "batch = [",
    "{ url = \"/{{ item }}\" }",
    "for_each = ",
    "\"{{ ids }}\"",
    "{{ item }}",
    "all = true",
    "url = true",
    "batch_per_host = ",
    "for_each_max = 0",
];

/// A valid file that exercises what smoke.toml does not: arrival rates with a
/// `time_unit`, ramps, absolute URLs with ports, non-ASCII paths, JSON bodies,
/// threshold selectors on names, lists, `for_each` and batches.
const RICH: &str = r#"
[target]
base_url = "http://127.0.0.1:8081/shop"

[metrics.orders]
kind = "counter"
[metrics.server_time]
kind = "trend"
time = true

[[flows.buy.steps]]
name = "home"
url = "/größe?q={{ vu }}"

[[flows.buy.steps]]
name = "cart"
method = "POST"
url = "http://localhost:8082/cart/{{ iter }}"
json = { sku = "A-{{ vu }}", qty = 1, tags = ["x", 2.5] }
extract = [{ var = "ids", json = "$.items[*].id", all = true }, { var = "landed", url = '/cart/(\d+)' }]
checks = [{ status = 200, name = "added" }, { url_contains = "/cart" }]
metrics = [{ name = "orders", if_status = [200, 201] }, { name = "server_time", value = "{{ iter }}" }]

[[flows.buy.steps]]
url = "/product/{{ item }}"
for_each = "{{ ids }}"
for_each_max = 3

[[flows.buy.steps]]
batch_per_host = 2
for_each = "ids"
batch = [{ url = "/img/{{ item }}.png" }, { url = "http://localhost:8082/p/{{ item }}", only_if = "landed", metrics = [{ name = "orders" }] }]

[scenarios.open]
executor = "ramping-arrival-rate"
start_rate = 1
time_unit = "1s"
pre_allocated_vus = 2
stages = [{ duration = "1s", target = 5 }, { duration = "1s", target = 0 }]
flow = "buy"

[scenarios.fixed]
executor = "constant-arrival-rate"
rate = 10
time_unit = "100ms"
duration = "1s"
pre_allocated_vus = 1
flow = "buy"

[thresholds]
"http_req_duration{name:cart}" = ["p(95)<500"]
"checks{check:added}" = ["rate>0.9"]
"orders{name:cart}" = ["count>1"]
"#;

fn mutate(text: &str, rng: &mut fastrand::Rng) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for _ in 0..rng.usize(1..5) {
        let at = rng.usize(..=bytes.len());
        match rng.u8(..6) {
            0 => {
                let end = (at + rng.usize(..40)).min(bytes.len());
                bytes.drain(at..end);
            }
            1 | 2 => {
                let token = TOKENS[rng.usize(..TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            3 => {
                if at < bytes.len() {
                    bytes[at] = rng.u8(..);
                }
            }
            4 => {
                // Duplicate a stretch (duplicate keys, repeated tables).
                let end = (at + rng.usize(..80)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = rng.usize(..=bytes.len());
                bytes.splice(to..to, copy);
            }
            _ => {
                // Swap two lines.
                let mut lines: Vec<Vec<u8>> = bytes.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
                let (a, b) = (rng.usize(..lines.len()), rng.usize(..lines.len()));
                lines.swap(a, b);
                bytes = lines.join(&b'\n');
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn no_panic(what: &str, seed: u64, input: &[u8], path: &Path) -> Option<Plan> {
    let overrides = Overrides::default();
    match catch_unwind(AssertUnwindSafe(|| parse_bytes(input, path, &overrides))) {
        Ok(Ok(plan)) => Some(plan),
        Ok(Err(e)) => {
            let text = e.to_string();
            assert!(text.contains(&*path.to_string_lossy()), "{what} seed {seed}: message without file name: {text}");
            assert!(e.line().is_none_or(|l| l > 0) && e.column().is_none_or(|c| c > 0));
            None
        }
        Err(_) => panic!("{what} seed {seed} panicked on input:\n{}", String::from_utf8_lossy(input)),
    }
}

#[test]
fn random_bytes_never_panic() {
    let path = Path::new("fuzz.toml");
    for seed in 0..cases(2_000) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let len = rng.usize(..400);
        let bytes: Vec<u8> = if seed % 2 == 0 {
            (0..len).map(|_| rng.u8(..)).collect()
        } else {
            // Printable-ish text reaches deeper into the TOML parser.
            const ALPHABET: &[u8] = b" \n=[]{}\".,#abcdefgsvu0123456789-_";
            (0..len).map(|_| ALPHABET[rng.usize(..ALPHABET.len())]).collect()
        };
        no_panic("random bytes", seed, &bytes, path);
        let text = String::from_utf8_lossy(&bytes);
        let _ = catch_unwind(AssertUnwindSafe(|| parse_str(&text, path, &Overrides::default())))
            .unwrap_or_else(|_| panic!("random text seed {seed} panicked"));
    }
}

#[test]
fn mutations_of_smoke_toml_never_panic() {
    let (path, text) = smoke();
    let mut parsed = 0;
    for seed in 0..cases(3_000) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let input = mutate(&text, &mut rng);
        if let Some(plan) = no_panic("mutation", seed, input.as_bytes(), &path) {
            parsed += 1;
            catch_unwind(AssertUnwindSafe(|| render_all(&plan, &mut rng)))
                .unwrap_or_else(|_| panic!("rendering the plan of mutation seed {seed} panicked:\n{input}"));
        }
    }
    // Some mutations (in comments, in strings) keep the file valid: the
    // renderer is exercised too.
    assert!(parsed > 50, "only {parsed} mutations parsed");
}

#[test]
fn mutations_of_a_rich_scenario_never_panic() {
    let path = Path::new("rich.toml");
    let overrides = Overrides::default();
    assert!(parse_str(RICH, path, &overrides).is_ok_and(|p| p.warnings.is_empty()), "RICH is valid");
    let mut parsed = 0;
    for seed in 0..cases(3_000) {
        let mut rng = fastrand::Rng::with_seed(seed);
        let input = mutate(RICH, &mut rng);
        if let Some(plan) = no_panic("rich mutation", seed, input.as_bytes(), path) {
            parsed += 1;
            let _ = plan.peak_connections();
            for w in &plan.warnings {
                assert!(w.is_warning() && w.to_string().contains("rich.toml"), "seed {seed}: {w}");
            }
            catch_unwind(AssertUnwindSafe(|| render_all(&plan, &mut rng)))
                .unwrap_or_else(|_| panic!("rendering the plan of rich mutation seed {seed} panicked:\n{input}"));
        }
    }
    assert!(parsed > 50, "only {parsed} mutations parsed");
}

#[test]
fn deep_nesting_and_huge_inputs_are_errors() {
    let path = Path::new("deep.toml");
    for src in [
        format!("a = {}", "[".repeat(100_000)),
        format!("a = {}", "{ b = ".repeat(10_000)),
        format!("[{}]", "a.".repeat(10_000) + "b"),
        "x".repeat(5 * 1024 * 1024),
        format!("[flows.f]\nsteps = [{{ url = \"/{}\" }}]", "{{ vu }}".repeat(50_000)),
    ] {
        let err = catch_unwind(AssertUnwindSafe(|| parse_str(&src, path, &Overrides::default())))
            .expect("no panic")
            .expect_err("rejected");
        assert!(err.to_string().contains("deep.toml"));
    }
}
