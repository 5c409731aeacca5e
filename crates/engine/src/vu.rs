//! A virtual user: its variables, cookies, connections and reusable buffers,
//! and one iteration of a flow.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Uri};
use stampede_metrics::{Method, RequestId, RequestSample};
use stampede_scenario::template::{RenderContext, Template};
use stampede_scenario::{Body, CheckKind, DataOrder, ExtractSource, Flow, ItemKind, PartContent, Step, ThinkTime};
use tokio::time::Instant;

use crate::cdn;
use crate::client::Connections;
use crate::worker::Worker;

static CONTENT_TYPE_JSON: HeaderValue = HeaderValue::from_static("application/json");
static CONTENT_TYPE_FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// The next request of a redirect chain.
struct Hop {
    uri: Uri,
    method: http::Method,
    /// Repeat the step's body (307/308).
    body: bool,
    /// The new URL's host is the first one's or a subdomain of it.
    same_domain: bool,
}

/// One cookie of a VU's jar.
#[derive(Debug)]
struct Cookie {
    host: Box<str>,
    name: Box<str>,
    value: String,
}

/// A VU's state; kept between iterations (and between activations of a
/// ramping scenario), like a browser's.
pub struct Vu {
    pub id: u64,
    pub scenario: u16,
    pub iteration: u64,
    vars: Vec<Option<String>>,
    data_rows: Vec<usize>,
    rng: fastrand::Rng,
    cookies: Vec<Cookie>,
    pub conns: Connections,
    buf: String,
    body_in: Vec<u8>,
    /// Host of the request in flight (cookies are scoped by host).
    host: String,
    /// Method of the last redirect hop sent (the final sample's method).
    last_method: http::Method,
    /// URL of the request in flight, when its step follows redirects.
    url: String,
    /// The flow's groups open in this iteration (`group_duration`).
    groups: crate::group::OpenGroups,
}

impl std::fmt::Debug for Vu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vu").field("id", &self.id).field("iteration", &self.iteration).finish()
    }
}

impl Vu {
    /// A VU whose variables start as `initial` (the setup's values, indexed
    /// by slot; empty without a setup), the other slots unset.
    pub fn new(
        id: u64,
        scenario: u16,
        initial: &[Option<String>],
        var_slots: usize,
        data_sets: usize,
        seed: u64,
    ) -> Vu {
        let mut vars = initial.to_vec();
        vars.resize(var_slots, None);
        Vu {
            id,
            scenario,
            iteration: 0,
            vars,
            data_rows: vec![0; data_sets],
            rng: fastrand::Rng::with_seed(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            cookies: Vec::new(),
            conns: Connections::default(),
            buf: String::new(),
            body_in: Vec::new(),
            host: String::new(),
            last_method: http::Method::GET,
            url: String::new(),
            groups: Default::default(),
        }
    }

    /// Runs one iteration: picks a flow by weight, runs its steps with think
    /// times. Returns when the last step (and its think time) is done.
    /// `in_test`: the iteration's test-wide number when the executor knows
    /// it; otherwise it is drawn when a sequential data set needs it.
    pub async fn iteration(&mut self, w: &Worker, in_test: Option<u64>) {
        let plan = &*w.plan;
        let scen = &plan.scenarios[self.scenario as usize];
        let flow_idx = if scen.flows.len() == 1 {
            scen.flows[0].flow
        } else {
            let r = self.rng.u32(0..scen.total_weight.max(1));
            scen.flows.iter().find(|f| f.cumulative_weight > r).unwrap_or(&scen.flows[0]).flow
        };
        self.pick_data_rows(w, in_test);
        // As k6 does by default: every iteration starts with an empty cookie
        // jar (a new visitor); connections stay open, as a browser's do.
        self.cookies.clear();
        let flow: &Flow = &plan.flows[flow_idx];
        self.groups.reset();
        for item in &flow.items {
            if item.only_if.as_ref().is_some_and(|c| !c.holds(&self.vars)) {
                continue;
            }
            let ItemKind::Request(i) = item.kind;
            let step = &flow.steps[i];
            self.groups.enter(w, self.scenario, step.group);
            self.step(w, step).await;
            self.groups.step_done();
            let think = step.think_time.unwrap_or(plan.think_time);
            if let Some(d) = self.think_duration(think) {
                tokio::time::sleep(d).await;
            }
        }
        self.groups.close_all(w, self.scenario);
        self.iteration += 1;
        if self.body_in.capacity() > 64 * 1024 {
            self.body_in = Vec::new();
        }
    }

    fn think_duration(&mut self, t: ThinkTime) -> Option<Duration> {
        match t {
            ThinkTime::None => None,
            ThinkTime::Fixed(d) if d.is_zero() => None,
            ThinkTime::Fixed(d) => Some(d),
            ThinkTime::Uniform { min, max } => {
                let lo = min.as_micros() as u64;
                let hi = (max.as_micros() as u64).max(lo);
                Some(Duration::from_micros(self.rng.u64(lo..=hi)))
            }
        }
    }

    /// Rows for this iteration. Sequential: the test's n-th iteration of the
    /// scenario gets row n (k6's `data[scenario.iterationInTest % len]`).
    fn pick_data_rows(&mut self, w: &Worker, mut in_test: Option<u64>) {
        for (i, set) in w.plan.data.iter().enumerate() {
            let rows = set.rows.len().max(1);
            self.data_rows[i] = match set.order {
                DataOrder::Sequential => {
                    let n = *in_test.get_or_insert_with(|| w.next_iteration_in_test(self.scenario));
                    (n % rows as u64) as usize
                }
                DataOrder::Random => self.rng.usize(0..rows),
                DataOrder::UniquePerVu => ((self.id - 1) % rows as u64) as usize,
            };
        }
    }

    pub(crate) fn render(&mut self, w: &Worker, t: &Template) -> &str {
        self.buf.clear();
        if let Some(s) = t.as_static() {
            self.buf.push_str(s);
        } else {
            let mut ctx = RenderContext {
                vars: &self.vars,
                data: &w.plan.data,
                data_rows: &self.data_rows,
                vu_id: self.id,
                iteration: self.iteration,
                scenario: &w.plan.scenarios[self.scenario as usize].name,
                rng: &mut self.rng,
            };
            t.render(&mut ctx, &mut self.buf);
        }
        &self.buf
    }

    fn header_value(&mut self, w: &Worker, t: &Template) -> Option<HeaderValue> {
        let s = self.render(w, t);
        HeaderValue::from_str(s).ok()
    }

    /// The VU's variables, indexed by slot.
    pub(crate) fn vars(&self) -> &[Option<String>] {
        &self.vars
    }

    /// The body of the latest response (kept when the step reads it).
    pub(crate) fn body(&self) -> &[u8] {
        &self.body_in
    }

    pub(crate) async fn step(&mut self, w: &Worker, step: &Step) {
        let plan = &*w.plan;
        let started = Instant::now();
        // The timeout covers the whole redirect chain, as Go's client timeout
        // (and so k6's) does.
        let deadline = started + plan.target.timeout;
        let Some(mut req) = self.build_request(w, step, None) else {
            self.record_unbuildable(w, step);
            return;
        };
        let mut hops = 0u32;
        let (exchange, status) = loop {
            // Kept only when a redirect may follow (the next hop needs them).
            // The method is an enum (no allocation); the URL text is in `self.url`.
            let method = (step.max_redirects > 0).then(|| req.method().clone());
            self.body_in.clear();
            let mut exchange = {
                let fut =
                    self.conns.exchange(&w.client, &w.resolver, &w.pools, req, step.needs_body, &mut self.body_in);
                match tokio::time::timeout_at(deadline, fut).await {
                    Ok(ex) => ex,
                    Err(_) => {
                        // The connection may be mid-response: drop it.
                        self.conns.clear();
                        crate::client::Exchange {
                            response: None,
                            timings: stampede_metrics::Timings {
                                waiting: started.elapsed().as_micros() as u64,
                                ..Default::default()
                            },
                            bytes_sent: 0,
                            bytes_received: 0,
                            body_bytes: 0,
                            error: Some(stampede_metrics::ErrorKind::Timeout),
                        }
                    }
                }
            };
            let status = exchange.response.as_ref().map_or(0, |p| p.status.as_u16());
            let Some(method) = method.filter(|_| matches!(status, 301 | 302 | 303 | 307 | 308)) else {
                break (exchange, status);
            };
            let base = self.url.parse::<Uri>().ok().map(|u| match split_userinfo(&u) {
                Some((_, stripped)) => stripped,
                None => u,
            });
            let next = exchange
                .response
                .as_ref()
                .and_then(|p| p.headers.get(http::header::LOCATION))
                .zip(base)
                .and_then(|(l, base)| crate::redirect::resolve(&base, l.as_bytes()).map(|n| (base, n)));
            let Some((uri, (next, next_text))) = next else {
                // No usable Location: this response is the result (Go too
                // returns a 3xx without Location as is).
                break (exchange, status);
            };
            if hops == step.max_redirects {
                // As k6: the last redirect is the result; counted so it shows.
                exchange.error = Some(stampede_metrics::ErrorKind::TooManyRedirects);
                break (exchange, status);
            }
            hops += 1;
            // This hop is a request sample of its own, under the step's name.
            let parts = exchange.response.take().expect("a status came from a response");
            w.record_request(self.request_id(step, &method, status), &self.sample(&exchange, &parts));
            self.store_cookies(&parts.headers);
            // Go's rules (k6's): 301/302/303 turn anything but GET/HEAD into
            // a GET without a body; 307/308 repeat the method and the body.
            let keep = matches!(status, 307 | 308);
            let next_method = if keep || method == http::Method::GET || method == http::Method::HEAD {
                method
            } else {
                http::Method::GET
            };
            let same_domain = crate::redirect::same_domain(&uri, &next);
            self.url.clear();
            self.url.push_str(&next_text);
            match self.build_request(w, step, Some(Hop { uri: next, method: next_method, body: keep, same_domain })) {
                Some(r) => req = r,
                None => {
                    self.record_unbuildable(w, step);
                    return;
                }
            }
        };
        let cache =
            exchange.response.as_ref().map_or(stampede_metrics::CacheOutcome::Unknown, |p| cdn::classify(&p.headers));
        let sample = RequestSample {
            timings: exchange.timings,
            bytes_sent: exchange.bytes_sent,
            bytes_received: exchange.bytes_received,
            body_bytes: exchange.body_bytes,
            error: exchange.error,
            cache,
        };
        let method = if hops == 0 { step.method.clone() } else { self.last_method.clone() };
        w.record_request(self.request_id(step, &method, status), &sample);

        let Some(parts) = exchange.response else {
            for c in &step.checks {
                w.record_check(self.scenario, c.id, false);
            }
            return;
        };
        self.store_cookies(&parts.headers);
        let json = if step.needs_json { serde_json::from_slice::<serde_json::Value>(&self.body_in).ok() } else { None };
        for ex in &step.extract {
            let value: Option<std::borrow::Cow<'_, str>> = match &ex.source {
                ExtractSource::Json(path) => json.as_ref().and_then(|j| path.query(j).first()).map(|v| match v {
                    serde_json::Value::String(s) => s.as_str().into(),
                    other => other.to_string().into(),
                }),
                ExtractSource::Regex(re) => std::str::from_utf8(&self.body_in).ok().and_then(|body| {
                    re.captures(body).and_then(|c| c.get(1).or_else(|| c.get(0))).map(|m| m.as_str().into())
                }),
                ExtractSource::Header(name) => parts.headers.get(name).and_then(|v| v.to_str().ok()).map(Into::into),
                ExtractSource::Cookie(name) => set_cookie_value(&parts.headers, name).map(Into::into),
            };
            let slot = &mut self.vars[ex.slot];
            match value {
                Some(v) => {
                    let s = slot.get_or_insert_with(String::new);
                    s.clear();
                    s.push_str(&v);
                }
                None => *slot = None,
            }
        }
        let duration = Duration::from_micros(exchange.timings.duration());
        for c in &step.checks {
            let ok = match &c.kind {
                CheckKind::Status(list) => list.contains(&status),
                CheckKind::BodyContains(s) => memchr::memmem::find(&self.body_in, s.as_bytes()).is_some(),
                CheckKind::JsonPathEquals { path, value } => {
                    json.as_ref().and_then(|j| path.query(j).first()).is_some_and(|v| v == value)
                }
                CheckKind::HeaderPresent(h) => parts.headers.contains_key(h),
                CheckKind::DurationBelow(d) => duration < *d,
            };
            w.record_check(self.scenario, c.id, ok);
        }
        if !step.metrics.is_empty() {
            crate::custom::feed_metrics(w, self, step, status, &parts.headers, json.as_ref());
        }
    }

    /// A rendered URL or header that is not valid HTTP (the step's request,
    /// or a redirect's): counted as a failed request of this name, its checks
    /// failed, rather than stopping the VU.
    fn record_unbuildable(&self, w: &Worker, step: &Step) {
        let sample = RequestSample {
            timings: Default::default(),
            bytes_sent: 0,
            bytes_received: 0,
            body_bytes: 0,
            error: Some(stampede_metrics::ErrorKind::Other),
            cache: stampede_metrics::CacheOutcome::Unknown,
        };
        w.record_request(self.request_id(step, &step.method, 0), &sample);
        for c in &step.checks {
            w.record_check(self.scenario, c.id, false);
        }
    }

    fn sample(&self, exchange: &crate::client::Exchange, parts: &http::response::Parts) -> RequestSample {
        RequestSample {
            timings: exchange.timings,
            bytes_sent: exchange.bytes_sent,
            bytes_received: exchange.bytes_received,
            body_bytes: exchange.body_bytes,
            error: exchange.error,
            cache: cdn::classify(&parts.headers),
        }
    }

    fn request_id(&self, step: &Step, method: &http::Method, status: u16) -> RequestId {
        RequestId {
            scenario: self.scenario,
            name: step.name_id,
            method: Method::from_http(method),
            status,
            group: step.group,
            tags: step.tags,
        }
    }

    /// The step's request, or with `hop` the request of a redirect: its URL
    /// and method, the step's headers (credentials only to the same domain
    /// or a subdomain, as Go does), the cookies of the new host, and the body
    /// only on 307/308.
    fn build_request(&mut self, w: &Worker, step: &Step, hop: Option<Hop>) -> Option<Request<Bytes>> {
        let plan = &*w.plan;
        let (mut uri, method, with_body, same_domain) = match hop {
            None => {
                let text = self.render(w, &step.url);
                let uri = text.parse::<Uri>().ok()?;
                if step.max_redirects > 0 {
                    // A copy into a kept buffer: the base of a redirect, if one comes.
                    self.url.clear();
                    self.url.push_str(&self.buf);
                }
                (uri, step.method.clone(), true, true)
            }
            Some(h) => {
                self.last_method = h.method.clone();
                (h.uri, h.method, h.body, h.same_domain)
            }
        };
        // `user:password@` in a URL is Basic auth (as in k6 and browsers),
        // never part of the Host header.
        let basic = match uri.authority() {
            Some(a) if a.as_str().contains('@') => {
                let (auth, stripped) = split_userinfo(&uri)?;
                uri = stripped;
                Some(auth)
            }
            _ => None,
        };
        self.host.clear();
        self.host.push_str(uri.host().unwrap_or(""));
        let mut b = Request::builder().method(method).uri(uri);
        let headers = b.headers_mut()?;
        if let Some(auth) = basic {
            headers.insert(http::header::AUTHORIZATION, auth);
        }
        let sensitive = |n: &http::HeaderName| {
            n == http::header::AUTHORIZATION || n == http::header::WWW_AUTHENTICATE || n == http::header::COOKIE
        };
        for (name, t) in &plan.target.headers {
            if step.headers.iter().any(|(n, _)| n == name) || (!same_domain && sensitive(name)) {
                continue;
            }
            let v = self.header_value(w, t)?;
            headers.insert(name.clone(), v);
        }
        for (name, t) in &step.headers {
            if !same_domain && sensitive(name) {
                continue;
            }
            let v = self.header_value(w, t)?;
            headers.insert(name.clone(), v);
        }
        if let Some(v) = self.cookie_header() {
            headers.insert(http::header::COOKIE, v);
        }
        let body = match &step.body {
            _ if !with_body => Bytes::new(),
            None => Bytes::new(),
            Some(Body::Raw(t)) => Bytes::copy_from_slice(self.render(w, t).as_bytes()),
            Some(Body::Json(t)) => {
                if !headers.contains_key(http::header::CONTENT_TYPE) {
                    headers.insert(http::header::CONTENT_TYPE, CONTENT_TYPE_JSON.clone());
                }
                Bytes::copy_from_slice(self.render(w, t).as_bytes())
            }
            Some(Body::Form(fields)) => {
                if !headers.contains_key(http::header::CONTENT_TYPE) {
                    headers.insert(http::header::CONTENT_TYPE, CONTENT_TYPE_FORM.clone());
                }
                let mut out = String::new();
                for (i, (name, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push('&');
                    }
                    out.push_str(name);
                    out.push('=');
                    stampede_scenario::net::form_encode(self.render(w, t).as_bytes(), &mut out);
                }
                Bytes::from(out)
            }
            Some(Body::Multipart(m)) => {
                if !headers.contains_key(http::header::CONTENT_TYPE) {
                    headers.insert(http::header::CONTENT_TYPE, m.content_type.clone());
                }
                let files: usize = m
                    .parts
                    .iter()
                    .map(|p| match &p.content {
                        PartContent::File(b) => b.len(),
                        PartContent::Value(_) => 0,
                    })
                    .sum();
                let mut out = Vec::with_capacity(files + m.parts.len() * (m.boundary.len() + 128) + 64);
                for p in &m.parts {
                    out.extend_from_slice(b"--");
                    out.extend_from_slice(m.boundary.as_bytes());
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(p.head.as_bytes());
                    match &p.content {
                        PartContent::File(bytes) => out.extend_from_slice(bytes),
                        PartContent::Value(t) => out.extend_from_slice(self.render(w, t).as_bytes()),
                    }
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"--");
                out.extend_from_slice(m.boundary.as_bytes());
                out.extend_from_slice(b"--\r\n");
                Bytes::from(out)
            }
        };
        b.body(body).ok()
    }

    fn cookie_header(&mut self) -> Option<HeaderValue> {
        let mut any = false;
        self.buf.clear();
        for c in self.cookies.iter().filter(|c| *c.host == *self.host) {
            if any {
                self.buf.push_str("; ");
            }
            self.buf.push_str(&c.name);
            self.buf.push('=');
            self.buf.push_str(&c.value);
            any = true;
        }
        if any { HeaderValue::from_str(&self.buf).ok() } else { None }
    }

    fn store_cookies(&mut self, headers: &http::HeaderMap) {
        let host = &self.host;
        for v in headers.get_all(http::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let Some((pair, attrs)) = v.split_once(';').or(Some((v, ""))) else { continue };
            let Some((name, value)) = pair.split_once('=') else { continue };
            let (name, value) = (name.trim(), value.trim());
            let expired = attrs.split(';').any(|a| {
                let a = a.trim();
                a.len() >= 10 && a[..8].eq_ignore_ascii_case("max-age=") && a[8..].trim().starts_with(['0', '-'])
            });
            let existing = self.cookies.iter().position(|c| &*c.name == name && *c.host == **host);
            match (existing, expired) {
                (Some(i), true) => {
                    self.cookies.swap_remove(i);
                }
                (Some(i), false) => {
                    self.cookies[i].value.clear();
                    self.cookies[i].value.push_str(value);
                }
                (None, false) => {
                    self.cookies.push(Cookie { host: host.as_str().into(), name: name.into(), value: value.to_owned() })
                }
                (None, true) => {}
            }
        }
    }

    /// Drops what a VU holds between activations (connections stay: a
    /// paused browser keeps its keep-alive connections too).
    pub fn reset_for_reuse(&mut self) {
        self.body_in = Vec::new();
    }
}

/// The `Authorization: Basic` value of a URL's userinfo (percent-decoded, as
/// k6 does) and the URL without it.
fn split_userinfo(uri: &Uri) -> Option<(HeaderValue, Uri)> {
    use base64::Engine as _;
    let authority = uri.authority()?.as_str();
    let (userinfo, host) = authority.rsplit_once('@')?;
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let decode = |s: &str| percent_encoding::percent_decode_str(s).collect::<Vec<u8>>();
    let mut credentials = decode(user);
    credentials.push(b':');
    credentials.extend(decode(password));
    let mut value = String::from("Basic ");
    base64::engine::general_purpose::STANDARD.encode_string(&credentials, &mut value);
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(host.parse().ok()?);
    Some((HeaderValue::from_str(&value).ok()?, Uri::from_parts(parts).ok()?))
}

pub(crate) fn set_cookie_value<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(http::header::SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let pair = v.split(';').next()?;
        let (n, val) = pair.split_once('=')?;
        (n.trim() == name).then(|| val.trim())
    })
}
