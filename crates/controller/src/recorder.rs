//! The outputs of one run (`--out KIND=PATH`): opened before any load, fed
//! every merged interval, given the summary at the end.
//!
//! An output that fails to write (a full disk, a removed directory) is
//! reported once, at its first failure, and then left alone: the run goes on
//! and the other outputs keep being written. The run's exit code then says
//! that not everything was written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stampede_metrics::Snapshot;
use stampede_metrics::live::AgentInfo;
use stampede_report::Summary;
use stampede_report::outputs::{Output, RunContext};

/// An output that could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {kind} output {}: {source}", path.display())]
pub struct OutputError {
    pub kind: String,
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

struct Entry {
    kind: String,
    path: PathBuf,
    output: Box<dyn Output>,
    /// Set at the first failed write; the output is not written again.
    failed: bool,
}

/// Every output of a run.
#[derive(Default)]
pub struct Recorder {
    entries: Vec<Entry>,
    ctx: Option<RunContext>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|e| (&e.kind, &e.path))).finish()
    }
}

impl Recorder {
    /// Opens every `(kind, path)` output; fails on the first that cannot be
    /// created, before any load.
    pub fn open(specs: &[(String, PathBuf)], ctx: RunContext) -> Result<Recorder, OutputError> {
        let mut entries = Vec::with_capacity(specs.len());
        for (kind, path) in specs {
            let output = stampede_report::outputs::open(kind, path, &ctx).map_err(|source| OutputError {
                kind: kind.clone(),
                path: path.clone(),
                source,
            })?;
            entries.push(Entry { kind: kind.clone(), path: path.clone(), output, failed: false });
        }
        Ok(Recorder { entries, ctx: Some(ctx) })
    }

    /// What the outputs were told about the run when they were opened.
    pub fn context(&self) -> Option<&RunContext> {
        self.ctx.as_ref()
    }

    /// Whether any output failed to write.
    pub fn any_failed(&self) -> bool {
        self.entries.iter().any(|e| e.failed)
    }

    /// Feeds one merged interval to every output; returns the outputs that
    /// failed for the first time now.
    pub fn interval(&mut self, start: Duration, end: Duration, snapshot: &Snapshot) -> Vec<OutputError> {
        let mut failed = Vec::new();
        for e in self.entries.iter_mut().filter(|e| !e.failed) {
            if let Err(source) = e.output.interval(start, end, snapshot) {
                e.failed = true;
                failed.push(OutputError { kind: e.kind.clone(), path: e.path.clone(), source });
            }
        }
        failed
    }

    /// Writes the end of every output that has not failed; returns those
    /// that failed now.
    pub fn finish(&mut self, summary: &Summary, agents: &[AgentInfo]) -> Vec<OutputError> {
        let mut failed = Vec::new();
        for e in self.entries.iter_mut().filter(|e| !e.failed) {
            e.output.agents(agents);
            if let Err(source) = e.output.finish(summary) {
                e.failed = true;
                failed.push(OutputError { kind: e.kind.clone(), path: e.path.clone(), source });
            }
        }
        failed
    }

    /// The paths of the outputs, for messages.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.entries.iter().map(|e| e.path.as_path())
    }
}
