//! The end-of-test summary for a terminal, in the spirit of k6's.

use std::borrow::Cow;
use std::fmt::Write;

use stampede_metrics::ThresholdOutcome;

use crate::summary::{CustomMetricSummary, CustomValue, MetricSummary, Summary};

/// Formats milliseconds the way k6 does (`812µs`, `12.34ms`, `1.2s`).
pub fn fmt_ms(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.0}µs", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.2}ms")
    } else if ms < 60_000.0 {
        format!("{:.2}s", ms / 1000.0)
    } else {
        let s = ms / 1000.0;
        format!("{}m{:.1}s", (s / 60.0).floor(), s % 60.0)
    }
}

/// Bytes as k6 prints them (`1.2 MB`).
pub fn fmt_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 { format!("{v:.0} {}", UNITS[i]) } else { format!("{v:.1} {}", UNITS[i]) }
}

/// A threshold's observed value in its unit, e.g. `p(95)=812.00ms`,
/// `rate=0.42%`; says so when no sample matched the selector.
pub fn fmt_observed(t: &ThresholdOutcome) -> String {
    let Some(v) = t.observed else { return "no samples matched this selector".to_string() };
    let agg = t.aggregation();
    if t.in_ms() {
        format!("{agg}={}", fmt_ms(v))
    } else if agg.starts_with("rate") && v <= 1.0 {
        format!("{agg}={}", pct(v))
    } else {
        format!("{agg}={v:.4}")
    }
}

/// Unix milliseconds as RFC 3339 UTC (`2025-11-28T09:00:00.000Z`).
pub fn iso8601_utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3600, rem % 3600 / 60, rem % 60, unix_ms % 1000)
}

/// A number of a custom metric: whole ones as integers, others with up to
/// three decimals (values are kept in thousandths).
pub fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A custom metric's value as the summaries show it, e.g. `42 1.40/s`,
/// `avg=12.30ms … p(95)=20.10ms`, `93.00% 93 out of 100`, `5 min=0 max=10`,
/// with the samples skipped when there were any.
pub fn fmt_custom(m: &CustomMetricSummary) -> String {
    let mut out = match &m.value {
        CustomValue::Counter { count, rate } => format!("{} {rate:.2}/s", fmt_num(*count)),
        CustomValue::Gauge { value: Some(v), min, max } => {
            let extreme = |x: &Option<f64>| x.map_or("-".into(), fmt_num);
            format!("{} min={} max={}", fmt_num(*v), extreme(min), extreme(max))
        }
        CustomValue::Gauge { .. } => "never set".to_string(),
        CustomValue::Rate { rate: Some(rate), trues, total } => format!("{} {trues} out of {total}", pct(*rate)),
        CustomValue::Rate { .. } => "no sample".to_string(),
        CustomValue::Trend { stats, .. } if stats.count == 0 => "no sample".to_string(),
        CustomValue::Trend { time, stats: s, .. } => {
            let f = |v: f64| if *time { fmt_ms(v) } else { fmt_num(v) };
            format!(
                "avg={} min={} med={} max={} p(90)={} p(95)={} p(99)={}",
                f(s.mean),
                f(s.min),
                f(s.p50),
                f(s.max),
                f(s.p90),
                f(s.p95),
                f(s.p99)
            )
        }
    };
    if m.skipped > 0 {
        let _ = write!(out, " (skipped {})", m.skipped);
    }
    out
}

/// A ratio as a percentage with two decimals.
pub fn pct(r: f64) -> String {
    format!("{:.2}%", r * 100.0)
}

fn line(out: &mut String, name: &str, value: &str) {
    let dots = 36usize.saturating_sub(name.chars().count() + 1);
    let _ = writeln!(out, "    {name}{}: {value}", ".".repeat(dots.max(3)));
}

fn metric_value(m: &MetricSummary, name: &str) -> String {
    match m {
        MetricSummary::Trend { stats: s, .. } => format!(
            "avg={} min={} med={} max={} p(90)={} p(95)={} p(99)={}",
            fmt_ms(s.mean),
            fmt_ms(s.min),
            fmt_ms(s.p50),
            fmt_ms(s.max),
            fmt_ms(s.p90),
            fmt_ms(s.p95),
            fmt_ms(s.p99)
        ),
        MetricSummary::Rate { rate, trues, total } => format!("{} {trues} out of {total}", pct(*rate)),
        MetricSummary::Counter { count, rate } if name.starts_with("data_") => {
            format!("{} {}/s", fmt_bytes(*count as f64), fmt_bytes(*rate))
        }
        MetricSummary::Counter { count, rate } => format!("{count} {rate:.2}/s"),
        MetricSummary::Gauge { value, max } => format!("{value} max={max}"),
    }
}

/// Text from the scenario (request, check, scenario names, thresholds) made
/// safe for a terminal: control characters are written as JSON writes them
/// (`\u001b`), so a name cannot move the cursor, recolour or clear the screen.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Renders the summary. `color` adds ANSI colours to ✓/✗.
pub fn render(s: &Summary, color: bool) -> String {
    let (ok, bad, reset) = if color { ("\x1b[32m", "\x1b[31m", "\x1b[0m") } else { ("", "", "") };
    let mut out = String::new();
    if !s.thresholds.is_empty() {
        let _ = writeln!(out, "\n  █ THRESHOLDS\n");
        let mut last = "";
        for t in &s.thresholds {
            if &*t.metric != last {
                let _ = writeln!(out, "    {}", terminal_safe(&t.metric));
                last = &t.metric;
            }
            let (mark, c) = if t.passed { ("✓", ok) } else { ("✗", bad) };
            let observed = fmt_observed(t);
            let _ = writeln!(out, "    {c}{mark}{reset} '{}' {observed}", terminal_safe(&t.threshold));
        }
    }

    let _ = writeln!(out, "\n  █ TOTAL RESULTS\n");
    if !s.checks.is_empty() {
        let passes: u64 = s.checks.iter().map(|c| c.passes).sum();
        let fails: u64 = s.checks.iter().map(|c| c.fails).sum();
        let total = passes + fails;
        line(&mut out, "checks_total", &format!("{total} {:.2}/s", total as f64 / s.run.duration_s.max(1e-9)));
        line(
            &mut out,
            "checks_succeeded",
            &format!("{} {passes} out of {total}", pct(passes as f64 / total.max(1) as f64)),
        );
        line(&mut out, "checks_failed", &format!("{} {fails} out of {total}", pct(fails as f64 / total.max(1) as f64)));
        let _ = writeln!(out);
        for c in &s.checks {
            if c.fails == 0 {
                let _ = writeln!(out, "    {ok}✓{reset} {}", terminal_safe(&c.name));
            } else {
                let _ = writeln!(
                    out,
                    "    {bad}✗{reset} {}\n      ↳  {:.0}% — ✓ {} / ✗ {}",
                    terminal_safe(&c.name),
                    c.rate * 100.0,
                    c.passes,
                    c.fails
                );
            }
        }
        let _ = writeln!(out);
    }
    let groups: [(&str, &[&str]); 5] = [
        (
            "HTTP",
            &[
                "http_req_duration",
                "http_req_failed",
                "http_reqs",
                "http_req_blocked",
                "http_req_connecting",
                "http_req_tls_handshaking",
                "http_req_sending",
                "http_req_waiting",
                "http_req_receiving",
            ],
        ),
        ("CDN", &["cdn_cache_hit_ratio"]),
        (
            "EXECUTION",
            &[
                "iteration_duration",
                "group_duration",
                "iterations",
                "dropped_iterations",
                "intended_latency",
                "scheduling_lag",
                "vus",
                "vus_max",
            ],
        ),
        ("NETWORK", &["data_received", "data_sent"]),
        ("", &[]),
    ];
    for (title, names) in groups {
        let present: Vec<_> = names.iter().filter_map(|n| s.metrics.get(*n).map(|m| (*n, m))).collect();
        if present.is_empty() {
            continue;
        }
        let _ = writeln!(out, "    {title}");
        for (n, m) in present {
            // dropped_iterations is noise when zero.
            if n == "dropped_iterations" && matches!(m, MetricSummary::Counter { count: 0, .. }) {
                continue;
            }
            line(&mut out, n, &metric_value(m, n));
        }
        let _ = writeln!(out);
    }
    if !s.custom_metrics.is_empty() {
        let _ = writeln!(out, "    CUSTOM");
        for (name, m) in &s.custom_metrics {
            line(&mut out, &terminal_safe(name), &fmt_custom(m));
        }
        let _ = writeln!(out);
    }

    // k6's groups: one run of each (`group_duration`), by group and scenario.
    let groups: Vec<_> = s.series.iter().filter(|x| x.metric == "group_duration").collect();
    if !groups.is_empty() {
        let _ = writeln!(out, "    GROUPS");
        let tag =
            |x: &crate::summary::SeriesSummary, k: &str| terminal_safe(x.tags.get(k).map_or("", |v| v)).into_owned();
        let w = groups.iter().map(|x| tag(x, "group").chars().count()).max().unwrap_or(5).clamp(5, 40);
        let ws = groups.iter().map(|x| tag(x, "scenario").chars().count()).max().unwrap_or(8).clamp(8, 24);
        let _ = writeln!(
            out,
            "    {:<w$} {:<ws$} {:>9} {:>9} {:>9} {:>9}",
            "group", "scenario", "runs", "p50", "p95", "max"
        );
        for x in groups {
            let name: String = tag(x, "group").chars().take(w).collect();
            let scenario: String = tag(x, "scenario").chars().take(ws).collect();
            let _ = writeln!(
                out,
                "    {name:<w$} {scenario:<ws$} {:>9} {:>9} {:>9} {:>9}",
                x.stats.count,
                fmt_ms(x.stats.p50),
                fmt_ms(x.stats.p95),
                fmt_ms(x.stats.max)
            );
        }
        let _ = writeln!(out);
    }

    if !s.requests.is_empty() {
        let _ = writeln!(out, "    REQUESTS");
        let w = s.requests.iter().map(|r| terminal_safe(&r.name).chars().count()).max().unwrap_or(4).clamp(4, 40);
        let _ = writeln!(
            out,
            "    {:<w$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6}",
            "name", "count", "p50", "p95", "p99", "max", "err", "cdn"
        );
        for r in &s.requests {
            let name: String = terminal_safe(&r.name).chars().take(w).collect();
            let cdn = r.cdn.hit_ratio.map_or("-".to_string(), |h| format!("{:.0}%", h * 100.0));
            let _ = writeln!(
                out,
                "    {name:<w$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>6}",
                r.count,
                fmt_ms(r.duration.p50),
                fmt_ms(r.duration.p95),
                fmt_ms(r.duration.p99),
                fmt_ms(r.duration.max),
                pct(r.error_rate),
                cdn
            );
        }
        let _ = writeln!(out);
    }
    if !s.errors.is_empty() {
        let list: Vec<String> = s.errors.iter().map(|(k, v)| format!("{}={v}", terminal_safe(k))).collect();
        let _ = writeln!(out, "    ERRORS  {}\n", list.join(" "));
    }
    for d in &s.deliveries {
        let _ = writeln!(
            out,
            "    {} {} (testid={}): {} batches, {} samples sent",
            d.output,
            terminal_safe(&d.target),
            terminal_safe(&d.testid),
            d.batches_sent,
            d.samples_sent
        );
        if d.batches_dropped > 0 {
            let _ = writeln!(
                out,
                "    {bad}✗{reset} {} batches ({} samples) not delivered: points of the time line are missing, totals are not{}",
                d.batches_dropped,
                d.samples_dropped,
                d.last_error.as_deref().map_or(String::new(), |e| format!(" (last error: {})", terminal_safe(e)))
            );
        }
        let _ = writeln!(out);
    }
    for sc in &s.scenarios {
        if let Some(il) = &sc.intended_latency {
            let _ = writeln!(
                out,
                "    {}: open model, from scheduled start: p50={} p99={} max={}; generator lag p99={}",
                terminal_safe(&sc.name),
                fmt_ms(il.p50),
                fmt_ms(il.p99),
                fmt_ms(il.max),
                sc.scheduling_lag.map_or("-".into(), |l| fmt_ms(l.p99)),
            );
        }
    }
    let _ = writeln!(
        out,
        "\n  {} in {:.1}s ({}), exit code {}",
        match s.run.outcome.as_str() {
            "completed" => "run completed",
            "interrupted" => "run interrupted",
            "aborted_by_threshold" => "run aborted by a threshold",
            "aborted_by_script" => "run aborted by the script",
            "script_error" => "run stopped by a script error",
            _ => "run aborted",
        },
        s.run.duration_s,
        terminal_safe(&s.run.scenario_file),
        s.run.exit_code
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_dates() {
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(iso8601_utc(1_764_320_400_000), "2025-11-28T09:00:00.000Z");
    }

    fn outcome(metric: &str, threshold: &str, observed: Option<f64>, time: Option<bool>) -> ThresholdOutcome {
        ThresholdOutcome {
            metric: metric.into(),
            threshold: threshold.into(),
            passed: true,
            observed,
            abort_on_fail: false,
            time,
        }
    }

    #[test]
    fn observed_values_carry_their_unit() {
        let o = |m, t, v| fmt_observed(&outcome(m, t, v, None));
        assert_eq!(o("http_req_duration{name:checkout}", "p(95)<800", Some(912.0)), "p(95)=912.00ms");
        assert_eq!(o("http_req_failed", "rate<0.01", Some(0.02)), "rate=2.00%");
        assert_eq!(o("http_reqs", "count>10", Some(4.0)), "count=4.0000");
        assert!(o("checks", "rate>0.9", None).contains("no samples"));
        // Custom trends say whether they are times.
        let custom = |time| fmt_observed(&outcome("server_time{name:checkout}", "p(95)<200", Some(12.5), Some(time)));
        assert_eq!((custom(true).as_str(), custom(false).as_str()), ("p(95)=12.50ms", "p(95)=12.5000"));
    }

    #[test]
    fn custom_metrics_show_in_their_unit() {
        use stampede_metrics::TrendStats;
        let m = |value, skipped| fmt_custom(&CustomMetricSummary { value, skipped });
        assert_eq!(m(CustomValue::Counter { count: 42.0, rate: 1.4 }, 0), "42 1.40/s");
        assert_eq!(m(CustomValue::Counter { count: 2.25, rate: 0.1 }, 3), "2.25 0.10/s (skipped 3)");
        assert_eq!(
            m(CustomValue::Gauge { value: Some(-2.5), min: Some(-3.0), max: Some(10.0) }, 0),
            "-2.5 min=-3 max=10"
        );
        assert_eq!(m(CustomValue::Rate { rate: Some(0.93), trues: 93, total: 100 }, 0), "93.00% 93 out of 100");
        let stats =
            TrendStats { count: 3, min: 1.0, mean: 2.0, p50: 2.0, p90: 3.0, p95: 3.0, p99: 3.0, p999: 3.0, max: 3.0 };
        assert!(m(CustomValue::Trend { time: true, stats, rate: 1.0 }, 0).starts_with("avg=2.00ms min=1.00ms"));
        assert!(m(CustomValue::Trend { time: false, stats, rate: 1.0 }, 0).starts_with("avg=2 min=1 med=2 max=3"));
    }
}
