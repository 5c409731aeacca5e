//! Where a run's merged intervals come from: the worker threads of this
//! process, or the agents of a coordinator.

use std::future::Future;
use std::time::Instant;

use stampede_coordinator::{AgentReport, Coordinator};
use stampede_engine::{IntervalSnapshot, Run, Signal};
use tokio::sync::watch;

/// A running plan, seen as a stream of merged intervals.
pub trait Source {
    /// The next merged interval, or `None` when the load is over and
    /// everything measured has been returned.
    fn next_interval(&mut self) -> impl Future<Output = Option<IntervalSnapshot>>;
    /// A sender for run signals (pause, stop, abort).
    fn signaller(&self) -> watch::Sender<Signal>;
    /// When the load started.
    fn started(&self) -> Instant;
    /// Aborts the load because `threshold` failed with `abort_on_fail`.
    fn abort_by_threshold(&mut self, threshold: &str);
    /// Whether the run's live state lists one in-process load generator that
    /// the controller keeps up to date (a coordinator publishes its agents itself).
    fn in_process(&self) -> bool;
    /// Called once after the last interval: releases the source and says
    /// which load generators delivered what.
    fn finish(self) -> impl Future<Output = SourceEnd>;
}

/// What a source says at the end.
#[derive(Debug, Clone, Default)]
pub struct SourceEnd {
    /// Agents lost during the run.
    pub lost: Vec<String>,
    /// Every agent and what it delivered (empty in-process).
    pub agents: Vec<AgentReport>,
    /// How the load itself says the run ended, when it ended it (a k6
    /// script's `exec.test.abort()`); outranks a stop it caused.
    pub outcome: Option<crate::Outcome>,
}

/// The plan on worker threads of this process.
#[derive(Debug)]
pub struct InProcess(pub Run);

impl Source for InProcess {
    async fn next_interval(&mut self) -> Option<IntervalSnapshot> {
        self.0.next_interval().await
    }
    fn signaller(&self) -> watch::Sender<Signal> {
        self.0.signaller()
    }
    fn started(&self) -> Instant {
        self.0.start
    }
    fn abort_by_threshold(&mut self, _threshold: &str) {
        self.0.signal(Signal::Abort);
    }
    fn in_process(&self) -> bool {
        true
    }
    async fn finish(self) -> SourceEnd {
        // The workers have ended (their last interval came); joining is immediate.
        self.0.join();
        SourceEnd::default()
    }
}

/// The plan on agents, through a coordinator whose barrier has started them.
#[derive(Debug)]
pub struct Cluster(pub Box<Coordinator>);

impl Source for Cluster {
    async fn next_interval(&mut self) -> Option<IntervalSnapshot> {
        self.0.next_interval().await
    }
    fn signaller(&self) -> watch::Sender<Signal> {
        self.0.signaller()
    }
    fn started(&self) -> Instant {
        self.0.start
    }
    fn abort_by_threshold(&mut self, threshold: &str) {
        // Through the coordinator, so its agents record why they stopped.
        self.0.abort_by_threshold(threshold);
    }
    fn in_process(&self) -> bool {
        false
    }
    async fn finish(self) -> SourceEnd {
        let end = SourceEnd { lost: self.0.lost_agents().to_vec(), agents: self.0.agent_reports(), outcome: None };
        self.0.shutdown().await;
        end
    }
}
