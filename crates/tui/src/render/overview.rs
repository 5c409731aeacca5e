//! Overview: where the run is in its plan, what the target does now, how
//! that evolved, and whether the thresholds hold.

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style, Stylize};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};
use stampede_metrics::live::StageInfo;

use super::{ACCENT, BAD, GOOD, WARN, label, panel, value};
use crate::fmt;
use crate::model::{Model, current_stages};

pub fn render(frame: &mut Frame, area: Rect, m: &Model) {
    // Thresholds take what they need up to a third of the body; charts the rest.
    let wanted = if m.thresholds.is_empty() { 3 } else { m.thresholds.len() as u16 + 2 };
    let thresholds_h = wanted.min((area.height / 3).max(3));
    // A third line of figures lists the custom metrics, when there are any.
    let figures_h = if m.custom.is_empty() { 2 } else { 3 };
    let [title, gauge, figures, charts, thresholds] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(figures_h),
        Constraint::Min(6),
        Constraint::Length(thresholds_h),
    ])
    .areas(area);
    render_title(frame, title, m);
    frame.render_widget(StageGauge { m }, gauge);
    render_figures(frame, figures, m);
    render_charts(frame, charts, m);
    render_thresholds(frame, thresholds, m);
}

/// `smoke.toml (browse, checkout) · stage 2/3 ramp 10→50 VUs`
fn render_title(frame: &mut Frame, area: Rect, m: &Model) {
    let mut spans = vec![Span::styled(m.scenario_file.clone(), value())];
    let now = current_stages(&m.stages, m.elapsed);
    let multi = m.scenario_names.len() > 1;
    // With several scenarios in stages, the stages name them already.
    let stages_name_scenarios = multi && !now.is_empty();
    if !m.scenario_names.is_empty() && !stages_name_scenarios {
        spans.push(Span::styled(format!(" ({})", m.scenario_names.join(", ")), label()));
    }
    for s in now {
        let of: Vec<&StageInfo> = m.stages.iter().filter(|o| o.scenario == s.scenario).collect();
        let i = of.iter().position(|o| std::ptr::eq(*o, s)).unwrap_or(0);
        spans.push(Span::styled("  stage ", label()));
        if multi {
            spans.push(Span::raw(format!("{}: ", s.scenario)));
        }
        spans.push(Span::styled(format!("{}/{} ", i + 1, of.len()), label()));
        spans.push(Span::styled(s.label.clone(), Style::new().fg(ACCENT)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A progress bar over the planned time in which each stage is a segment
/// of its own shade; the elapsed part is lit.
struct StageGauge<'a> {
    m: &'a Model,
}

impl ratatui::widgets::Widget for StageGauge<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if area.width == 0 || area.height == 0 {
            return;
        }
        let m = self.m;
        let planned = m.planned.as_secs_f64();
        let elapsed = m.elapsed.as_secs_f64();
        let ratio = if planned > 0.0 { (elapsed / planned).min(1.0) } else { 0.0 };
        let mut stages: Vec<&StageInfo> = m.stages.iter().collect();
        stages.sort_by_key(|s| s.start);
        let text = format!(" {} / {} · {:.0}% ", fmt::clock(m.elapsed), fmt::clock(m.planned), ratio * 100.0);
        let text: Vec<char> = text.chars().collect();
        let w = area.width as usize;
        let text_at = w.saturating_sub(text.len()) / 2;
        const LIT: [Color; 2] = [Color::Cyan, Color::LightBlue];
        const DARK: [Color; 2] = [Color::Indexed(236), Color::Indexed(239)];
        for x in 0..w {
            let t = planned * (x as f64 + 0.5) / w as f64;
            let stage = stages.iter().position(|s| {
                let (a, b) = (s.start.as_secs_f64(), (s.start + s.duration).as_secs_f64());
                a <= t && t < b
            });
            let shade = stage.unwrap_or(0) % 2;
            let lit = planned > 0.0 && t <= elapsed;
            let (bg, fg) = if lit { (LIT[shade], Color::Black) } else { (DARK[shade], Color::White) };
            let ch = x.checked_sub(text_at).and_then(|i| text.get(i)).copied().unwrap_or(' ');
            if let Some(cell) = buf.cell_mut((area.x + x as u16, area.y)) {
                cell.set_char(ch).set_style(Style::new().bg(bg).fg(fg));
            }
        }
    }
}

/// Two lines of "now" figures (the last interval) and whole-run totals.
fn render_figures(frame: &mut Frame, area: Rect, m: &Model) {
    let pair = |l: &str, v: String, style: Style| {
        vec![Span::styled(format!("{l} "), label()), Span::styled(v, style), Span::raw("  ")]
    };
    let b = value();
    let mut first = Vec::new();
    let mut second = Vec::new();
    let t = &m.totals;
    match &m.now {
        Some(p) => {
            first.extend(pair("RPS", fmt::num(p.rps), b.fg(ACCENT)));
            first.extend(pair("p50", fmt::ms(p.p50_ms), b));
            first.extend(pair("p95", fmt::ms(p.p95_ms), b));
            first.extend(pair("p99", fmt::ms(p.p99_ms), b));
            let err_style = if p.error_rate > 0.0 { b.fg(BAD) } else { b.fg(GOOD) };
            first.extend(pair("errors", fmt::pct(p.error_rate), err_style));
            first.extend(pair("CDN hit", fmt::opt_pct(p.cdn_hit_ratio), b));
        }
        None => first.push(Span::styled("waiting for the first interval…", label())),
    }
    // Second line: the run so far; totals in bytes only where they fit.
    let wide = area.width >= 120;
    let vus_now = m.now.map_or(0, |p| p.vus);
    second.extend(pair("VUs", format!("{vus_now}/{}", m.vus_max_planned), b));
    second.extend(pair("reqs", fmt::count(t.requests), b));
    if t.requests > 0 {
        second.extend(pair("failed", fmt::pct(t.failed as f64 / t.requests as f64), b));
    }
    if let Some(h) = t.cdn_hit {
        let bytes = match t.cdn_hit_bytes {
            Some(r) if wide => format!(" ({} of bytes)", fmt::pct(r)),
            _ => String::new(),
        };
        second.extend(pair("run CDN", format!("{}{bytes}", fmt::pct(h)), b));
    }
    let (rate_in, rate_out) = m.now.map_or((0.0, 0.0), |p| (p.data_in_per_s, p.data_out_per_s));
    let total = |n: u64| if wide { format!(" ({})", fmt::bytes(n as f64)) } else { String::new() };
    second.extend(pair("in", format!("{}/s{}", fmt::bytes(rate_in), total(t.data_in)), b));
    second.extend(pair("out", format!("{}/s{}", fmt::bytes(rate_out), total(t.data_out)), b));
    let mut lines = vec![Line::from(first), Line::from(second)];
    if !m.custom.is_empty() {
        // Third line: the run's custom metrics, as many as fit.
        let mut third = vec![Span::styled("metrics  ", label())];
        for c in &m.custom {
            third.extend(pair(&c.name, c.value.clone(), b.fg(ACCENT)));
        }
        lines.push(Line::from(third));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn render_charts(frame: &mut Frame, area: Rect, m: &Model) {
    let [rps, latency, errors] =
        Layout::horizontal([Constraint::Fill(3), Constraint::Fill(4), Constraint::Fill(3)]).areas(area);
    let s = &m.series;
    let now = m.now;
    let rps_title = Line::from(format!(" RPS {} ", now.map_or("-".into(), |p| fmt::num(p.rps)))).bold();
    chart(frame, rps, rps_title, &[(&s.rps, ACCENT)], fmt::num);
    // The title doubles as the legend: a legend box would hide the lines.
    let latency_title = Line::from(vec![
        Span::raw(" latency ").bold(),
        Span::styled("p50", Style::new().fg(GOOD)),
        Span::raw(" "),
        Span::styled("p95", Style::new().fg(WARN)),
        Span::raw(" "),
        Span::styled("p99 ", Style::new().fg(BAD)),
    ]);
    chart(frame, latency, latency_title, &[(&s.p50, GOOD), (&s.p95, WARN), (&s.p99, BAD)], fmt::ms);
    let errors_title = Line::from(format!(" errors {} ", now.map_or("-".into(), |p| fmt::pct(p.error_rate)))).bold();
    chart(frame, errors, errors_title, &[(&s.error_pct, BAD)], |v| format!("{v:.1}%"));
}

fn chart(
    frame: &mut Frame,
    area: Rect,
    title: Line,
    series: &[(&Vec<(f64, f64)>, Color)],
    fmt_y: impl Fn(f64) -> String,
) {
    let t0 = series.iter().filter_map(|(d, _)| d.first()).map(|p| p.0).fold(f64::INFINITY, f64::min);
    let t1 = series.iter().filter_map(|(d, _)| d.last()).map(|p| p.0).fold(0.0, f64::max);
    let t0 = if t0.is_finite() { t0 } else { 0.0 };
    let t1 = t1.max(t0 + 1.0);
    let ymax = series.iter().flat_map(|(d, _)| d.iter().map(|p| p.1)).fold(0.0, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.1 } else { 1.0 };
    let datasets: Vec<Dataset> = series
        .iter()
        .map(|(data, color)| {
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(*color))
                .data(data)
        })
        .collect();
    let clock = |s: f64| fmt::clock(std::time::Duration::from_secs_f64(s.max(0.0)));
    let chart = Chart::new(datasets)
        .block(super::panel(title))
        .x_axis(Axis::default().bounds([t0, t1]).labels([clock(t0), clock(t1)]).style(label()))
        .y_axis(Axis::default().bounds([0.0, ymax]).labels(["0".to_string(), fmt_y(ymax)]).style(label()));
    frame.render_widget(chart, area);
}

fn render_thresholds(frame: &mut Frame, area: Rect, m: &Model) {
    let failing = m.thresholds.iter().filter(|t| !t.passed).count();
    let title = if m.thresholds.is_empty() {
        Line::from(" thresholds ")
    } else if failing == 0 {
        Line::from(vec![
            Span::raw(" thresholds "),
            Span::styled(format!("all {} pass ", m.thresholds.len()), Style::new().fg(GOOD)),
        ])
    } else {
        Line::from(vec![
            Span::raw(" thresholds "),
            Span::styled(format!("{failing} of {} fail ", m.thresholds.len()), Style::new().fg(BAD).bold()),
        ])
    };
    let block = panel(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if m.thresholds.is_empty() {
        frame.render_widget(Paragraph::new(Span::styled("none in this plan", label())), inner);
        return;
    }
    // Plan order; failing ones first when they do not all fit.
    let mut order: Vec<_> = m.thresholds.iter().collect();
    let rows = inner.height as usize;
    if order.len() > rows {
        order.sort_by_key(|t| t.passed);
    }
    let metric_w = order.iter().map(|t| t.metric.chars().count()).max().unwrap_or(0).min(inner.width as usize / 2);
    let threshold_w = order.iter().map(|t| t.threshold.chars().count()).max().unwrap_or(0);
    let mut lines: Vec<Line> = order
        .iter()
        .take(rows)
        .map(|t| {
            let (mark, color) = if t.passed { ("✓", GOOD) } else { ("✗", BAD) };
            let mut spans = vec![
                Span::styled(format!("{mark} "), Style::new().fg(color).bold()),
                Span::raw(format!("{:<metric_w$} ", t.metric)),
                Span::styled(format!("{:<threshold_w$} ", t.threshold), value()),
                Span::styled(fmt::observed(t), Style::new().fg(color)),
            ];
            if t.abort_on_fail {
                spans.push(Span::styled("  abort on fail", label()));
            }
            Line::from(spans)
        })
        .collect();
    if order.len() > rows
        && let Some(last) = lines.last_mut()
    {
        *last = Line::styled(format!("… {} more", order.len() - rows + 1), label());
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::widgets::Widget;

    use super::*;

    #[test]
    fn stage_gauge_lights_the_elapsed_part_and_shades_each_stage() {
        let stage = |start, secs| StageInfo {
            scenario: "s".into(),
            start: Duration::from_secs(start),
            duration: Duration::from_secs(secs),
            label: String::new(),
        };
        let mut m = Model::default();
        m.planned = Duration::from_secs(100);
        m.elapsed = Duration::from_secs(25);
        m.stages = vec![stage(0, 50), stage(50, 50)];
        let area = Rect::new(0, 0, 40, 1);
        let mut buf = Buffer::empty(area);
        StageGauge { m: &m }.render(area, &mut buf);
        let text: String = (0..40).map(|x| buf[(x, 0)].symbol()).collect();
        assert!(text.contains("0:25 / 1:40 · 25%"), "{text:?}");
        let bg = |x: u16| buf[(x, 0)].bg;
        assert_eq!(bg(0), Color::Cyan, "elapsed, first stage");
        assert_eq!(bg(9), Color::Cyan);
        assert_ne!(bg(10), Color::Cyan, "not yet elapsed");
        assert_ne!(bg(19), bg(20), "the second stage has its own shade");
        assert_eq!(bg(20), bg(39));
    }
}
