//! Inline SVG charts for the HTML report, drawn in Rust: no script, no
//! network, nothing to load. Two shapes: a time-series line chart and
//! HdrHistogram's latency-by-percentile plot.

use std::fmt::Write as _;

use crate::markup::xml_escape as esc;

/// Points kept per line; longer series are bucketed (see [`Agg`]).
pub const MAX_POINTS: usize = 720;

const W: f64 = 640.0;
const H: f64 = 240.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 30.0;

/// How a line is reduced when more than [`MAX_POINTS`] intervals fall into a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// Rates and ratios: the bucket's mean.
    Mean,
    /// Latency percentiles and gauges: the bucket's largest value, so a
    /// spike is never averaged away.
    Max,
}

/// One line of a chart: `(x, y)` points; `None` leaves a gap.
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub color: &'static str,
    pub points: Vec<(f64, Option<f64>)>,
    pub agg: Agg,
}

/// "Nice" tick step for a range split into about `n` parts (1, 2, 2.5, 5 × 10^k).
fn nice_step(range: f64, n: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / n;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 2.5 {
        2.5
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// Tick step for a time axis in seconds (1 s … hours, human steps).
fn time_step(range: f64) -> f64 {
    const STEPS: [f64; 16] =
        [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0];
    let raw = range / 6.0;
    STEPS.iter().copied().find(|s| *s >= raw).unwrap_or_else(|| (raw / 3600.0).ceil() * 3600.0)
}

/// Milliseconds for an axis: short, no trailing zeros (`0`, `250µs`, `2.5ms`, `300ms`, `1.5s`).
pub fn fmt_axis_ms(ms: f64) -> String {
    fn trim(v: f64) -> String {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
    if ms == 0.0 {
        "0".into()
    } else if ms < 1.0 {
        format!("{}µs", trim(ms * 1000.0))
    } else if ms < 1000.0 {
        format!("{}ms", trim(ms))
    } else {
        format!("{}s", trim(ms / 1000.0))
    }
}

/// Seconds as `45s`, `2m`, `1m30s`, `1h05m`.
pub fn fmt_clock(s: f64) -> String {
    let s = s.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 if s.is_multiple_of(60) => format!("{}m", s / 60),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

fn reduce(points: &[(f64, Option<f64>)], agg: Agg) -> Vec<(f64, Option<f64>)> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let per = points.len().div_ceil(MAX_POINTS);
    points
        .chunks(per)
        .map(|c| {
            let x = c.last().map_or(0.0, |p| p.0);
            let ys: Vec<f64> = c.iter().filter_map(|p| p.1).collect();
            let y = if ys.is_empty() {
                None
            } else {
                Some(match agg {
                    Agg::Mean => ys.iter().sum::<f64>() / ys.len() as f64,
                    Agg::Max => ys.iter().copied().fold(f64::MIN, f64::max),
                })
            };
            (x, y)
        })
        .collect()
}

/// `M x y L x y …` for a line, breaking at gaps.
fn path(points: &[(f64, Option<f64>)], sx: impl Fn(f64) -> f64, sy: impl Fn(f64) -> f64) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for &(x, y) in points {
        match y {
            Some(y) if y.is_finite() => {
                let _ = write!(d, "{}{:.1} {:.1} ", if pen_down { "L" } else { "M" }, sx(x), sy(y));
                pen_down = true;
            }
            _ => pen_down = false,
        }
    }
    d
}

fn open_svg(out: &mut String, title: &str) {
    let _ = write!(out, r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{}">"#, esc(title));
    let _ = write!(out, "<title>{}</title>", esc(title));
}

fn legend(out: &mut String, lines: &[(&str, &str)]) {
    let mut x = LEFT + 4.0;
    for (label, color) in lines {
        let _ = write!(
            out,
            r#"<rect x="{x:.0}" y="{:.0}" width="10" height="3" fill="{color}"/><text class="lg" x="{:.0}" y="{:.0}">{}</text>"#,
            TOP - 17.0,
            x + 14.0,
            TOP - 13.0,
            esc(label)
        );
        x += 24.0 + 6.5 * label.chars().count() as f64;
    }
}

/// A line chart over time: `x` in seconds from the run start. The y axis
/// reaches at least `y_floor_max`; with `whole`, its ticks are whole numbers
/// (a count such as VUs never gets a 0.5 tick, which would print as a
/// repeated label).
pub fn time_chart(title: &str, lines: &[Line], y_fmt: &dyn Fn(f64) -> String, y_floor_max: f64, whole: bool) -> String {
    let lines: Vec<Line> = lines.iter().map(|l| Line { points: reduce(&l.points, l.agg), ..l.clone() }).collect();
    let xs = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0));
    let x_max = xs.fold(0.0f64, f64::max).max(1.0);
    let y_data =
        lines.iter().flat_map(|l| l.points.iter().filter_map(|p| p.1)).filter(|y| y.is_finite()).fold(0.0, f64::max);
    let mut y_step = nice_step(y_data.max(y_floor_max), 4.0);
    if whole {
        // 0.1, 0.25, 0.5 → 1; 2.5 → 2 (larger nice steps are whole already).
        y_step = if y_step < 1.0 { 1.0 } else { y_step.floor() };
    }
    let y_max = ((y_data.max(y_floor_max) / y_step).ceil() * y_step).max(y_step);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let sx = |x: f64| LEFT + x / x_max * pw;
    let sy = |y: f64| TOP + ph - y / y_max * ph;

    let mut out = String::new();
    open_svg(&mut out, title);
    // Grid and y labels.
    let mut y = 0.0;
    while y <= y_max + y_step * 1e-9 {
        let py = sy(y);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}"/><text class="ax" x="{:.0}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            esc(&y_fmt(y))
        );
        y += y_step;
    }
    let x_step = time_step(x_max);
    let mut x = 0.0;
    while x <= x_max + 1e-9 {
        let px = sx(x);
        let _ = write!(
            out,
            r#"<line class="tick" x1="{px:.1}" y1="{:.1}" x2="{px:.1}" y2="{:.1}"/><text class="ax" x="{px:.1}" y="{:.0}" text-anchor="middle">{}</text>"#,
            TOP + ph,
            TOP + ph + 4.0,
            H - 10.0,
            fmt_clock(x)
        );
        x += x_step;
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
        TOP + ph,
        W - RIGHT,
        TOP + ph
    );
    for l in &lines {
        let d = path(&l.points, sx, sy);
        if !d.is_empty() {
            let _ = write!(
                out,
                r#"<path class="line" d="{}" stroke="{}"><title>{}</title></path>"#,
                d.trim_end(),
                l.color,
                esc(&l.label)
            );
        }
    }
    if lines.iter().all(|l| l.points.iter().all(|p| p.1.is_none())) {
        let _ = write!(
            out,
            r#"<text class="empty" x="{:.0}" y="{:.0}" text-anchor="middle">no data</text>"#,
            LEFT + pw / 2.0,
            TOP + ph / 2.0
        );
    }
    let names: Vec<(&str, &str)> = lines.iter().map(|l| (l.label.as_str(), l.color)).collect();
    if names.len() > 1 {
        legend(&mut out, &names);
    }
    out.push_str("</svg>");
    out
}

/// `1/(1-q)` on a log scale: 0 at the median's left edge, 5 at p99.999.
fn percentile_x(p: f64) -> f64 {
    let q = (p / 100.0).min(0.999_99);
    (1.0 / (1.0 - q)).log10()
}

/// Latency by percentile (HdrHistogram's plot): `curve` is `(percentile, ms)`
/// ending with the max at 100.
pub fn percentile_chart(title: &str, curve: &[(f64, f64)], color: &'static str) -> String {
    percentile_chart_of(title, &[("", curve, color)])
}

/// One curve of [`percentile_chart_of`]: its label, `(percentile, ms)`
/// points, and color.
pub type Curve<'a> = (&'a str, &'a [(f64, f64)], &'static str);

/// Several latency-by-percentile curves on one chart, labelled when there
/// is more than one: two runs overlaid.
pub fn percentile_chart_of(title: &str, curves: &[Curve<'_>]) -> String {
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x_max = 5.0;
    let max = curves.iter().flat_map(|c| c.1.iter()).map(|c| c.1).fold(0.0, f64::max);
    let y_step = nice_step(max.max(1e-3), 4.0);
    let y_max = ((max / y_step).ceil() * y_step).max(y_step);
    let sx = |x: f64| LEFT + x / x_max * pw;
    let sy = |y: f64| TOP + ph - y / y_max * ph;
    let mut out = String::new();
    open_svg(&mut out, title);
    let mut y = 0.0;
    while y <= y_max + y_step * 1e-9 {
        let py = sy(y);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}"/><text class="ax" x="{:.0}" y="{:.1}" text-anchor="end">{}</text>"#,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            esc(&fmt_axis_ms(y))
        );
        y += y_step;
    }
    const LABELS: [&str; 6] = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"];
    for (i, label) in LABELS.iter().enumerate() {
        let px = sx(i as f64);
        // The last label ends at its line, inside the plot's box.
        let anchor = if i + 1 == LABELS.len() { "end" } else { "middle" };
        let _ = write!(
            out,
            r#"<line class="grid v" x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}"/><text class="ax" x="{px:.1}" y="{:.0}" text-anchor="{anchor}">{label}</text>"#,
            TOP + ph,
            H - 10.0
        );
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
        TOP + ph,
        W - RIGHT,
        TOP + ph
    );
    if curves.iter().all(|c| c.1.iter().all(|p| p.0 >= 100.0)) {
        let _ = write!(
            out,
            r#"<text class="empty" x="{:.0}" y="{:.0}" text-anchor="middle">no samples</text>"#,
            LEFT + pw / 2.0,
            TOP + ph / 2.0
        );
    }
    for (k, &(label, curve, color)) in curves.iter().enumerate() {
        let body: Vec<(f64, Option<f64>)> =
            curve.iter().filter(|c| c.0 < 100.0).map(|c| (percentile_x(c.0), Some(c.1))).collect();
        if body.is_empty() {
            continue;
        }
        let _ = write!(out, r#"<path class="line" d="{}" stroke="{color}"/>"#, path(&body, sx, sy).trim_end());
        if curves.len() > 1 {
            let _ = write!(
                out,
                r#"<text class="ax" x="{:.0}" y="{:.0}" fill="{color}">{}</text>"#,
                LEFT + 8.0,
                TOP + 14.0 + 14.0 * k as f64,
                esc(label)
            );
        }
        for &(p, ms) in curve.iter().filter(|c| c.0 < 100.0) {
            let _ = write!(
                out,
                r#"<circle class="pt" cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"><title>p{} = {}</title></circle>"#,
                sx(percentile_x(p)),
                sy(ms),
                p,
                esc(&crate::text::fmt_ms(ms))
            );
        }
        if let Some(&(_, m)) = curve.iter().find(|c| c.0 >= 100.0).filter(|_| curves.len() == 1) {
            let py = sy(m);
            let _ = write!(
                out,
                r#"<line class="max" x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}"/><text class="ax maxl" x="{:.1}" y="{:.1}" text-anchor="end">max {}</text>"#,
                W - RIGHT,
                W - RIGHT - 2.0,
                py - 4.0,
                esc(&crate::text::fmt_ms(m))
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(100.0, 4.0), 25.0);
        assert_eq!(nice_step(9.0, 4.0), 2.5);
        assert_eq!(nice_step(0.9, 4.0), 0.25);
        assert_eq!(time_step(60.0), 10.0);
        assert_eq!(time_step(1800.0), 300.0);
        assert_eq!(fmt_clock(90.0), "1m30s");
        assert_eq!(fmt_clock(3900.0), "1h05m");
        assert_eq!(fmt_axis_ms(0.0), "0");
        assert_eq!(fmt_axis_ms(0.25), "250µs");
        assert_eq!(fmt_axis_ms(300.0), "300ms");
        assert_eq!(fmt_axis_ms(2.5), "2.5ms");
        assert_eq!(fmt_axis_ms(1500.0), "1.5s");
    }

    #[test]
    fn long_series_are_bucketed_keeping_spikes() {
        let mut pts: Vec<(f64, Option<f64>)> = (0..7200).map(|i| (i as f64, Some(1.0))).collect();
        pts[4000].1 = Some(50.0);
        let r = reduce(&pts, Agg::Max);
        assert!(r.len() <= MAX_POINTS);
        assert!(r.iter().any(|p| p.1 == Some(50.0)));
        let svg = time_chart(
            "t",
            &[Line { label: "a".into(), color: "#000", points: pts, agg: Agg::Max }],
            &|v| format!("{v}"),
            0.0,
            false,
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }

    /// The y-axis labels of a chart, top to bottom as drawn (text-anchor end).
    fn y_labels(svg: &str) -> Vec<String> {
        svg.split(r#"text-anchor="end">"#).skip(1).map(|t| t[..t.find('<').unwrap_or(0)].to_string()).collect()
    }

    #[test]
    fn a_count_axis_has_whole_ticks_and_no_repeated_labels() {
        for top in [1u32, 2, 3, 5, 10, 15_000] {
            let pts = (0..60).map(|i| (f64::from(i), Some(f64::from(i % (top + 1))))).collect();
            let svg = time_chart(
                "VUs",
                &[Line { label: "VUs".into(), color: "#000", points: pts, agg: Agg::Max }],
                &|v| format!("{v:.0}"),
                1.0,
                true,
            );
            let labels = y_labels(&svg);
            let mut unique = labels.clone();
            unique.dedup();
            assert_eq!(labels, unique, "max {top} VUs: labels {labels:?}");
            assert!(labels.len() >= 2, "max {top} VUs: labels {labels:?}");
        }
    }

    #[test]
    fn gaps_break_the_line() {
        let d = path(&[(0.0, Some(1.0)), (1.0, None), (2.0, Some(1.0))], |x| x, |y| y);
        assert_eq!(d.matches('M').count(), 2);
    }
}
