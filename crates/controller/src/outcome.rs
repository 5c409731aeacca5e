//! How a run ended, and the process exit code that tells a CI job.

/// Exit codes (documented in the README; k6's where k6 has one).
pub mod exit {
    /// The run completed and every threshold passed.
    pub const OK: i32 = 0;
    /// Something outside the plan went wrong (I/O, an output that could not
    /// be written).
    pub const ERROR: i32 = 1;
    /// A threshold failed (k6: 99), including an abort by `abort_on_fail`.
    pub const THRESHOLDS_FAILED: i32 = 99;
    /// `[setup]`'s `timeout` passed before it ended: no load ran (k6: 100).
    pub const SETUP_TIMEOUT: i32 = 100;
    /// `[teardown]`'s `timeout` passed before it ended (k6: 101).
    pub const TEARDOWN_TIMEOUT: i32 = 101;
    /// A step of `[setup]` failed (no response, a failed check, an extractor
    /// that found nothing): no load ran. k6 exits so when setup throws (107,
    /// "script exception").
    pub const SETUP_FAILED: i32 = 107;
    /// A step of `[teardown]` failed; the run's outputs are complete.
    pub const TEARDOWN_FAILED: i32 = 107;
    /// The scenario file or a flag is invalid (k6: 104 "invalid config").
    pub const INVALID_INPUT: i32 = 104;
    /// The run was stopped from outside (Ctrl-C, SIGTERM) before its end (k6: 105).
    pub const INTERRUPTED: i32 = 105;
    /// A k6 script's init code, `setup()` or `teardown()` threw (k6's 107).
    pub const SCRIPT_EXCEPTION: i32 = 107;
    /// A k6 script called `exec.test.abort()` (k6's 108).
    pub const TEST_ABORTED: i32 = 108;
    /// The run completed and its thresholds passed, but an agent was lost on
    /// the way: the results cover what the others (and it, until lost) delivered.
    pub const DEGRADED: i32 = 110;
    /// Slower than the baseline beyond budget (`run --baseline`, `stampede
    /// compare`): the run itself passed.
    pub const REGRESSION: i32 = stampede_report::compare::REGRESSION_EXIT;
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every scenario ran to its end.
    Completed,
    /// Completed, but an agent was lost on the way.
    Degraded,
    /// Stopped from outside (Ctrl-C, SIGTERM, the UI, a coordinator's stop).
    Interrupted,
    /// A threshold with `abort_on_fail` failed.
    AbortedByThreshold,
    /// A k6 script ended the test: it called `exec.test.abort()` (k6's 108).
    AbortedByScript,
    /// A k6 script's VU init code threw during the run (k6's 107).
    ScriptError,
}

impl Outcome {
    /// The name written in summaries (`run.outcome` in the JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Degraded => "degraded",
            Outcome::Interrupted => "interrupted",
            Outcome::AbortedByThreshold => "aborted_by_threshold",
            Outcome::AbortedByScript => "aborted_by_script",
            Outcome::ScriptError => "script_error",
        }
    }

    /// The exit code of a run that ended so, with its thresholds' verdict.
    pub fn exit_code(self, thresholds_passed: bool) -> i32 {
        match self {
            Outcome::Interrupted => exit::INTERRUPTED,
            Outcome::AbortedByThreshold => exit::THRESHOLDS_FAILED,
            Outcome::AbortedByScript => exit::TEST_ABORTED,
            Outcome::ScriptError => exit::SCRIPT_EXCEPTION,
            _ if !thresholds_passed => exit::THRESHOLDS_FAILED,
            Outcome::Degraded => exit::DEGRADED,
            Outcome::Completed => exit::OK,
        }
    }
}

/// The exit code of a failed `[setup]` or `[teardown]` (`None`: it did not fail).
pub fn hook_exit_code(report: &stampede_engine::HookReport) -> Option<i32> {
    use stampede_engine::{HookFailure, HookKind};
    Some(match (&report.failure, report.kind) {
        (None, _) => return None,
        (Some(HookFailure::Interrupted), _) => exit::INTERRUPTED,
        (Some(HookFailure::Timeout { .. }), HookKind::Setup) => exit::SETUP_TIMEOUT,
        (Some(HookFailure::Timeout { .. }), HookKind::Teardown) => exit::TEARDOWN_TIMEOUT,
        (Some(HookFailure::Step { .. }), HookKind::Setup) => exit::SETUP_FAILED,
        (Some(HookFailure::Step { .. }), HookKind::Teardown) => exit::TEARDOWN_FAILED,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_outrank_degraded_and_interruption_outranks_both() {
        assert_eq!(Outcome::Completed.exit_code(true), exit::OK);
        assert_eq!(Outcome::Completed.exit_code(false), exit::THRESHOLDS_FAILED);
        assert_eq!(Outcome::Degraded.exit_code(true), exit::DEGRADED);
        assert_eq!(Outcome::Degraded.exit_code(false), exit::THRESHOLDS_FAILED);
        assert_eq!(Outcome::Interrupted.exit_code(false), exit::INTERRUPTED);
        assert_eq!(Outcome::AbortedByThreshold.exit_code(true), exit::THRESHOLDS_FAILED);
    }
}
