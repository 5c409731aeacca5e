//! `[setup]` and `[teardown]` with a coordinator and 3 agent processes on
//! 127.0.0.1, against a loopback server that counts what it is sent.

mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};

#[derive(Debug, Default)]
struct Seen {
    logins: u64,
    /// Load requests carrying the token the login handed out, and not.
    with_token: u64,
    without_token: u64,
    last_load: Option<Instant>,
    teardowns: Vec<Instant>,
    /// Answers of `/slow` (each after 5 s).
    slow: u64,
}

/// `/login` hands out a token (a failing one with `?fail`), `/load` counts
/// the bearer token it sees, `/logout` records when it came.
async fn server() -> (String, Arc<Mutex<Seen>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let state = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let state = state.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

async fn handle(seen: Arc<Mutex<Seen>>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/slow" {
        // Longer than the hooks' timeouts in the tests below.
        tokio::time::sleep(Duration::from_secs(5)).await;
        seen.lock().unwrap().slow += 1;
        return Ok(Response::new(Full::new(Bytes::from_static(b"late"))));
    }
    let mut s = seen.lock().unwrap();
    let body = match req.uri().path() {
        "/login" => {
            s.logins += 1;
            if req.uri().query() == Some("fail") {
                return Ok(Response::builder().status(500).body(Full::new(Bytes::from_static(b"down"))).unwrap());
            }
            r#"{"token":"t0k3n-xyz"}"#
        }
        "/load" => {
            let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok());
            if auth == Some("Bearer t0k3n-xyz") {
                s.with_token += 1;
            } else {
                s.without_token += 1;
            }
            s.last_load = Some(Instant::now());
            "ok"
        }
        "/logout" => {
            s.teardowns.push(Instant::now());
            "bye"
        }
        _ => "?",
    };
    Ok(Response::new(Full::new(Bytes::from_static(body.as_bytes()))))
}

fn scenario(base: &str, login: &str) -> String {
    hooks(base, login, "10s", "/logout", "60s")
}

/// The scenario with the setup's login at `login` within `setup_timeout`,
/// and the teardown's logout at `logout` within `teardown_timeout`.
fn hooks(base: &str, login: &str, setup_timeout: &str, logout: &str, teardown_timeout: &str) -> String {
    format!(
        r#"
[target]
base_url = "{base}"

[setup]
timeout = "{setup_timeout}"
[[setup.steps]]
name = "login"
method = "POST"
url = "{login}"
extract = [{{ var = "token", json = "$.token" }}]
checks = [{{ status = 200 }}]

[teardown]
timeout = "{teardown_timeout}"
[[teardown.steps]]
name = "logout"
url = "{logout}"
headers = {{ Authorization = "Bearer {{{{ token }}}}" }}

[flows.load]
[[flows.load.steps]]
url = "/load"
headers = {{ Authorization = "Bearer {{{{ token }}}}" }}

[scenarios.s]
executor = "shared-iterations"
vus = 6
iterations = 600
max_duration = "30s"
flow = "load"
"#
    )
}

/// A coordinator for `scenario` and 3 agents; returns its exit code, stderr
/// and JSON summary.
async fn run_cluster(scenario: &str) -> (i32, String, serde_json::Value) {
    let dir = support::tempdir();
    let out = support::run_cluster(dir.path(), scenario, 3, &[]).await;
    (out.code, out.stderr, out.summary.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_runs_once_for_three_agents_and_its_token_reaches_every_vu_then_teardown_runs_once_after() {
    let (base, seen) = server().await;
    let (code, stderr, summary) = run_cluster(&scenario(&base, "/login")).await;
    assert_eq!(code, 0, "{stderr}");
    let s = seen.lock().unwrap();
    assert_eq!(s.logins, 1, "setup ran once for the whole test, not once per agent");
    assert_eq!(s.with_token, 600, "every load request carried the setup's token: {s:?}");
    assert_eq!(s.without_token, 0);
    let agents = summary["agents"].as_array().expect("agents in the JSON");
    assert_eq!(agents.len(), 3);
    assert!(agents.iter().all(|a| a["requests"].as_u64().unwrap() > 0), "each agent sent some: {agents:?}");
    assert_eq!(s.teardowns.len(), 1, "teardown ran once");
    assert!(s.teardowns[0] >= s.last_load.unwrap(), "teardown came after the last load request");
    assert!(stderr.contains("setup: 1/1 steps (`login` 200"), "setup progress is shown:\n{stderr}");
    assert!(stderr.contains("teardown: 1/1 steps (`logout` 200"), "teardown progress is shown:\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_setup_exits_107_before_any_load_and_names_the_step() {
    let (base, seen) = server().await;
    let (code, stderr, _) = run_cluster(&scenario(&base, "/login?fail")).await;
    assert_eq!(code, 107, "{stderr}");
    assert!(
        stderr.contains("setup failed: step 1/1 `login`")
            && stderr.contains("check `login: status is 200` failed (status 500)"),
        "the message names the step and what happened:\n{stderr}"
    );
    let s = seen.lock().unwrap();
    assert_eq!(s.logins, 1);
    assert_eq!(s.with_token + s.without_token, 0, "no load request was sent");
    assert!(s.teardowns.is_empty(), "no teardown after a failed setup (as k6)");
}

/// k6's exit codes for hooks that run out of time, with the load in this
/// process (`--agents 0`): a setup over its timeout exits 100 before any
/// load; a teardown over its timeout exits 101 after all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_over_their_timeout_exit_100_and_101_in_process() {
    let (base, seen) = server().await;
    let dir = support::tempdir();
    let started = Instant::now();
    let out =
        support::run_scenario(dir.path(), &hooks(&base, "/slow", "1s", "/logout", "60s"), &["--agents", "0"]).await;
    assert_eq!(out.code, 100, "{}", out.stderr);
    assert!(started.elapsed() < Duration::from_secs(5), "the setup was cut at its 1 s timeout");
    assert!(out.stderr.contains("setup"), "{}", out.stderr);
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.with_token + s.without_token, 0, "no load after a setup timeout");
        assert!(s.teardowns.is_empty(), "no teardown after a failed setup (as k6)");
    }

    let out =
        support::run_scenario(dir.path(), &hooks(&base, "/login", "10s", "/slow", "1s"), &["--agents", "0"]).await;
    assert_eq!(out.code, 101, "{}", out.stderr);
    assert!(out.stderr.contains("teardown"), "{}", out.stderr);
    let s = seen.lock().unwrap();
    assert_eq!(s.logins, 1, "setup ran once in process");
    assert_eq!((s.with_token, s.without_token), (600, 0), "all the load ran, with the setup's token");
    let summary = out.summary.expect("the outputs are written after a teardown timeout");
    assert_eq!(summary["metrics"]["http_reqs"]["count"], 600);
}

/// Ctrl-C while the setup waits for its response ends the run at once
/// (exit 105, as any interruption), with no load and no teardown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_setup_ends_the_run_before_any_load() {
    let (base, seen) = server().await;
    let dir = support::tempdir();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, hooks(&base, "/slow", "60s", "/logout", "60s")).unwrap();
    let started = Instant::now();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["run", file.to_str().unwrap(), "--headless"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(105), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(5), "it did not wait for the 5 s answer: {:?}", started.elapsed());
    assert!(stderr.contains("interrupted during setup: no load ran"), "{stderr}");
    let s = seen.lock().unwrap();
    assert_eq!(s.with_token + s.without_token, 0);
    assert!(s.teardowns.is_empty());
}
