//! HTTP/1.1, HTTP/2 (h2c and ALPN) and TLS against real servers on loopback.

mod support;

use support::{Server, run_scenario, tempdir};

fn scenario(base: &str, target_extra: &str) -> String {
    format!(
        r#"
[target]
base_url = "{base}"
{target_extra}

[[flows.main.steps]]
name = "ok"
url = "/ok"
checks = [{{ status = 200 }}, {{ body_contains = "ok" }}]

[scenarios.main]
executor = "per-vu-iterations"
vus = 4
iterations = 25
flow = "main"

[thresholds]
checks = ["rate==1"]
http_req_failed = ["rate==0"]
"#
    )
}

fn count(s: &serde_json::Value, m: &str) -> u64 {
    s["metrics"][m]["count"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_prior_knowledge_works_and_reuses_connections() {
    let server = Server::start().await;
    let dir = tempdir();
    let out = run_scenario(dir.path(), &scenario(&server.url(), r#"http_version = "http2""#), &[]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, out.stdout);
    let s = out.summary.unwrap();
    assert_eq!(count(&s, "http_reqs"), 100);
    // One connection per VU, kept alive: at most 4 of 100 requests connected.
    let connecting = s["series"].as_array().unwrap().iter().find(|x| x["metric"] == "http_req_connecting").unwrap();
    assert!(connecting["p95"].as_f64().unwrap() == 0.0, "{connecting}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_with_alpn_h2_and_http1_only() {
    let server = Server::start_tls().await;
    let dir = tempdir();
    for version in ["auto", "http1"] {
        let extra = format!("insecure_skip_tls_verify = true\nhttp_version = \"{version}\"");
        let out = run_scenario(dir.path(), &scenario(&server.https_url(), &extra), &[]).await;
        assert_eq!(out.code, 0, "{version}: {}\n{}", out.stderr, out.stdout);
        let s = out.summary.unwrap();
        assert_eq!(count(&s, "http_reqs"), 100);
        let tls = &s["metrics"]["http_req_tls_handshaking"];
        assert!(tls["max"].as_f64().unwrap() > 0.0, "handshakes measured: {tls}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_a_counted_tls_error_not_a_crash() {
    let server = Server::start_tls().await;
    let dir = tempdir();
    let out = run_scenario(dir.path(), &scenario(&server.https_url(), ""), &[]).await;
    assert_eq!(out.code, 99, "thresholds fail, the run completes: {}", out.stderr);
    let s = out.summary.unwrap();
    assert_eq!(count(&s, "http_reqs"), 100);
    assert_eq!(s["errors"]["tls"], 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_counted_by_kind() {
    // Bind then drop a listener: nothing listens on that port now.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempdir();
    let out = run_scenario(dir.path(), &scenario(&format!("http://127.0.0.1:{port}"), ""), &[]).await;
    assert_eq!(out.code, 99);
    let s = out.summary.unwrap();
    assert_eq!(s["errors"]["refused"], 100);
    assert_eq!(s["metrics"]["http_req_failed"]["rate"], 1.0);
}
