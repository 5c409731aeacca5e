//! End-to-end: the `stampede` binary runs real scenarios against a real
//! HTTP server on 127.0.0.1 and its JSON summary tells the truth.

mod support;

use std::sync::atomic::Ordering;

use support::{Server, run_scenario, tempdir};

fn metric<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &s["metrics"][name]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_iterations_send_exactly_the_planned_requests() {
    let server = Server::start().await;
    let dir = tempdir();
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[[flows.main.steps]]
name = "ok"
url = "/ok"
checks = [{{ status = 200 }}]

[scenarios.main]
executor = "shared-iterations"
vus = 10
iterations = 1000
flow = "main"
"#,
        server.url()
    );
    let out = run_scenario(dir.path(), &scenario, &[]).await;
    assert_eq!(out.code, 0, "stderr: {}\nstdout: {}", out.stderr, out.stdout);
    let s = out.summary.expect("json summary");
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 1000);
    assert_eq!(metric(&s, "http_reqs")["count"], 1000);
    assert_eq!(metric(&s, "iterations")["count"], 1000);
    assert_eq!(metric(&s, "checks")["rate"], 1.0);
    assert_eq!(metric(&s, "http_req_failed")["trues"], 0);
    assert!(metric(&s, "data_sent")["count"].as_u64().unwrap() > 1000 * 30);
    assert!(metric(&s, "data_received")["count"].as_u64().unwrap() > 1000 * 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constant_arrival_rate_delivers_the_planned_iterations() {
    let server = Server::start().await;
    let dir = tempdir();
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[[flows.main.steps]]
url = "/ok"

[scenarios.open]
executor = "constant-arrival-rate"
rate = 200
time_unit = "1s"
duration = "10s"
pre_allocated_vus = 20
max_vus = 100
flow = "main"
"#,
        server.url()
    );
    // Local agent processes (the default) and in-process workers.
    for extra in [&[][..], &["--agents", "0"][..]] {
        let out = run_scenario(dir.path(), &scenario, extra).await;
        assert_eq!(out.code, 0, "{extra:?} stderr: {}", out.stderr);
        let s = out.summary.unwrap();
        let iterations = metric(&s, "iterations")["count"].as_u64().unwrap();
        assert!((1960..=2040).contains(&iterations), "{extra:?} iterations {iterations}");
        assert_eq!(metric(&s, "dropped_iterations")["count"], 0);
        // The generator kept its schedule: its own lag stays small.
        let lag_p99 = metric(&s, "scheduling_lag")["p99"].as_f64().unwrap();
        assert!(lag_p99 < 100.0, "{extra:?} scheduling lag p99 {lag_p99} ms");
        // Charts over time show a steady load to the end: no interval of the
        // series (the last, partial one included) says 0 requests/s.
        let intervals = s["intervals"].as_array().unwrap();
        assert!((9..=11).contains(&intervals.len()), "{extra:?} {} intervals", intervals.len());
        for iv in intervals {
            assert!(iv["rps"].as_f64().unwrap() > 100.0, "{extra:?} interval {iv}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stall_shows_in_intended_start_latency() {
    // 2 ms normally; one 1 s stall 2 s in. Over a 6 s run the stalled
    // arrivals are 1/6 of all, and the top 1% waited 940 ms or more.
    let server = Server::start_with(support::StallPlan {
        normal: std::time::Duration::from_millis(2),
        stall_at: std::time::Duration::from_secs(2),
        stall_for: std::time::Duration::from_secs(1),
    })
    .await;
    let dir = tempdir();
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[[flows.main.steps]]
name = "stall"
url = "/stall"

[scenarios.open]
executor = "constant-arrival-rate"
rate = 100
duration = "6s"
pre_allocated_vus = 20
max_vus = 300
flow = "main"
"#,
        server.url()
    );
    let out = run_scenario(dir.path(), &scenario, &[]).await;
    assert_eq!(out.code, 0, "stderr: {}", out.stderr);
    let s = out.summary.unwrap();
    let intended_p99 = metric(&s, "intended_latency")["p99"].as_f64().unwrap();
    let service_p50 = metric(&s, "http_req_duration")["p50"].as_f64().unwrap();
    assert!(intended_p99 >= 900.0, "intended-start p99 {intended_p99} ms");
    assert!(service_p50 < 25.0, "service-time p50 {service_p50} ms");
    assert_eq!(metric(&s, "dropped_iterations")["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_checks_give_the_checks_rate() {
    let server = Server::start().await;
    let dir = tempdir();
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[[flows.main.steps]]
name = "flaky"
url = "/flaky"
checks = [{{ body_contains = "good" }}]

[scenarios.main]
executor = "shared-iterations"
vus = 5
iterations = 1000
flow = "main"
"#,
        server.url()
    );
    let out = run_scenario(dir.path(), &scenario, &[]).await;
    assert_eq!(out.code, 0, "a failing check never fails the run by itself: {}", out.stderr);
    let s = out.summary.unwrap();
    let rate = metric(&s, "checks")["rate"].as_f64().unwrap();
    assert!((rate - 0.90).abs() <= 0.01, "checks rate {rate}");
    assert_eq!(metric(&s, "iterations")["count"], 1000, "a failed check does not stop the VU");
    assert!(out.stdout.contains("✗ flaky: body contains"), "summary lists the failing check:\n{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_threshold_exits_99_and_says_which_and_why() {
    let server = Server::start().await;
    let dir = tempdir();
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[[flows.main.steps]]
name = "down"
url = "/fail"

[[flows.main.steps]]
name = "up"
url = "/ok"

[scenarios.main]
executor = "per-vu-iterations"
vus = 2
iterations = 20
flow = "main"

[thresholds]
http_req_failed = ["rate<0.01"]
"http_req_duration{{name:up}}" = ["p(95)<5000"]
"#,
        server.url()
    );
    let out = run_scenario(dir.path(), &scenario, &[]).await;
    assert_eq!(out.code, 99, "stderr: {}", out.stderr);
    let s = out.summary.unwrap();
    let t = s["thresholds"].as_array().unwrap();
    let failed: Vec<_> = t.iter().filter(|t| t["passed"] == false).collect();
    assert_eq!(failed.len(), 1, "{t:?}");
    assert_eq!(failed[0]["metric"], "http_req_failed");
    assert_eq!(failed[0]["threshold"], "rate<0.01");
    assert_eq!(failed[0]["observed"], 0.5);
    let passed = t.iter().find(|t| t["metric"] == "http_req_duration{name:up}").unwrap();
    assert_eq!(passed["passed"], true);
    assert_eq!(s["run"]["exit_code"], 99);
    assert_eq!(s["errors"]["status_5xx"], 40);
    assert!(out.stdout.contains("✗ 'rate<0.01'"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extracted_values_reach_url_header_and_body() {
    let server = Server::start().await;
    let dir = tempdir();
    let scenario = format!(
        r#"
[target]
base_url = "{}"

[[flows.main.steps]]
name = "login"
method = "POST"
url = "/login"
extract = [
  {{ var = "token", json = "$.token" }},
  {{ var = "uid", json = "$.user.id" }},
  {{ var = "sid", cookie = "session" }},
]

[[flows.main.steps]]
name = "echo"
method = "POST"
url = "/echo/{{{{ token }}}}?user={{{{ uid }}}}"
headers = {{ "X-Token" = "{{{{ token }}}}" }}
json = {{ token = "{{{{ token }}}}", session = "{{{{ sid }}}}" }}
checks = [{{ status = 200 }}]

[scenarios.main]
executor = "per-vu-iterations"
vus = 3
iterations = 10
flow = "main"

[thresholds]
checks = ["rate==1"]
"#,
        server.url()
    );
    let out = run_scenario(dir.path(), &scenario, &[]).await;
    assert_eq!(out.code, 0, "stderr: {}\nstdout: {}", out.stderr, out.stdout);
    assert_eq!(server.seen.echo_ok.load(Ordering::Relaxed), 30);
    assert_eq!(server.seen.echo_bad.load(Ordering::Relaxed), 0);
}
