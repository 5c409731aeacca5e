//! The coordinator's Prometheus endpoint: [`prometheus_text`] renders the
//! live run state in the text exposition format (version 0.0.4), and
//! [`serve_metrics`] serves it at `GET /metrics`.
//!
//! Conventions: every name starts with `stampede_`; base units (seconds,
//! bytes) and ratios in 0–1; counters end in `_total`; every family has its
//! `# HELP` and `# TYPE` lines before its samples. Latency summaries carry
//! exact HDR quantiles since the start of the run, `_sum` and `_count`;
//! `stampede_http_req_duration_interval_seconds{percentile}` holds the
//! percentiles of the latest interval (what "latency now" means in a dashboard). Label values
//! come from the plan (scenario, request and check names), so cardinality is
//! bounded by the scenario file, never by traffic. The metric list is in
//! `docs/outputs.md`; `dashboards/stampede.json` reads them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use stampede_metrics::hist::Histogram;
use stampede_metrics::live::{AgentState, LiveState, Phase, Shared};
use stampede_metrics::{ErrorKind, Snapshot, TrendView};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Quantiles of the latency summaries.
pub const QUANTILES: [f64; 5] = [0.5, 0.9, 0.95, 0.99, 0.999];

/// Writes families: each starts with HELP and TYPE, then its samples.
struct Exposition {
    out: String,
}

/// A sample's labels: `(name, value)` pairs.
type Labels<'a> = &'a [(&'a str, &'a str)];

fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

fn secs(us: f64) -> f64 {
    us / 1e6
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
        self
    }

    fn sample(&mut self, name: &str, labels: Labels, value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", fmt_value(value));
        self
    }

    /// Summary samples (quantiles, `_sum`, `_count`) of a µs histogram, in seconds.
    fn summary(&mut self, name: &str, labels: Labels, h: &Histogram) {
        self.summary_in(name, labels, TrendView { hist: h, exact: None }, secs);
    }

    /// Summary samples of a trend, values converted by `unit`: a custom
    /// trend's exact sum, and quantiles inside its exact extremes.
    fn summary_in(&mut self, name: &str, labels: Labels, t: TrendView<'_>, unit: fn(f64) -> f64) {
        let h = t.hist;
        for q in QUANTILES {
            let qs = q.to_string();
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("quantile", &qs));
            let v = if h.is_empty() { f64::NAN } else { unit(t.quantile(q) as f64) };
            self.sample(name, &l, v);
        }
        let sum = t.exact.map_or_else(|| h.mean() * h.len() as f64, |e| e.sum as f64);
        self.sample(&format!("{name}_sum"), labels, unit(sum));
        self.sample(&format!("{name}_count"), labels, h.len() as f64);
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Starting => "starting",
        Phase::Running => "running",
        Phase::Stopping => "stopping",
        Phase::Done => "done",
    }
}

const AGENT_STATES: [AgentState; 5] =
    [AgentState::Connected, AgentState::Ready, AgentState::Running, AgentState::Done, AgentState::Lost];

/// Renders the live state in the Prometheus text format.
pub fn prometheus_text(state: &LiveState) -> String {
    let mut e = Exposition { out: String::with_capacity(16 * 1024) };
    let total: &Snapshot = &state.total;
    let names = total.request_names();
    let by_name: Vec<_> = names.iter().map(|n| (n.clone(), total.by_name(n))).collect();

    // === run ===
    e.family("stampede_run_info", "gauge", "Always 1; labels describe the run.").sample(
        "stampede_run_info",
        &[("scenario_file", &state.scenario_file)],
        1.0,
    );
    e.family("stampede_run_phase", "gauge", "1 for the phase the run is in, 0 for the others.");
    for p in [Phase::Starting, Phase::Running, Phase::Stopping, Phase::Done] {
        e.sample("stampede_run_phase", &[("phase", phase_name(p))], f64::from(u8::from(state.phase == p)));
    }
    e.family("stampede_run_paused", "gauge", "1 while the run is paused.").sample(
        "stampede_run_paused",
        &[],
        f64::from(u8::from(state.paused)),
    );
    e.family("stampede_run_elapsed_seconds", "gauge", "Time since the load started.").sample(
        "stampede_run_elapsed_seconds",
        &[],
        state.elapsed.as_secs_f64(),
    );
    e.family("stampede_run_planned_seconds", "gauge", "Planned length of the run (graceful stops excluded).").sample(
        "stampede_run_planned_seconds",
        &[],
        state.planned.as_secs_f64(),
    );

    // === VUs ===
    e.family("stampede_vus", "gauge", "Virtual users running, by scenario.");
    for (s, st) in &total.scenarios {
        e.sample("stampede_vus", &[("scenario", s)], st.vus as f64);
    }
    e.family("stampede_vus_max", "gauge", "Virtual users allocated so far (the most at once), by scenario.");
    for (s, st) in &total.scenarios {
        e.sample("stampede_vus_max", &[("scenario", s)], st.vus_max as f64);
    }
    e.family("stampede_vus_planned_max", "gauge", "Most virtual users the plan can run at once.").sample(
        "stampede_vus_planned_max",
        &[],
        state.vus_max_planned as f64,
    );

    // === HTTP ===
    e.family(
        "stampede_http_requests_total",
        "counter",
        "HTTP requests completed, by scenario, request name, method and status (none: no response).",
    );
    for (k, r) in &total.requests {
        let status = if k.status == 0 { "none".to_string() } else { k.status.to_string() };
        e.sample(
            "stampede_http_requests_total",
            &[("scenario", &k.scenario), ("name", &k.name), ("method", k.method.as_str()), ("status", &status)],
            r.count() as f64,
        );
    }
    e.family(
        "stampede_http_request_errors_total",
        "counter",
        "Failed HTTP requests, by request name and error kind (k6: status >= 400 or no response).",
    );
    for (n, r) in &by_name {
        for kind in ErrorKind::ALL {
            let c = r.errors[kind.index()];
            if c > 0 {
                e.sample("stampede_http_request_errors_total", &[("name", n), ("kind", kind.as_str())], c as f64);
            }
        }
    }
    let last = state.last_interval.all_requests();
    let last_secs = state.last_interval_secs.max(1e-3);
    e.family("stampede_http_requests_per_second", "gauge", "HTTP requests per second over the latest interval.")
        .sample("stampede_http_requests_per_second", &[], last.count() as f64 / last_secs);
    e.family("stampede_http_req_duration_seconds", "summary", "HTTP request duration (k6 http_req_duration: sending + waiting + receiving) since the start, by request name; exact HDR quantiles.");
    for (n, r) in &by_name {
        e.summary("stampede_http_req_duration_seconds", &[("name", n)], r.duration());
    }
    // A gauge, not a summary (its count restarts every interval), so the
    // label is `percentile` (50, 90, 95, 99, 99.9): `quantile` belongs to summaries.
    e.family(
        "stampede_http_req_duration_interval_seconds",
        "gauge",
        "HTTP request duration percentiles over the latest interval, all requests; NaN when it had none.",
    );
    for q in QUANTILES {
        let p = format!("{}", (q * 1000.0).round() / 10.0);
        let v = if last.duration().is_empty() { f64::NAN } else { secs(last.duration().value_at_quantile(q) as f64) };
        e.sample("stampede_http_req_duration_interval_seconds", &[("percentile", &p)], v);
    }
    e.family("stampede_data_received_bytes_total", "counter", "Bytes received (headers and bodies), by request name.");
    for (n, r) in &by_name {
        e.sample("stampede_data_received_bytes_total", &[("name", n)], r.data_received() as f64);
    }
    e.family("stampede_data_sent_bytes_total", "counter", "Bytes sent, by request name.");
    for (n, r) in &by_name {
        e.sample("stampede_data_sent_bytes_total", &[("name", n)], r.data_sent() as f64);
    }

    // === CDN ===
    e.family(
        "stampede_cdn_responses_total",
        "counter",
        "Responses by what the CDN said it did (hit, miss, unknown), by request name.",
    );
    for (n, r) in &by_name {
        for (c, v) in [("hit", r.cdn_hits()), ("miss", r.cdn_misses()), ("unknown", r.cdn_unknown())] {
            e.sample("stampede_cdn_responses_total", &[("name", n), ("cache", c)], v as f64);
        }
    }
    e.family(
        "stampede_cdn_body_bytes_total",
        "counter",
        "Response body bytes of CDN hits and misses, by request name.",
    );
    for (n, r) in &by_name {
        for (c, v) in [("hit", r.cdn_hit_bytes()), ("miss", r.cdn_miss_bytes())] {
            e.sample("stampede_cdn_body_bytes_total", &[("name", n), ("cache", c)], v as f64);
        }
    }
    e.family(
        "stampede_cdn_hit_ratio",
        "gauge",
        "CDN hits / responses classified hit or miss since the start, by request name (absent while none was).",
    );
    for (n, r) in &by_name {
        let den = r.cdn_hits() + r.cdn_misses();
        if den > 0 {
            e.sample("stampede_cdn_hit_ratio", &[("name", n)], r.cdn_hits() as f64 / den as f64);
        }
    }

    // === iterations ===
    e.family("stampede_iterations_total", "counter", "Completed iterations, by scenario.");
    for (s, st) in &total.scenarios {
        e.sample("stampede_iterations_total", &[("scenario", s)], st.iterations as f64);
    }
    e.family(
        "stampede_dropped_iterations_total",
        "counter",
        "Arrival-rate iterations that could not start (no free VU), by scenario.",
    );
    for (s, st) in &total.scenarios {
        e.sample("stampede_dropped_iterations_total", &[("scenario", s)], st.dropped_iterations as f64);
    }
    e.family("stampede_interrupted_iterations_total", "counter", "Iterations cut short by a stop, by scenario.");
    for (s, st) in &total.scenarios {
        e.sample("stampede_interrupted_iterations_total", &[("scenario", s)], st.interrupted_iterations as f64);
    }
    e.family("stampede_iteration_duration_seconds", "summary", "Iteration duration since the start, by scenario.");
    for (s, st) in &total.scenarios {
        e.summary("stampede_iteration_duration_seconds", &[("scenario", s)], &st.iteration_duration);
    }
    e.family(
        "stampede_intended_latency_seconds",
        "summary",
        "Open-model scenarios: scheduled start to end of iteration (coordinated-omission free), by scenario.",
    );
    for (s, st) in total.scenarios.iter().filter(|(_, st)| !st.intended_latency.is_empty()) {
        e.summary("stampede_intended_latency_seconds", &[("scenario", s)], &st.intended_latency);
    }
    e.family(
        "stampede_scheduling_lag_seconds",
        "summary",
        "Open-model scenarios: scheduled start to actual start (the load generator's own lag), by scenario.",
    );
    for (s, st) in total.scenarios.iter().filter(|(_, st)| !st.scheduling_lag.is_empty()) {
        e.summary("stampede_scheduling_lag_seconds", &[("scenario", s)], &st.scheduling_lag);
    }

    // === custom metrics ===
    custom_metrics(&mut e, total);

    // === checks and thresholds ===
    e.family("stampede_checks_total", "counter", "Check evaluations, by scenario, check and result (pass, fail).");
    // Merged over groups and tags: one sample per label set.
    let mut checks: BTreeMap<(&str, &str), (u64, u64)> = BTreeMap::new();
    for (k, c) in &total.checks {
        let e = checks.entry((&k.scenario, &k.check)).or_default();
        e.0 += c.passes;
        e.1 += c.fails;
    }
    for ((scenario, check), (passes, fails)) in checks {
        for (res, v) in [("pass", passes), ("fail", fails)] {
            e.sample("stampede_checks_total", &[("scenario", scenario), ("check", check), ("result", res)], v as f64);
        }
    }
    e.family("stampede_threshold_passed", "gauge", "1 while a threshold holds on the data so far, 0 once it fails.");
    for t in &state.thresholds {
        e.sample(
            "stampede_threshold_passed",
            &[("metric", &t.metric), ("threshold", &t.threshold)],
            f64::from(u8::from(t.passed)),
        );
    }

    // === agents ===
    e.family("stampede_agents", "gauge", "Load generators, by state.");
    for s in AGENT_STATES {
        let n = state.agents.iter().filter(|a| a.state == s).count();
        e.sample("stampede_agents", &[("state", s.as_str())], n as f64);
    }
    e.family(
        "stampede_agent_up",
        "gauge",
        "1 while a load generator is connected (not lost), with its address and state.",
    );
    for a in &state.agents {
        let up = f64::from(u8::from(a.state != AgentState::Lost));
        e.sample("stampede_agent_up", &[("agent", &a.name), ("address", &a.address), ("state", a.state.as_str())], up);
    }
    e.family("stampede_agent_vus", "gauge", "Virtual users running on a load generator.");
    for a in &state.agents {
        e.sample("stampede_agent_vus", &[("agent", &a.name)], a.vus as f64);
    }
    e.family(
        "stampede_agent_requests_per_second",
        "gauge",
        "Requests per second of a load generator in its latest interval.",
    );
    for a in &state.agents {
        e.sample("stampede_agent_requests_per_second", &[("agent", &a.name)], a.rps);
    }
    e.family("stampede_agent_requests_total", "counter", "Requests a load generator delivered since the start.");
    for a in &state.agents {
        e.sample("stampede_agent_requests_total", &[("agent", &a.name)], a.requests as f64);
    }
    e.family(
        "stampede_agent_scheduling_lag_p99_seconds",
        "gauge",
        "p99 of a load generator's open-model scheduling lag in its latest interval.",
    );
    for a in &state.agents {
        if let Some(ms) = a.lag_p99_ms {
            e.sample("stampede_agent_scheduling_lag_p99_seconds", &[("agent", &a.name)], ms / 1000.0);
        }
    }
    e.family(
        "stampede_agent_cpu_usage_cores",
        "gauge",
        "CPU used by a load generator's process in its latest interval, in cores (1 = one core busy).",
    );
    for a in &state.agents {
        if let Some(c) = a.cpu_percent {
            e.sample("stampede_agent_cpu_usage_cores", &[("agent", &a.name)], c / 100.0);
        }
    }
    e.family("stampede_agent_heartbeat_age_seconds", "gauge", "Time since a load generator was last heard from.");
    for a in &state.agents {
        e.sample(
            "stampede_agent_heartbeat_age_seconds",
            &[("agent", &a.name)],
            a.last_heartbeat.elapsed().as_secs_f64(),
        );
    }
    e.out
}

/// Custom metrics (`[metrics.NAME]`): one family per kind, the metric in a
/// `metric` label (so no declared name can collide with another family),
/// by scenario; values in the metric's unit (time trends in seconds).
fn custom_metrics(e: &mut Exposition, total: &Snapshot) {
    use stampede_metrics::MetricValue;
    use stampede_metrics::custom::{SCALE, from_fixed};
    if total.metrics.is_empty() {
        return;
    }
    let by = total.custom_by(|k| (&*k.metric, &*k.scenario));
    let units = |v: f64| v / SCALE;
    let family = |e: &mut Exposition, name: &str, kind: &str, help: &str, pick: &dyn Fn(&MetricValue) -> bool| {
        if by.values().any(|m| pick(&m.value)) {
            e.family(name, kind, help);
        }
    };
    family(
        e,
        "stampede_custom_counter_total",
        "counter",
        "Custom counters: the sum added, by metric and scenario.",
        &|v| matches!(v, MetricValue::Counter(_)),
    );
    for ((metric, scenario), m) in &by {
        if let MetricValue::Counter(sum) = m.value {
            e.sample("stampede_custom_counter_total", &[("metric", metric), ("scenario", scenario)], units(sum as f64));
        }
    }
    family(e, "stampede_custom_gauge", "gauge", "Custom gauges: the last value set, by metric and scenario.", &|v| {
        matches!(v, MetricValue::Gauge(Some(_)))
    });
    for ((metric, scenario), m) in &by {
        if let MetricValue::Gauge(Some(g)) = m.value {
            e.sample("stampede_custom_gauge", &[("metric", metric), ("scenario", scenario)], from_fixed(g.last));
        }
    }
    family(
        e,
        "stampede_custom_rate",
        "gauge",
        "Custom rates: non-zero samples / samples since the start, by metric and scenario.",
        &|v| matches!(v, MetricValue::Rate { total, .. } if *total > 0),
    );
    for ((metric, scenario), m) in &by {
        if let MetricValue::Rate { trues, total } = m.value
            && total > 0
        {
            e.sample(
                "stampede_custom_rate",
                &[("metric", metric), ("scenario", scenario)],
                trues as f64 / total as f64,
            );
        }
    }
    for (time, name, help) in [
        (
            true,
            "stampede_custom_trend_seconds",
            "Custom time trends since the start, by metric and scenario; exact HDR quantiles.",
        ),
        (
            false,
            "stampede_custom_trend",
            "Custom trends (in their own unit) since the start, by metric and scenario; exact HDR quantiles.",
        ),
    ] {
        family(e, name, "summary", help, &|v| matches!(v, MetricValue::Trend { time: t, .. } if *t == time));
        for ((metric, scenario), m) in &by {
            if let MetricValue::Trend { hist, time: t, exact } = &m.value
                && *t == time
            {
                e.summary_in(
                    name,
                    &[("metric", metric), ("scenario", scenario)],
                    TrendView { hist, exact: Some(exact) },
                    if time { secs } else { units },
                );
            }
        }
    }
    e.family(
        "stampede_custom_skipped_total",
        "counter",
        "Custom metric samples not recorded (no value, not a number, out of range), by metric.",
    );
    let mut skipped: BTreeMap<&str, u64> = BTreeMap::new();
    for ((metric, _), m) in &by {
        *skipped.entry(metric).or_default() += m.skipped;
    }
    for (metric, n) in skipped {
        e.sample("stampede_custom_skipped_total", &[("metric", metric)], n as f64);
    }
}

fn respond(method: &Method, path: &str, state: &Shared) -> Response<Full<Bytes>> {
    let text = |status: StatusCode, body: &'static str| {
        Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("static response")
    };
    match (method, path) {
        (&Method::GET | &Method::HEAD, "/metrics") => {
            let body = {
                let guard = state.lock().unwrap_or_else(|p| p.into_inner());
                prometheus_text(&guard)
            };
            Response::builder()
                .header(header::CONTENT_TYPE, CONTENT_TYPE)
                .body(Full::new(Bytes::from(body)))
                .expect("metrics response")
        }
        (_, "/metrics") => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "only GET /metrics\n");
            r.headers_mut().insert(header::ALLOW, http::HeaderValue::from_static("GET, HEAD"));
            r
        }
        (&Method::GET, "/") => text(StatusCode::OK, "stampede coordinator: Prometheus metrics at /metrics\n"),
        _ => text(StatusCode::NOT_FOUND, "not found: metrics are at /metrics\n"),
    }
}

/// Serves `GET /metrics` on `listener` until `shutdown` resolves; then stops
/// accepting and closes open connections (Prometheus keeps them alive).
pub async fn serve_metrics(
    listener: TcpListener,
    state: Shared,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    tokio::pin!(shutdown);
    // One task per connection; kept so that shutdown can end idle keep-alive ones.
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_fatal(&e) => return Err(e),
                Err(_) => {
                    // Out of descriptors or a connection reset before accept:
                    // back off briefly instead of spinning.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let state = Arc::clone(&state);
        connections.spawn(async move {
            let service = service_fn(move |req: hyper::Request<Incoming>| {
                let resp = respond(req.method(), req.uri().path(), &state);
                async move { Ok::<_, Infallible>(resp) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
    connections.shutdown().await;
    Ok(())
}

fn is_fatal(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::InvalidInput | std::io::ErrorKind::PermissionDenied)
}
