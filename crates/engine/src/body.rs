//! The engine's extension point for iteration bodies that are not TOML
//! flows: a k6 script's exported function (stampede-script). The executors,
//! VU allocation, stops, segments and the metrics shard stay the engine's;
//! a body only says what one iteration of one VU does, and sends its
//! requests through [`Vu::request`], which measures them exactly as a TOML
//! step's (redirects, cookies, CDN classification, error kinds, samples).
//!
//! A [`BodyFactory`] is shared by the run's workers; each worker thread asks
//! it once for its own [`IterationBody`] (which may hold `!Send` state, such
//! as a JavaScript engine). Names given at run time (a script's request,
//! check and group names, tag sets) are interned per worker
//! ([`Worker::intern`], [`Worker::intern_tags`]).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri};
use stampede_metrics::{ErrorKind, RequestId, Timings};

use crate::send::{Outgoing, Redirect, Trip};
use crate::vu::Vu;
use crate::worker::Worker;

/// Creates each worker's [`IterationBody`], on the worker's thread.
pub trait BodyFactory: Send + Sync {
    /// The body of the worker `w` (called once, before its first VU).
    fn on_worker(&self, w: &Rc<Worker>) -> Result<Rc<dyn IterationBody>, String>;
}

/// An iteration future borrowing its VU and worker.
pub type IterationFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// What one worker's VUs run each iteration instead of a flow.
pub trait IterationBody {
    /// Prepares a new VU (its state goes in [`Vu::ext`]); an error stops
    /// the VU's scenario on this worker (k6 aborts a test whose VU init
    /// fails; the body reports it).
    fn new_vu(&self, w: &Worker, vu: &mut Vu) -> Result<(), String>;
    /// One iteration of `vu` in its scenario; dropped mid-way on a hard stop.
    /// `in_test`: the iteration's test-wide number when the executor knows it.
    fn iteration<'a>(&'a self, w: &'a Worker, vu: &'a mut Vu, in_test: Option<u64>) -> IterationFuture<'a>;
}

/// The factory a run uses (a newtype so [`crate::RunOptions`] stays `Debug`).
#[derive(Clone)]
pub struct Body(pub Arc<dyn BodyFactory>);

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Body")
    }
}

/// A request given at run time.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    pub method: Method,
    pub uri: Uri,
    /// Sent as given (the target's headers are added unless set here).
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Ids from [`Worker::intern`] and [`Worker::intern_tags`].
    pub name: u32,
    pub group: u32,
    pub tags: u32,
    /// Redirects followed (0: none).
    pub max_redirects: u32,
    /// Over the whole redirect chain; `None`: the target's.
    pub timeout: Option<Duration>,
    /// Keep the body (else it is counted and dropped).
    pub keep_body: bool,
    /// Each hop is named by its own URL (k6's default name), not `name`.
    pub name_by_url: bool,
    /// Statuses that count as a success (inclusive ranges); `None`: the
    /// engine's verdict (4xx and 5xx fail).
    pub expected: Option<Arc<[(u16, u16)]>>,
    /// Send without the VU's cookies and keep none of the response's (a
    /// request with a jar of its own, whose cookies are in `headers`).
    pub own_jar: bool,
}

/// The final response of a [`RequestSpec`] (its body is in the buffer given
/// to [`Vu::request`]).
#[derive(Debug, Default)]
pub struct ResponseData {
    /// 0 when no response arrived.
    pub status: u16,
    pub headers: HeaderMap,
    /// The final URL (after redirects).
    pub url: String,
    pub timings: Timings,
    pub error: Option<ErrorKind>,
    /// HTTP version of the response (`HTTP/1.1`, `HTTP/2.0`), empty without one.
    pub proto: &'static str,
}

impl Outgoing for RequestSpec {
    fn build(&self, _vu: &mut Vu, w: &Worker, hop: Option<Redirect>) -> Option<Request<Bytes>> {
        let (uri, method, with_body, same_domain) = match hop {
            None => (self.uri.clone(), self.method.clone(), true, true),
            Some(h) => (h.uri, h.method, h.body, h.same_domain),
        };
        let (uri, basic) = match uri.authority() {
            Some(a) if a.as_str().contains('@') => {
                let (auth, stripped) = crate::vu::split_userinfo(&uri)?;
                (stripped, Some(auth))
            }
            _ => (uri, None),
        };
        let sensitive = |n: &http::HeaderName| {
            n == http::header::AUTHORIZATION || n == http::header::WWW_AUTHENTICATE || n == http::header::COOKIE
        };
        let mut b = Request::builder().method(method).uri(uri);
        let headers = b.headers_mut()?;
        if let Some(auth) = basic {
            headers.insert(http::header::AUTHORIZATION, auth);
        }
        for (name, t) in &w.plan.target.headers {
            if self.headers.contains_key(name) || (!same_domain && sensitive(name)) {
                continue;
            }
            if let Some(s) = t.as_static()
                && let Ok(v) = http::HeaderValue::from_str(s)
            {
                headers.insert(name.clone(), v);
            }
        }
        for (name, v) in &self.headers {
            if !same_domain && sensitive(name) {
                continue;
            }
            headers.append(name.clone(), v.clone());
        }
        if !with_body {
            headers.remove(http::header::CONTENT_TYPE);
        }
        b.body(if with_body { self.body.clone() } else { Bytes::new() }).ok()
    }

    fn request_id(&self, scenario: u16, method: &Method, status: u16) -> RequestId {
        RequestId {
            scenario,
            name: self.name,
            method: stampede_metrics::Method::from_http(method),
            status,
            group: self.group,
            tags: self.tags,
        }
    }

    fn max_redirects(&self) -> u32 {
        self.max_redirects
    }

    fn keeps_body(&self) -> bool {
        self.keep_body
    }

    fn keeps_url(&self) -> bool {
        true
    }

    fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    fn judge(&self, status: u16, error: Option<ErrorKind>) -> Option<ErrorKind> {
        let Some(ranges) = &self.expected else { return error };
        if status == 0 {
            return error;
        }
        let expected = ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&status));
        match error {
            Some(ErrorKind::Status4xx | ErrorKind::Status5xx) | None if expected => None,
            None => Some(match status {
                500.. => ErrorKind::Status5xx,
                400.. => ErrorKind::Status4xx,
                _ => ErrorKind::Other,
            }),
            e => e,
        }
    }

    fn hop_name(&self, w: &Worker, url: &str) -> Option<u32> {
        (self.name_by_url && !url.is_empty()).then(|| w.intern(stampede_metrics::NameKind::Request, url))
    }

    fn merges_cookies(&self) -> bool {
        true
    }
}

/// A future made on the thread that runs it (`!Send`).
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// What [`run_apart`] runs: given the worker and the VU, the future to drive.
pub type ApartFn<T> = Box<dyn FnOnce(Rc<Worker>, Box<Vu>) -> LocalFuture<T> + Send>;

/// Runs `f` once, on a thread of its own, with a worker outside any run and
/// a VU of id 0 (a script's `setup()` or `teardown()`); returns its result
/// and what its requests measured.
pub async fn run_apart<T: Send + 'static>(
    plan: Arc<stampede_scenario::Plan>,
    seed: u64,
    name: &str,
    f: ApartFn<T>,
) -> std::io::Result<(T, stampede_metrics::Snapshot)> {
    let client = crate::client_config(&plan, None)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name(format!("stampede-{name}")).spawn(move || {
        let local = tokio::task::LocalSet::new();
        let out = local.block_on(&rt, async move {
            let w = Rc::new(Worker::standalone(plan.clone(), crate::layout(&plan), client, seed));
            let vu = Box::new(Vu::new(0, 0, &[], 0, 0, seed));
            let out = f(w.clone(), vu).await;
            (out, w.take_snapshot())
        });
        let _ = tx.send(out);
    })?;
    rx.await.map_err(|_| std::io::Error::other(format!("the {name} thread ended without a result")))
}

impl Vu {
    /// Sends `spec` on this VU's connections, following its redirects and
    /// recording a sample per hop; the body (when kept) lands in `body`.
    /// Never fails: a request that cannot be built is an `other`
    /// error of status 0, recorded like any failed request.
    pub async fn request(&mut self, w: &Worker, spec: &RequestSpec, body: &mut Vec<u8>) -> ResponseData {
        let mut trip = Trip::default();
        let vu_jar = spec.own_jar.then(|| std::mem::take(&mut self.jar));
        let sent = self.send(w, spec, &mut trip, body).await;
        if let Some(jar) = vu_jar {
            self.jar = jar;
        }
        match sent {
            Some(exchange) => ResponseData::of(exchange, trip.url),
            None => unbuildable(w, spec, self.scenario),
        }
    }

    /// Sends `specs` together (k6's `http.batch`), at most `per_host` at once
    /// per origin and `total` at once in all over the VU's batch lanes, each measured as [`Vu::request`]
    /// measures one; the responses in the order of `specs`, with their bodies.
    pub async fn request_batch(
        &mut self,
        w: &Worker,
        specs: &[RequestSpec],
        per_host: u32,
        total: u32,
    ) -> Vec<(ResponseData, Vec<u8>)> {
        let mut out: Vec<Option<(ResponseData, Vec<u8>)>> = (0..specs.len()).map(|_| None).collect();
        self.send_batch(w, specs, per_host.max(1), total.max(1), |vu, k, exchange, body, url| {
            let data = match exchange {
                Some(exchange) => ResponseData::of(exchange, url.to_string()),
                None => unbuildable(w, &specs[k], vu.scenario),
            };
            out[k] = Some((data, body.to_vec()));
        })
        .await;
        out.into_iter().map(Option::unwrap_or_default).collect()
    }

    /// The state an [`IterationBody`] keeps for this VU.
    pub fn ext<T: 'static>(&mut self) -> Option<&mut T> {
        self.ext.as_mut()?.downcast_mut()
    }

    pub fn set_ext(&mut self, state: Box<dyn Any>) {
        self.ext = Some(state);
    }

    /// Empties the VU's cookie jar (k6 does at each iteration's start).
    pub fn clear_cookies(&mut self) {
        self.jar.clear();
    }

    /// The cookies the VU's jar has for `host`.
    pub fn cookies_for(&self, host: &str) -> Vec<(String, String)> {
        self.jar.cookies_for(host).map(|(n, v)| (n.to_owned(), v.to_owned())).collect()
    }

    /// Sets one cookie of the VU's jar for `host`.
    pub fn set_cookie(&mut self, host: &str, name: &str, value: &str) {
        self.jar.set(host, name, value);
    }

    /// Removes one cookie, or every cookie, of `host` from the VU's jar.
    pub fn remove_cookies(&mut self, host: &str, name: Option<&str>) {
        self.jar.remove(host, name);
    }
}

impl ResponseData {
    /// The final response of an exchange that reached `url`.
    fn of(exchange: crate::client::Exchange, url: String) -> ResponseData {
        let (status, headers, proto) = match exchange.response {
            Some(parts) => (parts.status.as_u16(), parts.headers, version_text(parts.version)),
            None => (0, HeaderMap::new(), ""),
        };
        ResponseData { status, headers, url, timings: exchange.timings, error: exchange.error, proto }
    }
}

/// A request that could not be built (a header or URL a server would not
/// take): recorded as a failed request of status 0, kind `other`.
fn unbuildable(w: &Worker, spec: &RequestSpec, scenario: u16) -> ResponseData {
    let sample = stampede_metrics::RequestSample {
        timings: Timings::default(),
        bytes_sent: 0,
        bytes_received: 0,
        body_bytes: 0,
        error: Some(ErrorKind::Other),
        cache: stampede_metrics::CacheOutcome::Unknown,
    };
    w.record_request(spec.request_id(scenario, &spec.method, 0), &sample);
    ResponseData { url: spec.uri.to_string(), error: Some(ErrorKind::Other), ..Default::default() }
}

fn version_text(v: http::Version) -> &'static str {
    match v {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_11 => "HTTP/1.1",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "",
    }
}
