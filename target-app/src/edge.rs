//! The CDN edge: a caching reverse proxy in front of the origin.
//!
//! Owns the shared cache (keyed by URL, one variant per URL, checked against the stored `Vary`
//! request headers), freshness from `Cache-Control` (`s-maxage` over `max-age`; `no-store` and
//! `private` never stored; `no-cache` stored but revalidated on every use), request collapsing (one
//! origin fetch per key at a time, the other requests wait for it), `ETag` revalidation of stale
//! entries, the `Cache-Status` (RFC 9211) / `X-Cache` / `Age` response headers, and the edge's own
//! `/metrics` — including the count of origin fetches, the truth a measured hit ratio is compared
//! with. It knows nothing about the shop: any origin would do.
//!
//! The hit path takes one shard lock to clone an `Arc`, clones the stored header map and shares
//! the body `Bytes`; it never touches the origin or the database.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use axum::routing::get;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::watch;

use crate::cache_control::Directives;
use crate::metrics::{Counter, Exposition, Gauge, Histogram, Kind};

const SHARDS: usize = 16;
/// Largest response the edge stores.
const MAX_OBJECT: usize = 16 * 1024 * 1024;
/// Largest request body the edge forwards.
const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// Longest wait for the origin before answering 504.
const ORIGIN_TIMEOUT: Duration = Duration::from_secs(30);

static CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

// === outcomes ===

/// What the edge did for one request, as `Cache-Status` and the metrics tell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Hit,
    /// Forwarded because nothing usable was stored.
    Miss {
        stored: bool,
    },
    /// Forwarded because the stored response's `Vary` headers did not match.
    VaryMiss {
        stored: bool,
    },
    /// A stale entry was revalidated; `not_modified` when the origin answered 304.
    Stale {
        not_modified: bool,
        stored: bool,
    },
    /// Waited for another request's origin fetch and reused its response.
    Collapsed,
    /// Forwarded without looking at the cache: unsafe method, request directives, or bypass.
    Method,
    Request {
        stored: bool,
    },
    Bypass,
    /// The origin could not be reached.
    Error,
}

impl Outcome {
    fn cache_status(self) -> &'static str {
        match self {
            Self::Hit => "stampede-edge; hit",
            Self::Miss { stored: true } => "stampede-edge; fwd=miss; stored",
            Self::Miss { stored: false } => "stampede-edge; fwd=miss",
            Self::VaryMiss { stored: true } => "stampede-edge; fwd=vary-miss; stored",
            Self::VaryMiss { stored: false } => "stampede-edge; fwd=vary-miss",
            Self::Stale { not_modified: true, .. } => "stampede-edge; fwd=stale; fwd-status=304; stored",
            Self::Stale { not_modified: false, stored: true } => "stampede-edge; fwd=stale; stored",
            Self::Stale { not_modified: false, stored: false } => "stampede-edge; fwd=stale",
            Self::Collapsed => "stampede-edge; fwd=miss; collapsed",
            Self::Method => "stampede-edge; fwd=method",
            Self::Request { stored: true } => "stampede-edge; fwd=request; stored",
            Self::Request { stored: false } => "stampede-edge; fwd=request",
            Self::Bypass => "stampede-edge; fwd=bypass",
            Self::Error => "stampede-edge; fwd=miss; detail=origin-unreachable",
        }
    }

    fn x_cache(self) -> &'static str {
        if self == Self::Hit { "HIT" } else { "MISS" }
    }

    /// Index into [`RESULTS`].
    fn result(self) -> usize {
        match self {
            Self::Hit => 0,
            Self::Miss { .. } | Self::VaryMiss { .. } => 1,
            Self::Stale { .. } => 2,
            Self::Collapsed => 3,
            Self::Method | Self::Request { .. } | Self::Bypass => 4,
            Self::Error => 5,
        }
    }
}

/// Values of the `result` label of the edge's request metrics.
const RESULTS: [&str; 6] = ["hit", "miss", "stale", "collapsed", "pass", "error"];
/// Client addresses counted one by one; requests from any further address
/// are counted under `client="other"`.
const MAX_CLIENTS: usize = 256;

// === metrics ===

/// The edge's counters. Shared with the shop handle so tests can read the truth directly.
#[derive(Debug)]
pub struct EdgeMetrics {
    requests: [Counter; RESULTS.len()],
    latency: [Histogram; RESULTS.len()],
    /// Every request sent to the origin (misses, revalidations, passes): the truth.
    origin_fetches: Counter,
    stored: Counter,
    revalidated_not_modified: Counter,
    revalidated_modified: Counter,
    evictions: Counter,
    entries: Gauge,
    bytes: Gauge,
    /// Requests answered, by the client's address: who sent what, as the
    /// server saw it (load generators on several hosts are told apart).
    clients: ByClient,
}

/// Requests by client address, for the first [`MAX_CLIENTS`] addresses (the
/// rest under `other`). Counting takes a read lock and one atomic add; a new
/// address takes the write lock once.
#[derive(Debug, Default)]
struct ByClient {
    known: RwLock<HashMap<IpAddr, Counter>>,
    other: Counter,
}

impl ByClient {
    fn count(&self, ip: IpAddr) {
        let ip = ip.to_canonical();
        if let Some(c) = self.known.read().unwrap_or_else(|e| e.into_inner()).get(&ip) {
            c.inc();
            return;
        }
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = known.get(&ip) {
            c.inc();
        } else if known.len() < MAX_CLIENTS {
            let c = Counter::default();
            c.inc();
            known.insert(ip, c);
        } else {
            self.other.inc();
        }
    }

    /// `(address, requests)` by address, then `("other", n)` if any.
    fn counts(&self) -> Vec<(String, u64)> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(IpAddr, u64)> = known.iter().map(|(ip, c)| (*ip, c.get())).collect();
        v.sort();
        let mut out: Vec<(String, u64)> = v.into_iter().map(|(ip, n)| (ip.to_string(), n)).collect();
        if self.other.get() > 0 {
            out.push(("other".into(), self.other.get()));
        }
        out
    }
}

impl Default for EdgeMetrics {
    fn default() -> Self {
        Self {
            requests: Default::default(),
            latency: std::array::from_fn(|_| Histogram::latency()),
            origin_fetches: Counter::default(),
            stored: Counter::default(),
            revalidated_not_modified: Counter::default(),
            revalidated_modified: Counter::default(),
            evictions: Counter::default(),
            entries: Gauge::default(),
            bytes: Gauge::default(),
            clients: ByClient::default(),
        }
    }
}

/// A snapshot of the edge's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EdgeStats {
    pub hits: u64,
    pub misses: u64,
    pub stale: u64,
    pub collapsed: u64,
    pub passed: u64,
    pub origin_fetches: u64,
    pub stored: u64,
    pub revalidated_not_modified: u64,
}

impl EdgeMetrics {
    pub fn stats(&self) -> EdgeStats {
        EdgeStats {
            hits: self.requests[0].get(),
            misses: self.requests[1].get(),
            stale: self.requests[2].get(),
            collapsed: self.requests[3].get(),
            passed: self.requests[4].get(),
            origin_fetches: self.origin_fetches.get(),
            stored: self.stored.get(),
            revalidated_not_modified: self.revalidated_not_modified.get(),
        }
    }

    fn render(&self) -> String {
        let mut e = Exposition::new();
        let name = "shop_edge_requests_total";
        e.family(name, Kind::Counter, "Requests answered by the edge, by what the cache did.");
        for (i, r) in RESULTS.iter().enumerate() {
            e.sample(name, &[("result", r)], self.requests[i].get());
        }
        let name = "shop_edge_request_duration_seconds";
        e.family(name, Kind::Histogram, "Time from request to response head at the edge, by cache result.");
        for (i, r) in RESULTS.iter().enumerate() {
            e.histogram(name, &[("result", r)], &self.latency[i]);
        }
        e.single(
            "shop_edge_origin_fetches_total",
            Kind::Counter,
            "Requests the edge sent to the origin (misses, revalidations and passes).",
            self.origin_fetches.get(),
        );
        e.single("shop_edge_stored_total", Kind::Counter, "Responses stored in the edge cache.", self.stored.get());
        let name = "shop_edge_revalidations_total";
        e.family(name, Kind::Counter, "Conditional requests for stale entries, by origin answer.")
            .sample(name, &[("result", "not_modified")], self.revalidated_not_modified.get())
            .sample(name, &[("result", "modified")], self.revalidated_modified.get());
        e.single(
            "shop_edge_evictions_total",
            Kind::Counter,
            "Entries evicted to stay within the cache size.",
            self.evictions.get(),
        );
        let name = "shop_edge_client_requests_total";
        e.family(
            name,
            Kind::Counter,
            "Requests answered by the edge, by client address (the first 256 addresses; the rest as other).",
        );
        for (client, n) in self.clients.counts() {
            e.sample(name, &[("client", &client)], n);
        }
        e.single("shop_edge_cache_entries", Kind::Gauge, "Responses held by the edge cache.", self.entries.get());
        e.single(
            "shop_edge_cache_bytes",
            Kind::Gauge,
            "Bytes held by the edge cache (bodies, headers, keys).",
            self.bytes.get(),
        );
        e.finish()
    }
}

// === the store ===

/// A stored response.
#[derive(Debug)]
struct Entry {
    status: StatusCode,
    /// Response headers without hop-by-hop fields and without `Age`.
    headers: HeaderMap,
    body: Bytes,
    stored_at: Instant,
    ttl: Duration,
    etag: Option<HeaderValue>,
    /// The request's values of the headers named by `Vary`, as they were when stored.
    vary: Vec<(HeaderName, Option<HeaderValue>)>,
    size: usize,
}

impl Entry {
    fn is_fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.stored_at) < self.ttl
    }

    fn vary_matches(&self, req: &HeaderMap) -> bool {
        self.vary.iter().all(|(name, value)| req.get(name) == value.as_ref())
    }
}

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Box<str>, Arc<Entry>>,
    bytes: usize,
}

#[derive(Debug)]
struct Store {
    /// Sharded by key so that hits on different URLs rarely meet on a lock.
    shards: Box<[Mutex<Shard>]>,
    hasher: std::hash::RandomState,
    per_shard_bytes: usize,
}

impl Store {
    fn new(capacity_bytes: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: std::hash::RandomState::new(),
            per_shard_bytes: (capacity_bytes / SHARDS).max(64 * 1024),
        }
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Shard> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, key: &str) -> Option<Arc<Entry>> {
        self.shard(key).map.get(key).cloned()
    }

    fn insert(&self, key: &str, entry: Arc<Entry>, m: &EdgeMetrics) {
        let size = entry.size + key.len();
        if size > self.per_shard_bytes {
            return;
        }
        let mut shard = self.shard(key);
        if let Some(old) = shard.map.remove(key) {
            shard.bytes -= old.size + key.len();
            m.entries.dec();
            m.bytes.set(m.bytes.get() - (old.size + key.len()) as i64);
        }
        // Random eviction (hash order) until the new entry fits.
        while shard.bytes + size > self.per_shard_bytes {
            let Some(victim) = shard.map.keys().next().cloned() else {
                break;
            };
            if let Some(old) = shard.map.remove(&victim) {
                shard.bytes -= old.size + victim.len();
                m.entries.dec();
                m.bytes.set(m.bytes.get() - (old.size + victim.len()) as i64);
                m.evictions.inc();
            }
        }
        shard.bytes += size;
        shard.map.insert(key.into(), entry);
        m.entries.inc();
        m.bytes.set(m.bytes.get() + size as i64);
    }

    fn remove(&self, key: &str, m: &EdgeMetrics) {
        let mut shard = self.shard(key);
        if let Some(old) = shard.map.remove(key) {
            shard.bytes -= old.size + key.len();
            m.entries.dec();
            m.bytes.set(m.bytes.get() - (old.size + key.len()) as i64);
        }
    }
}

// === the proxy ===

/// What a collapsed request receives from the request that fetched for it.
#[derive(Debug, Clone)]
enum Shared {
    Entry(Arc<Entry>),
    /// The response could not be shared (not storable): fetch on your own.
    Pass,
}

/// The edge's state.
#[derive(Debug)]
pub struct Edge {
    origin: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    store: Store,
    /// Keys being fetched now; later requests for the same key wait on the receiver.
    inflight: Mutex<HashMap<Box<str>, watch::Receiver<Option<Shared>>>>,
    metrics: Arc<EdgeMetrics>,
}

impl Edge {
    pub fn new(origin: SocketAddr, cache_bytes: usize, metrics: Arc<EdgeMetrics>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(512)
            .build(connector);
        Self { origin, client, store: Store::new(cache_bytes), inflight: Mutex::new(HashMap::new()), metrics }
    }
}

/// The edge's router: its own `/metrics`, everything else proxied.
pub fn router(edge: Arc<Edge>) -> Router {
    Router::new().route("/metrics", get(metrics)).fallback(proxy).with_state(edge)
}

async fn metrics(State(edge): State<Arc<Edge>>) -> Response {
    let mut r = Response::new(Body::from(edge.metrics.render()));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(crate::metrics::CONTENT_TYPE));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

async fn proxy(State(edge): State<Arc<Edge>>, req: Request) -> Response {
    let started = Instant::now();
    let client = req.extensions().get::<ConnectInfo<SocketAddr>>().copied();
    let (mut resp, outcome) = edge.serve(req).await;
    let h = resp.headers_mut();
    h.insert(CACHE_STATUS.clone(), HeaderValue::from_static(outcome.cache_status()));
    h.insert(X_CACHE.clone(), HeaderValue::from_static(outcome.x_cache()));
    let i = outcome.result();
    edge.metrics.requests[i].inc();
    if let Some(ConnectInfo(peer)) = client {
        edge.metrics.clients.count(peer.ip());
    }
    edge.metrics.latency[i].observe(started.elapsed());
    resp
}

/// A fetched origin response, body read in full.
struct Fetched {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Edge {
    async fn serve(&self, req: Request) -> (Response, Outcome) {
        let (parts, body) = req.into_parts();
        let key = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let head = parts.method == Method::HEAD;

        if parts.uri.path() == "/healthz" {
            return self.pass(&parts, body, Outcome::Bypass).await;
        }
        if parts.method != Method::GET && !head {
            let key = key.to_owned();
            let (resp, outcome) = self.pass(&parts, body, Outcome::Method).await;
            if resp.status().is_success() || resp.status().is_redirection() {
                // RFC 9111 §4.4: an unsafe request invalidates what is stored for its URL.
                self.store.remove(&key, &self.metrics);
            }
            return (resp, outcome);
        }
        let req_cc = Directives::parse(parts.headers.get_all(header::CACHE_CONTROL).iter());
        let pragma_no_cache = parts.headers.get(header::PRAGMA).is_some_and(|v| v.as_bytes() == b"no-cache");
        if req_cc.no_store || req_cc.no_cache || pragma_no_cache {
            if head || req_cc.no_store {
                return self.pass(&parts, body, Outcome::Request { stored: false }).await;
            }
            let fetched = match self.fetch(&parts, None).await {
                Ok(f) => f,
                Err(resp) => return (resp, Outcome::Error),
            };
            let stored = self.maybe_store(key, &parts.headers, &fetched).is_some();
            return (self.forwarded(fetched, false), Outcome::Request { stored });
        }

        let now = Instant::now();
        let stored = self.store.get(key);
        let mut vary_miss = false;
        let mut stale = None;
        if let Some(entry) = stored {
            if !entry.vary_matches(&parts.headers) {
                vary_miss = true;
            } else if entry.is_fresh(now) {
                return (self.respond_from(&entry, &parts.headers, head, now), Outcome::Hit);
            } else {
                stale = Some(entry);
            }
        }
        if head {
            return self.pass(&parts, body, Outcome::Miss { stored: false }).await;
        }
        self.collapse(key, &parts, stale, vary_miss).await
    }

    /// Fetches `key` once for every concurrent request that misses on it.
    async fn collapse(
        &self,
        key: &str,
        parts: &http::request::Parts,
        stale: Option<Arc<Entry>>,
        vary_miss: bool,
    ) -> (Response, Outcome) {
        let waiting = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            match inflight.get(key) {
                Some(rx) => Err(rx.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    inflight.insert(key.into(), rx);
                    Ok(tx)
                }
            }
        };
        let tx = match waiting {
            Ok(tx) => tx,
            Err(mut rx) => {
                let shared = rx.wait_for(Option::is_some).await.ok().and_then(|v| v.clone());
                if let Some(Shared::Entry(entry)) = shared
                    && entry.vary_matches(&parts.headers)
                {
                    return (self.respond_from(&entry, &parts.headers, false, Instant::now()), Outcome::Collapsed);
                }
                // Not shareable, or the fetching request went away: fetch on our own.
                let fetched = match self.fetch(parts, None).await {
                    Ok(f) => f,
                    Err(resp) => return (resp, Outcome::Error),
                };
                let stored = self.maybe_store(key, &parts.headers, &fetched).is_some();
                return (self.forwarded(fetched, false), Outcome::Miss { stored });
            }
        };
        // We are the leader: whatever happens, the key leaves the in-flight map when we are done.
        let _leader = InflightGuard { edge: self, key };
        let validator = stale.as_ref().and_then(|e| e.etag.clone());
        let fetched = match self.fetch(parts, validator.as_ref()).await {
            Ok(f) => f,
            Err(resp) => return (resp, Outcome::Error),
        };
        if let Some(old) = stale.as_ref().filter(|_| validator.is_some()) {
            if fetched.status == StatusCode::NOT_MODIFIED {
                self.metrics.revalidated_not_modified.inc();
                let refreshed = self.refresh(key, old, &fetched.headers);
                let _ = tx.send(Some(Shared::Entry(refreshed.clone())));
                let resp = self.respond_from(&refreshed, &parts.headers, false, Instant::now());
                return (resp, Outcome::Stale { not_modified: true, stored: true });
            }
            self.metrics.revalidated_modified.inc();
        }
        let entry = self.maybe_store(key, &parts.headers, &fetched);
        let _ = tx.send(Some(entry.clone().map_or(Shared::Pass, Shared::Entry)));
        let stored = entry.is_some();
        let outcome = if stale.is_some() {
            Outcome::Stale { not_modified: false, stored }
        } else if vary_miss {
            Outcome::VaryMiss { stored }
        } else {
            Outcome::Miss { stored }
        };
        (self.forwarded(fetched, false), outcome)
    }

    /// Forwards a request without using or filling the cache.
    async fn pass(&self, parts: &http::request::Parts, body: Body, outcome: Outcome) -> (Response, Outcome) {
        let body = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return (plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n"), outcome);
            }
        };
        match self.send(parts, body, None, true).await {
            Ok(f) => (self.forwarded(f, parts.method == Method::HEAD), outcome),
            Err(resp) => (resp, Outcome::Error),
        }
    }

    /// Fetches a cacheable GET from the origin; the client's own validators are not forwarded,
    /// so the edge gets a full body it can store.
    async fn fetch(&self, parts: &http::request::Parts, validator: Option<&HeaderValue>) -> Result<Fetched, Response> {
        self.send(parts, Bytes::new(), validator, false).await
    }

    async fn send(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        validator: Option<&HeaderValue>,
        keep_client_validators: bool,
    ) -> Result<Fetched, Response> {
        let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let uri = format!("http://{}{pq}", self.origin);
        let mut up = http::Request::builder().method(parts.method.clone()).uri(uri);
        if let Some(h) = up.headers_mut() {
            for (name, value) in &parts.headers {
                if is_hop_by_hop(name)
                    || (!keep_client_validators && (name == header::IF_NONE_MATCH || name == header::IF_MODIFIED_SINCE))
                {
                    continue;
                }
                h.append(name, value.clone());
            }
            h.append(header::VIA, HeaderValue::from_static("1.1 stampede-edge"));
            if let Some(v) = validator {
                h.insert(header::IF_NONE_MATCH, v.clone());
            }
        }
        let Ok(up) = up.body(Full::new(body)) else {
            return Err(plain(StatusCode::BAD_REQUEST, "bad request\n"));
        };
        self.metrics.origin_fetches.inc();
        let resp = match tokio::time::timeout(ORIGIN_TIMEOUT, self.client.request(up)).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => {
                return Err(plain(StatusCode::BAD_GATEWAY, "the origin could not be reached\n"));
            }
            Err(_) => {
                return Err(plain(StatusCode::GATEWAY_TIMEOUT, "the origin did not answer in time\n"));
            }
        };
        let (rp, rb) = resp.into_parts();
        let body = match rb.collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return Err(plain(StatusCode::BAD_GATEWAY, "the origin's response broke off\n"));
            }
        };
        let mut headers = rp.headers;
        strip_hop_by_hop(&mut headers);
        Ok(Fetched { status: rp.status, headers, body })
    }

    /// Stores a fetched response if a shared cache may, and returns the stored entry.
    fn maybe_store(&self, key: &str, req: &HeaderMap, f: &Fetched) -> Option<Arc<Entry>> {
        if !matches!(f.status.as_u16(), 200 | 203 | 301 | 404 | 410) || f.body.len() > MAX_OBJECT {
            return None;
        }
        let cc = Directives::parse(f.headers.get_all(header::CACHE_CONTROL).iter());
        if cc.no_store || cc.private || f.headers.contains_key(header::SET_COOKIE) {
            return None;
        }
        if req.contains_key(header::AUTHORIZATION) && !(cc.public || cc.s_maxage.is_some()) {
            return None;
        }
        let mut vary = Vec::new();
        for value in f.headers.get_all(header::VARY) {
            for name in value.to_str().ok()?.split(',') {
                let name = name.trim();
                if name == "*" {
                    return None;
                }
                let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
                let v = req.get(&name).cloned();
                vary.push((name, v));
            }
        }
        let etag = f.headers.get(header::ETAG).cloned();
        let ttl = freshness(&cc, &f.headers)?;
        if ttl.is_zero() && etag.is_none() {
            return None;
        }
        let mut headers = f.headers.clone();
        headers.remove(header::AGE);
        let size = f.body.len() + headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 32).sum::<usize>();
        let entry = Arc::new(Entry {
            status: f.status,
            headers,
            body: f.body.clone(),
            stored_at: Instant::now(),
            ttl,
            etag,
            vary,
            size,
        });
        self.store.insert(key, entry.clone(), &self.metrics);
        self.metrics.stored.inc();
        Some(entry)
    }

    /// Freshens a stored entry with the headers of a 304 (RFC 9111 §4.3.4).
    fn refresh(&self, key: &str, old: &Entry, not_modified: &HeaderMap) -> Arc<Entry> {
        let mut headers = old.headers.clone();
        for name in [header::CACHE_CONTROL, header::ETAG, header::EXPIRES, header::DATE, header::LAST_MODIFIED] {
            if let Some(v) = not_modified.get(&name) {
                headers.insert(name, v.clone());
            }
        }
        let cc = Directives::parse(headers.get_all(header::CACHE_CONTROL).iter());
        let entry = Arc::new(Entry {
            status: old.status,
            etag: headers.get(header::ETAG).cloned(),
            ttl: freshness(&cc, not_modified).unwrap_or(old.ttl),
            headers,
            body: old.body.clone(),
            stored_at: Instant::now(),
            vary: old.vary.clone(),
            size: old.size,
        });
        self.store.insert(key, entry.clone(), &self.metrics);
        entry
    }

    /// A response from a stored entry, with `Age`; a 304 if the client's validator matches.
    fn respond_from(&self, entry: &Entry, req: &HeaderMap, head: bool, now: Instant) -> Response {
        let age = now.saturating_duration_since(entry.stored_at).as_secs();
        let client_has_it = entry.etag.as_ref().is_some_and(|etag| {
            req.get_all(header::IF_NONE_MATCH)
                .iter()
                .any(|v| v.as_bytes().split(|b| *b == b',').any(|t| t.trim_ascii() == etag.as_bytes()))
        });
        let mut resp = if client_has_it {
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            for name in [header::CACHE_CONTROL, header::ETAG, header::VARY] {
                if let Some(v) = entry.headers.get(&name) {
                    r.headers_mut().insert(name, v.clone());
                }
            }
            r
        } else {
            let body = if head { Body::empty() } else { Body::from(entry.body.clone()) };
            let mut r = Response::new(body);
            *r.status_mut() = entry.status;
            *r.headers_mut() = entry.headers.clone();
            r
        };
        resp.headers_mut().insert(header::AGE, HeaderValue::from(age));
        resp
    }

    fn forwarded(&self, f: Fetched, head: bool) -> Response {
        let body = if head { Body::empty() } else { Body::from(f.body) };
        let mut r = Response::new(body);
        *r.status_mut() = f.status;
        *r.headers_mut() = f.headers;
        r
    }
}

/// Removes a leader's key from the in-flight map, even if its request is dropped mid-fetch
/// (waiters then see the channel close and fetch on their own).
struct InflightGuard<'a> {
    edge: &'a Edge,
    key: &'a str,
}

impl Drop for InflightGuard<'_> {
    fn drop(&mut self) {
        self.edge.inflight.lock().unwrap_or_else(|e| e.into_inner()).remove(self.key);
    }
}

/// How long a response stays fresh in a shared cache, minus the age it already had.
/// `None` when it may not be stored for lack of explicit freshness.
fn freshness(cc: &Directives, headers: &HeaderMap) -> Option<Duration> {
    let lifetime = if cc.no_cache { 0 } else { cc.shared_max_age()? };
    let age = headers.get(header::AGE).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Some(Duration::from_secs(lifetime.saturating_sub(age)))
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut r = Response::new(Body::from(text));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
