//! The Black Friday rehearsal, shortened (≤ 30 s per run), against the real
//! bundled shop: each classic peak-day mistake shows up the way the README
//! says it does. The runs take turns (they share two cores).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `scenarios/black-friday.toml` with minutes turned into seconds and 15,000
/// shoppers (14,000 + 1,000 loading whole pages) into 300. Every replacement
/// must apply, so a change to the scenario that would silently make this
/// test meaningless fails it instead.
fn shortened(dir: &Path) -> PathBuf {
    let src = std::fs::read_to_string(repo().join("scenarios/black-friday.toml")).unwrap();
    let mut s = src.clone();
    for (from, to) in [
        (r#"{ duration = "90s", target = 14000 }"#, r#"{ duration = "6s", target = 280 }"#),
        (r#"{ duration = "120s", target = 14000 }"#, r#"{ duration = "14s", target = 280 }"#),
        (r#"{ duration = "90s", target = 1000 }"#, r#"{ duration = "6s", target = 20 }"#),
        (r#"{ duration = "120s", target = 1000 }"#, r#"{ duration = "14s", target = 20 }"#),
        (r#"{ duration = "30s", target = 0 }"#, r#"{ duration = "2s", target = 0 }"#),
        (r#"{ duration = "90s", target = 40 }"#, r#"{ duration = "6s", target = 40 }"#),
        (r#"{ duration = "120s", target = 40 }"#, r#"{ duration = "14s", target = 40 }"#),
        ("duration = \"60s\"\nstart_time = \"60s\"", "duration = \"16s\"\nstart_time = \"2s\""),
        (r#"think_time = { min = "2s", max = "6s" }"#, r#"think_time = { min = "300ms", max = "900ms" }"#),
        ("rate = 3\n", "rate = 20\n"),
    ] {
        assert!(s.contains(from), "black-friday.toml no longer contains {from}");
        s = s.replace(from, to);
    }
    // Data files stay where the scenario's directory is.
    let file = dir.join("black-friday-short.toml");
    std::fs::write(&file, s.replace("file = \"data/", &format!("file = \"{}/scenarios/data/", repo().display())))
        .unwrap();
    file
}

struct Run {
    code: i32,
    summary: serde_json::Value,
    stderr: String,
}

fn run(file: &Path, extra: &[&str]) -> Run {
    let out_dir = tempfile::tempdir().unwrap();
    let json = out_dir.path().join("summary.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .arg("run")
        .arg(file)
        .args(["--headless", "-q", "--out"])
        .arg(format!("summary={}", json.display()))
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let summary = std::fs::read_to_string(&json).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default();
    Run { code: out.status.code().unwrap_or(-1), summary, stderr: String::from_utf8_lossy(&out.stderr).into() }
}

fn request<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["requests"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no request {name}"))
}

/// (share of doorbuster page views saying in stock, share of doorbuster checkouts refused with 409)
fn doorbusters(r: &Run) -> (f64, f64) {
    let checkout = request(&r.summary, "doorbuster checkout");
    let conflicts = checkout["statuses"]["409"].as_u64().unwrap_or(0) as f64;
    let page =
        r.summary["checks"].as_array().unwrap().iter().find(|c| c["name"] == "doorbuster page says in stock").unwrap();
    let said = page["rate"].as_f64().unwrap();
    let failing = conflicts / checkout["count"].as_f64().unwrap();
    eprintln!("doorbusters: page says in stock {said:.2}, checkouts failing {failing:.2}");
    (said, failing)
}

fn threshold<'a>(s: &'a serde_json::Value, metric: &str) -> &'a serde_json::Value {
    s["thresholds"].as_array().unwrap().iter().find(|t| t["metric"] == metric).unwrap()
}

#[test]
fn a_misconfigured_cdn_fails_the_image_threshold() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let r = run(&shortened(dir.path()), &["--shop-flag", "cdn-misconfigured"]);
    assert_eq!(r.code, 99, "{}", r.stderr);
    let image = request(&r.summary, "image");
    assert!(image["count"].as_u64().unwrap() > 200);
    let ratio = image["cdn"]["hit_ratio"].as_f64().unwrap_or(0.0);
    assert!(ratio < 0.1, "image hit ratio {ratio}");
    assert_eq!(threshold(&r.summary, "cdn_cache_hit_ratio{name:image}")["passed"], false);
    // The orders counter counts exactly the checkouts the shop answered 201.
    let created: u64 = ["checkout", "doorbuster checkout"]
        .iter()
        .map(|n| request(&r.summary, n)["statuses"]["201"].as_u64().unwrap_or(0))
        .sum();
    assert!(created > 0);
    assert_eq!(r.summary["custom_metrics"]["orders"]["count"].as_u64(), Some(created));
    assert_eq!(threshold(&r.summary, "orders")["passed"], true);
}

#[test]
fn a_missing_index_makes_listings_ten_times_slower() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let file = shortened(dir.path());
    let good = run(&file, &[]);
    assert!(good.summary.is_object(), "{}", good.stderr);
    let bad = run(&file, &["--shop-flag", "no-indexes"]);
    assert!(bad.summary.is_object(), "{}", bad.stderr);
    let p95 = |r: &Run| request(&r.summary, "listing")["duration"]["p95"].as_f64().unwrap();
    let (with, without) = (p95(&good), p95(&bad));
    assert!(without >= 10.0 * with, "listing p95 {with} ms with indexes, {without} ms without");
    // A healthy edge keeps images: the contrast with the misconfigured run.
    let ratio = request(&good.summary, "image")["cdn"]["hit_ratio"].as_f64().unwrap();
    assert!(ratio > 0.3, "image hit ratio with a healthy edge {ratio}");
    // Live stock: the page announces the sell-outs checkout runs into (the
    // contrast with the cached-inventory run).
    let (says_in_stock, failing) = doorbusters(&good);
    assert!(
        failing - (1.0 - says_in_stock) < 0.2,
        "page says in stock {says_in_stock:.2}, checkouts failing {failing:.2}"
    );
}

#[test]
fn cached_inventory_says_in_stock_while_checkouts_fail() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let r = run(&shortened(dir.path()), &["--shop-flag", "cache-inventory"]);
    assert!(r.summary.is_object(), "{}", r.stderr);
    let checkout = request(&r.summary, "doorbuster checkout");
    let conflicts = checkout["statuses"]["409"].as_u64().unwrap_or(0);
    assert!(conflicts > 0, "no 409 on doorbuster checkouts: {checkout}");
    // Checkouts that failed although the stock page had just said in stock:
    // the finding.
    let (says_in_stock, failing) = doorbusters(&r);
    assert!(
        failing - (1.0 - says_in_stock) >= 0.3,
        "page says in stock {says_in_stock:.2}, checkouts failing {failing:.2}"
    );
}

#[test]
fn the_smoke_scenario_runs_headless_against_the_bundled_shop() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let started = std::time::Instant::now();
    let r = run(&repo().join("scenarios/smoke.toml"), &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.summary["metrics"]["http_reqs"]["count"].as_u64().unwrap() > 50);
    assert!(started.elapsed() < Duration::from_secs(60));
}
