//! stampede-controller: one run, from the moment its load starts to its
//! outcome.
//!
//! Owns the interval loop over a [`Source`] of merged intervals (this
//! process's worker threads, or a coordinator's agents), the live state the
//! UI and the Prometheus endpoint read, live threshold evaluation and
//! `abort_on_fail`, stop requests, the run's [`Outcome`] and exit code, and
//! the [`Recorder`] that feeds every `--out` output each interval and writes
//! the summary at the end. The same loop serves `stampede run` (in-process or
//! local agents), `stampede coordinator`, and an agent's own `--out` files.
//!
//! It does not parse flags, spawn processes, wait for agents (the
//! coordinator's barrier), draw the UI or print: the CLI does, and hears
//! from a run through an [`Observer`].
//!
//! # Layout
//! - [`source`]: where intervals come from ([`InProcess`], [`Cluster`]).
//! - [`recorder`]: the outputs of a run, fed per interval, summary at the end.
//! - [`outcome`]: how a run ended and the exit code that says so.
//! - `controller`: the loop ([`run`]).
//! - `agent_record`: an agent's own outputs ([`record_agent_runs`]).

mod agent_record;
mod controller;
pub mod outcome;
pub mod recorder;
pub mod source;

pub use agent_record::record_agent_runs;
pub use controller::{Finished, Observer, Progress, RunSpec, run};
pub use outcome::{Outcome, exit, hook_exit_code};
pub use recorder::{OutputError, Recorder};
pub use source::{Cluster, InProcess, Source, SourceEnd};
