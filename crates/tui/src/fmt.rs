//! Compact number formats for narrow table cells (7 columns or fewer where
//! possible), in the units k6 users read: milliseconds, requests per second,
//! decimal bytes.

use std::time::Duration;

use stampede_metrics::ThresholdOutcome;

/// Milliseconds as `812µs`, `12.3ms`, `1.25s`, `2m05s`.
pub fn ms(v: f64) -> String {
    if !v.is_finite() || v <= 0.0 {
        "0".to_string()
    } else if v < 1.0 {
        format!("{:.0}µs", v * 1000.0)
    } else if v < 100.0 {
        format!("{v:.1}ms")
    } else if v < 1000.0 {
        format!("{v:.0}ms")
    } else if v < 60_000.0 {
        format!("{:.2}s", v / 1000.0)
    } else {
        let s = (v / 1000.0).round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// A rate or count with a k/M suffix once it gets wide: `812.4`, `12.3k`.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        "-".to_string()
    } else if v < 1000.0 {
        format!("{v:.1}")
    } else if v < 1_000_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{:.2}M", v / 1_000_000.0)
    }
}

/// A whole count: exact below a million, then `1.23M`.
pub fn count(n: u64) -> String {
    if n < 1_000_000 { n.to_string() } else { format!("{:.2}M", n as f64 / 1_000_000.0) }
}

/// A ratio (0–1) as a percentage with two decimals below 10 %: `0.12%`, `87.5%`.
pub fn pct(r: f64) -> String {
    let p = r * 100.0;
    if p < 10.0 { format!("{p:.2}%") } else { format!("{p:.1}%") }
}

/// An optional ratio; `-` when there was nothing to divide.
pub fn opt_pct(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), pct)
}

/// Decimal bytes as k6 prints them: `512 B`, `1.2 MB`.
pub fn bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b.max(0.0);
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 { format!("{v:.0} {}", UNITS[i]) } else { format!("{v:.1} {}", UNITS[i]) }
}

/// A run clock: `0:42`, `12:05`, `1:02:03`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// An age such as a heartbeat's: `0.4s`, `12s`, `3m10s`.
pub fn age(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.1}s")
    } else if s < 120.0 {
        format!("{s:.0}s")
    } else {
        let s = s as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

/// A threshold's observed value in the unit of its metric: `p(95)=812ms`,
/// `rate=0.42%`, `count=1200`; `no samples` when the selector matched none.
pub fn observed(t: &ThresholdOutcome) -> String {
    let Some(v) = t.observed else { return "no samples".to_string() };
    let agg = t.aggregation();
    let base = t.metric.split('{').next().unwrap_or(&t.metric);
    if t.in_ms() {
        format!("{agg}={}", ms(v))
    } else if agg == "rate" && (0.0..=1.0).contains(&v) && base != "http_reqs" && base != "iterations" {
        format!("{agg}={}", pct(v))
    } else if v.fract() == 0.0 {
        format!("{agg}={v:.0}")
    } else {
        format!("{agg}={v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_stay_short_at_every_scale() {
        assert_eq!(ms(0.412), "412µs");
        assert_eq!(ms(12.34), "12.3ms");
        assert_eq!(ms(812.0), "812ms");
        assert_eq!(ms(1250.0), "1.25s");
        assert_eq!(ms(125_000.0), "2m05s");
        for v in [0.001, 0.9, 99.96, 999.9, 59_999.0, 3_600_000.0] {
            assert!(ms(v).chars().count() <= 7, "{v} -> {}", ms(v));
        }
    }

    fn observed(metric: &str, threshold: &str, v: Option<f64>, time: Option<bool>) -> String {
        super::observed(&ThresholdOutcome {
            metric: metric.into(),
            threshold: threshold.into(),
            passed: true,
            observed: v,
            abort_on_fail: false,
            time,
        })
    }

    #[test]
    fn thresholds_show_their_unit() {
        assert_eq!(observed("http_req_duration{name:checkout}", "p(95)<800", Some(812.0), None), "p(95)=812ms");
        assert_eq!(observed("http_req_failed", "rate<0.01", Some(0.0042), None), "rate=0.42%");
        assert_eq!(observed("http_reqs", "count>100", Some(1200.0), None), "count=1200");
        assert_eq!(observed("http_reqs", "rate>100", Some(250.5), None), "rate=250.50");
        assert_eq!(observed("checks", "rate>0.99", None, None), "no samples");
        assert_eq!(observed("server_time", "p(95)<200", Some(12.5), Some(true)), "p(95)=12.5ms");
        assert_eq!(observed("cart_value", "p(95)<200", Some(12.5), Some(false)), "p(95)=12.50");
    }

    #[test]
    fn clocks_and_sizes() {
        assert_eq!(clock(Duration::from_secs(42)), "0:42");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
        assert_eq!(bytes(1_234_567.0), "1.2 MB");
        assert_eq!(num(12_345.0), "12.3k");
        assert_eq!(pct(0.0012), "0.12%");
        assert_eq!(pct(0.875), "87.5%");
    }
}
