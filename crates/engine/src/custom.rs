//! Custom metrics fed by a step (`metrics = [{ name = "orders", … }]`): each
//! sample's value is read from the response, a template over the VU's
//! variables, or a constant, and recorded in the worker's shard under ids
//! resolved at plan time. A step without feeds never calls in here; a feed
//! allocates nothing per sample besides what a JSON path query does (its
//! match list): headers and regex matches are read in place, templates
//! render into the VU's reused buffer.

use http::HeaderMap;
use stampede_metrics::MetricId;
use stampede_scenario::threshold::MetricKind;
use stampede_scenario::{ExtractSource, FeedValue, read_json_sample, read_sample, regex_match};

use crate::vu::{StepRequest, Vu};
use crate::worker::Worker;

/// Records the samples of a step's request (`out`: the step, and the
/// element of its `for_each` its templates may name) for one response,
/// after its extractors ran (a template sees what they just stored).
pub(crate) fn feed_metrics(
    w: &Worker,
    vu: &mut Vu,
    out: &StepRequest<'_>,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    json: Option<&serde_json::Value>,
) {
    let step = out.step;
    for feed in &step.metrics {
        if !feed.if_status.is_empty() && !feed.if_status.contains(&status) {
            continue;
        }
        let kind = feed.kind;
        let value = match &feed.value {
            FeedValue::Const(v) => Some(*v),
            FeedValue::Template(t) => read_sample(kind, vu.render(w, t, out.item)),
            FeedValue::Response(ExtractSource::Json(path)) => match json.and_then(|j| path.query(j).first()) {
                Some(v) => read_json_sample(kind, v),
                None => not_found(kind),
            },
            FeedValue::Response(source) => match response_text(source, headers, body) {
                Some(text) => read_sample(kind, text),
                None => not_found(kind),
            },
        };
        let id = MetricId {
            metric: feed.metric,
            scenario: vu.scenario,
            name: step.name_id,
            group: step.group,
            tags: step.tags,
        };
        // Only a gauge's samples are ordered by time.
        let at_us = if kind == MetricKind::Gauge { w.since_start_us() } else { 0 };
        w.record_metric(id, value, at_us);
    }
}

/// A source that finds nothing: false for a rate ("is there a …?"), no
/// value (skipped) for the other kinds.
fn not_found(kind: MetricKind) -> Option<f64> {
    (kind == MetricKind::Rate).then_some(0.0)
}

/// The text a regex, header or cookie source finds in a response (metric
/// feeds have no `url` source).
fn response_text<'a>(source: &ExtractSource, headers: &'a HeaderMap, body: &'a [u8]) -> Option<&'a str> {
    match source {
        ExtractSource::Regex(re) => regex_match(re, std::str::from_utf8(body).ok()?),
        ExtractSource::Header(name) => headers.get(name).and_then(|v| v.to_str().ok()),
        ExtractSource::Cookie(name) => crate::jar::set_cookie_value(headers, name),
        ExtractSource::Json(_) | ExtractSource::Url | ExtractSource::UrlRegex(_) => None,
    }
}
