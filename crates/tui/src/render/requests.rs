//! Requests: one row per request name, sortable, and the latency
//! distribution of the selected one.

use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Paragraph, Row, Table, TableState};

use super::{ACCENT, BAD, WARN, label, panel, right};
use crate::fmt;
use crate::model::{DISTRIBUTION, Model, RequestRow};
use crate::view::{SortColumn, ViewState, Window};

/// The distribution sits beside the table from this width on, below it otherwise.
const SIDE_BY_SIDE: u16 = 140;

pub fn render(frame: &mut Frame, area: Rect, m: &Model, v: &ViewState) {
    let rows = v.sorted(&m.rows);
    let names: Vec<Arc<str>> = rows.iter().map(|r| r.name.clone()).collect();
    let selected = v.selected_index(&names);
    let (table_area, dist_area) = if area.width >= SIDE_BY_SIDE {
        let [t, d] = Layout::horizontal([Constraint::Min(84), Constraint::Percentage(40)]).areas(area);
        (t, d)
    } else {
        // One line per percentile, and the borders.
        let dist_h = DISTRIBUTION.len() as u16 + 3;
        let [t, d] = Layout::vertical([Constraint::Min(5), Constraint::Length(dist_h)]).areas(area);
        (t, d)
    };
    render_table(frame, table_area, &rows, selected, v);
    let shown = selected.or(if rows.is_empty() { None } else { Some(0) });
    render_distribution(frame, dist_area, shown.map(|i| rows[i]), v);
}

fn window_name(w: Window) -> &'static str {
    match w {
        Window::Run => "whole run",
        Window::Interval => "last interval",
    }
}

fn render_table(frame: &mut Frame, area: Rect, rows: &[&RequestRow], selected: Option<usize>, v: &ViewState) {
    let arrow = if v.descending { "▼" } else { "▲" };
    let header = Row::new(SortColumn::ALL.iter().map(|c| {
        let t = if *c == v.sort { format!("{}{arrow}", c.title()) } else { c.title().to_string() };
        let style = if *c == v.sort { Style::new().fg(ACCENT).bold() } else { Style::new().bold() };
        if *c == SortColumn::Name { ratatui::widgets::Cell::from(t).style(style) } else { right(t).style(style) }
    }));
    let body = rows.iter().map(|r| {
        let f = v.figures(r);
        let err = f.error_rate.unwrap_or(0.0);
        let err_cell = right(fmt::opt_pct(f.error_rate));
        let err_cell = if err > 0.0 { err_cell.style(Style::new().fg(BAD)) } else { err_cell };
        Row::new(vec![
            ratatui::widgets::Cell::from(r.name.to_string()),
            right(fmt::count(r.run.count)),
            right(fmt::num(r.rps)),
            right(fmt::ms(f.p50)),
            right(fmt::ms(f.p95)),
            right(fmt::ms(f.p99)),
            right(fmt::ms(f.max)),
            err_cell,
            right(fmt::opt_pct(f.cdn_hit)),
        ])
    });
    let widths = [
        Constraint::Min(10),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(6),
    ];
    let title = Line::from(vec![
        Span::raw(format!(" requests · {} ", window_name(v.window))),
        Span::styled(format!("({} names) ", rows.len()), label()),
    ]);
    let table = Table::new(body, widths)
        .header(header)
        .column_spacing(1)
        .block(panel(title))
        .row_highlight_style(Style::new().reversed())
        .highlight_symbol("›");
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut state);
}

fn render_distribution(frame: &mut Frame, area: Rect, row: Option<&RequestRow>, v: &ViewState) {
    let Some(row) = row else {
        let block = panel(" latency distribution ");
        frame.render_widget(Paragraph::new(Span::styled("no requests yet", label())).block(block), area);
        return;
    };
    let f = v.figures(row);
    let title = Line::from(vec![
        Span::raw(" latency of "),
        Span::styled(row.name.to_string(), Style::new().fg(ACCENT).bold()),
        Span::raw(format!(" · {} ", window_name(v.window))),
        Span::styled(format!("{} reqs, {} errors ", fmt::count(f.count), fmt::opt_pct(f.error_rate)), label()),
    ]);
    let block = panel(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if f.count == 0 {
        frame.render_widget(Paragraph::new(Span::styled("no requests in this window", label())), inner);
        return;
    }
    let labels = DISTRIBUTION.iter().map(|(_, l)| *l).chain(["max"]);
    let bars: Vec<Bar> = labels
        .zip(f.distribution)
        .enumerate()
        .map(|(i, (l, ms))| {
            let color = match i {
                0..=2 => ratatui::style::Color::Green,
                3..=4 => WARN,
                _ => BAD,
            };
            Bar::default()
                .label(Line::from(l))
                .value((ms * 1000.0) as u64)
                // Padded so the values line up whatever their unit.
                .text_value(format!("{:>6} ", fmt::ms(ms)))
                .style(Style::new().fg(color))
                .value_style(Style::new().fg(ratatui::style::Color::Black).bg(color))
        })
        .collect();
    frame.render_widget(BarChart::horizontal(bars).bar_width(1).bar_gap(0), inner);
}
