//! A real HTTP server on 127.0.0.1 for the integration tests, and helpers to
//! run the `stampede` binary against it.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::Mutex;

/// What the server saw; tests assert on it.
#[derive(Debug, Default)]
pub struct Seen {
    pub requests: AtomicU64,
    /// Requests to `/echo` whose path, header and body all carried the token.
    pub echo_ok: AtomicU64,
    pub echo_bad: AtomicU64,
    pub flaky: AtomicU64,
    /// Calls of `/order`, and the orders it created (answered 201).
    pub orders: AtomicU64,
    pub orders_created: AtomicU64,
    /// Connections accepted, by the client's source address.
    pub sources: std::sync::Mutex<std::collections::BTreeMap<std::net::IpAddr, u64>>,
    /// `Host` headers of the requests to `/host`, by value.
    pub host_headers: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

pub struct Server {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Behaviour of `/stall`: normal delay, and one 1-second stall of every
/// request in flight or arriving, starting `stall_at` after the first request.
#[derive(Debug, Clone, Copy)]
pub struct StallPlan {
    pub normal: Duration,
    pub stall_at: Duration,
    pub stall_for: Duration,
}

struct State {
    seen: Arc<Seen>,
    first: Mutex<Option<Instant>>,
    stall: StallPlan,
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(default_stall()).await
    }

    /// The same server behind TLS (self-signed for `localhost`), offering
    /// h2 and http/1.1 by ALPN.
    pub async fn start_tls() -> Server {
        Server::start_inner(default_stall(), true).await
    }

    pub async fn start_with(stall: StallPlan) -> Server {
        Server::start_inner(stall, false).await
    }

    async fn start_inner(stall: StallPlan, tls: bool) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let state = Arc::new(State { seen: seen.clone(), first: Mutex::new(None), stall });
        let acceptor = tls.then(tls_acceptor);
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let (stream, peer) = tokio::select! {
                    r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                    _ = &mut rx => return,
                };
                *state.seen.sources.lock().unwrap().entry(peer.ip()).or_default() += 1;
                let state = state.clone();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    match acceptor {
                        Some(a) => {
                            if let Ok(tls) = a.accept(stream).await {
                                let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                            }
                        }
                        None => {
                            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                });
            }
        });
        Server { addr, seen, _shutdown: tx }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }
}

fn default_stall() -> StallPlan {
    StallPlan { normal: Duration::from_millis(2), stall_at: Duration::from_secs(3), stall_for: Duration::from_secs(1) }
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    tls_acceptor_with_pem().0
}

/// A TLS acceptor with a self-signed certificate for `localhost`, and that
/// certificate in PEM (for a client that must trust it).
pub fn tls_acceptor_with_pem() -> (tokio_rustls::TlsAcceptor, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(cert.signing_key.serialize_der()).unwrap();
    let chain = vec![cert.cert.der().clone()];
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (tokio_rustls::TlsAcceptor::from(Arc::new(cfg)), cert.cert.pem())
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let seen = &state.seen;
    let n = seen.requests.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let ok = |body: &'static str| Ok(Response::new(Full::new(Bytes::from_static(body.as_bytes()))));
    match path.as_str() {
        "/ok" => ok("ok"),
        "/host" => {
            let host = req.headers().get("host").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            *seen.host_headers.lock().unwrap().entry(host).or_default() += 1;
            ok("ok")
        }
        "/dist" => {
            // A known distribution: 1..=100 ms, uniformly, in a fixed order.
            let ms = (n * 7919) % 100 + 1;
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ok("ok")
        }
        "/flaky" => {
            // Every tenth response lacks the word the check looks for.
            let i = seen.flaky.fetch_add(1, Ordering::Relaxed);
            if i % 10 == 9 { ok("nope") } else { ok("all good") }
        }
        "/fail" => Ok(Response::builder().status(503).body(Full::new(Bytes::from_static(b"down"))).unwrap()),
        "/order" => {
            // The n-th call (from 0): every third creates an order (201); the
            // server took (n % 40) + 1 ms; the cart holds an item when n is
            // even; the stock left is 1000 - n.
            let n = seen.orders.fetch_add(1, Ordering::Relaxed);
            let created = n.is_multiple_of(3);
            if created {
                seen.orders_created.fetch_add(1, Ordering::Relaxed);
            }
            let items = if n.is_multiple_of(2) { r#"[{"sku":"A"}]"# } else { "[]" };
            Ok(Response::builder()
                .status(if created { 201 } else { 200 })
                .header("content-type", "application/json")
                .header("x-server-time", ((n % 40) + 1).to_string())
                .body(Full::new(Bytes::from(format!(r#"{{"items":{items},"stock":{}}}"#, 1000 - n as i64))))
                .unwrap())
        }
        "/login" => Ok(Response::builder()
            .header("content-type", "application/json")
            .header("set-cookie", "session=s3cr3t; Path=/; HttpOnly")
            .body(Full::new(Bytes::from(format!(r#"{{"token":"tok{n}","user":{{"id":42}}}}"#))))
            .unwrap()),
        "/stall" => {
            let now = Instant::now();
            let first = *state.first.lock().await.get_or_insert(now);
            let stall_start = first + state.stall.stall_at;
            let stall_end = stall_start + state.stall.stall_for;
            if now >= stall_start && now < stall_end {
                tokio::time::sleep_until(stall_end.into()).await;
            }
            tokio::time::sleep(state.stall.normal).await;
            ok("ok")
        }
        p if p.starts_with("/echo/") => {
            let token = p.trim_start_matches("/echo/").to_string();
            let header = req.headers().get("x-token").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let cookie = req.headers().get("cookie").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            let body = String::from_utf8_lossy(&body).to_string();
            let good = token.starts_with("tok")
                && header == token
                && body.contains(&format!("\"{token}\""))
                && cookie.contains("session=s3cr3t")
                && query.contains("user=42");
            if good {
                seen.echo_ok.fetch_add(1, Ordering::Relaxed);
                ok("echo ok")
            } else {
                seen.echo_bad.fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "echo mismatch: path token={token} header={header} body={body} cookie={cookie} query={query}"
                );
                Ok(Response::builder().status(400).body(Full::new(Bytes::from_static(b"mismatch"))).unwrap())
            }
        }
        _ => Ok(Response::builder().status(404).body(Full::new(Bytes::new())).unwrap()),
    }
}

/// Output of one `stampede` process.
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub summary: Option<serde_json::Value>,
}

/// Writes `scenario` to a temporary file and runs `stampede run` on it with
/// `--out summary=…`, plus `extra` flags.
pub async fn run_scenario(dir: &Path, scenario: &str, extra: &[&str]) -> Outcome {
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    let json = dir.join("summary.json");
    let _ = std::fs::remove_file(&json);
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_stampede"));
    cmd.arg("run").arg(&file).arg("--out").arg(format!("summary={}", json.display())).arg("--quiet");
    cmd.args(extra);
    let out =
        tokio::time::timeout(Duration::from_secs(120), cmd.output()).await.expect("stampede finished in time").unwrap();
    let summary = std::fs::read_to_string(&json).ok().and_then(|s| serde_json::from_str(&s).ok());
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        summary,
    }
}

/// A free port on 127.0.0.1 (for a coordinator's `--listen`).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Writes `scenario` to a temporary file and runs a coordinator on it (with
/// `--out summary=…`, plus `extra` flags) and `agents` agent processes of one
/// worker each, on 127.0.0.1; the coordinator's output once it exits.
pub async fn run_cluster(dir: &Path, scenario: &str, agents: usize, extra: &[&str]) -> Outcome {
    let bin = env!("CARGO_BIN_EXE_stampede");
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    let json = dir.join("summary.json");
    let _ = std::fs::remove_file(&json);
    let port = free_port();
    let coordinator = tokio::process::Command::new(bin)
        .args(["coordinator", file.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .args(["--agents", &agents.to_string(), "--agent-timeout", "20s", "--headless"])
        .arg("--out")
        .arg(format!("summary={}", json.display()))
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let agents: Vec<tokio::process::Child> = (0..agents)
        .map(|i| {
            tokio::process::Command::new(bin)
                .args(["agent", "--coordinator", &format!("http://127.0.0.1:{port}"), "--once", "--workers", "1"])
                .args(["--name", &format!("agent-{i}"), "--quiet"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .unwrap()
        })
        .collect();
    let out = tokio::time::timeout(Duration::from_secs(90), coordinator.wait_with_output()).await.unwrap().unwrap();
    for a in agents {
        let _ = tokio::time::timeout(Duration::from_secs(10), a.wait_with_output()).await;
    }
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
        summary: std::fs::read_to_string(&json).ok().and_then(|s| serde_json::from_str(&s).ok()),
    }
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn path_of(d: &tempfile::TempDir) -> PathBuf {
    d.path().to_path_buf()
}
