//! A sleep with microsecond precision for the open-model schedule.
//!
//! tokio's timer wheel has millisecond ticks and rounds every deadline up to
//! the next one, so an iteration due at 10.2 ms starts at 11 ms or later:
//! about 1 ms of lateness on every arrival, which lands in
//! `intended_latency` (0.06 ms cached pages measured as 1.07 ms p50) and
//! `scheduling_lag`. On Linux a `timerfd` armed with the exact remaining
//! time wakes the worker within tens of microseconds. One timer per
//! arrival-rate scenario per worker (one descriptor); where it cannot be
//! created, tokio's sleep is used.

#[cfg(target_os = "linux")]
use std::io;
#[cfg(target_os = "linux")]
use std::time::Duration;

use tokio::time::Instant;

#[cfg(target_os = "linux")]
pub(crate) struct PreciseTimer {
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

/// Registers the timer with this worker's reactor.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn register(fd: std::os::fd::OwnedFd) -> Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    // SAFETY: an `OwnedFd` is a valid open descriptor that only it closes (on
    // drop), and its `as_raw_fd` always returns that same descriptor, which is
    // what `register_with_interest` requires for the `AsyncFd`'s lifetime.
    unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }.ok()
}

#[cfg(target_os = "linux")]
impl PreciseTimer {
    pub(crate) fn new() -> PreciseTimer {
        use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
        let fd = timerfd_create(TimerfdClockId::Monotonic, TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC)
            .ok()
            .and_then(register);
        PreciseTimer { fd }
    }

    /// Returns at `deadline` (at once when it has passed).
    pub(crate) async fn sleep_until(&self, deadline: Instant) {
        let now = Instant::now();
        if deadline <= now {
            return;
        }
        let Some(fd) = &self.fd else {
            return tokio::time::sleep_until(deadline).await;
        };
        if self.wait(fd, deadline - now).await.is_err() {
            tokio::time::sleep_until(deadline).await;
        }
    }

    async fn wait(&self, fd: &tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>, after: Duration) -> io::Result<()> {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        let spec = Itimerspec {
            it_interval: Timespec { tv_sec: 0, tv_nsec: 0 },
            // A zero it_value disarms the timer: at least 1 ns.
            it_value: Timespec {
                tv_sec: after.as_secs().try_into().unwrap_or(i64::MAX),
                tv_nsec: i64::from(after.subsec_nanos().max(u32::from(after.as_secs() == 0))),
            },
        };
        // Re-arming also clears expirations left by a wait that was cancelled.
        timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        loop {
            let mut ready = fd.readable().await?;
            let mut expirations = [0u8; 8];
            match ready.try_io(|fd| rustix::io::read(fd.get_ref(), &mut expirations).map_err(io::Error::from)) {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => return Err(e),
                // Stale readiness (a cancelled wait's expiry, already cleared): wait on.
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) struct PreciseTimer;

#[cfg(not(target_os = "linux"))]
impl PreciseTimer {
    pub(crate) fn new() -> PreciseTimer {
        PreciseTimer
    }

    pub(crate) async fn sleep_until(&self, deadline: Instant) {
        tokio::time::sleep_until(deadline).await
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Lateness of `n` sleeps of 0.3–1.7 ms, sorted, in microseconds.
    async fn lateness(n: u32, sleep: impl AsyncFn(Instant)) -> Vec<u128> {
        let mut late = Vec::new();
        for i in 0..n {
            let deadline = Instant::now() + Duration::from_micros(300 + u64::from(i * 97 % 1400));
            sleep(deadline).await;
            late.push(Instant::now().saturating_duration_since(deadline).as_micros());
        }
        late.sort_unstable();
        late
    }

    #[tokio::test(flavor = "current_thread")]
    async fn wakes_at_the_deadline_not_at_the_next_millisecond() {
        let timer = PreciseTimer::new();
        assert!(timer.fd.is_some(), "timerfd available on Linux");
        let precise = lateness(200, async |d| timer.sleep_until(d).await).await;
        let coarse = lateness(200, async |d| tokio::time::sleep_until(d).await).await;
        // Medians, compared in the same run: a loaded machine wakes late at
        // times, but tokio rounds every deadline up to its next millisecond.
        let (p, c) = (precise[100], coarse[100]);
        assert!(p < c, "timerfd median lateness {p} µs vs tokio's {c} µs");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_cancelled_wait_does_not_end_the_next_one_early() {
        let timer = PreciseTimer::new();
        // Cancel a 1 ms wait, let it expire unobserved, then wait 20 ms.
        let _ = tokio::time::timeout(
            Duration::from_micros(100),
            timer.sleep_until(Instant::now() + Duration::from_millis(1)),
        )
        .await;
        std::thread::sleep(Duration::from_millis(3));
        let deadline = Instant::now() + Duration::from_millis(20);
        timer.sleep_until(deadline).await;
        assert!(Instant::now() >= deadline, "woke before the deadline");
    }
}
