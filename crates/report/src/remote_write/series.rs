//! The run as Prometheus series: every interval's snapshot is added to
//! cumulative series (counters, gauges and native histograms, as Prometheus
//! expects of counters: totals since the start), and every series is written
//! as one sample at the interval's end.
//!
//! Names follow k6's remote-write output with Stampede's prefix (k6's
//! `k6_http_reqs_total` is `stampede_http_reqs_total`; a trend of times is
//! `…_seconds`), so a k6 dashboard ports by changing the prefix. The
//! catalogue is in `docs/outputs.md`.

use std::collections::BTreeMap;

use stampede_metrics::custom::{MetricValue, SCALE, from_fixed};
use stampede_metrics::hist::Histogram;
use stampede_metrics::shard::RequestTrend;
use stampede_metrics::{ErrorKind, Snapshot};

use super::wire::{self, Label, MetricMetadata, MetricType};

/// The zero bucket's half-width (what Prometheus' client libraries use):
/// only exact zeros fall in it, as durations are whole microseconds.
pub const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// A native histogram being accumulated: exponential buckets of one schema.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeHistogram {
    schema: i32,
    count: u64,
    sum: f64,
    zero: u64,
    /// Bucket index → count; bucket `i` holds values in
    /// `(2^((i-1)·2^-schema), 2^(i·2^-schema)]`.
    buckets: BTreeMap<i32, u64>,
}

impl NativeHistogram {
    pub fn new(schema: i32) -> NativeHistogram {
        NativeHistogram { schema, count: 0, sum: 0.0, zero: 0, buckets: BTreeMap::new() }
    }

    /// The index of the bucket holding `v` (> 0).
    pub fn index(schema: i32, v: f64) -> i32 {
        // Exact at the boundaries that matter most (powers of two): the
        // mantissa of frexp is in [0.5, 1), so log2(v) = exp + log2(frac).
        let (frac, exp) = frexp(v);
        let scale = f64::from(1u32 << schema);
        if frac == 0.5 {
            // v is a power of two: the upper boundary of its bucket.
            return (exp - 1) << schema;
        }
        ((f64::from(exp) + frac.log2()) * scale).ceil() as i32
    }

    /// Adds an HDR histogram whose values are `unit` of a second (1e-6 for
    /// microseconds): each recorded value goes to the bucket that holds the
    /// value HDR reports for it (the top of its HDR bucket, as quantiles do).
    pub fn add_hdr(&mut self, h: &Histogram, unit: f64) {
        for v in h.iter_recorded() {
            let n = v.count_at_value();
            let x = h.highest_equivalent(v.value_iterated_to()) as f64 * unit;
            self.add(x, n);
        }
    }

    /// Adds `n` observations of `x`.
    pub fn add(&mut self, x: f64, n: u64) {
        if n == 0 {
            return;
        }
        self.count += n;
        self.sum += x * n as f64;
        if x <= ZERO_THRESHOLD {
            self.zero += n;
        } else {
            *self.buckets.entry(Self::index(self.schema, x)).or_insert(0) += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The wire form: spans of consecutive buckets and delta-coded counts.
    pub fn to_wire(&self, timestamp: i64) -> wire::Histogram {
        let mut spans: Vec<wire::BucketSpan> = Vec::new();
        let mut deltas = Vec::with_capacity(self.buckets.len());
        let (mut prev_index, mut prev_count) = (None::<i32>, 0u64);
        for (&i, &c) in &self.buckets {
            match (prev_index, spans.last_mut()) {
                (Some(p), Some(span)) if i == p + 1 => span.length += 1,
                (Some(p), _) => spans.push(wire::BucketSpan { offset: i - p - 1, length: 1 }),
                (None, _) => spans.push(wire::BucketSpan { offset: i, length: 1 }),
            }
            deltas.push(c as i64 - prev_count as i64);
            (prev_index, prev_count) = (Some(i), c);
        }
        wire::Histogram {
            count_int: self.count,
            sum: self.sum,
            schema: self.schema,
            zero_threshold: ZERO_THRESHOLD,
            zero_count_int: self.zero,
            positive_spans: spans,
            positive_deltas: deltas,
            reset_hint: wire::ResetHint::Unknown as i32,
            timestamp,
        }
    }
}

/// `v = frac · 2^exp` with `frac` in [0.5, 1) (C's frexp), for finite `v > 0`.
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale up first.
        let (f, e) = frexp(v * f64::from(1u32 << 31) * f64::from(1u32 << 23));
        return (f, e - 54);
    }
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (1022 << 52));
    (frac, exp - 1022)
}

/// The relative width of a bucket of `schema`: any quantile read from the
/// histogram is within this fraction of the true value.
pub fn relative_error(schema: i32) -> f64 {
    2f64.powf(2f64.powi(-schema)) - 1.0
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Counter(f64),
    Gauge(f64),
    Histogram(NativeHistogram),
}

/// One metric family: its name, kind and help (sent as metadata).
#[derive(Debug, Clone, Copy)]
pub struct Family {
    pub name: &'static str,
    pub kind: MetricType,
    pub help: &'static str,
}

macro_rules! families {
    ($($id:ident $name:literal $kind:ident $help:literal;)*) => {
        $(const $id: Family = Family { name: $name, kind: MetricType::$kind, help: $help };)*
        /// Every built-in family, for the metadata and the docs.
        pub const FAMILIES: &[Family] = &[$($id),*];
    };
}

families! {
    HTTP_REQS "stampede_http_reqs_total" Counter "HTTP requests (k6 http_reqs).";
    HTTP_REQ_FAILED "stampede_http_req_failed_total" Counter "Failed HTTP requests (k6 http_req_failed's trues).";
    HTTP_REQ_ERRORS "stampede_http_req_errors_total" Counter "Failed HTTP requests by error kind.";
    DATA_SENT "stampede_data_sent_total" Counter "Bytes sent (k6 data_sent).";
    DATA_RECEIVED "stampede_data_received_total" Counter "Bytes received (k6 data_received).";
    CDN_RESPONSES "stampede_cdn_responses_total" Counter "Responses by CDN cache outcome (hit, miss, unknown).";
    HTTP_REQ_DURATION "stampede_http_req_duration_seconds" Histogram "k6 http_req_duration: sending + waiting + receiving.";
    HTTP_REQ_BLOCKED "stampede_http_req_blocked_seconds" Histogram "k6 http_req_blocked: waiting for a free connection.";
    HTTP_REQ_CONNECTING "stampede_http_req_connecting_seconds" Histogram "k6 http_req_connecting: TCP connect.";
    HTTP_REQ_TLS "stampede_http_req_tls_handshaking_seconds" Histogram "k6 http_req_tls_handshaking: TLS handshake.";
    HTTP_REQ_SENDING "stampede_http_req_sending_seconds" Histogram "k6 http_req_sending: writing the request.";
    HTTP_REQ_WAITING "stampede_http_req_waiting_seconds" Histogram "k6 http_req_waiting: time to first byte.";
    HTTP_REQ_RECEIVING "stampede_http_req_receiving_seconds" Histogram "k6 http_req_receiving: reading the response.";
    ITERATIONS "stampede_iterations_total" Counter "Completed iterations (k6 iterations).";
    DROPPED_ITERATIONS "stampede_dropped_iterations_total" Counter "Arrival-rate iterations that could not start (k6 dropped_iterations).";
    INTERRUPTED_ITERATIONS "stampede_interrupted_iterations_total" Counter "Iterations cut short by a stop.";
    ITERATION_DURATION "stampede_iteration_duration_seconds" Histogram "k6 iteration_duration.";
    INTENDED_LATENCY "stampede_intended_latency_seconds" Histogram "Open model: scheduled start to end of iteration (free of coordinated omission).";
    SCHEDULING_LAG "stampede_scheduling_lag_seconds" Histogram "Open model: scheduled start to actual start.";
    VUS "stampede_vus" Gauge "Virtual users running (k6 vus).";
    VUS_MAX "stampede_vus_max" Gauge "Virtual users allocated (k6 vus_max).";
    CHECKS "stampede_checks_total" Counter "Check evaluations by result (pass, fail); k6 checks is their pass rate.";
    GROUP_DURATION "stampede_group_duration_seconds" Histogram "k6 group_duration.";
}

fn trend_family(t: RequestTrend) -> Family {
    match t {
        RequestTrend::Duration => HTTP_REQ_DURATION,
        RequestTrend::Blocked => HTTP_REQ_BLOCKED,
        RequestTrend::Connecting => HTTP_REQ_CONNECTING,
        RequestTrend::TlsHandshaking => HTTP_REQ_TLS,
        RequestTrend::Sending => HTTP_REQ_SENDING,
        RequestTrend::Waiting => HTTP_REQ_WAITING,
        RequestTrend::Receiving => HTTP_REQ_RECEIVING,
    }
}

/// A label name Prometheus accepts: `[a-zA-Z_][a-zA-Z0-9_]*` (other
/// characters become `_`).
pub fn label_name(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

type Key = Vec<Label>;

/// All series of a run, cumulative.
#[derive(Debug)]
pub struct Series {
    schema: i32,
    /// Labels every series carries (`testid`).
    common: Vec<Label>,
    series: BTreeMap<Key, Value>,
    /// Custom metrics' families (name, kind, help), sent as metadata.
    custom: BTreeMap<String, MetricType>,
}

impl Series {
    pub fn new(schema: i32, common: Vec<(String, String)>) -> Series {
        Series {
            schema,
            common: common.into_iter().map(|(name, value)| Label { name, value }).collect(),
            series: BTreeMap::new(),
            custom: BTreeMap::new(),
        }
    }

    fn key(&self, name: &str, labels: &[(&str, &str)], tags: &[(std::sync::Arc<str>, std::sync::Arc<str>)]) -> Key {
        let mut key: Key = Vec::with_capacity(1 + labels.len() + tags.len() + self.common.len());
        key.push(Label { name: "__name__".into(), value: name.into() });
        key.extend(self.common.iter().cloned());
        for (n, v) in labels {
            key.push(Label { name: (*n).into(), value: (*v).into() });
        }
        for (n, v) in tags {
            let n = label_name(n);
            // A custom tag never overrides a built-in label.
            if !key.iter().any(|l| l.name == n) {
                key.push(Label { name: n, value: v.to_string() });
            }
        }
        key.sort_by(|a, b| a.name.cmp(&b.name));
        key
    }

    fn counter(&mut self, key: Key, add: f64) {
        if let Value::Counter(c) = self.series.entry(key).or_insert(Value::Counter(0.0)) {
            *c += add;
        }
    }

    fn gauge(&mut self, key: Key, v: f64) {
        self.series.insert(key, Value::Gauge(v));
    }

    fn histogram(&mut self, key: Key, h: &Histogram, unit: f64) {
        let schema = self.schema;
        if let Value::Histogram(n) =
            self.series.entry(key).or_insert_with(|| Value::Histogram(NativeHistogram::new(schema)))
        {
            n.add_hdr(h, unit);
        }
    }

    /// Adds one interval's measurements.
    pub fn absorb(&mut self, snap: &Snapshot) {
        const US: f64 = 1e-6;
        for (k, r) in &snap.requests {
            let status = k.status.to_string();
            let labels: [(&str, &str); 5] = [
                ("scenario", &k.scenario),
                ("name", &k.name),
                ("method", k.method.as_str()),
                ("status", &status),
                ("group", &k.group),
            ];
            let key = |s: &Self, f: Family| s.key(f.name, &labels, &k.tags);
            self.counter(key(self, HTTP_REQS), r.count() as f64);
            self.counter(key(self, HTTP_REQ_FAILED), r.failed() as f64);
            self.counter(key(self, DATA_SENT), r.data_sent() as f64);
            self.counter(key(self, DATA_RECEIVED), r.data_received() as f64);
            for t in RequestTrend::ALL {
                self.histogram(key(self, trend_family(t)), &r[t], US);
            }
            for kind in ErrorKind::ALL {
                let n = r.errors[kind.index()];
                if n > 0 {
                    let mut l = labels.to_vec();
                    l.push(("kind", kind.as_str()));
                    self.counter(self.key(HTTP_REQ_ERRORS.name, &l, &k.tags), n as f64);
                }
            }
            for (cache, n) in [("hit", r.cdn_hits()), ("miss", r.cdn_misses()), ("unknown", r.cdn_unknown())] {
                if n > 0 {
                    let mut l = labels.to_vec();
                    l.push(("cache", cache));
                    self.counter(self.key(CDN_RESPONSES.name, &l, &k.tags), n as f64);
                }
            }
        }
        for (scenario, s) in &snap.scenarios {
            let l = [("scenario", &**scenario)];
            self.counter(self.key(ITERATIONS.name, &l, &[]), s.iterations as f64);
            self.counter(self.key(DROPPED_ITERATIONS.name, &l, &[]), s.dropped_iterations as f64);
            self.counter(self.key(INTERRUPTED_ITERATIONS.name, &l, &[]), s.interrupted_iterations as f64);
            self.gauge(self.key(VUS.name, &l, &[]), s.vus as f64);
            self.gauge(self.key(VUS_MAX.name, &l, &[]), s.vus_max as f64);
            self.histogram(self.key(ITERATION_DURATION.name, &l, &[]), &s.iteration_duration, US);
            if !s.intended_latency.is_empty() {
                self.histogram(self.key(INTENDED_LATENCY.name, &l, &[]), &s.intended_latency, US);
                self.histogram(self.key(SCHEDULING_LAG.name, &l, &[]), &s.scheduling_lag, US);
            }
        }
        for (k, c) in &snap.checks {
            for (result, n) in [("pass", c.passes), ("fail", c.fails)] {
                let l = [("scenario", &*k.scenario), ("group", &*k.group), ("check", &*k.check), ("result", result)];
                self.counter(self.key(CHECKS.name, &l, &k.tags), n as f64);
            }
        }
        for (k, h) in &snap.groups {
            let l = [("scenario", &*k.scenario), ("group", &*k.group)];
            self.histogram(self.key(GROUP_DURATION.name, &l, &[]), h, US);
        }
        for (k, m) in &snap.metrics {
            let l = [("scenario", &*k.scenario), ("name", &*k.name), ("group", &*k.group)];
            let base = label_name(&k.metric);
            match &m.value {
                MetricValue::Counter(sum) => {
                    let name = format!("stampede_{base}_total");
                    self.custom.insert(name.clone(), MetricType::Counter);
                    self.counter(self.key(&name, &l, &k.tags), *sum as f64 / SCALE);
                }
                MetricValue::Gauge(g) => {
                    if let Some(g) = g {
                        let name = format!("stampede_{base}");
                        self.custom.insert(name.clone(), MetricType::Gauge);
                        self.gauge(self.key(&name, &l, &k.tags), from_fixed(g.last));
                    }
                }
                MetricValue::Rate { trues, total } => {
                    // Counters, not k6's precomputed `_rate` gauge: a ratio
                    // of sums aggregates across series, a gauge of ratios does not.
                    for (suffix, n) in [("trues_total", *trues), ("total", *total)] {
                        let name = format!("stampede_{base}_{suffix}");
                        self.custom.insert(name.clone(), MetricType::Counter);
                        self.counter(self.key(&name, &l, &k.tags), n as f64);
                    }
                }
                MetricValue::Trend { hist, time, .. } => {
                    // Thousandths of the unit; a time trend's unit is the ms.
                    let (name, unit) = if *time {
                        (format!("stampede_{base}_seconds"), 1e-6)
                    } else {
                        (format!("stampede_{base}"), 1.0 / SCALE)
                    };
                    self.custom.insert(name.clone(), MetricType::Histogram);
                    self.histogram(self.key(&name, &l, &k.tags), hist, unit);
                }
            }
        }
    }

    /// Every series as it stands, stamped `timestamp` (ms since the epoch).
    pub fn write_request(&self, timestamp: i64) -> wire::WriteRequest {
        let timeseries = self
            .series
            .iter()
            .map(|(labels, v)| {
                let (samples, histograms) = match v {
                    Value::Counter(x) | Value::Gauge(x) => (vec![wire::Sample { value: *x, timestamp }], Vec::new()),
                    Value::Histogram(h) => (Vec::new(), vec![h.to_wire(timestamp)]),
                };
                wire::TimeSeries { labels: labels.clone(), samples, histograms }
            })
            .collect();
        let metadata = FAMILIES
            .iter()
            .map(|f| (f.name.to_string(), f.kind, f.help.to_string()))
            .chain(self.custom.iter().map(|(n, k)| (n.clone(), *k, "A custom metric of the scenario.".to_string())))
            .map(|(name, kind, help)| MetricMetadata {
                r#type: kind as i32,
                unit: if name.ends_with("_seconds") { "seconds".into() } else { String::new() },
                metric_family_name: name,
                help,
            })
            .collect();
        wire::WriteRequest { timeseries, metadata }
    }

    /// Samples a write request of this state carries (one per series).
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_indexes_follow_the_schema() {
        // Schema 0: buckets (0.5, 1], (1, 2], (2, 4] are 0, 1, 2.
        assert_eq!(NativeHistogram::index(0, 1.0), 0);
        assert_eq!(NativeHistogram::index(0, 1.5), 1);
        assert_eq!(NativeHistogram::index(0, 2.0), 1);
        assert_eq!(NativeHistogram::index(0, 2.0001), 2);
        assert_eq!(NativeHistogram::index(0, 0.5), -1);
        // Schema 3: 8 buckets per power of two; 0.001 s sits in
        // (2^(-80/8), 2^(-79/8)] = (0.000977, 0.001065].
        assert_eq!(NativeHistogram::index(3, 0.001), -79);
        for schema in 0..=8 {
            for v in [1e-6, 3.7e-4, 0.0123, 0.25, 1.0, 7.5, 1234.5] {
                let i = NativeHistogram::index(schema, v);
                let base = 2f64.powf(2f64.powi(-schema));
                let (lo, hi) = (base.powi(i - 1), base.powi(i));
                assert!(lo < v * (1.0 + 1e-12) && v <= hi * (1.0 + 1e-12), "schema {schema} v {v}: ({lo}, {hi}]");
            }
        }
    }

    #[test]
    fn spans_and_deltas_encode_the_buckets() {
        let mut h = NativeHistogram::new(0);
        h.add(1.0, 2); // bucket 0
        h.add(1.5, 3); // bucket 1
        h.add(6.0, 1); // bucket 3
        h.add(0.0, 4); // zero bucket
        let w = h.to_wire(7);
        assert_eq!(w.count_int, 10);
        assert_eq!(w.zero_count_int, 4);
        assert_eq!(
            w.positive_spans,
            vec![wire::BucketSpan { offset: 0, length: 2 }, wire::BucketSpan { offset: 1, length: 1 }]
        );
        assert_eq!(w.positive_deltas, vec![2, 1, -2]);
        assert!((w.sum - (2.0 + 4.5 + 6.0)).abs() < 1e-12);
    }

    #[test]
    fn relative_error_of_the_schemas() {
        assert!((relative_error(5) - 0.02190).abs() < 1e-4);
        assert!((relative_error(8) - 0.00271).abs() < 1e-5);
    }

    #[test]
    fn label_names_are_valid() {
        assert_eq!(label_name("user-type"), "user_type");
        assert_eq!(label_name("9lives"), "_9lives");
        assert_eq!(label_name(""), "_");
    }
}
