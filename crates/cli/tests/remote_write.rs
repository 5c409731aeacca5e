//! `--out prometheus-rw=URL` against a real Prometheus (Debian's
//! `prometheus`, remote-write receiver and native histograms on, on
//! 127.0.0.1, in a temporary directory): what Prometheus answers equals the
//! summary; a receiver away for 10 s loses nothing the queue could hold; a
//! receiver that never comes is counted, not fatal.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{Server, free_port, path_of, run_cluster, run_scenario, tempdir};

/// Prometheus on 127.0.0.1 with its data in `dir`; killed when dropped.
struct Prometheus {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl Prometheus {
    fn start(dir: &Path) -> Prometheus {
        let mut p = Prometheus { child: None, port: free_port(), dir: dir.to_path_buf() };
        std::fs::write(dir.join("prometheus.yml"), "global:\n  scrape_interval: 1h\n").unwrap();
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", self.dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", self.dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
            .args(["--web.enable-remote-write-receiver", "--enable-feature=native-histograms"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("the `prometheus` binary (Debian package `prometheus`; .ci/run installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(self.port, "/-/ready").is_none_or(|(status, _)| status != 200) {
            assert!(Instant::now() < deadline, "prometheus not ready in 30 s: {}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the process (SIGTERM, as a service manager would) and waits for it.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    /// The result vector of an instant query.
    fn query(&self, q: &str) -> Vec<serde_json::Value> {
        let (status, body) =
            get(self.port, &format!("/api/v1/query?query={}", encode(q))).expect("prometheus answers queries");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(status, 200, "{q}: {body}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The single value of an instant query.
    fn scalar(&self, q: &str) -> f64 {
        let r = self.query(q);
        assert_eq!(r.len(), 1, "{q}: one series expected, got {r:?}");
        value(&r[0])
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn value(sample: &serde_json::Value) -> f64 {
    sample["value"][1].as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN)
}

/// A GET on 127.0.0.1:`port`: status and body (None: no connection).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn scenario(url: &str, seconds: u32) -> String {
    format!(
        r#"
[target]
base_url = "{url}"
[[flows.shop.steps]]
name = "browse"
url = "/dist"
[[flows.shop.steps]]
name = "home"
url = "/ok"
checks = [{{ status = 200 }}]
[[flows.shop.steps]]
name = "broken"
url = "/fail"
[scenarios.shoppers]
executor = "constant-vus"
vus = 4
duration = "{seconds}s"
flow = "shop"
"#
    )
}

/// The delivery report of the summary.
fn delivery(s: &serde_json::Value) -> &serde_json::Value {
    let d = &s["deliveries"][0];
    assert_eq!(d["output"], "prometheus-rw", "{s}");
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_distributed_run_in_prometheus_equals_its_summary() {
    let server = Server::start().await;
    let dir = tempdir();
    let prom_dir = tempdir();
    let prom = Prometheus::start(prom_dir.path());
    let out = format!("prometheus-rw={}", prom.url());
    let out = run_cluster(
        &path_of(&dir),
        &scenario(&server.url(), 6),
        2,
        &["--out", &out, "--prometheus-rw-testid", "t-cluster", "--prometheus-rw-schema", "5"],
    )
    .await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let s = out.summary.expect("summary");
    let d = delivery(&s);
    assert_eq!(d["batches_dropped"], 0, "{d}");
    assert!(out.stdout.contains("prometheus-rw") && out.stdout.contains("testid=t-cluster"), "{}", out.stdout);

    // Counters: exactly the summary's (sent once, by the coordinator, merged).
    let total = s["metrics"]["http_reqs"]["count"].as_f64().unwrap();
    assert!(total > 100.0, "{total}");
    assert_eq!(prom.scalar(r#"sum(stampede_http_reqs_total{testid="t-cluster"})"#), total);
    let failed = s["metrics"]["http_req_failed"]["trues"].as_f64().unwrap();
    assert_eq!(prom.scalar(r#"sum(stampede_http_req_failed_total{testid="t-cluster"})"#), failed);
    assert_eq!(
        prom.scalar(r#"sum(stampede_iterations_total{testid="t-cluster"})"#),
        s["metrics"]["iterations"]["count"].as_f64().unwrap()
    );

    // Per request name: a series for every name, with the summary's count.
    let by_name = prom.query(r#"sum by (name) (stampede_http_reqs_total{testid="t-cluster"})"#);
    let requests = s["requests"].as_array().unwrap();
    assert_eq!(by_name.len(), requests.len(), "{by_name:?}");
    for r in requests {
        let name = r["name"].as_str().unwrap();
        let got = by_name.iter().find(|x| x["metric"]["name"] == name).map(value);
        assert_eq!(got, r["count"].as_f64(), "{name}");
    }

    // Native histograms: p95 within the bucket width (schema 5: 2.19 %)
    // plus HDR's own 0.1 %; the count of the histogram is the request count.
    let err = d["relative_error"].as_f64().unwrap();
    assert!((err - 0.0219).abs() < 1e-3, "{err}");
    let h = r#"sum(stampede_http_req_duration_seconds{testid="t-cluster"})"#;
    assert_eq!(prom.scalar(&format!("histogram_count({h})")), total);
    let p95 = prom.scalar(&format!("histogram_quantile(0.95, {h})")) * 1000.0;
    let want = s["metrics"]["http_req_duration"]["p95"].as_f64().unwrap();
    println!("http_req_duration p95: Prometheus {p95:.3} ms, summary {want:.3} ms");
    assert!((p95 - want).abs() <= want * (err + 0.001), "p95 {p95} vs {want} (±{:.2} %)", err * 100.0);
    let browse = requests.iter().find(|r| r["name"] == "browse").unwrap();
    let want = browse["duration"]["p95"].as_f64().unwrap();
    let got = prom.scalar(
        r#"histogram_quantile(0.95, sum(stampede_http_req_duration_seconds{testid="t-cluster",name="browse"}))"#,
    ) * 1000.0;
    println!("browse p95: Prometheus {got:.3} ms, summary {want:.3} ms");
    assert!((got - want).abs() <= want * (err + 0.001), "browse p95 {got} vs {want}");
    // The dashboard's queries all answer (dashboards/stampede-remote-write.json).
    check_dashboard(&prom, "t-cluster");
}

/// Every query of the remote-write dashboard, with its variables set, is
/// valid PromQL and returns data for a run that has each kind of series.
fn check_dashboard(prom: &Prometheus, testid: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/stampede-remote-write.json");
    let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let mut exprs = Vec::new();
    for panel in d["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().into_iter().flatten() {
            exprs.push((panel["title"].as_str().unwrap_or("").to_string(), t["expr"].as_str().unwrap().to_string()));
        }
    }
    assert!(exprs.len() >= 8, "{exprs:?}");
    for (title, e) in exprs {
        let q = e
            .replace("$testid", testid)
            .replace("$scenario", ".*")
            .replace("$name", ".*")
            .replace("$__rate_interval", "1h")
            .replace("$__range", "1h");
        let r = prom.query(&q);
        // The test server sends no cache headers: that panel is valid and empty.
        assert!(!r.is_empty() || title == "CDN hit ratio", "panel {title}: `{q}` returned nothing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_away_for_ten_seconds_gets_every_interval_back() {
    let server = Server::start().await;
    let dir = tempdir();
    let prom_dir = tempdir();
    let mut prom = Prometheus::start(prom_dir.path());
    let out = format!("prometheus-rw={}", prom.url());
    let run = {
        let (dir, scenario) = (path_of(&dir), scenario(&server.url(), 24));
        tokio::spawn(async move {
            run_scenario(&dir, &scenario, &["--agents", "0", "--out", &out, "--prometheus-rw-testid", "t-away"]).await
        })
    };
    tokio::time::sleep(Duration::from_secs(6)).await;
    let stopped = Instant::now();
    prom.stop();
    tokio::time::sleep(Duration::from_secs(10)).await;
    prom.spawn();
    println!("receiver away for {:.1} s", stopped.elapsed().as_secs_f64());
    let out = run.await.unwrap();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let s = out.summary.expect("summary");
    let d = delivery(&s);
    println!("delivery: {d}");
    // The queue (300 intervals) held the 10 s: nothing dropped, and every
    // interval's point is in Prometheus, the gap filled with the queued ones.
    assert_eq!(d["batches_dropped"], 0, "{d}");
    assert!(d["failed_attempts"].as_u64().unwrap() > 0, "the receiver was away: {d}");
    let batches = d["batches_sent"].as_f64().unwrap();
    assert!(batches >= 24.0, "{d}");
    let samples = prom.query(r#"count_over_time(stampede_iterations_total{testid="t-away"}[10m])"#);
    assert_eq!(samples.len(), 1, "{samples:?}");
    assert_eq!(value(&samples[0]), batches, "one point per interval, none missing");
    let total = s["metrics"]["http_reqs"]["count"].as_f64().unwrap();
    assert_eq!(prom.scalar(r#"sum(stampede_http_reqs_total{testid="t-away"})"#), total);
    let p95 = s["metrics"]["http_req_duration"]["p95"].as_f64().unwrap();
    println!("run with the receiver away: {total} requests, p95 {p95:.3} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_is_counted_not_fatal() {
    let server = Server::start().await;
    let dir = tempdir();
    // Nothing listens on this port; the scenario's [outputs] names it.
    let url = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let scenario = format!("{}\n[outputs]\nout = [\"prometheus-rw={url}\"]\n", scenario(&server.url(), 4));
    let started = Instant::now();
    let out = run_scenario(
        &path_of(&dir),
        &scenario,
        &["--agents", "0", "--prometheus-rw-max-queue", "2", "--prometheus-rw-flush-timeout", "1"],
    )
    .await;
    let took = started.elapsed();
    assert_eq!(out.code, 0, "network faults are counted, not fatal: {}\n{}", out.stdout, out.stderr);
    let s = out.summary.expect("summary");
    let d = delivery(&s);
    assert_eq!(d["batches_sent"], 0, "{d}");
    // Every interval was dropped: the queue held 2, then the end gave up.
    assert!(d["batches_dropped"].as_u64().unwrap() >= 4, "{d}");
    assert!(d["last_error"].as_str().unwrap().contains("cannot connect"), "{d}");
    assert!(out.stdout.contains("not delivered"), "{}", out.stdout);
    // The flush timeout bounds the wait (4 s of load, 1 s of flush, start-up).
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn bad_remote_write_settings_are_refused_before_any_load() {
    let bin = env!("CARGO_BIN_EXE_stampede");
    let dir = tempdir();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, scenario("http://127.0.0.1:9", 1)).unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--out", "prometheus-rw=ftp://x/y"], "http:// or https://"),
        (&["--out", "prometheus-rw=http://u:p@127.0.0.1:9/w"], "credentials do not go in the URL"),
        (&["--out", "prometheus-rw=http://127.0.0.1:9/w", "--prometheus-rw-header", "no colon"], "NAME: VALUE"),
        (
            &[
                "--out",
                "prometheus-rw=http://127.0.0.1:9/w",
                "--prometheus-rw-username",
                "u",
                "--prometheus-rw-bearer-token",
                "t",
            ],
            "exclude each other",
        ),
    ];
    for (args, want) in cases {
        let out = Command::new(bin).arg("run").arg(&file).args(args).arg("--quiet").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(104), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// The remote-write dashboard as Grafana's JSON model wants it (a uid, a
/// schema version, every panel on the data source variable, unique ids),
/// and every query valid for `promtool check rules` (each one a recording
/// rule, with the dashboard's variables filled in).
#[test]
fn the_remote_write_dashboard_passes_promtool_and_the_model_checks() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/stampede-remote-write.json");
    let d: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(d["uid"], "stampede-remote-write");
    assert!(d["schemaVersion"].as_u64().unwrap() >= 30);
    let vars = d["templating"]["list"].as_array().unwrap();
    for v in ["datasource", "testid", "scenario", "name"] {
        assert!(vars.iter().any(|x| x["name"] == v), "variable {v}");
    }
    let mut ids = std::collections::HashSet::new();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for p in d["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "panel ids are unique");
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
        for (i, t) in p["targets"].as_array().unwrap().iter().enumerate() {
            assert_eq!(t["datasource"]["uid"], "${datasource}");
            let expr = t["expr"].as_str().unwrap().replace("$__rate_interval", "1m").replace('$', "");
            rules.push_str(&format!(
                "      - record: dashboard:panel_{}_{i}\n        expr: {}\n",
                p["id"],
                serde_json::to_string(&expr).unwrap()
            ));
        }
    }
    let dir = tempdir();
    let path = dir.path().join("rules.yml");
    std::fs::write(&path, &rules).unwrap();
    let out =
        Command::new("promtool").arg("check").arg("rules").arg(&path).output().expect("promtool (Debian prometheus)");
    assert!(
        out.status.success(),
        "{}\n{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A remote-write receiver behind TLS (a certificate for `localhost` made
/// here): answers 204 and keeps each request's headers and decompressed size.
struct TlsReceiver {
    port: u16,
    ca: PathBuf,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(http::HeaderMap, usize)>>>,
    _dir: tempfile::TempDir,
}

async fn tls_receiver() -> TlsReceiver {
    use hyper_util::rt::TokioIo;
    let dir = tempdir();
    let (acceptor, pem) = support::tls_acceptor_with_pem();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: std::sync::Arc<std::sync::Mutex<Vec<(http::HeaderMap, usize)>>> = Default::default();
    let s = seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, s) = (acceptor.clone(), s.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let s = s.clone();
                    async move {
                        use http_body_util::BodyExt;
                        let headers = req.headers().clone();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let size = snap::raw::Decoder::new().decompress_vec(&body).map_or(0, |b| b.len());
                        s.lock().unwrap().push((headers, size));
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(204)
                                .body(http_body_util::Full::new(bytes::Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), svc).await;
            });
        }
    });
    TlsReceiver { port, ca, seen, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_auth_and_headers_reach_the_receiver() {
    let server = Server::start().await;
    let receiver = tls_receiver().await;
    let dir = tempdir();
    let url = format!("prometheus-rw=https://localhost:{}/api/v1/write", receiver.port);
    // The password by environment (of the child only), as secrets are best given.
    let file = dir.path().join("scenario.toml");
    std::fs::write(&file, scenario(&server.url(), 3)).unwrap();
    let summary = dir.path().join("summary.json");
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .arg("run")
        .arg(&file)
        .args(["--agents", "0", "--quiet", "--out", &url, "--prometheus-rw-ca", receiver.ca.to_str().unwrap()])
        .args(["--prometheus-rw-username", "shop", "--prometheus-rw-header", "X-Scope-OrgID: black-friday"])
        .arg("--out")
        .arg(format!("summary={}", summary.display()))
        .env("STAMPEDE_PROMETHEUS_RW_PASSWORD", "p4ss")
        .output()
        .await
        .unwrap();
    let out = support::Outcome {
        code: run.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&run.stdout).into(),
        stderr: String::from_utf8_lossy(&run.stderr).into(),
        summary: std::fs::read_to_string(&summary).ok().and_then(|s| serde_json::from_str(&s).ok()),
    };
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let s = out.summary.expect("summary");
    let d = delivery(&s);
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(d["batches_sent"].as_u64(), Some(seen.len() as u64), "{d}");
    assert!(seen.len() >= 3, "{d}");
    use base64::Engine as _;
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("shop:p4ss"));
    for (h, size) in &seen {
        assert_eq!(h["authorization"], basic.as_str());
        assert_eq!(h["x-scope-orgid"], "black-friday");
        assert_eq!(h["content-encoding"], "snappy");
        assert_eq!(h["content-type"], "application/x-protobuf");
        assert_eq!(h["x-prometheus-remote-write-version"], "0.1.0");
        assert!(*size > 1000, "a snappy body of every series: {size} bytes");
    }
    // Without the CA the certificate is not trusted: counted, not fatal.
    let out = run_scenario(
        &path_of(&dir),
        &scenario(&server.url(), 2),
        &["--agents", "0", "--out", &url, "--prometheus-rw-flush-timeout", "1"],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s = out.summary.expect("summary");
    let d = delivery(&s);
    assert_eq!(d["batches_sent"], 0, "{d}");
    assert!(d["last_error"].as_str().unwrap().contains("certificate"), "{d}");
}
