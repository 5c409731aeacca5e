//! Drawing: pure functions from a [`Model`] and a [`ViewState`] to a frame.
//!
//! Every screen has a one-line header (state of the run, clock, view tabs)
//! and a one-line footer (the keys that matter in this view); the body
//! belongs to the view.

mod agents;
mod errors;
mod overview;
mod requests;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Tabs, Wrap};
use stampede_metrics::live::Phase;

use crate::fmt;
use crate::model::Model;
use crate::view::{View, ViewState};

pub(crate) const ACCENT: Color = Color::Cyan;
pub(crate) const GOOD: Color = Color::Green;
pub(crate) const BAD: Color = Color::Red;
pub(crate) const WARN: Color = Color::Yellow;

/// Style of a dim label before a value.
pub(crate) fn label() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// Style of a value next to a label.
pub(crate) fn value() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

/// Draws the whole screen.
pub fn render(frame: &mut Frame, m: &Model, v: &ViewState) {
    let [header, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(frame.area());
    render_header(frame, header, m, v);
    match v.view {
        View::Overview => overview::render(frame, body, m),
        View::Requests => requests::render(frame, body, m, v),
        View::Agents => agents::render(frame, body, m, v),
        View::Errors => errors::render(frame, body, m),
    }
    render_footer(frame, footer, v);
    if v.help {
        render_help(frame, body);
    }
}

/// `stampede │ RUNNING │ 0:42 / 2:00` on the left, the view tabs on the right.
fn render_header(frame: &mut Frame, area: Rect, m: &Model, v: &ViewState) {
    let mut spans = vec![Span::styled("stampede ", Style::new().fg(ACCENT).bold())];
    let stopping = v.stop_requested || m.phase == Phase::Stopping;
    let (text, color) = match m.phase {
        Phase::Done => ("DONE", GOOD),
        _ if stopping => ("STOPPING…", WARN),
        Phase::Starting => ("STARTING", ACCENT),
        _ => ("RUNNING", GOOD),
    };
    spans.push(Span::styled(text, Style::new().fg(color).bold()));
    if (v.paused || m.paused) && m.phase != Phase::Done {
        spans.push(Span::raw(" "));
        spans.push(Span::styled("PAUSED", Style::new().fg(Color::Black).bg(WARN).bold()));
    }
    spans.push(Span::raw(format!("  {}/{}", fmt::clock(m.elapsed), fmt::clock(m.planned))));
    let left = Line::from(spans);
    let tabs: Vec<Line> =
        View::ALL.iter().enumerate().map(|(i, t)| Line::from(format!("{} {}", i + 1, t.title()))).collect();
    // "N Title" each, one space before each, a divider between.
    let tabs_width: u16 = View::ALL.iter().map(|t| t.title().len() as u16 + 3).sum::<u16>() + 3;
    let [l, r] = Layout::horizontal([Constraint::Min(0), Constraint::Length(tabs_width)]).areas(area);
    frame.render_widget(Paragraph::new(left), l);
    frame.render_widget(
        Tabs::new(tabs)
            .select(v.view.index())
            .style(label())
            .highlight_style(Style::new().fg(ACCENT).bold().underlined())
            .divider("│")
            .padding(" ", ""),
        r,
    );
}

fn render_footer(frame: &mut Frame, area: Rect, v: &ViewState) {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    if v.stop_requested {
        keys.push(("q", "abort now"));
    } else {
        keys.push(("q", "stop"));
        keys.push(("p", if v.paused { "resume" } else { "pause" }));
    }
    if v.view == View::Requests {
        keys.extend([("↑↓", "select"), ("←→", "sort"), ("r", "reverse"), ("w", "window")]);
    } else if v.view == View::Agents {
        keys.extend([("↑↓ PgUp PgDn", "scroll"), ("←→", "sort")]);
    } else {
        keys.push(("Tab 1-4", "views"));
    }
    keys.push(("?", "help"));
    let mut spans = Vec::new();
    for (k, what) in keys {
        spans.push(Span::styled(format!(" {k} "), Style::new().fg(Color::Black).bg(Color::DarkGray)));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

const HELP: &[(&str, &str)] = &[
    ("q, Ctrl-C", "stop gracefully; press again to abort at once"),
    ("p, Space", "pause / resume starting new iterations"),
    ("Tab, Shift-Tab", "next / previous view"),
    ("1 2 3 4", "Overview, Requests, Agents, Errors"),
    ("↑ ↓ j k", "select a request (Requests); scroll (Agents)"),
    ("PgUp PgDn g G", "move the selection faster / to the ends"),
    ("→ ← s S", "sort by the next / previous column (Agents: attention, name, rps, cpu)"),
    ("r", "reverse the sort order"),
    ("w", "whole run ↔ last interval (Requests)"),
    ("?, Esc", "show / hide this help"),
];

fn render_help(frame: &mut Frame, area: Rect) {
    let width = area.width.min(76);
    let height = (HELP.len() as u16 + 4).min(area.height);
    let popup = area.centered(Constraint::Length(width), Constraint::Length(height));
    let lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![Span::styled(format!("{k:>14}  "), Style::new().fg(ACCENT).bold()), Span::raw(*what)])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered().title(" keys ").title_alignment(Alignment::Center).border_style(Style::new().fg(ACCENT)),
        ),
        popup,
    );
}

/// A right-aligned table cell.
pub(crate) fn right<'a>(s: impl Into<String>) -> ratatui::widgets::Cell<'a> {
    ratatui::widgets::Cell::from(Line::from(s.into()).alignment(Alignment::Right))
}

/// A bordered block with a title, the look every panel shares.
pub(crate) fn panel<'a>(title: impl Into<Line<'a>>) -> Block<'a> {
    Block::bordered().title(title).border_style(Style::new().fg(Color::DarkGray))
}
