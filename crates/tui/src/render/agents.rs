//! Agents: every load generator, its share of the load, whether it keeps up
//! (scheduling lag, CPU) and whether it is still there.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use stampede_metrics::live::{AgentInfo, AgentState};

use super::{ACCENT, BAD, GOOD, WARN, label, panel, right, value};
use crate::fmt;
use crate::model::Model;
use crate::view::{AgentSort, ViewState};

/// A generator whose p99 scheduling lag passes this is falling behind its
/// schedule: its latencies measure itself as much as the target.
const LAG_WARN_MS: f64 = 10.0;
/// A heartbeat older than this is shown as late.
const HEARTBEAT_LATE_S: f64 = 5.0;

pub fn render(frame: &mut Frame, area: Rect, m: &Model, v: &ViewState) {
    let [summary, coordination, table] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Min(3)]).areas(area);
    let count = |s: AgentState| m.agents.iter().filter(|a| a.state == s).count();
    let mut spans = vec![Span::styled(format!("{} agent(s): ", m.agents.len()), value())];
    for s in [AgentState::Running, AgentState::Ready, AgentState::Connected, AgentState::Done, AgentState::Lost] {
        let n = count(s);
        if n > 0 {
            spans.push(Span::styled(format!("{n} {}  ", s.as_str()), Style::new().fg(state_color(s))));
        }
    }
    let late = m.agents.iter().filter(|a| heartbeat_late(m, a)).count();
    if late > 0 {
        spans.push(Span::styled(format!("{late} late  "), Style::new().fg(BAD)));
    }
    let lagging = m.agents.iter().filter(|a| a.lag_p99_ms.is_some_and(|l| l > LAG_WARN_MS)).count();
    if lagging > 0 {
        spans.push(Span::styled(format!("{lagging} lagging  "), Style::new().fg(WARN)));
    }
    // A lost agent's VUs are gone.
    let vus: u64 = m.agents.iter().filter(|a| a.state != AgentState::Lost).map(|a| a.vus).sum();
    spans.push(Span::styled("VUs ", label()));
    spans.push(Span::styled(vus.to_string(), value()));
    let total_rps: f64 = m.agents.iter().map(|a| a.rps).sum();
    spans.push(Span::styled("  rps ", label()));
    spans.push(Span::styled(fmt::num(total_rps), value()));
    frame.render_widget(Paragraph::new(Line::from(spans)), summary);
    if let Some(c) = &m.coordination {
        let mut spans = Vec::new();
        if let Some(skew) = c.start_skew_ms {
            spans.push(Span::styled("start skew ", label()));
            spans.push(Span::styled(fmt::ms(skew), value()));
            spans.push(Span::raw("  "));
        }
        if c.intervals > 0 {
            let [late50, late99, _] = c.late_ms;
            spans.push(Span::styled("intervals out after their end ", label()));
            spans.push(Span::styled(fmt::ms(late50), value()));
            spans.push(Span::styled(" p99 ", label()));
            spans.push(Span::styled(fmt::ms(late99), value()));
            spans.push(Span::styled("  merge ", label()));
            spans.push(Span::styled(fmt::ms(c.merge_ms[0]), value()));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)), coordination);
    }

    // Hundreds of agents: sorted (those needing attention first), paged.
    let mut agents: Vec<&AgentInfo> = m.agents.iter().collect();
    match v.agent_sort {
        AgentSort::Attention => agents.sort_by(|a, b| attention(m, a).cmp(&attention(m, b)).then(a.name.cmp(&b.name))),
        AgentSort::Name => agents.sort_by(|a, b| a.name.cmp(&b.name)),
        AgentSort::Rps => agents.sort_by(|a, b| b.rps.total_cmp(&a.rps).then(a.name.cmp(&b.name))),
        AgentSort::Cpu => agents.sort_by(|a, b| {
            b.cpu_percent.unwrap_or(-1.0).total_cmp(&a.cpu_percent.unwrap_or(-1.0)).then(a.name.cmp(&b.name))
        }),
    }
    // Rows inside the panel: its borders and the header take three lines.
    let visible = (table.height as usize).saturating_sub(3).max(1);
    let top = v.agent_top.min(agents.len().saturating_sub(visible));
    let shown = &agents[top..(top + visible).min(agents.len())];
    let title = if agents.len() > visible {
        format!(" agents {}–{} of {} · by {} ", top + 1, top + shown.len(), agents.len(), v.agent_sort.title())
    } else {
        format!(" agents · by {} ", v.agent_sort.title())
    };

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
    let rows = shown.iter().map(|a| {
        let hb = m.read_at.saturating_duration_since(a.last_heartbeat);
        let hb_cell = right(format!("{} ago", fmt::age(hb)));
        let hb_cell = if heartbeat_late(m, a) { hb_cell.style(Style::new().fg(BAD)) } else { hb_cell };
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
        Table::new(rows, widths).header(header).column_spacing(1).block(panel(Line::from(title).fg(ACCENT)));
    frame.render_widget(table_widget, table);
    if empty {
        let inner = panel("").inner(table);
        let [_, below] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
        frame.render_widget(Paragraph::new(Span::styled("no agent has connected yet", label())), below);
    }
}

fn heartbeat_late(m: &Model, a: &AgentInfo) -> bool {
    a.state != AgentState::Done
        && a.state != AgentState::Lost
        && m.read_at.saturating_duration_since(a.last_heartbeat).as_secs_f64() > HEARTBEAT_LATE_S
}

/// 0 lost, 1 late heartbeat, 2 falling behind, 3 the rest.
fn attention(m: &Model, a: &AgentInfo) -> u8 {
    if a.state == AgentState::Lost {
        0
    } else if heartbeat_late(m, a) {
        1
    } else if a.lag_p99_ms.is_some_and(|l| l > LAG_WARN_MS) {
        2
    } else {
        3
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
