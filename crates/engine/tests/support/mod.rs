//! A real HTTP/1.1 server on 127.0.0.1 for the engine's tests, and a helper
//! that runs a plan in this process and collects what it measured.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use stampede_engine::{Run, RunOptions};
use stampede_metrics::Snapshot;
use stampede_scenario::{Overrides, Plan};

/// What the server saw, in arrival order.
#[derive(Debug, Default)]
pub struct Seen {
    /// Path and query of every request.
    pub targets: Mutex<Vec<String>>,
    /// `Host` and `Authorization` headers of every request.
    pub hosts: Mutex<Vec<String>>,
    pub authorizations: Mutex<Vec<Option<String>>>,
    /// Every request's connection (numbered from 0 in accept order), and
    /// when it arrived and when its response was ready.
    pub hits: Mutex<Vec<Hit>>,
    /// Connections accepted.
    pub connections: AtomicUsize,
}

/// One request: on which connection, when.
#[derive(Debug, Clone)]
pub struct Hit {
    pub target: String,
    pub conn: usize,
    pub arrived: tokio::time::Instant,
    pub answered: tokio::time::Instant,
}

/// A response a test chooses, sent after `delay`.
pub struct Canned {
    pub delay: Duration,
    pub response: Response<Full<Bytes>>,
}

impl Canned {
    pub fn new(status: u16, body: impl Into<Bytes>) -> Canned {
        let response = Response::builder().status(status).body(Full::new(body.into())).expect("a valid status");
        Canned { delay: Duration::ZERO, response }
    }
}

/// A test's answers by method and target (`None`: the default answers).
pub type Answer = fn(&str, &str) -> Option<Canned>;

impl Seen {
    pub fn count(&self) -> usize {
        self.targets.lock().unwrap().len()
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub seen: Arc<Seen>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Server {
    /// `/endless` answers an endless chunked body (for at most 20 s),
    /// `/bytes/N` a body of N bytes, `/order/N` an order's JSON, headers and
    /// status (see `handle`), `/list/N` the ids 0..N; every other path
    /// answers `ok`.
    pub async fn start() -> Server {
        Server::start_with(|_, _| None).await
    }

    /// As [`Server::start`], answering what `answer` chooses first.
    pub async fn start_with(answer: Answer) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let s = seen.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
                    _ = &mut stopped => return,
                };
                let s = s.clone();
                let conn = s.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(s.clone(), conn, answer, req));
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        Server { addr, seen, _stop: stop }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

type Reply = Response<Either<Full<Bytes>, Endless>>;

async fn handle(seen: Arc<Seen>, conn: usize, answer: Answer, req: Request<Incoming>) -> Result<Reply, Infallible> {
    let arrived = tokio::time::Instant::now();
    let target = req.uri().path_and_query().map_or("/".into(), |p| p.to_string());
    let header = |n: http::header::HeaderName| req.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    seen.hosts.lock().unwrap().push(header(http::header::HOST).unwrap_or_default());
    seen.authorizations.lock().unwrap().push(header(http::header::AUTHORIZATION));
    seen.targets.lock().unwrap().push(target.clone());
    let method = req.method().to_string();
    let _ = req.into_body().collect().await;
    if let Some(canned) = answer(&method, &target) {
        tokio::time::sleep(canned.delay).await;
        let answered = tokio::time::Instant::now();
        seen.hits.lock().unwrap().push(Hit { target, conn, arrived, answered });
        return Ok(canned.response.map(Either::Left));
    }
    seen.hits.lock().unwrap().push(Hit { target: target.clone(), conn, arrived, answered: arrived });
    if let Some(n) = target.strip_prefix("/bytes/").and_then(|n| n.parse::<usize>().ok()) {
        return Ok(Response::new(Either::Left(Full::new(Bytes::from(vec![b'x'; n])))));
    }
    if let Some(n) = target.strip_prefix("/list/").and_then(|n| n.parse::<u64>().ok()) {
        let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        return Ok(Response::new(Either::Left(Full::new(Bytes::from(format!(r#"{{"ids": [{}]}}"#, ids.join(",")))))));
    }
    if let Some(n) = target.strip_prefix("/order/").and_then(|n| n.parse::<u64>().ok()) {
        // What a shop reports about an order, a function of `n`: created
        // (201) when `n` is a multiple of 3, items when it is even.
        let items = if n % 2 == 0 { "[1]" } else { "[]" };
        let body = format!(r#"{{"total": {}, "items": {items}, "stock": "{}"}}"#, n as f64 * 1.5, 10 - n as i64);
        let reply = Response::builder()
            .status(if n % 3 == 0 { 201 } else { 200 })
            .header("x-server-time", n.to_string())
            .header("server-timing", format!("app;dur={n}.5;desc=\"db\""))
            .header("set-cookie", format!("seen={n}; Path=/"))
            .body(Either::Left(Full::new(Bytes::from(body))))
            .unwrap();
        return Ok(reply);
    }
    if target.starts_with("/endless") {
        let until = tokio::time::Instant::now() + Duration::from_secs(20);
        return Ok(Response::new(Either::Right(Endless { chunk: Bytes::from(vec![b'x'; 64 * 1024]), until })));
    }
    Ok(Response::new(Either::Left(Full::new(Bytes::from_static(b"ok")))))
}

/// A body that never ends by itself (bounded at 20 s so a broken client
/// cannot keep a test running).
pub struct Endless {
    chunk: Bytes,
    until: tokio::time::Instant,
}

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if tokio::time::Instant::now() >= self.until {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

pub fn plan(toml: &str, overrides: &Overrides) -> Arc<Plan> {
    Arc::new(stampede_scenario::parse_str(toml, Path::new("test.toml"), overrides).unwrap_or_else(|e| panic!("{e}")))
}

/// Runs `plan` to its end (or fails the test after `limit`) and returns
/// everything measured, merged.
pub async fn run(plan: Arc<Plan>, opts: RunOptions, limit: Duration) -> Snapshot {
    let mut run = Run::start(plan, opts).unwrap();
    let signal = run.signaller();
    let mut total = Snapshot::default();
    let collect = async {
        while let Some(iv) = run.next_interval().await {
            total.accumulate(&iv.snapshot);
        }
    };
    if tokio::time::timeout(limit, collect).await.is_err() {
        let _ = signal.send(stampede_engine::Signal::Abort);
        panic!("the run did not end within {limit:?}");
    }
    run.join();
    total
}
