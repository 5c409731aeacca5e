//! stampede-tui: the live terminal UI of a run.
//!
//! Owns the screens a person watches while a run goes on (Overview,
//! Requests, Agents, Errors), what keys do, and the terminal's raw mode and
//! alternate screen. It reads the run's merged [`LiveState`] through its
//! mutex, a few times a second, and never sits on the load path: it does not
//! see requests, shards or agents, only what the run loop folded in. It does
//! not decide anything about the run either: keys become [`Control`]s that
//! the caller acts on, and the end-of-test summary is printed by the caller
//! after [`run`] returns.
//!
//! # Layout
//! - [`run`]: the event loop. Keys are handled as they arrive; frames are
//!   drawn at most [`FRAMES_PER_SECOND`] times a second, each from one short
//!   read of the shared state, and only when what they show changed (about
//!   once a second during a run: the live UI must cost the load < 2 %). The terminal is restored on return, on error
//!   and on panic (`term`).
//! - [`draw`]: the whole screen as a pure function of a [`LiveState`] and a
//!   [`ViewState`], for tests with ratatui's `TestBackend`.
//! - [`view`]: the UI's own state (view, sort, selection, help, stop/pause
//!   asked) and the key map.
//! - `model`: the figures a frame shows, read out of the state under its
//!   lock; snapshot-derived figures (per-request percentiles, chart series)
//!   are recomputed only when a new interval arrived.
//! - `render`: one module per view, plus the header (run state, clock,
//!   tabs), the footer (keys) and the help popup.
//! - `fmt`: short number formats for table cells.
//!
//! Screen layout, from 80×24 up:
//! ```text
//! stampede RUNNING PAUSED  0:42/2:00        1 Overview│2 Requests│3 Agents│4 Errors
//! ┌ body of the view ───────────────────────────────────────────────────────────┐
//! │ Overview: file, scenarios, current stage; stage gauge; now figures; RPS,    │
//! │ latency and error charts; thresholds ✓/✗ (failing first when they overflow) │
//! │ Requests: sortable table; latency distribution of the selected name (below, │
//! │ or beside it from 140 columns)                                              │
//! │ Agents: state counts, start skew, merge lag; rows worst first, paged        │
//! │ Errors: by kind | recent events; by request and kind                        │
//! └─────────────────────────────────────────────────────────────────────────────┘
//!  q  stop   p  pause   Tab 1-4  views   ?  help
//! ```

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{Event, EventStream};
use ratatui::Terminal;
use ratatui::backend::Backend;
use stampede_metrics::live::{LiveState, Phase, Shared, lock};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::MissedTickBehavior;
use tokio_stream::{Stream, StreamExt};

mod fmt;
mod model;
mod render;
mod term;
pub mod view;

pub use view::{AgentSort, SortColumn, View, ViewState, Window};

/// Frames are drawn at most this often, and only when something shown
/// changed (the state changes once per interval; more would only cost the
/// coordinator's CPU).
pub const FRAMES_PER_SECOND: u32 = 10;

/// What the user asked the run to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop gracefully: start no new iteration, let in-flight ones finish.
    Stop,
    /// Stop now (a second `q` / Ctrl-C).
    Abort,
    /// Start no new iterations until `Resume`.
    Pause,
    Resume,
}

/// Runs the UI on this process's terminal until `done` resolves (the run
/// finished) or the user aborts. Draws at most [`FRAMES_PER_SECOND`] frames a
/// second from `state` and sends the user's requests on `controls`. The
/// terminal is restored on return, on error and on panic.
///
/// Call it only when stdout is a terminal (it fails at once otherwise). After
/// an abort it returns before `done` resolves. While it runs, anything written
/// to stdout or stderr lands on top of the UI: report through
/// `LiveState::event` instead.
pub async fn run(state: Shared, controls: UnboundedSender<Control>, done: impl Future<Output = ()>) -> io::Result<()> {
    let mut tui = term::Tui::enter()?;
    let result = run_on(&mut tui.terminal, EventStream::new(), &state, &controls, done, term::is_active).await;
    drop(tui);
    result
}

/// Draws the whole screen for `state` as the user chose to see it with `view`.
pub fn draw(frame: &mut ratatui::Frame, state: &LiveState, view: &ViewState) {
    render::render(frame, &model::Model::of(state), view);
}

/// The UI's state between frames.
#[derive(Default)]
struct App {
    model: model::Model,
    view: ViewState,
    /// The run's `paused` as last seen, to follow changes made elsewhere.
    seen_paused: bool,
}

impl App {
    /// Reads the state (the lock is held only for the read) and follows a
    /// pause or stop that came from elsewhere (a signal, a threshold).
    /// Returns whether anything shown changed.
    fn refresh(&mut self, state: &Shared) -> bool {
        let changed = {
            let s = lock(state);
            self.model.read(&s)
        };
        if self.model.paused != self.seen_paused {
            self.seen_paused = self.model.paused;
            self.view.paused = self.model.paused;
        }
        if self.model.phase == Phase::Stopping {
            self.view.stop_requested = true;
        }
        changed
    }

    /// Request names in the order the Requests table shows them.
    fn names(&self) -> Vec<Arc<str>> {
        self.view.sorted(&self.model.rows).iter().map(|r| r.name.clone()).collect()
    }
}

/// The event loop over any backend and event source (tests drive it with a
/// `TestBackend` and scripted keys).
async fn run_on<B>(
    terminal: &mut Terminal<B>,
    events: impl Stream<Item = io::Result<Event>>,
    state: &Shared,
    controls: &UnboundedSender<Control>,
    done: impl Future<Output = ()>,
    terminal_ok: fn() -> bool,
) -> io::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
{
    let mut app = App::default();
    let mut events = std::pin::pin!(events);
    let mut done = std::pin::pin!(done);
    let mut frames = tokio::time::interval(Duration::from_secs(1) / FRAMES_PER_SECOND);
    frames.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut input_open = true;
    // A frame is drawn only when something on it changed: the state (once
    // per interval), a key, the terminal's size, or, on the Agents view,
    // the heartbeat ages (once a second). An idle tick reads a few fields
    // under the lock and draws nothing.
    let mut dirty = true;
    let mut last_draw = tokio::time::Instant::now();
    loop {
        tokio::select! {
            biased;
            () = &mut done => return Ok(()),
            event = events.next(), if input_open => match event {
                Some(Ok(Event::Key(key))) => {
                    dirty = true;
                    let names = app.names();
                    if let Some(c) = app.view.on_key(key, &names) {
                        // The run may already be gone; the UI ends with `done` then.
                        let _ = controls.send(c);
                        if c == Control::Abort {
                            return Ok(());
                        }
                    }
                }
                // A resize is picked up by the next frame (ratatui resizes on draw).
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                // No more input (stdin closed): keep showing the run.
                None => input_open = false,
            },
            _ = frames.tick() => {
                // A panic elsewhere in the process restored the terminal (the
                // hook cannot tell whose panic it is); drawing on would garble
                // the normal screen.
                if !terminal_ok() {
                    return Err(io::Error::other("the terminal was restored after a panic; the live UI stopped"));
                }
                dirty |= app.refresh(state);
                let ages_moved = app.view.view == View::Agents && last_draw.elapsed() >= Duration::from_secs(1);
                if dirty || ages_moved {
                    terminal
                        .draw(|frame| render::render(frame, &app.model, &app.view))
                        .map_err(io::Error::other)?;
                    dirty = false;
                    last_draw = tokio::time::Instant::now();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;
    use tokio::sync::{mpsc, oneshot};

    use super::*;

    fn key(c: char) -> io::Result<Event> {
        Ok(Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)))
    }

    fn screen(t: &Terminal<TestBackend>) -> String {
        let b = t.backend().buffer();
        (0..b.area.height).map(|y| (0..b.area.width).map(|x| b[(x, y)].symbol()).collect::<String>() + "\n").collect()
    }

    fn state() -> Shared {
        let mut s = LiveState::new("smoke.toml".into(), vec!["browse".into()], Duration::from_secs(60), 10);
        s.phase = Phase::Running;
        s.shared()
    }

    #[tokio::test(start_paused = true)]
    async fn q_stops_gracefully_keeps_drawing_then_q_again_aborts() {
        let state = state();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (keys_tx, keys_rx) = mpsc::unbounded_channel::<io::Result<Event>>();
        let keys = tokio_stream::wrappers::UnboundedReceiverStream::new(keys_rx);
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let ui = run_on(&mut terminal, keys, &state, &tx, std::future::pending(), || true);
        let script = async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            keys_tx.send(key('q')).unwrap();
            assert_eq!(rx.recv().await, Some(Control::Stop));
            tokio::time::sleep(Duration::from_millis(250)).await;
            // Still drawing, now saying so; the frame is checked after the UI returns.
            keys_tx.send(key('q')).unwrap();
            assert_eq!(rx.recv().await, Some(Control::Abort));
        };
        let (result, ()) = tokio::join!(ui, script);
        result.unwrap();
        assert!(screen(&terminal).contains("STOPPING…"), "{}", screen(&terminal));
    }

    #[tokio::test(start_paused = true)]
    async fn draws_only_on_change_at_most_ten_frames_a_second_and_returns_when_done() {
        let state = state();
        let (tx, _rx) = mpsc::unbounded_channel();
        let (keys_tx, keys_rx) = mpsc::unbounded_channel::<io::Result<Event>>();
        let keys = tokio_stream::wrappers::UnboundedReceiverStream::new(keys_rx);
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let ui = run_on(
            &mut terminal,
            keys,
            &state,
            &tx,
            async {
                let _ = done_rx.await;
            },
            || true,
        );
        let script = async {
            // The state changing every 10 ms for 2 s: at most 10 frames a second.
            for i in 0..200u64 {
                lock(&state).elapsed = Duration::from_millis(2000 + 10 * i);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            lock(&state).elapsed = Duration::from_secs(4);
            tokio::time::sleep(Duration::from_millis(150)).await;
            // A key is drawn at once (the next tick) even with nothing new in the state.
            keys_tx.send(key('?')).unwrap();
            tokio::time::sleep(Duration::from_millis(150)).await;
            done_tx.send(()).unwrap();
        };
        let (result, ()) = tokio::join!(ui, script);
        result.unwrap();
        let screen = screen(&terminal);
        assert!(screen.contains("0:04/1:00"), "{screen}");
        assert!(screen.to_lowercase().contains("help"), "the help popup is drawn: {screen}");
        let count = terminal.get_frame().count();
        // 1 (start) + at most 21 while changing + 1 (last change) + 1 (the key).
        assert!((18..=24).contains(&count), "{count} frames");
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_state_is_drawn_once() {
        let state = state();
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let ui = run_on(
            &mut terminal,
            tokio_stream::pending(),
            &state,
            &tx,
            tokio::time::sleep(Duration::from_secs(3)),
            || true,
        );
        ui.await.unwrap();
        assert_eq!(terminal.get_frame().count(), 1, "3 s without a change: only the first frame");
    }

    #[tokio::test(start_paused = true)]
    async fn pause_set_elsewhere_shows_and_p_then_resumes() {
        let state = state();
        lock(&state).paused = true;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let (keys_tx, keys_rx) = mpsc::unbounded_channel::<io::Result<Event>>();
        let keys = tokio_stream::wrappers::UnboundedReceiverStream::new(keys_rx);
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let ui = run_on(
            &mut terminal,
            keys,
            &state,
            &tx,
            async {
                let _ = done_rx.await;
            },
            || true,
        );
        let script = async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            keys_tx.send(key('p')).unwrap();
            assert_eq!(rx.recv().await, Some(Control::Resume));
            done_tx.send(()).unwrap();
        };
        let (result, ()) = tokio::join!(ui, script);
        result.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn stops_drawing_once_a_panic_restored_the_terminal() {
        let state = state();
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let result =
            run_on(&mut terminal, tokio_stream::pending(), &state, &tx, std::future::pending(), || false).await;
        assert!(result.unwrap_err().to_string().contains("panic"));
    }
}
