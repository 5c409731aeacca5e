//! The real terminal: raw mode and the alternate screen while the UI runs,
//! and the way back on every exit path (return, error, panic), as ratatui's
//! component template does.

use std::io::{self, Stdout, stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// Whether this process has the terminal in UI mode. Global because the
/// panic hook, which cannot reach the [`Tui`], must know whether there is
/// anything to restore (and must do nothing once the UI is gone).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

/// The terminal in UI mode; restores it when dropped.
pub struct Tui {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Tui {
    pub fn enter() -> io::Result<Tui> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let setup = (|| {
            execute!(stdout(), EnterAlternateScreen, Hide)?;
            let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
            terminal.clear()?;
            Ok(terminal)
        })();
        match setup {
            Ok(terminal) => Ok(Tui { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}

/// Whether the terminal is still in UI mode (a panic anywhere restores it).
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}

/// Leaves the alternate screen and raw mode, once; best effort (there is
/// nothing better to do with a terminal that refuses).
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let _ = execute!(stdout(), LeaveAlternateScreen, Show);
    }
}

/// Restores the terminal before the previous hook prints the panic, so the
/// message lands on the normal screen and the shell is usable afterwards.
fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
