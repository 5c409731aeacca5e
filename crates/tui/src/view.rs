//! The UI's own state (which view, sort, selection, help) and what keys do to
//! it. Nothing here reads the run; keys that concern the run come back as a
//! [`Control`] for the caller to send.

use std::cmp::Ordering;
use std::sync::Arc;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::Control;
use crate::model::{Figures, RequestRow};

/// The four screens, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    Overview,
    Requests,
    Agents,
    Errors,
}

impl View {
    pub const ALL: [View; 4] = [View::Overview, View::Requests, View::Agents, View::Errors];

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Requests => "Requests",
            View::Agents => "Agents",
            View::Errors => "Errors",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    fn step(self, by: isize) -> View {
        let n = View::ALL.len() as isize;
        View::ALL[((self as isize + by).rem_euclid(n)) as usize]
    }
}

/// Columns of the Requests table the rows can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    #[default]
    Name,
    Count,
    Rps,
    P50,
    P95,
    P99,
    Max,
    Errors,
    CdnHit,
}

impl SortColumn {
    pub const ALL: [SortColumn; 9] = [
        SortColumn::Name,
        SortColumn::Count,
        SortColumn::Rps,
        SortColumn::P50,
        SortColumn::P95,
        SortColumn::P99,
        SortColumn::Max,
        SortColumn::Errors,
        SortColumn::CdnHit,
    ];

    /// The column header.
    pub fn title(self) -> &'static str {
        match self {
            SortColumn::Name => "name",
            SortColumn::Count => "count",
            SortColumn::Rps => "rps",
            SortColumn::P50 => "p50",
            SortColumn::P95 => "p95",
            SortColumn::P99 => "p99",
            SortColumn::Max => "max",
            SortColumn::Errors => "err%",
            SortColumn::CdnHit => "cdn%",
        }
    }

    fn step(self, by: isize) -> SortColumn {
        let n = SortColumn::ALL.len() as isize;
        SortColumn::ALL[((self as isize + by).rem_euclid(n)) as usize]
    }

    /// Names read best A→Z; figures worst-first.
    fn natural_descending(self) -> bool {
        self != SortColumn::Name
    }
}

/// Which measurements the Requests table's latency and ratio columns show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Window {
    /// Cumulative since the start (what thresholds and the summary judge).
    #[default]
    Run,
    /// The last interval only (what the target does now).
    Interval,
}

/// The order of the Agents table (`s` on that view steps through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AgentSort {
    /// Lost first, then late heartbeats, then falling behind (scheduling
    /// lag), then the rest; by name within each.
    #[default]
    Attention,
    Name,
    /// Highest first.
    Rps,
    /// Highest first.
    Cpu,
}

impl AgentSort {
    pub const ALL: [AgentSort; 4] = [AgentSort::Attention, AgentSort::Name, AgentSort::Rps, AgentSort::Cpu];

    pub fn title(self) -> &'static str {
        match self {
            AgentSort::Attention => "attention",
            AgentSort::Name => "name",
            AgentSort::Rps => "rps",
            AgentSort::Cpu => "cpu",
        }
    }

    fn step(self, by: isize) -> AgentSort {
        let n = Self::ALL.len() as isize;
        let at = Self::ALL.iter().position(|&x| x == self).unwrap_or(0) as isize;
        Self::ALL[(at + by).rem_euclid(n) as usize]
    }
}

/// What the user chose to look at; the second argument of [`crate::draw`].
#[derive(Debug, Clone, Default)]
pub struct ViewState {
    pub view: View,
    pub sort: SortColumn,
    pub descending: bool,
    pub window: Window,
    /// The selected request name (kept by name, so the selection follows a
    /// row when re-sorting moves it).
    pub selected: Option<Arc<str>>,
    pub help: bool,
    /// The user asked for a graceful stop (`q` once).
    pub stop_requested: bool,
    /// The user paused new iterations.
    pub paused: bool,
    /// The Agents table's order and its first row shown (paging through
    /// hundreds of agents; the drawing keeps it in range).
    pub agent_sort: AgentSort,
    pub agent_top: usize,
}

impl ViewState {
    pub fn new() -> ViewState {
        ViewState::default()
    }

    /// Applies a key. `names` are the Requests rows in displayed order (for
    /// moving the selection). Returns what to ask of the run, if anything.
    pub fn on_key(&mut self, key: KeyEvent, names: &[Arc<str>]) -> Option<Control> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            // Raw mode turns Ctrl-C into a key: it means what `q` means.
            KeyCode::Char('q') | KeyCode::Char('Q') if !ctrl => return Some(self.stop()),
            KeyCode::Char('c') if ctrl => return Some(self.stop()),
            KeyCode::Char('p') | KeyCode::Char(' ') if !self.stop_requested => {
                self.paused = !self.paused;
                return Some(if self.paused { Control::Pause } else { Control::Resume });
            }
            KeyCode::Char('?') | KeyCode::F(1) => self.help = !self.help,
            KeyCode::Esc => self.help = false,
            KeyCode::Tab => self.view = self.view.step(1),
            KeyCode::BackTab => self.view = self.view.step(-1),
            KeyCode::Char(c @ '1'..='4') => self.view = View::ALL[c as usize - '1' as usize],
            // The Agents view: its own order, and paging instead of a selection.
            _ if self.view == View::Agents => self.on_agents_key(key.code),
            KeyCode::Char('s') | KeyCode::Right => self.sort_by(self.sort.step(1)),
            KeyCode::Char('S') | KeyCode::Left => self.sort_by(self.sort.step(-1)),
            KeyCode::Char('r') => self.descending = !self.descending,
            KeyCode::Char('w') => {
                self.window = match self.window {
                    Window::Run => Window::Interval,
                    Window::Interval => Window::Run,
                }
            }
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(names, 1),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(names, -1),
            KeyCode::PageDown => self.move_selection(names, 10),
            KeyCode::PageUp => self.move_selection(names, -10),
            KeyCode::Home | KeyCode::Char('g') => self.selected = names.first().cloned(),
            KeyCode::End | KeyCode::Char('G') => self.selected = names.last().cloned(),
            _ => {}
        }
        None
    }

    fn on_agents_key(&mut self, code: KeyCode) {
        let page = 10;
        match code {
            KeyCode::Char('s') | KeyCode::Right => self.agent_sort = self.agent_sort.step(1),
            KeyCode::Char('S') | KeyCode::Left => self.agent_sort = self.agent_sort.step(-1),
            KeyCode::Down | KeyCode::Char('j') => self.agent_top = self.agent_top.saturating_add(1),
            KeyCode::Up | KeyCode::Char('k') => self.agent_top = self.agent_top.saturating_sub(1),
            KeyCode::PageDown | KeyCode::Char('f') => self.agent_top = self.agent_top.saturating_add(page),
            KeyCode::PageUp | KeyCode::Char('b') => self.agent_top = self.agent_top.saturating_sub(page),
            KeyCode::Home | KeyCode::Char('g') => self.agent_top = 0,
            KeyCode::End | KeyCode::Char('G') => self.agent_top = usize::MAX,
            _ => {}
        }
    }

    fn stop(&mut self) -> Control {
        if self.stop_requested {
            Control::Abort
        } else {
            self.stop_requested = true;
            Control::Stop
        }
    }

    fn sort_by(&mut self, column: SortColumn) {
        self.sort = column;
        self.descending = column.natural_descending();
    }

    fn move_selection(&mut self, names: &[Arc<str>], by: isize) {
        if names.is_empty() {
            return;
        }
        let at = self.selected_index(names);
        let next = match at {
            None if by > 0 => 0,
            None => names.len() - 1,
            Some(i) => (i as isize + by).clamp(0, names.len() as isize - 1) as usize,
        };
        self.selected = Some(names[next].clone());
    }

    /// Where the selected row is among `names`, if it is there.
    pub fn selected_index(&self, names: &[Arc<str>]) -> Option<usize> {
        let sel = self.selected.as_ref()?;
        names.iter().position(|n| n == sel)
    }

    /// The figures the Requests table shows for a row in the chosen window.
    pub fn figures<'a>(&self, row: &'a RequestRow) -> &'a Figures {
        match self.window {
            Window::Run => &row.run,
            Window::Interval => &row.interval,
        }
    }

    /// `rows` in the chosen order (ties broken by name, so rows do not
    /// swap places from one interval to the next).
    pub fn sorted<'a>(&self, rows: &'a [RequestRow]) -> Vec<&'a RequestRow> {
        let mut out: Vec<&RequestRow> = rows.iter().collect();
        let key = |r: &RequestRow| -> f64 {
            let f = self.figures(r);
            match self.sort {
                SortColumn::Name => 0.0,
                SortColumn::Count => r.run.count as f64,
                SortColumn::Rps => r.rps,
                SortColumn::P50 => f.p50,
                SortColumn::P95 => f.p95,
                SortColumn::P99 => f.p99,
                SortColumn::Max => f.max,
                SortColumn::Errors => f.error_rate.unwrap_or(-1.0),
                SortColumn::CdnHit => f.cdn_hit.unwrap_or(-1.0),
            }
        };
        out.sort_by(|a, b| {
            let by_key = key(a).partial_cmp(&key(b)).unwrap_or(Ordering::Equal);
            let primary = if self.sort == SortColumn::Name { a.name.cmp(&b.name) } else { by_key };
            let primary = if self.descending { primary.reverse() } else { primary };
            primary.then_with(|| a.name.cmp(&b.name))
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn first_stop_is_graceful_and_second_aborts() {
        let mut v = ViewState::new();
        assert_eq!(v.on_key(key(KeyCode::Char('q')), &[]), Some(Control::Stop));
        assert!(v.stop_requested);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(v.on_key(ctrl_c, &[]), Some(Control::Abort));
    }

    #[test]
    fn ctrl_c_alone_asks_for_a_graceful_stop() {
        let mut v = ViewState::new();
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(v.on_key(ctrl_c, &[]), Some(Control::Stop));
    }

    #[test]
    fn p_toggles_pause_until_a_stop_was_asked() {
        let mut v = ViewState::new();
        assert_eq!(v.on_key(key(KeyCode::Char('p')), &[]), Some(Control::Pause));
        assert!(v.paused);
        assert_eq!(v.on_key(key(KeyCode::Char('p')), &[]), Some(Control::Resume));
        v.on_key(key(KeyCode::Char('q')), &[]);
        assert_eq!(v.on_key(key(KeyCode::Char('p')), &[]), None);
    }

    #[test]
    fn on_the_agents_view_keys_sort_and_page_the_agents_not_the_requests() {
        let mut v = ViewState { view: View::Agents, ..ViewState::new() };
        let names: Vec<Arc<str>> = vec!["a".into(), "b".into()];
        v.on_key(key(KeyCode::Char('s')), &names);
        assert_eq!(v.agent_sort, AgentSort::Name);
        assert_eq!(v.sort, SortColumn::default(), "the Requests order stays");
        v.on_key(key(KeyCode::Left), &names);
        v.on_key(key(KeyCode::Left), &names);
        assert_eq!(v.agent_sort, AgentSort::Cpu, "wraps around");
        v.on_key(key(KeyCode::PageDown), &names);
        v.on_key(key(KeyCode::Down), &names);
        assert_eq!((v.agent_top, v.selected.clone()), (11, None), "no request selected");
        v.on_key(key(KeyCode::PageUp), &names);
        v.on_key(key(KeyCode::PageUp), &names);
        assert_eq!(v.agent_top, 0);
        v.on_key(key(KeyCode::End), &names);
        assert_eq!(v.agent_top, usize::MAX, "the drawing shows the last page");
        // Views and stopping still work there.
        assert_eq!(v.on_key(key(KeyCode::Char('q')), &names), Some(Control::Stop));
        v.on_key(key(KeyCode::Char('2')), &names);
        assert_eq!(v.view, View::Requests);
    }

    #[test]
    fn tab_and_digits_switch_views() {
        let mut v = ViewState::new();
        v.on_key(key(KeyCode::Tab), &[]);
        assert_eq!(v.view, View::Requests);
        v.on_key(key(KeyCode::BackTab), &[]);
        v.on_key(key(KeyCode::BackTab), &[]);
        assert_eq!(v.view, View::Errors);
        v.on_key(key(KeyCode::Char('3')), &[]);
        assert_eq!(v.view, View::Agents);
        v.on_key(key(KeyCode::Char('?')), &[]);
        assert!(v.help);
        v.on_key(key(KeyCode::Esc), &[]);
        assert!(!v.help);
    }

    #[test]
    fn selection_moves_by_name_and_stops_at_the_ends() {
        let names: Vec<Arc<str>> = vec!["a".into(), "b".into(), "c".into()];
        let mut v = ViewState::new();
        v.on_key(key(KeyCode::Down), &names);
        assert_eq!(v.selected.as_deref(), Some("a"));
        v.on_key(key(KeyCode::Down), &names);
        v.on_key(key(KeyCode::Down), &names);
        v.on_key(key(KeyCode::Down), &names);
        assert_eq!(v.selected.as_deref(), Some("c"));
        // Re-sorted: the selection stays on "c" wherever it went.
        let resorted: Vec<Arc<str>> = vec!["c".into(), "a".into(), "b".into()];
        v.on_key(key(KeyCode::Down), &resorted);
        assert_eq!(v.selected.as_deref(), Some("a"));
    }

    #[test]
    fn sort_keys_cycle_columns_worst_first() {
        let mut v = ViewState::new();
        v.on_key(key(KeyCode::Char('s')), &[]);
        assert_eq!((v.sort, v.descending), (SortColumn::Count, true));
        v.on_key(key(KeyCode::Left), &[]);
        assert_eq!((v.sort, v.descending), (SortColumn::Name, false));
        v.on_key(key(KeyCode::Char('r')), &[]);
        assert!(v.descending);
    }
}
