//! Threshold expressions in k6's syntax (`p(95)<500`, `rate<0.01`, `avg<=200`,
//! `count>10`, `value>0`) on a metric or sub-metric selector
//! (`http_req_duration{name:checkout}`), parsed and checked at plan time; the
//! metric catalogue: k6's built-in metrics and the custom metrics a scenario
//! declares (`[metrics.NAME]`, k6's `new Counter('NAME')`).
//!
//! CONTRACT (the metrics crate evaluates these).

use std::sync::Arc;
use std::time::Duration;

/// One threshold: a selector and an expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The selector as written, e.g. `http_req_duration{name:checkout}`.
    pub selector: Arc<str>,
    pub metric: Metric,
    /// Tag filters of a sub-metric, e.g. `[("name", "checkout")]`; tag keys are
    /// validated against `TAG_KEYS` and the plan's custom tag keys.
    pub tags: Vec<(Arc<str>, Arc<str>)>,
    /// The expression as written, e.g. `p(95)<800`.
    pub source: Arc<str>,
    pub aggregation: Aggregation,
    pub comparison: Comparison,
    /// Durations in milliseconds (k6's unit for thresholds on time trends).
    pub value: f64,
    pub abort_on_fail: bool,
    pub delay_abort_eval: Duration,
}

/// Tag keys a selector may filter on.
pub const TAG_KEYS: &[&str] = &["name", "method", "status", "scenario", "check", "group"];

/// Tag keys a custom metric's samples carry (besides the plan's custom tag
/// keys): the step's request name, its scenario and its group.
pub const CUSTOM_METRIC_TAG_KEYS: &[&str] = &["name", "scenario", "group"];

/// k6 built-in metrics Stampede does not measure (WebSocket, gRPC): a custom
/// metric may not take their names either, so a name keeps k6's meaning.
pub const K6_OTHER_BUILTINS: &[&str] = &[
    "ws_connecting",
    "ws_msgs_received",
    "ws_msgs_sent",
    "ws_ping",
    "ws_session_duration",
    "ws_sessions",
    "grpc_req_duration",
    "grpc_streams",
    "grpc_streams_msgs_received",
    "grpc_streams_msgs_sent",
];

/// The largest magnitude a custom metric sample may have (10^12 of its
/// unit). Samples are kept in thousandths of their unit (see
/// `stampede_metrics::custom`), so this keeps every one, and the sum of a
/// counter over years of intervals, inside 64-bit integers.
pub const MAX_CUSTOM_VALUE: f64 = 1e12;

/// A metric a scenario declares (`[metrics.NAME] kind = "counter"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomMetric {
    pub name: Arc<str>,
    pub kind: MetricKind,
    /// A trend of durations in milliseconds (k6's `isTime`): summaries and
    /// threshold messages show it in ms. Always false for other kinds.
    pub time: bool,
}

impl MetricKind {
    /// Whether a sample value can be recorded in a metric of this kind:
    /// finite, at most [`MAX_CUSTOM_VALUE`] in magnitude, and not negative for
    /// counters (they only grow) and trends (HDR histograms hold no negative
    /// values). Any finite value is a rate sample (non-zero: true).
    pub fn accepts(self, v: f64) -> bool {
        match self {
            MetricKind::Rate => !v.is_nan(),
            MetricKind::Gauge => v.abs() <= MAX_CUSTOM_VALUE,
            MetricKind::Counter | MetricKind::Trend => (0.0..=MAX_CUSTOM_VALUE).contains(&v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregation {
    Avg,
    Min,
    Max,
    Med,
    /// `p(N)` with `0 <= N <= 100`.
    Percentile(f64),
    Count,
    /// For Rate metrics: the fraction of non-zero samples; for Counters: per second.
    Rate,
    /// For Gauges: the last value.
    Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl Comparison {
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Comparison::Lt => observed < limit,
            Comparison::Le => observed <= limit,
            Comparison::Gt => observed > limit,
            Comparison::Ge => observed >= limit,
            Comparison::Eq => observed == limit,
            Comparison::Ne => observed != limit,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Lt => "<",
            Comparison::Le => "<=",
            Comparison::Gt => ">",
            Comparison::Ge => ">=",
            Comparison::Eq => "==",
            Comparison::Ne => "!=",
        }
    }
}

/// The metric types of k6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MetricKind {
    Counter,
    Gauge,
    Rate,
    Trend,
}

/// Every built-in metric (k6's names, plus Stampede's open-model and CDN
/// metrics), and the custom metrics of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    HttpReqDuration,
    HttpReqBlocked,
    HttpReqConnecting,
    HttpReqTlsHandshaking,
    HttpReqSending,
    HttpReqWaiting,
    HttpReqReceiving,
    HttpReqFailed,
    HttpReqs,
    DataSent,
    DataReceived,
    Iterations,
    IterationDuration,
    DroppedIterations,
    Vus,
    VusMax,
    Checks,
    /// Rate of CDN hits among responses classified hit or miss.
    CdnCacheHitRatio,
    /// Open model: time from an iteration's scheduled start to its end.
    IntendedLatency,
    /// Open model: time from an iteration's scheduled start to its actual start.
    SchedulingLag,
    /// k6's `group_duration`: the time of one run of a group.
    GroupDuration,
    /// A metric the scenario declares (`[metrics.NAME]`).
    Custom(Arc<CustomMetric>),
}

impl Metric {
    /// The built-in metrics.
    pub const ALL: [Metric; 21] = [
        Metric::HttpReqDuration,
        Metric::HttpReqBlocked,
        Metric::HttpReqConnecting,
        Metric::HttpReqTlsHandshaking,
        Metric::HttpReqSending,
        Metric::HttpReqWaiting,
        Metric::HttpReqReceiving,
        Metric::HttpReqFailed,
        Metric::HttpReqs,
        Metric::DataSent,
        Metric::DataReceived,
        Metric::Iterations,
        Metric::IterationDuration,
        Metric::DroppedIterations,
        Metric::Vus,
        Metric::VusMax,
        Metric::Checks,
        Metric::CdnCacheHitRatio,
        Metric::IntendedLatency,
        Metric::SchedulingLag,
        Metric::GroupDuration,
    ];

    /// The metric's name: k6's for a built-in one, the declared one for a
    /// custom metric.
    pub fn name(&self) -> &str {
        match self {
            Metric::Custom(c) => &c.name,
            builtin => builtin.builtin_name().unwrap_or_default(),
        }
    }

    /// The names of the built-in metrics.
    pub fn builtin_names() -> impl Iterator<Item = &'static str> {
        Metric::ALL.into_iter().filter_map(|m| m.builtin_name())
    }

    fn builtin_name(&self) -> Option<&'static str> {
        Some(match self {
            Metric::Custom(_) => return None,
            Metric::HttpReqDuration => "http_req_duration",
            Metric::HttpReqBlocked => "http_req_blocked",
            Metric::HttpReqConnecting => "http_req_connecting",
            Metric::HttpReqTlsHandshaking => "http_req_tls_handshaking",
            Metric::HttpReqSending => "http_req_sending",
            Metric::HttpReqWaiting => "http_req_waiting",
            Metric::HttpReqReceiving => "http_req_receiving",
            Metric::HttpReqFailed => "http_req_failed",
            Metric::HttpReqs => "http_reqs",
            Metric::DataSent => "data_sent",
            Metric::DataReceived => "data_received",
            Metric::Iterations => "iterations",
            Metric::IterationDuration => "iteration_duration",
            Metric::DroppedIterations => "dropped_iterations",
            Metric::Vus => "vus",
            Metric::VusMax => "vus_max",
            Metric::Checks => "checks",
            Metric::CdnCacheHitRatio => "cdn_cache_hit_ratio",
            Metric::IntendedLatency => "intended_latency",
            Metric::SchedulingLag => "scheduling_lag",
            Metric::GroupDuration => "group_duration",
        })
    }

    /// The built-in metric of this name.
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn kind(&self) -> MetricKind {
        use Metric::*;
        match self {
            Custom(c) => c.kind,
            HttpReqDuration
            | HttpReqBlocked
            | HttpReqConnecting
            | HttpReqTlsHandshaking
            | HttpReqSending
            | HttpReqWaiting
            | HttpReqReceiving
            | IterationDuration
            | IntendedLatency
            | SchedulingLag
            | GroupDuration => MetricKind::Trend,
            HttpReqFailed | Checks | CdnCacheHitRatio => MetricKind::Rate,
            HttpReqs | DataSent | DataReceived | Iterations | DroppedIterations => MetricKind::Counter,
            Vus | VusMax => MetricKind::Gauge,
        }
    }

    /// True for trends measured in time (reported and compared in ms): every
    /// built-in trend, and custom trends declared with `time = true`.
    pub fn is_time(&self) -> bool {
        match self {
            Metric::Custom(c) => c.time,
            builtin => builtin.kind() == MetricKind::Trend,
        }
    }
}

// === parsing ===

impl Aggregation {
    /// Whether this aggregation applies to a metric of `kind` (as in k6).
    pub fn fits(self, kind: MetricKind) -> bool {
        use Aggregation::*;
        match kind {
            MetricKind::Trend => matches!(self, Avg | Min | Max | Med | Percentile(_)),
            MetricKind::Rate => matches!(self, Rate),
            MetricKind::Counter => matches!(self, Count | Rate),
            MetricKind::Gauge => matches!(self, Value | Min | Max),
        }
    }
}

impl MetricKind {
    pub fn name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Rate => "rate",
            MetricKind::Trend => "trend",
        }
    }

    /// The aggregations a threshold on this kind may use, for messages.
    pub fn aggregations(self) -> &'static str {
        match self {
            MetricKind::Trend => "avg, min, max, med, p(N)",
            MetricKind::Rate => "rate",
            MetricKind::Counter => "count, rate",
            MetricKind::Gauge => "value, min, max",
        }
    }
}

/// A threshold that does not parse: what is wrong and what is allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub help: String,
}

fn syntax(message: impl Into<String>, help: impl Into<String>) -> SyntaxError {
    SyntaxError { message: message.into(), help: help.into() }
}

/// Tag filters of a sub-metric selector.
pub(crate) type Tags = Vec<(Arc<str>, Arc<str>)>;

/// Parses a selector: `metric` or `metric{key:value,key:value}`. The metric
/// is a built-in one or one of `metrics` (the plan's declared ones). A key is
/// one of `TAG_KEYS` (for a custom metric, `CUSTOM_METRIC_TAG_KEYS`) or of
/// `custom` (the plan's custom tag keys). The value is everything after the
/// first `:`, so `{group:::checkout}` selects the group `::checkout`, as in k6.
pub(crate) fn parse_selector(
    selector: &str,
    custom: &[&str],
    metrics: &[Arc<CustomMetric>],
) -> Result<(Metric, Tags), SyntaxError> {
    let selector = selector.trim();
    let (name, tags_text) = match selector.find('{') {
        Some(open) => {
            let Some(inner) = selector[open + 1..].strip_suffix('}') else {
                return Err(syntax(
                    format!("selector `{selector}` opens `{{` but does not end with `}}`"),
                    "write a sub-metric as `metric{key:value}`, e.g. `http_req_duration{name:checkout}`",
                ));
            };
            (selector[..open].trim(), Some(inner))
        }
        None => (selector, None),
    };
    let declared = metrics.iter().find(|m| *m.name == *name);
    let Some(metric) = Metric::from_name(name).or_else(|| declared.map(|m| Metric::Custom(m.clone()))) else {
        let names = Metric::builtin_names().map(|n| -> &str { n }).chain(metrics.iter().map(|m| &*m.name));
        let hint =
            crate::suggest::did_you_mean(name, names).map(|s| format!("; did you mean `{s}`?")).unwrap_or_default();
        let declared = if metrics.is_empty() {
            "none is declared (add [metrics.NAME] kind = \"counter\")".to_string()
        } else {
            metrics.iter().map(|m| format!("`{}`", m.name)).collect::<Vec<_>>().join(", ")
        };
        return Err(syntax(
            format!("unknown metric `{name}`{hint}"),
            format!(
                "built-in metrics: {}; custom metrics: {declared}",
                Metric::builtin_names().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let system: &[&str] = if declared.is_some() { CUSTOM_METRIC_TAG_KEYS } else { TAG_KEYS };
    let mut tags: Tags = Vec::new();
    if let Some(inner) = tags_text {
        for pair in inner.split(',') {
            let Some((key, value)) = pair.split_once(':') else {
                return Err(syntax(
                    format!("tag filter `{}` is not `key:value`", pair.trim()),
                    "write e.g. `http_req_duration{name:checkout,method:POST}`",
                ));
            };
            let (key, value) = (key.trim(), value.trim().trim_matches(|c| c == '"' || c == '\''));
            if !system.contains(&key) && !custom.contains(&key) {
                let known: Vec<&str> = system.iter().chain(custom).copied().collect();
                let hint = crate::suggest::did_you_mean(key, known.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_default();
                let message = if TAG_KEYS.contains(&key) {
                    format!("`{name}` is a custom metric: its samples carry no `{key}` tag")
                } else {
                    format!("unknown tag `{key}`{hint}")
                };
                return Err(syntax(
                    message,
                    format!("tags: {} (custom tags are declared with `tags = {{ … }}`)", known.join(", ")),
                ));
            }
            // `{group:}` is k6's root group: requests outside any group.
            if value.is_empty() && key != "group" {
                return Err(syntax(format!("tag `{key}` has an empty value"), "write e.g. `{name:checkout}`"));
            }
            if tags.iter().any(|(k, _)| &**k == key) {
                return Err(syntax(format!("tag `{key}` appears twice"), "give each tag once"));
            }
            tags.push((key.into(), value.into()));
        }
    }
    Ok((metric, tags))
}

/// Parses an expression such as `p(95)<500`, `rate >= 0.99` for `metric`.
pub(crate) fn parse_expression(expr: &str, metric: &Metric) -> Result<(Aggregation, Comparison, f64), SyntaxError> {
    let kind = metric.kind();
    let form = || {
        format!(
            "a threshold is AGGREGATION OPERATOR NUMBER, e.g. {}; `{}` is a {} metric: {}; operators: < <= > >= == !=",
            match kind {
                MetricKind::Trend if metric.is_time() => "\"p(95)<500\" (milliseconds)",
                MetricKind::Trend => "\"p(95)<500\"",
                MetricKind::Rate => "\"rate<0.01\"",
                MetricKind::Counter => "\"count>100\"",
                MetricKind::Gauge => "\"value<100\"",
            },
            metric.name(),
            kind.name(),
            kind.aggregations()
        )
    };
    let text = expr.trim();
    let Some(op_at) = text.find(['<', '>', '=', '!']) else {
        return Err(syntax(format!("`{text}` has no comparison operator"), form()));
    };
    let (left, right) = text.split_at(op_at);
    let (comparison, op_len) = [
        ("<=", Comparison::Le),
        (">=", Comparison::Ge),
        ("==", Comparison::Eq),
        ("!=", Comparison::Ne),
        ("<", Comparison::Lt),
        (">", Comparison::Gt),
    ]
    .into_iter()
    .find(|(op, _)| right.starts_with(op))
    .map(|(op, c)| (c, op.len()))
    .ok_or_else(|| syntax(format!("`{text}` has no valid comparison operator"), form()))?;
    let left = left.trim();
    let value_text = right[op_len..].trim();

    let aggregation = match left {
        "avg" => Aggregation::Avg,
        "min" => Aggregation::Min,
        "max" => Aggregation::Max,
        "med" => Aggregation::Med,
        "count" => Aggregation::Count,
        "rate" => Aggregation::Rate,
        "value" => Aggregation::Value,
        _ => {
            let inner = left
                .strip_prefix("p(")
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| syntax(format!("unknown aggregation `{left}`"), form()))?;
            let p: f64 = inner
                .trim()
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite())
                .ok_or_else(|| syntax(format!("percentile `{left}` is not a number"), form()))?;
            if !(0.0..=100.0).contains(&p) {
                return Err(syntax(format!("percentile `{left}` is outside 0..100"), form()));
            }
            Aggregation::Percentile(p)
        }
    };
    if !aggregation.fits(kind) {
        return Err(syntax(
            format!(
                "`{left}` does not apply to `{}`, a {} metric; use {}",
                metric.name(),
                kind.name(),
                kind.aggregations()
            ),
            form(),
        ));
    }
    let value: f64 = value_text
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite())
        .ok_or_else(|| syntax(format!("`{value_text}` is not a finite number"), form()))?;
    Ok((aggregation, comparison, value))
}

/// A threshold that a front end other than TOML (a k6 script's
/// `options.thresholds`) could not parse: in its selector or its expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThresholdError {
    /// True when the selector is wrong, false when the expression is.
    pub in_selector: bool,
    pub message: String,
    pub help: String,
}

/// Parses one threshold given as a selector and an expression, on a
/// built-in metric or one of `metrics` (declared by the script). Any tag key
/// is accepted in the selector: a script's tags are only known at run time.
pub fn parse_threshold(
    selector: &str,
    expression: &str,
    abort_on_fail: bool,
    delay_abort_eval: Duration,
    metrics: &[Arc<CustomMetric>],
) -> Result<Threshold, ThresholdError> {
    let keys: Vec<&str> = selector
        .split_once('{')
        .map(|(_, tags)| {
            tags.trim_end_matches('}').split(',').filter_map(|p| Some(p.split_once(':')?.0.trim())).collect()
        })
        .unwrap_or_default();
    let fail = |in_selector, e: SyntaxError| ThresholdError { in_selector, message: e.message, help: e.help };
    let (metric, tags) = parse_selector(selector, &keys, metrics).map_err(|e| fail(true, e))?;
    let (aggregation, comparison, value) = parse_expression(expression, &metric).map_err(|e| fail(false, e))?;
    Ok(Threshold {
        selector: selector.into(),
        metric,
        tags,
        source: expression.into(),
        aggregation,
        comparison,
        value,
        abort_on_fail,
        delay_abort_eval,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k6_expressions() {
        let d = Metric::HttpReqDuration;
        assert_eq!(parse_expression("p(95)<500", &d), Ok((Aggregation::Percentile(95.0), Comparison::Lt, 500.0)));
        assert_eq!(parse_expression("p(99.9)<1000", &d), Ok((Aggregation::Percentile(99.9), Comparison::Lt, 1000.0)));
        assert_eq!(parse_expression(" p(95) < 500 ", &d), Ok((Aggregation::Percentile(95.0), Comparison::Lt, 500.0)));
        assert_eq!(parse_expression("avg<=200", &d), Ok((Aggregation::Avg, Comparison::Le, 200.0)));
        assert_eq!(parse_expression("rate>=0.99", &Metric::Checks), Ok((Aggregation::Rate, Comparison::Ge, 0.99)));
        assert_eq!(parse_expression("count != 0", &Metric::HttpReqs), Ok((Aggregation::Count, Comparison::Ne, 0.0)));
        assert_eq!(parse_expression("value==1", &Metric::Vus), Ok((Aggregation::Value, Comparison::Eq, 1.0)));
    }

    #[test]
    fn wrong_expressions() {
        let d = &Metric::HttpReqDuration;
        for (expr, metric, want) in [
            ("rate<0.1", d, "does not apply"),
            ("p(95)<500", &Metric::HttpReqFailed, "does not apply"),
            ("p(101)<5", d, "outside 0..100"),
            ("p(x)<5", d, "not a number"),
            ("p95<5", d, "unknown aggregation"),
            ("p(95)", d, "no comparison operator"),
            ("p(95)=<5", d, "no valid comparison"),
            ("p(95)<NaN", d, "not a finite number"),
            ("p(95)<500ms", d, "not a finite number"),
        ] {
            let err = parse_expression(expr, metric).unwrap_err();
            assert!(err.message.contains(want), "{expr}: {err:?}");
        }
    }

    #[test]
    fn selectors() {
        let (m, tags) = parse_selector("http_req_duration{name:checkout, method:POST}", &[], &[]).unwrap();
        assert_eq!(m, Metric::HttpReqDuration);
        assert_eq!(tags, vec![("name".into(), "checkout".into()), ("method".into(), "POST".into())]);
        assert!(
            parse_selector("http_req_duraton", &[], &[])
                .unwrap_err()
                .message
                .contains("did you mean `http_req_duration`")
        );
        assert!(parse_selector("checks{nam:x}", &[], &[]).unwrap_err().message.contains("unknown tag"));
        assert!(parse_selector("checks{name:x", &[], &[]).is_err());
        let (m, tags) = parse_selector("group_duration{group:::checkout::pay}", &[], &[]).unwrap();
        assert_eq!(m, Metric::GroupDuration);
        assert_eq!(tags, vec![("group".into(), "::checkout::pay".into())]);
        assert!(parse_selector("http_reqs{page:pdp}", &["page"], &[]).is_ok());
        assert!(
            parse_selector("http_reqs{pag:pdp}", &["page"], &[]).unwrap_err().message.contains("did you mean `page`")
        );
    }

    #[test]
    fn custom_metrics_in_selectors_and_expressions() {
        let declared = |name: &str, kind, time| Arc::new(CustomMetric { name: name.into(), kind, time });
        let metrics =
            [declared("orders", MetricKind::Counter, false), declared("server_time", MetricKind::Trend, true)];
        let (m, tags) = parse_selector("server_time{name:checkout}", &["page"], &metrics).unwrap();
        assert_eq!(m, Metric::Custom(metrics[1].clone()));
        assert!(m.is_time() && m.kind() == MetricKind::Trend && m.name() == "server_time");
        assert_eq!(tags, vec![("name".into(), "checkout".into())]);
        assert!(parse_selector("orders{page:pdp,group:::buy}", &["page"], &metrics).is_ok());
        let typo = parse_selector("ordrs", &[], &metrics).unwrap_err();
        assert!(typo.message.contains("did you mean `orders`"), "{typo:?}");
        assert!(typo.help.contains("custom metrics: `orders`, `server_time`"), "{typo:?}");
        let status = parse_selector("orders{status:201}", &[], &metrics).unwrap_err();
        assert!(status.message.contains("custom metric: its samples carry no `status` tag"), "{status:?}");
        let orders = Metric::Custom(metrics[0].clone());
        assert_eq!(parse_expression("count>10", &orders), Ok((Aggregation::Count, Comparison::Gt, 10.0)));
        let wrong = parse_expression("p(95)<10", &orders).unwrap_err();
        assert!(wrong.message.contains("does not apply to `orders`, a counter metric"), "{wrong:?}");
        let plain = Metric::Custom(declared("cart_value", MetricKind::Trend, false));
        assert!(!parse_expression("rate>1", &plain).unwrap_err().help.contains("milliseconds"));
    }

    #[test]
    fn what_each_kind_accepts() {
        assert!(MetricKind::Counter.accepts(0.0) && MetricKind::Counter.accepts(2.5));
        assert!(!MetricKind::Counter.accepts(-1.0) && !MetricKind::Trend.accepts(-0.5));
        assert!(MetricKind::Gauge.accepts(-3.0) && !MetricKind::Gauge.accepts(f64::INFINITY));
        assert!(!MetricKind::Trend.accepts(MAX_CUSTOM_VALUE * 10.0) && !MetricKind::Trend.accepts(f64::NAN));
        assert!(
            MetricKind::Rate.accepts(0.0)
                && MetricKind::Rate.accepts(f64::INFINITY)
                && !MetricKind::Rate.accepts(f64::NAN)
        );
    }
}
