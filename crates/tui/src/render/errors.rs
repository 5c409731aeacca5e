//! Errors: failed requests by kind, by request name and kind, and the run's
//! recent events.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use stampede_metrics::ErrorKind;

use super::{BAD, label, panel, right};
use crate::fmt;
use crate::model::Model;

pub fn render(frame: &mut Frame, area: Rect, m: &Model) {
    let t = &m.totals;
    let kinds: Vec<ErrorKind> = ErrorKind::ALL.into_iter().filter(|k| t.errors[k.index()] > 0).collect();
    let top_h = (kinds.len() as u16 + 3).max(8).min(area.height / 2);
    let [top, by_request] = Layout::vertical([Constraint::Length(top_h), Constraint::Min(3)]).areas(area);
    let [by_kind, events] = Layout::horizontal([Constraint::Length(40), Constraint::Min(20)]).areas(top);

    // By kind.
    let requests = t.requests.max(1) as f64;
    let rows = kinds.iter().map(|k| {
        let n = t.errors[k.index()];
        Row::new(vec![
            Cell::from(k.as_str()).style(Style::new().fg(BAD)),
            right(fmt::count(n)),
            right(fmt::pct(n as f64 / requests)),
            right(fmt::count(t.interval_errors[k.index()])),
        ])
    });
    let header =
        Row::new(vec![Cell::from("kind"), right("total"), right("of reqs"), right("last")]).style(Style::new().bold());
    let title = format!(" errors by kind · {} failed ", fmt::count(t.failed));
    let widths = [Constraint::Min(10), Constraint::Length(8), Constraint::Length(8), Constraint::Length(7)];
    frame.render_widget(Table::new(rows, widths).header(header).block(panel(title)), by_kind);
    if kinds.is_empty() {
        let inner = panel("").inner(by_kind);
        let [_, below] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        frame.render_widget(Paragraph::new(Span::styled("no failed request so far", label())), below);
    }

    // Recent events, newest first.
    let block = panel(" events ");
    let inner = block.inner(events);
    let lines: Vec<Line> = m
        .events
        .iter()
        .rev()
        .take(inner.height as usize)
        .map(|(at, msg)| {
            Line::from(vec![Span::styled(format!("{:>7} ", fmt::clock(*at)), label()), Span::raw(msg.clone())])
        })
        .collect();
    let lines = if lines.is_empty() { vec![Line::styled("nothing notable yet", label())] } else { lines };
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }).block(block), events);

    // By request and kind: only names that failed, only kinds that occurred.
    let failing: Vec<_> = m.rows.iter().filter(|r| r.run.failed > 0).collect();
    let mut header = vec![Cell::from("request"), right("failed"), right("err%")];
    header.extend(kinds.iter().map(|k| right(short(*k))));
    let rows = failing.iter().map(|r| {
        let mut cells = vec![
            Cell::from(r.name.to_string()),
            right(fmt::count(r.run.failed)),
            right(fmt::opt_pct(r.run.error_rate)).style(Style::new().fg(BAD)),
        ];
        cells.extend(kinds.iter().map(|k| {
            let n = r.errors[k.index()];
            if n == 0 { right("·").style(label()) } else { right(fmt::count(n)) }
        }));
        Row::new(cells)
    });
    let name_w = failing.iter().map(|r| r.name.chars().count()).max().unwrap_or(0).clamp(12, 48) as u16;
    let mut widths = vec![Constraint::Length(name_w), Constraint::Length(8), Constraint::Length(7)];
    widths.extend(kinds.iter().map(|_| Constraint::Length(8)));
    let title = Line::from(vec![
        Span::raw(" errors by request "),
        Span::styled(format!("({} failing) ", failing.len()), label()),
    ]);
    frame.render_widget(
        Table::new(rows, widths)
            .header(Row::new(header).style(Style::new().bold()))
            .column_spacing(1)
            .block(panel(title)),
        by_request,
    );
}

/// Column headers that fit 8 cells.
fn short(k: ErrorKind) -> &'static str {
    match k {
        ErrorKind::Status4xx => "4xx",
        ErrorKind::Status5xx => "5xx",
        ErrorKind::OpenFiles => "no fds",
        ErrorKind::BodyTooLarge => "big body",
        ErrorKind::NotAllowed => "blocked",
        ErrorKind::TooManyRedirects => "redirect",
        other => other.as_str(),
    }
}
