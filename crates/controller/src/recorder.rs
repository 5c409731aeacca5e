//! The outputs of one run (`--out KIND=PATH`): opened before any load (by
//! the CLI, whose flag errors they are), fed every merged interval, given the
//! summary at the end.
//!
//! An output that fails to write (a full disk, a removed directory) is
//! reported once, at its first failure, and then left alone: the run goes on
//! and the other outputs keep being written. The run then exits with
//! [`exit::ERROR`](crate::exit::ERROR): results the user asked for are
//! incomplete, which outranks what they say.

use std::time::Duration;

use stampede_metrics::Snapshot;
use stampede_metrics::live::AgentInfo;
use stampede_report::Summary;
use stampede_report::outputs::Output;

/// An output that failed to write.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {label}: {source}{}", match at {
    Some(t) => format!("; it is incomplete from {:.0}s on, the run goes on with the other outputs", t.as_secs_f64()),
    None => String::new(),
})]
pub struct OutputError {
    /// What the output is, e.g. `summary output summary.json`.
    pub label: String,
    #[source]
    pub source: std::io::Error,
    /// Start of the interval it failed on; `None` when it failed at the end.
    pub at: Option<Duration>,
}

struct Entry {
    label: String,
    output: Box<dyn Output>,
    /// Set at the first failed write; the output is not written again.
    failed: bool,
}

/// Every output of a run.
#[derive(Default)]
pub struct Recorder {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|e| &e.label)).finish()
    }
}

impl Recorder {
    /// The run's outputs, each with the label its messages use
    /// (`summary output summary.json`).
    pub fn new(outputs: Vec<(String, Box<dyn Output>)>) -> Recorder {
        Recorder {
            entries: outputs.into_iter().map(|(label, output)| Entry { label, output, failed: false }).collect(),
        }
    }

    /// Labels of the outputs that failed.
    pub fn failed(&self) -> Vec<&str> {
        self.entries.iter().filter(|e| e.failed).map(|e| e.label.as_str()).collect()
    }

    /// Feeds one merged interval to every output; returns the outputs that
    /// failed for the first time now.
    pub fn interval(&mut self, start: Duration, end: Duration, snapshot: &Snapshot) -> Vec<OutputError> {
        let mut failed = Vec::new();
        for e in self.entries.iter_mut().filter(|e| !e.failed) {
            if let Err(source) = e.output.interval(start, end, snapshot) {
                e.failed = true;
                failed.push(OutputError { label: e.label.clone(), source, at: Some(start) });
            }
        }
        failed
    }

    /// Writes the end of every output that has not failed (each gets its
    /// chance, whatever the others do); returns those that failed now.
    /// Outputs that send to a receiver deliver first; what they delivered
    /// goes into `summary` before the documents are written.
    pub fn finish(&mut self, summary: &mut Summary, agents: &[AgentInfo]) -> Vec<OutputError> {
        let mut failed = Vec::new();
        for e in self.entries.iter_mut().filter(|e| !e.failed) {
            summary.deliveries.extend(e.output.deliver());
        }
        for e in self.entries.iter_mut().filter(|e| !e.failed) {
            e.output.agents(agents);
            if let Err(source) = e.output.finish(summary) {
                e.failed = true;
                failed.push(OutputError { label: e.label.clone(), source, at: None });
            }
        }
        failed
    }
}
