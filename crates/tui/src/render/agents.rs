//! Agents: every load generator, its share of the load, whether it keeps up
//! (scheduling lag, CPU) and whether it is still there.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use stampede_metrics::live::AgentState;

use super::{ACCENT, BAD, GOOD, WARN, label, panel, right, value};
use crate::fmt;
use crate::model::Model;

/// A generator whose p99 scheduling lag passes this is falling behind its
/// schedule: its latencies measure itself as much as the target.
const LAG_WARN_MS: f64 = 10.0;
/// A heartbeat older than this is shown as late.
const HEARTBEAT_LATE_S: f64 = 5.0;

pub fn render(frame: &mut Frame, area: Rect, m: &Model) {
    let [summary, table] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    let count = |s: AgentState| m.agents.iter().filter(|a| a.state == s).count();
    let mut spans = vec![Span::styled(format!("{} agent(s): ", m.agents.len()), value())];
    for s in [AgentState::Running, AgentState::Ready, AgentState::Connected, AgentState::Done, AgentState::Lost] {
        let n = count(s);
        if n > 0 {
            spans.push(Span::styled(format!("{n} {}  ", s.as_str()), Style::new().fg(state_color(s))));
        }
    }
    let total_rps: f64 = m.agents.iter().map(|a| a.rps).sum();
    spans.push(Span::styled("rps ", label()));
    spans.push(Span::styled(fmt::num(total_rps), value()));
    frame.render_widget(Paragraph::new(Line::from(spans)), summary);

    // The share column and the address's width give way on a narrow screen.
    let wide = table.width >= 110;
    let total_requests: u64 = m.agents.iter().map(|a| a.requests).sum::<u64>().max(1);
    let mut titles = vec!["name", "address", "state", "VUs", "rps", "lag p99", "cpu", "requests"];
    if wide {
        titles.push("share");
    }
    titles.push("heartbeat");
    let header = Row::new(titles.iter().enumerate().map(|(i, h)| if i < 3 { Cell::from(*h) } else { right(*h) }))
        .style(Style::new().bold());
    let rows = m.agents.iter().map(|a| {
        let hb = m.read_at.saturating_duration_since(a.last_heartbeat);
        let hb_cell = right(format!("{} ago", fmt::age(hb)));
        let hb_cell = if a.state != AgentState::Done && hb.as_secs_f64() > HEARTBEAT_LATE_S {
            hb_cell.style(Style::new().fg(BAD))
        } else {
            hb_cell
        };
        let lag = a.lag_p99_ms.map_or_else(|| "-".to_string(), fmt::ms);
        let lag_cell = match a.lag_p99_ms {
            Some(l) if l > LAG_WARN_MS => right(lag).style(Style::new().fg(WARN)),
            _ => right(lag),
        };
        let state_style = Style::new().fg(state_color(a.state));
        let state_style = if a.state == AgentState::Lost { state_style.bold() } else { state_style };
        let mut cells = vec![
            Cell::from(a.name.clone()),
            Cell::from(a.address.clone()),
            Cell::from(a.state.as_str()).style(state_style),
            right(a.vus.to_string()),
            right(fmt::num(a.rps)),
            lag_cell,
            right(a.cpu_percent.map_or_else(|| "-".to_string(), |c| format!("{c:.0}%"))),
            right(fmt::count(a.requests)),
        ];
        if wide {
            cells.push(right(fmt::pct(a.requests as f64 / total_requests as f64)));
        }
        cells.push(hb_cell);
        Row::new(cells)
    });
    let name_w = m.agents.iter().map(|a| a.name.chars().count()).max().unwrap_or(0).clamp(4, 24) as u16;
    let address_w = m.agents.iter().map(|a| a.address.chars().count()).max().unwrap_or(0).clamp(7, 40) as u16;
    let mut widths = vec![
        Constraint::Length(name_w),
        Constraint::Max(address_w),
        Constraint::Length(9),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(4),
        Constraint::Length(8),
    ];
    if wide {
        widths.push(Constraint::Length(6));
    }
    widths.push(Constraint::Length(9));
    let empty = m.agents.is_empty();
    let table_widget =
        Table::new(rows, widths).header(header).column_spacing(1).block(panel(Line::from(" agents ").fg(ACCENT)));
    frame.render_widget(table_widget, table);
    if empty {
        let inner = panel("").inner(table);
        let [_, below] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        frame.render_widget(Paragraph::new(Span::styled("no agent has connected yet", label())), below);
    }
}

fn state_color(s: AgentState) -> ratatui::style::Color {
    match s {
        AgentState::Running => GOOD,
        AgentState::Ready | AgentState::Connected => ACCENT,
        AgentState::Done => ratatui::style::Color::Gray,
        AgentState::Lost => BAD,
    }
}
