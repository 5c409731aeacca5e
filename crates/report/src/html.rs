//! `html=PATH`: one self-contained HTML file: inline CSS and inline SVG
//! charts drawn here, no script, no font, nothing fetched, so it opens
//! offline, attaches to a ticket and archives as it is.
//!
//! Rendered from a [`Summary`] only, so `stampede report RUN.json --html`
//! later gives the same page the run would have written.

use std::fmt::Write as _;

use stampede_metrics::TrendStats as Trend;

use crate::markup::xml_escape as esc;
use stampede_metrics::live::Point;

use crate::summary::{CustomValue, MetricSummary, Summary};
use crate::svg::{Agg, Line, percentile_chart, time_chart};
use crate::text::{fmt_bytes, fmt_custom, fmt_ms, fmt_observed, iso8601_utc, pct};

const BLUE: &str = "#2563eb";
const GREEN: &str = "#16a34a";
const AMBER: &str = "#d97706";
const RED: &str = "#dc2626";
const VIOLET: &str = "#7c3aed";
const CYAN: &str = "#0891b2";

/// Request names shown with their own distribution chart (the busiest first).
const MAX_DISTRIBUTIONS: usize = 24;

pub(crate) const STYLE: &str = r#"
:root{--fg:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff;--ok:#16a34a;--bad:#dc2626;--warn:#d97706}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#0f172a;color:#f8fafc;padding:20px 32px}
header h1{margin:0;font-size:20px;font-weight:600;letter-spacing:.2px}
header .sub{color:#94a3b8;margin-top:4px;font-size:13px;word-break:break-all}
main{padding:20px 32px 40px;max-width:1400px;margin:0 auto}
h2{font-size:16px;margin:28px 0 10px;font-weight:600}
.badge{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;font-weight:600;margin-left:10px;vertical-align:middle}
.badge.ok{background:#dcfce7;color:#166534}.badge.bad{background:#fee2e2;color:#991b1b}.badge.warn{background:#fef3c7;color:#92400e}
.meta{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:10px 24px;margin:0;padding:12px 14px;background:var(--card);border:1px solid var(--line);border-radius:8px}
.meta dt{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.4px}.meta dd{margin:0;font-variant-numeric:tabular-nums;word-break:break-word}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px;margin-top:16px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.kpi .l{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.4px}
.kpi .v{font-size:22px;font-weight:600;margin-top:2px;font-variant-numeric:tabular-nums}
.kpi .s{color:var(--muted);font-size:12px}
.kpi.bad .v{color:var(--bad)}.kpi.ok .v{color:var(--ok)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:12px}
.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.panel h3{margin:0 0 4px;font-size:13px;font-weight:600}
.panel .note{color:var(--muted);font-size:12px}
svg.chart{width:100%;height:auto;display:block}
svg .grid{stroke:#eef2f7;stroke-width:1}svg .axis{stroke:#94a3b8;stroke-width:1}svg .tick{stroke:#94a3b8}
svg .ax{fill:#64748b;font-size:11px}svg .lg{fill:#334155;font-size:11px}svg .empty{fill:#94a3b8;font-size:13px}
svg .line{fill:none;stroke-width:1.8;stroke-linejoin:round;stroke-linecap:round}
svg .max{stroke:#dc2626;stroke-dasharray:4 3}svg .maxl{fill:#dc2626}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
th,td{padding:6px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{background:#f1f5f9;font-weight:600;font-size:12px;color:#334155}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.name{white-space:normal;word-break:break-word}
tr:last-child td{border-bottom:0}
.pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:600}.muted{color:var(--muted)}
.scroll{overflow-x:auto}
footer{color:var(--muted);font-size:12px;margin-top:32px}
@media print{header{background:#fff;color:#000}.panel,.kpi,table{break-inside:avoid}}
"#;

fn n0(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An axis number without trailing zeros (`0.25`, `2.5`, `100`).
fn trim_num(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or("–".into(), pct)
}

fn kpi(out: &mut String, label: &str, value: &str, sub: &str, class: &str) {
    let _ = write!(
        out,
        r#"<div class="kpi {class}"><div class="l">{}</div><div class="v">{}</div><div class="s">{}</div></div>"#,
        esc(label),
        esc(value),
        esc(sub)
    );
}

fn trend_of<'a>(r: &'a Summary, name: &str) -> Option<&'a Trend> {
    match r.metric(name) {
        Some(MetricSummary::Trend { stats, .. }) => Some(stats),
        _ => None,
    }
}

fn outcome_badge(r: &Summary) -> (&'static str, String) {
    let failed = r.thresholds.iter().filter(|t| !t.passed).count();
    match r.run.outcome.as_str() {
        "completed" if failed == 0 => ("ok", "passed".into()),
        "completed" => ("bad", format!("{failed} threshold(s) failed")),
        "interrupted" => ("warn", "interrupted".into()),
        "aborted_by_threshold" => ("bad", "aborted by a threshold".into()),
        "aborted_by_script" => ("bad", "aborted by the script".into()),
        "script_error" => ("bad", "script error".into()),
        other => ("bad", other.replace('_', " ")),
    }
}

/// Renders the whole page.
pub fn render(r: &Summary) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let title = format!("Stampede report — {}", r.run.scenario_file);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"generator\" content=\"stampede\"><title>{}</title><style>{STYLE}</style></head><body>",
        esc(&title)
    );
    let (class, label) = outcome_badge(r);
    let _ = write!(
        o,
        r#"<header><h1>Stampede load test<span class="badge {class}">{}</span></h1><div class="sub">{} · started {} · exit code {}</div></header><main>"#,
        esc(&label),
        esc(&r.run.scenario_file),
        iso8601_utc(r.run.started_at_ms),
        r.run.exit_code
    );
    run_section(&mut o, r);
    kpis(&mut o, r);
    charts(&mut o, r);
    thresholds(&mut o, r);
    checks(&mut o, r);
    custom_metrics(&mut o, r);
    requests(&mut o, r);
    distributions(&mut o, r);
    scenarios(&mut o, r);
    errors(&mut o, r);
    agents(&mut o, r);
    let _ = writeln!(
        o,
        "<footer>Generated by Stampede from a {} document. Latencies are HDR histogram percentiles (3 significant digits), merged exactly across workers and agents.</footer></main></body></html>",
        esc(&r.schema)
    );
    o
}

fn run_section(o: &mut String, r: &Summary) {
    let vus_max = match r.metric("vus_max") {
        Some(MetricSummary::Gauge { value, max }) => (*value).max(*max),
        _ => r.scenarios.iter().map(|s| s.vus_max).sum(),
    };
    let rows = [
        ("Scenario file", r.run.scenario_file.clone()),
        ("Started", iso8601_utc(r.run.started_at_ms)),
        ("Duration", format!("{:.1} s", r.run.duration_s)),
        ("Planned", format!("{:.1} s", r.run.planned_duration_s)),
        ("Outcome", r.run.outcome.replace('_', " ")),
        ("Exit code", r.run.exit_code.to_string()),
        ("Scenarios", r.scenarios.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")),
        ("VUs max", n0(vus_max)),
        ("Intervals", r.intervals.len().to_string()),
        ("Agents", if r.agents.is_empty() { "–".into() } else { r.agents.len().to_string() }),
    ];
    o.push_str("<h2>Run</h2><dl class=\"meta\">");
    for (k, v) in rows {
        let _ = write!(o, "<div><dt>{k}</dt><dd>{}</dd></div>", esc(&v));
    }
    o.push_str("</dl>");
}

fn kpis(o: &mut String, r: &Summary) {
    o.push_str("<div class=\"kpis\">");
    let (reqs, rps) = match r.metric("http_reqs") {
        Some(MetricSummary::Counter { count, rate }) => (*count, *rate),
        _ => (0, 0.0),
    };
    kpi(o, "Requests", &n0(reqs), &format!("{rps:.1}/s"), "");
    if let Some(t) = trend_of(r, "http_req_duration") {
        kpi(o, "Latency p95", &fmt_ms(t.p95), &format!("p50 {} · p99 {}", fmt_ms(t.p50), fmt_ms(t.p99)), "");
        kpi(o, "Latency max", &fmt_ms(t.max), &format!("mean {}", fmt_ms(t.mean)), "");
    }
    if let Some(MetricSummary::Rate { rate, trues, total }) = r.metric("http_req_failed") {
        let class = if *trues > 0 { "bad" } else { "ok" };
        kpi(o, "Errors", &pct(*rate), &format!("{} of {}", n0(*trues), n0(*total)), class);
    }
    if !r.checks.is_empty() {
        let passes: u64 = r.checks.iter().map(|c| c.passes).sum();
        let total: u64 = r.checks.iter().map(|c| c.passes + c.fails).sum();
        let class = if passes == total { "ok" } else { "bad" };
        kpi(o, "Checks", &pct(passes as f64 / total.max(1) as f64), &format!("{} of {}", n0(passes), n0(total)), class);
    }
    if !r.thresholds.is_empty() {
        let passed = r.thresholds.iter().filter(|t| t.passed).count();
        let class = if passed == r.thresholds.len() { "ok" } else { "bad" };
        kpi(o, "Thresholds", &format!("{passed}/{}", r.thresholds.len()), "passed", class);
    }
    if let Some(MetricSummary::Rate { rate, trues, total }) = r.metric("cdn_cache_hit_ratio") {
        kpi(o, "CDN hit ratio", &pct(*rate), &format!("{} hits of {} classified", n0(*trues), n0(*total)), "");
    }
    if let Some(MetricSummary::Counter { count, rate }) = r.metric("data_received") {
        kpi(o, "Data received", &fmt_bytes(*count as f64), &format!("{}/s", fmt_bytes(*rate)), "");
    }
    if let Some(MetricSummary::Counter { count, rate }) = r.metric("iterations") {
        kpi(o, "Iterations", &n0(*count), &format!("{rate:.1}/s"), "");
    }
    o.push_str("</div>");
}

fn panel(o: &mut String, title: &str, note: &str, svg: &str) {
    let _ = write!(o, "<div class=\"panel\"><h3>{}</h3>", esc(title));
    if !note.is_empty() {
        let _ = write!(o, "<div class=\"note\">{}</div>", esc(note));
    }
    o.push_str(svg);
    o.push_str("</div>");
}

fn charts(o: &mut String, r: &Summary) {
    if r.intervals.is_empty() {
        return;
    }
    let series = |label: &str, color: &'static str, agg: Agg, f: &dyn Fn(&Point) -> Option<f64>| Line {
        label: label.to_string(),
        color,
        agg,
        points: r.intervals.iter().map(|p| (p.t.as_secs_f64(), f(p))).collect(),
    };
    let has_reqs = |p: &Point| p.rps > 0.0;
    o.push_str("<h2>Over time</h2><div class=\"charts\">");
    let bucketed = if r.intervals.len() > crate::svg::MAX_POINTS {
        "Long run: intervals are grouped; rates show the group mean, latencies and VUs the group max."
    } else {
        ""
    };
    panel(
        o,
        "Throughput",
        bucketed,
        &time_chart(
            "Requests and iterations per second",
            &[
                series("requests/s", BLUE, Agg::Mean, &|p| Some(p.rps)),
                series("iterations/s", VIOLET, Agg::Mean, &|p| Some(p.iterations_per_s)),
            ],
            &|v| trim_num(v),
            1.0,
            false,
        ),
    );
    panel(
        o,
        "Latency (http_req_duration, per interval)",
        "",
        &time_chart(
            "Latency percentiles per interval",
            &[
                series("p50", GREEN, Agg::Max, &|p| has_reqs(p).then_some(p.p50_ms)),
                series("p95", AMBER, Agg::Max, &|p| has_reqs(p).then_some(p.p95_ms)),
                series("p99", RED, Agg::Max, &|p| has_reqs(p).then_some(p.p99_ms)),
            ],
            &crate::svg::fmt_axis_ms,
            0.001,
            false,
        ),
    );
    panel(
        o,
        "Errors",
        "Failed requests / requests in the interval",
        &time_chart(
            "Error rate",
            &[series("error rate", RED, Agg::Mean, &|p| has_reqs(p).then_some(p.error_rate * 100.0))],
            &|v| format!("{}%", trim_num(v)),
            1.0,
            false,
        ),
    );
    panel(
        o,
        "Virtual users",
        "",
        &time_chart(
            "VUs",
            &[series("VUs", CYAN, Agg::Max, &|p| Some(p.vus as f64))],
            &|v| format!("{v:.0}"),
            1.0,
            true,
        ),
    );
    panel(
        o,
        "CDN hit ratio",
        "Hits / responses classified hit or miss",
        &time_chart(
            "CDN hit ratio",
            &[series("hit ratio", GREEN, Agg::Mean, &|p| p.cdn_hit_ratio.map(|h| h * 100.0))],
            &|v| format!("{}%", trim_num(v)),
            100.0,
            false,
        ),
    );
    panel(
        o,
        "Network",
        "",
        &time_chart(
            "Bytes per second",
            &[
                series("received/s", BLUE, Agg::Mean, &|p| Some(p.data_in_per_s)),
                series("sent/s", AMBER, Agg::Mean, &|p| Some(p.data_out_per_s)),
            ],
            &|v| fmt_bytes(v),
            1.0,
            false,
        ),
    );
    o.push_str("</div>");
}

fn thresholds(o: &mut String, r: &Summary) {
    if r.thresholds.is_empty() {
        return;
    }
    o.push_str("<h2>Thresholds</h2><div class=\"scroll\"><table><tr><th>Status</th><th>Metric</th><th>Threshold</th><th>Observed</th><th>Abort on fail</th></tr>");
    for t in &r.thresholds {
        let (class, mark) = if t.passed { ("pass", "✓ pass") } else { ("fail", "✗ fail") };
        let _ = write!(
            o,
            "<tr><td class=\"{class}\">{mark}</td><td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&t.metric),
            esc(&t.threshold),
            esc(&fmt_observed(t)),
            if t.abort_on_fail { "yes" } else { "no" }
        );
    }
    o.push_str("</table></div>");
}

/// Custom metrics (`[metrics.NAME]`): kind and value in the metric's unit.
fn custom_metrics(o: &mut String, r: &Summary) {
    if r.custom_metrics.is_empty() {
        return;
    }
    o.push_str(
        "<h2>Custom metrics</h2><div class=\"scroll\"><table><tr><th>Metric</th><th>Kind</th><th>Value</th></tr>",
    );
    for (name, m) in &r.custom_metrics {
        let kind = match &m.value {
            CustomValue::Counter { .. } => "counter",
            CustomValue::Gauge { .. } => "gauge",
            CustomValue::Rate { .. } => "rate",
            CustomValue::Trend { time: true, .. } => "trend (ms)",
            CustomValue::Trend { .. } => "trend",
        };
        let _ =
            write!(o, "<tr><td class=\"name\">{}</td><td>{kind}</td><td>{}</td></tr>", esc(name), esc(&fmt_custom(m)));
    }
    o.push_str("</table></div>");
}

fn checks(o: &mut String, r: &Summary) {
    if r.checks.is_empty() {
        return;
    }
    o.push_str("<h2>Checks</h2><div class=\"scroll\"><table><tr><th>Status</th><th>Scenario</th><th>Check</th><th class=\"n\">Passes</th><th class=\"n\">Fails</th><th class=\"n\">Pass rate</th></tr>");
    for c in &r.checks {
        let (class, mark) = if c.fails == 0 { ("pass", "✓") } else { ("fail", "✗") };
        let _ = write!(
            o,
            "<tr><td class=\"{class}\">{mark}</td><td>{}</td><td class=\"name\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&c.scenario),
            esc(&c.name),
            n0(c.passes),
            n0(c.fails),
            pct(c.rate)
        );
    }
    o.push_str("</table></div>");
}

fn requests(o: &mut String, r: &Summary) {
    if r.requests.is_empty() {
        return;
    }
    o.push_str(
        "<h2>Requests</h2><div class=\"scroll\"><table><tr><th>Name</th><th class=\"n\">Count</th><th class=\"n\">Rate</th>\
         <th class=\"n\">p50</th><th class=\"n\">p90</th><th class=\"n\">p95</th><th class=\"n\">p99</th><th class=\"n\">p99.9</th><th class=\"n\">Max</th>\
         <th class=\"n\">Errors</th><th>Statuses</th><th class=\"n\">CDN hits</th><th class=\"n\">CDN hits (bytes)</th><th class=\"n\">Received</th></tr>",
    );
    for q in &r.requests {
        let d = &q.duration;
        let statuses: Vec<String> = q.statuses.iter().map(|(k, v)| format!("{k}×{}", n0(*v))).collect();
        let err_class = if q.failed > 0 { " fail" } else { "" };
        let _ = write!(
            o,
            "<tr><td class=\"name\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}/s</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n{err_class}\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&q.name),
            n0(q.count),
            q.rate,
            fmt_ms(d.p50),
            fmt_ms(d.p90),
            fmt_ms(d.p95),
            fmt_ms(d.p99),
            fmt_ms(d.p999),
            fmt_ms(d.max),
            pct(q.error_rate),
            esc(&statuses.join(" ")),
            opt_pct(q.cdn.hit_ratio),
            opt_pct(q.cdn.hit_ratio_bytes),
            fmt_bytes(q.data_received as f64)
        );
    }
    o.push_str("</table></div>");
}

fn distributions(o: &mut String, r: &Summary) {
    let mut reqs: Vec<_> = r.requests.iter().filter(|q| !q.duration_percentiles.is_empty()).collect();
    if reqs.is_empty() {
        return;
    }
    reqs.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    let palette = [BLUE, VIOLET, CYAN, GREEN, AMBER, RED];
    o.push_str("<h2>Latency by percentile</h2><div class=\"charts\">");
    for (i, q) in reqs.iter().take(MAX_DISTRIBUTIONS).enumerate() {
        let curve: Vec<(f64, f64)> = q.duration_percentiles.iter().map(|p| (p.p, p.ms)).collect();
        let note = format!(
            "{} requests · p50 {} · p99 {} · p99.9 {} · max {}",
            n0(q.count),
            fmt_ms(q.duration.p50),
            fmt_ms(q.duration.p99),
            fmt_ms(q.duration.p999),
            fmt_ms(q.duration.max)
        );
        let svg = percentile_chart(&format!("{}: latency by percentile", q.name), &curve, palette[i % palette.len()]);
        panel(o, &q.name, &note, &svg);
    }
    o.push_str("</div>");
    if reqs.len() > MAX_DISTRIBUTIONS {
        let _ = write!(
            o,
            "<p class=\"muted\">{} more request names are in the requests table.</p>",
            reqs.len() - MAX_DISTRIBUTIONS
        );
    }
}

fn scenarios(o: &mut String, r: &Summary) {
    if r.scenarios.is_empty() {
        return;
    }
    o.push_str(
        "<h2>Scenarios</h2><div class=\"scroll\"><table><tr><th>Scenario</th><th class=\"n\">Iterations</th><th class=\"n\">Dropped</th><th class=\"n\">Interrupted</th>\
         <th class=\"n\">Iteration p50</th><th class=\"n\">Iteration p95</th><th class=\"n\">Intended latency p99</th><th class=\"n\">Generator lag p99</th><th class=\"n\">VUs max</th></tr>",
    );
    for s in &r.scenarios {
        let opt = |t: &Option<Trend>| t.map_or("–".into(), |t| fmt_ms(t.p99));
        let _ = write!(
            o,
            "<tr><td class=\"name\">{}</td><td class=\"n\">{}</td><td class=\"n{}\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&s.name),
            n0(s.iterations),
            if s.dropped_iterations > 0 { " fail" } else { "" },
            n0(s.dropped_iterations),
            n0(s.interrupted_iterations),
            fmt_ms(s.iteration_duration.p50),
            fmt_ms(s.iteration_duration.p95),
            opt(&s.intended_latency),
            opt(&s.scheduling_lag),
            n0(s.vus_max)
        );
    }
    o.push_str("</table></div>");
}

fn errors(o: &mut String, r: &Summary) {
    if r.errors.is_empty() {
        return;
    }
    let total: u64 = r.errors.values().sum();
    o.push_str("<h2>Errors by kind</h2><div class=\"scroll\"><table><tr><th>Kind</th><th class=\"n\">Count</th><th class=\"n\">Share</th><th>Requests</th></tr>");
    for (kind, n) in &r.errors {
        let by: Vec<String> =
            r.requests.iter().filter_map(|q| q.errors.get(kind).map(|c| format!("{} ({})", q.name, n0(*c)))).collect();
        let _ = write!(
            o,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"name\">{}</td></tr>",
            esc(kind),
            n0(*n),
            pct(*n as f64 / total.max(1) as f64),
            esc(&by.join(", "))
        );
    }
    o.push_str("</table></div>");
}

fn agents(o: &mut String, r: &Summary) {
    o.push_str("<h2>Agents</h2>");
    if r.agents.is_empty() {
        o.push_str("<p class=\"muted\">No agent information was recorded for this run.</p>");
        return;
    }
    o.push_str(
        "<div class=\"scroll\"><table><tr><th>Agent</th><th>Address</th><th>State</th><th class=\"n\">VUs</th><th class=\"n\">Requests</th>\
         <th class=\"n\">Last rate</th><th class=\"n\">Lag p99</th><th class=\"n\">CPU</th></tr>",
    );
    for a in &r.agents {
        let class = if a.state == "lost" { " class=\"fail\"" } else { "" };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td{class}>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}/s</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&a.name),
            esc(&a.address),
            esc(&a.state),
            n0(a.vus),
            n0(a.requests),
            a.rps,
            a.lag_p99_ms.map_or("–".into(), fmt_ms),
            a.cpu_percent.map_or("–".into(), |c| format!("{c:.0}%"))
        );
    }
    o.push_str("</table></div>");
}
