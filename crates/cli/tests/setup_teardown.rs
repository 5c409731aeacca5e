//! `[setup]` and `[teardown]` with a coordinator and 3 agent processes on
//! 127.0.0.1, against a loopback server that counts what it is sent.

mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;

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
    format!(
        r#"
[target]
base_url = "{base}"

[setup]
timeout = "10s"
[[setup.steps]]
name = "login"
method = "POST"
url = "{login}"
extract = [{{ var = "token", json = "$.token" }}]
checks = [{{ status = 200 }}]

[teardown]
[[teardown.steps]]
name = "logout"
url = "/logout"
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
