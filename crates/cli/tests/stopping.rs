//! Stopping a run: Ctrl-C keeps everything measured; abort-on-fail stops early.

mod support;

use std::time::{Duration, Instant};

use support::{Server, tempdir};

fn scenario(url: &str, extra: &str) -> String {
    format!(
        r#"
[target]
base_url = "{url}"

[[flows.main.steps]]
name = "ok"
url = "/ok"
think_time = "50ms"

[scenarios.main]
executor = "constant-vus"
vus = 5
duration = "60s"
flow = "main"
graceful_stop = "2s"
{extra}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_gracefully_and_keeps_the_results() {
    let server = Server::start().await;
    let dir = tempdir();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, scenario(&server.url(), "")).unwrap();
    let json = dir.path().join("out.json");
    let started = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(format!("summary={}", json.display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(15), "stopped long before the planned 60 s");
    assert_eq!(out.status.code(), Some(105), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(s["run"]["outcome"], "interrupted");
    let reqs = s["metrics"]["http_reqs"]["count"].as_u64().unwrap();
    let seen = server.seen.requests.load(std::sync::atomic::Ordering::Relaxed);
    assert!(reqs > 50, "requests measured before Ctrl-C: {reqs}");
    assert_eq!(reqs, seen, "every request the server answered is in the summary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("run interrupted"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_on_fail_stops_the_run_early_with_exit_99() {
    let server = Server::start().await;
    let dir = tempdir();
    let extra = r#"
[thresholds]
http_req_duration = [{ threshold = "p(95)<0.001", abort_on_fail = true, delay_abort_eval = "1s" }]
"#;
    let started = Instant::now();
    let out = support::run_scenario(dir.path(), &scenario(&server.url(), extra), &[]).await;
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(out.code, 99, "stderr: {}", out.stderr);
    let s = out.summary.unwrap();
    assert_eq!(s["run"]["outcome"], "aborted_by_threshold");
    assert_eq!(s["thresholds"][0]["passed"], false);
}
