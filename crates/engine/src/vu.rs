//! A virtual user: its variables, cookies, connections and reusable
//! buffers, and one iteration of a flow: its items in order (`only_if`,
//! `for_each`, think times), each a request step or a batch; a step's request
//! built from its templates, and its extractors and checks on the response.
//! Sending a request (redirects, cookies, samples) is `send`'s; sending a
//! batch's requests together is `batch`'s.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Uri};
use serde_json::Value;
use stampede_metrics::{Method, RequestId, RequestSample};
use stampede_scenario::template::{RenderContext, Template};
use stampede_scenario::{
    Body, CheckKind, DataOrder, ExtractSource, Extractor, Flow, ItemKind, PartContent, Step, ThinkTime,
};

use crate::client::{Connections, Exchange};
use crate::jar::Jar;
use crate::send::{Outgoing, Redirect, Trip};
use crate::worker::Worker;

static CONTENT_TYPE_JSON: HeaderValue = HeaderValue::from_static("application/json");
/// The `{{ item }}` of a step that does not repeat.
static NO_ELEMENT: String = String::new();
static CONTENT_TYPE_FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// A VU's state; kept between iterations (and between activations of a
/// ramping scenario), like a browser's.
pub struct Vu {
    pub id: u64,
    pub scenario: u16,
    pub iteration: u64,
    vars: Vec<Option<String>>,
    data_rows: Vec<usize>,
    rng: fastrand::Rng,
    pub(crate) jar: Jar,
    pub conns: Connections,
    /// Rendering buffer (URLs, header values, the `Cookie` header).
    pub(crate) buf: String,
    body_in: Vec<u8>,
    /// The trip of a step's request in flight (a batch's requests have their own).
    trip: Trip,
    /// The flow's groups open in this iteration (`group_duration`).
    pub(crate) groups: crate::group::OpenGroups,
    /// What an [`crate::IterationBody`] keeps for this VU (a script's module
    /// instance); `None` for TOML flows.
    pub(crate) ext: Option<Box<dyn std::any::Any>>,
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
            jar: Jar::default(),
            conns: Connections::default(),
            buf: String::new(),
            body_in: Vec::new(),
            trip: Trip::default(),
            groups: Default::default(),
            ext: None,
        }
    }

    /// Runs one iteration: picks a flow by weight, runs its items with think
    /// times. Returns when the last one (and its think time) is done.
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
        self.jar.clear();
        let flow: &Flow = &plan.flows[flow_idx];
        self.groups.reset();
        for item in &flow.items {
            if item.only_if.as_ref().is_some_and(|c| !c.holds(&self.vars)) {
                continue;
            }
            match &item.kind {
                ItemKind::Request(i) => {
                    let step = &flow.steps[*i];
                    let think = step.think_time.unwrap_or(plan.think_time);
                    // Once, or once per element of `for_each` (copied first:
                    // the step may extract into the list it goes through).
                    let elements = item.for_each.as_ref().map(|each| each.items(&self.vars));
                    let runs = elements.as_deref().unwrap_or(std::slice::from_ref(&NO_ELEMENT));
                    for element in runs {
                        self.groups.enter(w, self.scenario, step.group);
                        // Boxed: a request in flight needs ~1.8 KB of state
                        // (its request, connection, parser, timeout), a VU
                        // between requests none of it; unboxed, every VU
                        // task would carry it for life (17,000 VUs: 30 MB).
                        Box::pin(self.step(w, step, element)).await;
                        self.groups.step_done();
                        self.think(think).await;
                    }
                }
                ItemKind::Batch(batch) => {
                    if Box::pin(self.batch(w, flow, batch, item.for_each.as_ref())).await {
                        self.groups.step_done();
                        self.think(batch.think_time.unwrap_or(plan.think_time)).await;
                    }
                }
            }
        }
        self.groups.close_all(w, self.scenario);
        self.iteration += 1;
        if self.body_in.capacity() > 64 * 1024 {
            self.body_in = Vec::new();
        }
    }

    async fn think(&mut self, t: ThinkTime) {
        if let Some(d) = self.think_duration(t) {
            tokio::time::sleep(d).await;
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

    /// Renders `t` into the VU's buffer; `item`: the element of a `for_each`.
    pub(crate) fn render(&mut self, w: &Worker, t: &Template, item: &str) -> &str {
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
                item,
            };
            t.render(&mut ctx, &mut self.buf);
        }
        &self.buf
    }

    fn header_value(&mut self, w: &Worker, t: &Template, item: &str) -> Option<HeaderValue> {
        let s = self.render(w, t, item);
        HeaderValue::from_str(s).ok()
    }

    /// The VU's variables, indexed by slot.
    pub(crate) fn vars(&self) -> &[Option<String>] {
        &self.vars
    }

    /// Runs one request step (for `item` of its `for_each`; empty
    /// otherwise): its request with its redirects, then its extractors and
    /// checks on the final response.
    pub(crate) async fn step(&mut self, w: &Worker, step: &Step, item: &str) {
        let out = StepRequest { step, item };
        // Taken out (moved, not allocated) while `self` is borrowed for sending.
        let mut trip = std::mem::take(&mut self.trip);
        let mut body = std::mem::take(&mut self.body_in);
        match self.send(w, &out, &mut trip, &mut body).await {
            Some(exchange) => self.finish_step(w, &out, exchange, &body, &trip.url),
            None => self.record_unbuildable(w, step),
        }
        self.trip = trip;
        self.body_in = body;
    }

    /// A step's extractors, checks and custom metrics on its final response
    /// (`body` when kept, the final `url` when kept); without a response,
    /// every check fails.
    pub(crate) fn finish_step(
        &mut self,
        w: &Worker,
        out: &StepRequest<'_>,
        exchange: Exchange,
        body: &[u8],
        url: &str,
    ) {
        let step = out.step;
        let Some(parts) = exchange.response else {
            for c in &step.checks {
                w.record_check_tagged(self.scenario, c.id, step.group, step.tags, false);
            }
            return;
        };
        let status = parts.status.as_u16();
        let json = if step.needs_json { serde_json::from_slice::<Value>(body).ok() } else { None };
        for ex in &step.extract {
            let value = extracted(ex, &parts.headers, body, json.as_ref(), url);
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
                CheckKind::BodyContains(s) => memchr::memmem::find(body, s.as_bytes()).is_some(),
                CheckKind::JsonPathEquals { path, value } => {
                    json.as_ref().and_then(|j| path.query(j).first()).is_some_and(|v| v == value)
                }
                CheckKind::HeaderPresent(h) => parts.headers.contains_key(h),
                CheckKind::DurationBelow(d) => duration < *d,
                CheckKind::UrlContains(s) => url.contains(&**s),
            };
            w.record_check_tagged(self.scenario, c.id, step.group, step.tags, ok);
        }
        if !step.metrics.is_empty() {
            crate::custom::feed_metrics(w, self, out, status, &parts.headers, body, json.as_ref());
        }
    }

    /// A rendered URL or header that is not valid HTTP (the step's request,
    /// or a redirect's): counted as a failed request of this name, its checks
    /// failed, rather than stopping the VU.
    pub(crate) fn record_unbuildable(&self, w: &Worker, step: &Step) {
        let sample = RequestSample {
            timings: Default::default(),
            bytes_sent: 0,
            bytes_received: 0,
            body_bytes: 0,
            error: Some(stampede_metrics::ErrorKind::Other),
            cache: stampede_metrics::CacheOutcome::Unknown,
        };
        let out = StepRequest { step, item: "" };
        w.record_request(out.request_id(self.scenario, &step.method, 0), &sample);
        for c in &step.checks {
            w.record_check_tagged(self.scenario, c.id, step.group, step.tags, false);
        }
    }

    /// The step's request, or with `hop` the request of a redirect: its URL
    /// and method, the step's headers (credentials only to the same domain
    /// or a subdomain, as Go does), and the body only on 307/308. `item`:
    /// the element of a `for_each` the templates may name.
    fn build_request(&mut self, w: &Worker, step: &Step, item: &str, hop: Option<Redirect>) -> Option<Request<Bytes>> {
        let plan = &*w.plan;
        let (mut uri, method, with_body, same_domain) = match hop {
            None => {
                let uri = self.render(w, &step.url, item).parse::<Uri>().ok()?;
                (uri, step.method.clone(), true, true)
            }
            Some(h) => (h.uri, h.method, h.body, h.same_domain),
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
            let v = self.header_value(w, t, item)?;
            headers.insert(name.clone(), v);
        }
        for (name, t) in &step.headers {
            if !same_domain && sensitive(name) {
                continue;
            }
            let v = self.header_value(w, t, item)?;
            headers.insert(name.clone(), v);
        }
        let body = match &step.body {
            _ if !with_body => Bytes::new(),
            None => Bytes::new(),
            Some(Body::Raw(t)) => Bytes::copy_from_slice(self.render(w, t, item).as_bytes()),
            Some(Body::Json(t)) => {
                if !headers.contains_key(http::header::CONTENT_TYPE) {
                    headers.insert(http::header::CONTENT_TYPE, CONTENT_TYPE_JSON.clone());
                }
                Bytes::copy_from_slice(self.render(w, t, item).as_bytes())
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
                    stampede_scenario::net::form_encode(self.render(w, t, item).as_bytes(), &mut out);
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
                        PartContent::Value(t) => out.extend_from_slice(self.render(w, t, item).as_bytes()),
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

    /// Drops what a VU holds between activations (connections stay: a
    /// paused browser keeps its keep-alive connections too).
    pub fn reset_for_reuse(&mut self) {
        self.body_in = Vec::new();
    }
}

/// The `Authorization: Basic` value of a URL's userinfo (percent-decoded, as
/// k6 does) and the URL without it.
pub(crate) fn split_userinfo(uri: &Uri) -> Option<(HeaderValue, Uri)> {
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

/// A TOML step's request, for an element of its `for_each` (`item`, empty
/// without one).
pub(crate) struct StepRequest<'a> {
    pub step: &'a Step,
    pub item: &'a str,
}

impl Outgoing for StepRequest<'_> {
    fn build(&self, vu: &mut Vu, w: &Worker, hop: Option<Redirect>) -> Option<Request<Bytes>> {
        vu.build_request(w, self.step, self.item, hop)
    }

    fn request_id(&self, scenario: u16, method: &http::Method, status: u16) -> RequestId {
        RequestId {
            scenario,
            name: self.step.name_id,
            method: Method::from_http(method),
            status,
            group: self.step.group,
            tags: self.step.tags,
        }
    }

    fn max_redirects(&self) -> u32 {
        self.step.max_redirects
    }

    fn keeps_body(&self) -> bool {
        self.step.needs_body
    }

    fn keeps_url(&self) -> bool {
        self.step.needs_url
    }
}

/// What an extractor finds in a response: one value, or with `all` every
/// match as a list (see [`stampede_scenario::list_value`]); `None` when
/// nothing matches.
fn extracted<'a>(
    ex: &Extractor,
    headers: &'a HeaderMap,
    body: &'a [u8],
    json: Option<&'a Value>,
    url: &'a str,
) -> Option<Cow<'a, str>> {
    let text = |v: &'a Value| -> Cow<'a, str> {
        match v {
            Value::String(s) => s.as_str().into(),
            other => other.to_string().into(),
        }
    };
    let list = |matches: Vec<Value>| (!matches.is_empty()).then(|| stampede_scenario::list_value(matches).into());
    use stampede_scenario::{regex_match, regex_matches};
    match (&ex.source, ex.all) {
        (ExtractSource::Json(path), false) => json.and_then(|j| path.query(j).first()).map(text),
        (ExtractSource::Json(path), true) => list(path.query(json?).iter().map(|v| (*v).clone()).collect()),
        (ExtractSource::Regex(re), false) => regex_match(re, std::str::from_utf8(body).ok()?).map(Into::into),
        (ExtractSource::Regex(re), true) => {
            list(regex_matches(re, std::str::from_utf8(body).ok()?).map(Value::from).collect())
        }
        (ExtractSource::Header(name), false) => headers.get(name).and_then(|v| v.to_str().ok()).map(Into::into),
        (ExtractSource::Header(name), true) => {
            list(headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(Value::from).collect())
        }
        (ExtractSource::Cookie(name), _) => crate::jar::set_cookie_value(headers, name).map(Into::into),
        (ExtractSource::Url, _) => Some(url.into()),
        (ExtractSource::UrlRegex(re), _) => regex_match(re, url).map(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of_val;

    /// A VU task carries its iteration's future for life: its size is
    /// per-VU memory (50,000 VUs in three processes). A request in flight
    /// (step or batch) is boxed for its duration, so a VU between requests
    /// holds only the iteration's own state. An async fn stores a by-value
    /// argument twice, so a request passed down by value adds 512 bytes per
    /// layer. Measured: Vu 296 bytes, iteration 336 (2216 with the request
    /// inline), batch 360.
    #[test]
    fn a_vu_task_stays_small() {
        let plan = std::sync::Arc::new(
            stampede_scenario::parse_str(
                "[target]\nbase_url = \"http://127.0.0.1:9\"\n[[flows.f.steps]]\nurl = \"/\"\n\
                 [scenarios.s]\nexecutor = \"constant-vus\"\nduration = \"1s\"\nflow = \"f\"\n",
                std::path::Path::new("t.toml"),
                &Default::default(),
            )
            .unwrap(),
        );
        let timeout = std::time::Duration::from_secs(1);
        let client = crate::client::ClientConfig::new(stampede_scenario::HttpVersion::Auto, false, timeout, 1000);
        let w = crate::worker::Worker::standalone(plan.clone(), crate::layout(&plan), client, 1);
        let mut vu = super::Vu::new(1, 0, &[], 0, 0, 1);
        assert!(size_of::<super::Vu>() <= 320, "Vu: {} bytes", size_of::<super::Vu>());
        let iteration = size_of_val(&vu.iteration(&w, None));
        assert!(iteration <= 400, "iteration future: {iteration} bytes");
        let batch = stampede_scenario::Batch { items: vec![], per_host: 6, think_time: None, group: 0 };
        let batch = size_of_val(&vu.batch(&w, &plan.flows[0], &batch, None));
        assert!(batch <= 512, "batch future: {batch} bytes");
    }
}
