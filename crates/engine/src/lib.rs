//! stampede-engine: runs a plan's load and measures it.
//!
//! Owns VUs, the k6 executors, splitting a plan over workers (execution
//! segments), the HTTP client with k6's request phases, checks, extraction,
//! the CDN classifier, and the per-interval collection of worker shards into
//! snapshots. It does not parse scenario files (stampede-scenario), does not
//! evaluate thresholds or print anything (stampede-metrics and the CLI), and
//! knows nothing of gRPC (agents wrap it).
//!
//! # Layout
//! - [`allow`]: the target allow-list, checked on every new connection.
//! - [`schedule`]: segment math, arrival-rate schedules, planned durations.
//! - `worker`: one thread and current-thread runtime per worker; executors.
//! - `vu`: a VU's state and one iteration of a flow (`only_if`, `for_each`,
//!   think times); a step's request from its templates, its extractors and checks.
//! - `send`: one request with its redirect chain, cookies and samples, apart
//!   from what a step does with the response (the k6-script runtime's
//!   `http.request()` is meant to reuse it).
//! - [`body`]: the extension point for iteration bodies that are not flows
//!   (a k6 script's functions) and the request API they send through.
//! - `batch`: requests sent together over up to `batch_per_host`
//!   connections per origin (k6's `http.batch`).
//! - `jar`: a VU's cookie jar.
//! - `custom`: the custom metric samples a step takes from each response.
//! - [`hook`]: `[setup]` and `[teardown]`, run once by the process that
//!   controls the run.
//! - [`client`]: per-VU connections, TLS, HTTP/2 through hyper, phases, errors.
//! - `h1`: the lean HTTP/1.1 client connection a VU drives itself.
//! - `io`: the socket wrapper that timestamps and counts bytes.
//! - [`cdn`]: cache-hit classification from response headers.
//!
//! # Threads
//! [`Run::start`] spawns `workers` OS threads. Each owns its VUs, connections
//! and metrics shard outright; the only cross-thread traffic is one snapshot
//! per worker per interval and the run [`Signal`] watch channel.

pub mod allow;
mod batch;
pub mod body;
pub mod cdn;
pub mod client;
mod custom;
mod group;
mod h1;
pub mod hook;
mod io;
mod jar;
mod redirect;
pub mod schedule;
mod send;
mod timer;
mod vu;
mod worker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use stampede_metrics::{Layout, Snapshot};
use stampede_scenario::Plan;
use tokio::sync::{mpsc, watch};

pub use body::{Body, BodyFactory, IterationBody, IterationFuture, LocalFuture, RequestSpec, ResponseData, run_apart};
pub use hook::{HookFailure, HookKind, HookReport, SetupValues, StepDone, run_hook};
pub use schedule::Segment;
pub use vu::Vu;
pub use worker::Worker;

/// What the controller tells the workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Run,
    /// No new iterations until `Run` again.
    Pause,
    /// Graceful stop: no new iterations; in-flight ones get each scenario's
    /// `graceful_stop`.
    Stop,
    /// Interrupt everything now.
    Abort,
}

/// How to run a plan in this process.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Worker threads in this process.
    pub workers: u32,
    /// Global index of this process's first worker, and the number of workers
    /// in the whole run (several processes share a run in distributed mode).
    pub first_worker: u32,
    pub total_workers: u32,
    /// Snapshot interval.
    pub interval: Duration,
    /// Seed for VU random choices (think times, weights, random data).
    pub seed: u64,
    /// When the load starts (a start barrier shared across processes).
    pub start_at: std::time::Instant,
    /// Destinations the load may reach, checked on every new connection
    /// (agents); `None`: any (a run the user started on this machine).
    pub allow: Option<Arc<allow::AllowList>>,
    /// The setup's values every VU starts with (by variable slot; empty
    /// without a setup).
    pub setup_values: SetupValues,
    /// What each iteration runs instead of the scenario's flows (a k6
    /// script); `None`: the plan's flows.
    pub body: Option<body::Body>,
}

impl RunOptions {
    /// A run of the whole plan on `workers` threads of this process, starting now.
    pub fn local(workers: u32) -> RunOptions {
        RunOptions {
            workers,
            first_worker: 0,
            total_workers: workers,
            interval: Duration::from_secs(1),
            seed: fastrand::u64(..),
            start_at: std::time::Instant::now(),
            allow: None,
            setup_values: Arc::from([]),
            body: None,
        }
    }
}

pub(crate) struct WorkerReport {
    worker: usize,
    index: u64,
    snapshot: Snapshot,
    last: bool,
}

/// Measurements of one interval from every worker of this process.
#[derive(Debug, Clone)]
pub struct IntervalSnapshot {
    /// Interval number from the start (0-based).
    pub index: u64,
    /// Start of the interval, from the run start.
    pub start: Duration,
    pub snapshot: Snapshot,
}

#[derive(Default)]
struct Pending {
    reported: Vec<bool>,
    snapshot: Snapshot,
}

/// A running plan.
pub struct Run {
    signal: watch::Sender<Signal>,
    reports: mpsc::UnboundedReceiver<WorkerReport>,
    threads: Vec<std::thread::JoinHandle<()>>,
    pending: BTreeMap<u64, Pending>,
    /// Per worker: the index of its last report once it has finished.
    finished: Vec<Option<u64>>,
    interval: Duration,
    pub start: std::time::Instant,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run").field("workers", &self.finished.len()).finish()
    }
}

/// The HTTP client settings of a plan (its CA, hosts mapping, source
/// addresses), with the destinations it may reach.
pub(crate) fn client_config(
    plan: &Plan,
    allow: Option<Arc<allow::AllowList>>,
) -> std::io::Result<client::ClientConfig> {
    let ca = match &plan.target.tls_ca {
        None => Vec::new(),
        Some(pem) => {
            use rustls::pki_types::pem::PemObject as _;
            rustls::pki_types::CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("[target] tls_ca: {e}")))?
        }
    };
    let mut client = client::ClientConfig::with_ca(
        plan.target.http_version,
        plan.target.insecure_skip_tls_verify,
        plan.target.connect_timeout,
        plan.target.max_body_size,
        &ca,
    );
    client.hosts = plan.target.hosts.clone().into();
    client.local_ips = plan.target.local_ips.clone().into();
    client.allow = allow.filter(|a| !a.allows_any());
    Ok(client)
}

/// The metrics layout (names behind ids) of a plan.
pub fn layout(plan: &Plan) -> Arc<Layout> {
    Arc::new(Layout::of_plan(plan))
}

impl Run {
    /// Starts the plan's load on worker threads. Must be called inside a Tokio
    /// runtime only for [`Run::next_interval`]; the workers have their own.
    pub fn start(plan: Arc<Plan>, opts: RunOptions) -> std::io::Result<Run> {
        let (signal, signal_rx) = watch::channel(Signal::Run);
        let (tx, reports) = mpsc::unbounded_channel();
        let client = client_config(&plan, opts.allow.clone())?;
        let layout = layout(&plan);
        let span = schedule::ProcessSpan {
            first: opts.first_worker,
            count: opts.workers.max(1),
            total: opts.total_workers.max(1),
        };
        // Test-wide iteration numbers: for sequential data, and for scripts
        // (`exec.scenario.iterationInTest`).
        let sequential =
            plan.data.iter().any(|d| d.order == stampede_scenario::DataOrder::Sequential) || opts.body.is_some();
        let started_iterations: Option<Arc<[AtomicU64]>> =
            sequential.then(|| plan.scenarios.iter().map(|_| AtomicU64::new(0)).collect());
        let mut threads = Vec::new();
        for i in 0..opts.workers {
            threads.push(worker::spawn(worker::WorkerArgs {
                plan: plan.clone(),
                layout: layout.clone(),
                segment: Segment { index: opts.first_worker + i, count: opts.total_workers.max(1) },
                span,
                started_iterations: started_iterations.clone(),
                local_index: i as usize,
                client: client.clone(),
                t0: opts.start_at,
                interval: opts.interval,
                signal: signal_rx.clone(),
                reports: tx.clone(),
                seed: opts.seed.wrapping_add(i as u64),
                initial_vars: opts.setup_values.clone(),
                body: opts.body.clone(),
            })?);
        }
        Ok(Run {
            signal,
            reports,
            threads,
            pending: BTreeMap::new(),
            finished: vec![None; opts.workers as usize],
            interval: opts.interval,
            start: opts.start_at,
        })
    }

    /// Tells every worker to pause, resume, stop gracefully or abort.
    pub fn signal(&self, s: Signal) {
        let _ = self.signal.send(s);
    }

    /// A sender for signals, for other tasks (Ctrl-C handlers, the UI).
    pub fn signaller(&self) -> watch::Sender<Signal> {
        self.signal.clone()
    }

    /// The next complete interval (every worker reported it), or `None` once
    /// every worker has finished and every interval was returned.
    pub async fn next_interval(&mut self) -> Option<IntervalSnapshot> {
        loop {
            if let Some(s) = self.pop_complete() {
                return Some(s);
            }
            if self.finished.iter().all(Option::is_some) {
                // Everything complete has been returned; anything left is
                // partial only if a worker died, so return it as it is.
                let (index, p) = self.pending.pop_first()?;
                return Some(self.interval_of(index, p.snapshot));
            }
            let r = self.reports.recv().await?;
            let n = self.finished.len();
            let p = self
                .pending
                .entry(r.index)
                .or_insert_with(|| Pending { reported: vec![false; n], ..Default::default() });
            p.reported[r.worker] = true;
            p.snapshot.merge(&r.snapshot);
            if r.last {
                self.finished[r.worker] = Some(r.index);
            }
        }
    }

    fn pop_complete(&mut self) -> Option<IntervalSnapshot> {
        let (&index, p) = self.pending.iter().next()?;
        let complete =
            p.reported.iter().zip(&self.finished).all(|(reported, fin)| *reported || fin.is_some_and(|f| f < index));
        if !complete {
            return None;
        }
        let p = self.pending.remove(&index)?;
        Some(self.interval_of(index, p.snapshot))
    }

    fn interval_of(&self, index: u64, snapshot: Snapshot) -> IntervalSnapshot {
        IntervalSnapshot { index, start: self.interval * index as u32, snapshot }
    }

    /// Waits for the worker threads to exit (after `next_interval` returned `None`).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}
