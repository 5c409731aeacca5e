//! `[setup]` and `[teardown]`: a plan's once-per-test flows, run by the
//! process that controls the run (the CLI in local mode, the coordinator's
//! side in a distributed one), never by the load's workers or agents.
//!
//! The steps run on one VU of their own (id 0, as k6's `__VU` in setup), on
//! a thread and current-thread runtime of their own, with real connections:
//! each request is measured like any other. The VU's variables after setup
//! are the [`SetupValues`] every VU of the run starts with; the teardown's
//! VU starts with them too (k6 passes setup's data to teardown).
//!
//! A step fails the hook when its request got no response (a transport
//! error or the request timeout), when one of its checks fails, or when an
//! extractor finds nothing (every VU would lack the value). A response
//! with an error status alone does not, as in k6, where only an exception
//! fails setup; add `checks = [{ status = 200 }]` to make it count. The
//! remaining steps are skipped. Think times are not applied.

use std::sync::Arc;
use std::time::Duration;

use stampede_metrics::{ErrorKind, Snapshot};
use stampede_scenario::{Flow, Plan, Step};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::allow::AllowList;
use crate::vu::Vu;
use crate::worker::Worker;

/// The setup's values, indexed by variable slot (`Plan::var_names`); slots
/// the setup does not set are `None`. Empty when the plan has no setup.
pub type SetupValues = Arc<[Option<String>]>;

/// Which of the plan's once-per-test flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Setup,
    Teardown,
}

impl HookKind {
    /// `setup` or `teardown`, as the scenario file's section is named.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::Setup => "setup",
            HookKind::Teardown => "teardown",
        }
    }

    pub fn flow(self, plan: &Plan) -> Option<&Flow> {
        match self {
            HookKind::Setup => plan.setup.as_ref(),
            HookKind::Teardown => plan.teardown.as_ref(),
        }
    }

    pub fn timeout(self, plan: &Plan) -> Duration {
        match self {
            HookKind::Setup => plan.setup_timeout,
            HookKind::Teardown => plan.teardown_timeout,
        }
    }
}

/// One step done, for progress lines ("setup: 2/3 steps").
#[derive(Debug, Clone)]
pub struct StepDone {
    pub kind: HookKind,
    /// 1-based.
    pub number: usize,
    pub of: usize,
    pub name: Arc<str>,
    /// The response's status; 0 when none came.
    pub status: u16,
    pub duration: Duration,
}

/// Why a hook failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookFailure {
    /// A step failed (see the module docs for what counts).
    Step { number: usize, of: usize, name: Arc<str>, what: String },
    /// The hook's `timeout` passed while step `number` was in flight.
    Timeout { after: Duration, number: usize, of: usize, name: Arc<str> },
    /// Stopped from outside (Ctrl-C) before it ended.
    Interrupted,
}

impl std::fmt::Display for HookFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookFailure::Step { number, of, name, what } => write!(f, "step {number}/{of} `{name}`: {what}"),
            HookFailure::Timeout { after, number, of, name } => write!(
                f,
                "timed out after {} during step {number}/{of} `{name}` (raise `timeout` in the section)",
                stampede_scenario::format_duration(*after)
            ),
            HookFailure::Interrupted => f.write_str("interrupted"),
        }
    }
}

/// How a hook ran.
#[derive(Debug, Clone)]
pub struct HookReport {
    pub kind: HookKind,
    /// Steps of the hook, and how many ended without failing.
    pub steps: usize,
    pub passed: usize,
    /// Requests sent.
    pub requests: u64,
    pub elapsed: Duration,
    /// The VU's variables at the end (for setup: what every VU starts with).
    pub values: SetupValues,
    /// What the hook measured (scenario 0's ids; not part of the run's metrics).
    pub measured: Snapshot,
    pub failure: Option<HookFailure>,
}

impl HookReport {
    pub fn ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// Runs the plan's `kind` flow once on a thread of its own, its VU
/// starting with `values` (the setup's, for teardown; empty for setup).
/// `allow`: the destinations it may reach (`None`: any). `on_step` hears each
/// step as it ends. A plan without that section reports success at once.
/// Dropping the future stops the hook at its next await.
pub async fn run_hook(
    plan: Arc<Plan>,
    kind: HookKind,
    values: SetupValues,
    allow: Option<Arc<AllowList>>,
    seed: u64,
    on_step: impl FnMut(&StepDone) + Send + 'static,
) -> std::io::Result<HookReport> {
    let client = crate::client_config(&plan, allow)?;
    let cancel = CancellationToken::new();
    let _stop_on_drop = cancel.clone().drop_guard();
    let (tx, rx) = oneshot::channel();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name(format!("stampede-{}", kind.as_str())).spawn(move || {
        let report = rt.block_on(run_on_this_thread(plan, kind, values, client, seed, on_step, cancel));
        let _ = tx.send(report);
    })?;
    rx.await.map_err(|_| std::io::Error::other(format!("the {} thread ended without a report", kind.as_str())))
}

async fn run_on_this_thread(
    plan: Arc<Plan>,
    kind: HookKind,
    values: SetupValues,
    client: crate::client::ClientConfig,
    seed: u64,
    mut on_step: impl FnMut(&StepDone),
    cancel: CancellationToken,
) -> HookReport {
    let started = tokio::time::Instant::now();
    let steps: &[Step] = kind.flow(&plan).map_or(&[], |f| &f.steps);
    let of = steps.len();
    let w = Worker::standalone(plan.clone(), crate::layout(&plan), client, seed);
    let mut vu = Vu::new(0, 0, &values, plan.var_slots, plan.data.len(), seed);
    let mut measured = Snapshot::default();
    let mut passed = 0;
    let timeout = kind.timeout(&plan);
    let mut failure = None;
    for (i, step) in steps.iter().enumerate() {
        let number = i + 1;
        let step_started = tokio::time::Instant::now();
        let deadline = started + timeout;
        tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                failure = Some(HookFailure::Interrupted);
            }
            _ = tokio::time::sleep_until(deadline) => {
                failure = Some(HookFailure::Timeout { after: timeout, number, of, name: step.name.clone() });
            }
            _ = vu.step(&w, step, "") => {}
        }
        let snap = w.take_snapshot();
        measured.merge(&snap);
        if failure.is_some() {
            break;
        }
        let status = snap.requests.keys().map(|k| k.status).max().unwrap_or(0);
        on_step(&StepDone { kind, number, of, name: step.name.clone(), status, duration: step_started.elapsed() });
        if let Some(what) = step_failure(&plan, step, &snap, vu.vars()) {
            failure = Some(HookFailure::Step { number, of, name: step.name.clone(), what });
            break;
        }
        passed += 1;
    }
    HookReport {
        kind,
        steps: of,
        passed,
        requests: measured.total_requests(),
        elapsed: started.elapsed(),
        values: vu.vars().into(),
        measured,
        failure,
    }
}

/// What made a step fail, from what it recorded and the variables after it.
fn step_failure(plan: &Plan, step: &Step, snap: &Snapshot, vars: &[Option<String>]) -> Option<String> {
    let target = format!("{} {}", step.method, step.url.leading_literal());
    if let Some(stats) = snap.requests.iter().find(|(k, _)| k.status == 0).map(|(_, s)| s) {
        let kind =
            ErrorKind::ALL.iter().zip(&stats.errors).find(|(_, n)| **n > 0).map_or("no response", |(k, _)| k.as_str());
        return Some(format!("{target}: no response ({kind})"));
    }
    let status = snap.requests.keys().map(|k| k.status).max().unwrap_or(0);
    if let Some((key, _)) = snap.checks.iter().find(|(_, c)| c.fails > 0) {
        return Some(format!("{target}: check `{}` failed (status {status})", key.check));
    }
    for ex in &step.extract {
        if vars.get(ex.slot).is_none_or(Option::is_none) {
            return Some(format!(
                "{target}: extractor `{}` found nothing in the response (status {status})",
                plan.var_names[ex.slot]
            ));
        }
    }
    None
}
