//! stampede-coordinator: runs one plan over many agents.
//!
//! Owns the coordinator side of the protocol: authenticating agents (shared
//! token, constant-time compare), waiting for the expected number (agents
//! arrive whenever their machines are up: they are kept alive with heartbeats
//! and re-admitted when they reconnect), splitting the plan into execution
//! segments weighted by each agent's cores, the start barrier (re-assigning
//! everybody when the set of agents changes before the start), merging
//! snapshots exactly per interval (a slow agent never
//! stalls the others: its late data folds into a later interval), heartbeats
//! and loss detection, and forwarding stop/pause signals. It does not decide
//! thresholds or print (the CLI's run loop does, on the merged data) and owns
//! no load generation.
//!
//! # Layout
//! - [`Coordinator`]: the run's state machine, driven by the caller.
//!   - the barrier: `wait_for_agents`, `start` (one loop, `barrier`);
//!   - the run: `next_interval`, merging and loss detection.
//! - `service`: the tonic `Attach` handler that turns streams into events,
//!   each stream under its own connection id.

mod service;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stampede_engine::{IntervalSnapshot, Signal};
use stampede_metrics::live::{AgentInfo, AgentState, Phase, Shared, lock};
use stampede_metrics::{RequestCounter, Snapshot};
use stampede_proto::convert::{Interner, check_wire, merge_wires_into};
use stampede_proto::v1::{self, agent_message, coordinator_message};
use stampede_scenario::Plan;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;

/// A coordinator hears nothing from an agent for this long: it is lost (during
/// the run) or dropped from the agents waiting for the start (before it).
pub const AGENT_SILENCE: Duration = Duration::from_secs(5);
/// Heartbeats go to every attached agent this often, in every phase: an agent
/// waiting for the start must hear its coordinator as a running one does. A
/// running agent stops its load after 2.5 s without a word (five missed).
const HEARTBEAT: Duration = Duration::from_millis(500);
/// While the barrier waits, a progress line this often (besides one per change).
const WAIT_PROGRESS: Duration = Duration::from_secs(5);
/// A hello under the name of an attached agent replaces it when that agent has
/// been silent this long (it is the same agent, reconnecting); otherwise the
/// name is taken.
const RECONNECT_SILENCE: Duration = Duration::from_secs(2);
/// Snapshots may run ahead of the coordinator's clock by this many intervals
/// (network and scheduling delays); further ahead, the agent is broken.
const MAX_INTERVALS_AHEAD: u64 = 60;
/// Delay between sending Start and the load starting (the barrier's slack).
const START_DELAY: Duration = Duration::from_millis(300);

/// What to do when an agent is lost mid-run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossPolicy {
    Continue,
    Abort,
}

/// The run the coordinator hands out.
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    pub expected_agents: usize,
    /// Shared secret agents must present; `None` accepts any agent (loopback-only use).
    pub token: Option<String>,
    /// Bound on the whole start barrier: from [`Coordinator::serve`] until
    /// every expected agent is connected and ready (agents that come and go
    /// meanwhile do not extend it).
    pub agent_timeout: Duration,
    pub on_agent_loss: LossPolicy,
    pub interval: Duration,
    pub seed: u64,
    pub scenario_toml: String,
    pub scenario_name: String,
    pub data_files: Vec<(String, Vec<u8>)>,
    pub overrides: v1::Overrides,
    /// Print agent comings and goings on stderr (off under a live UI, which
    /// shows them from the live state's events).
    pub print: bool,
}

/// Why a coordinated run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinatorError {
    #[error(
        "{expected} agent(s) expected, {arrived} connected within {timeout:?}{names} \
         (--agent-timeout bounds the wait for every agent to connect and be ready)"
    )]
    AgentsMissing { expected: usize, arrived: usize, timeout: Duration, names: String },
    #[error(
        "agent(s) {agents} connected but not ready within {timeout:?} (--agent-timeout): \
         they did not answer their assignment"
    )]
    NotReady { agents: String, timeout: Duration },
    #[error("agent {agent} refused the plan: {reason}")]
    Refused { agent: String, reason: String },
    #[error("interrupted before the start: the attached agents were told to stop")]
    Interrupted,
    #[error(transparent)]
    AssignmentTooLarge(#[from] stampede_proto::TooLarge),
    #[error("the gRPC server failed: {0}")]
    Server(String),
}

/// Identifies one `Attach` stream for as long as it lives. Events name the
/// connection, never a slot position: positions change while the barrier
/// frees the slots of agents that left, connections do not.
pub(crate) type ConnId = u64;

pub(crate) enum Event {
    Hello {
        conn: ConnId,
        hello: v1::Hello,
        addr: Option<SocketAddr>,
        tx: mpsc::Sender<Result<v1::CoordinatorMessage, Status>>,
        reply: oneshot::Sender<Result<(), Status>>,
    },
    Message {
        conn: ConnId,
        msg: v1::AgentMessage,
    },
    Closed {
        conn: ConnId,
        error: Option<String>,
    },
}

struct Slot {
    conn: ConnId,
    name: String,
    address: String,
    tx: Option<mpsc::Sender<Result<v1::CoordinatorMessage, Status>>>,
    state: AgentState,
    cores: u32,
    last_heard: Instant,
    final_seen: bool,
    /// Assignments sent and Ready answers received: the agent answers each
    /// Assign in order, so it is ready for the latest one only when the
    /// counts match (a Ready still in flight for an older assignment, made
    /// for another set of agents, does not count).
    assigns_sent: u32,
    readies: u32,
    requests: u64,
    iterations: u64,
    planned_vus: u64,
    cpu_percent: Option<f64>,
    vus: u64,
    /// Its latest gauges by scenario (VUs, VUs allocated): what an interval
    /// that goes out without its report counts for it.
    gauges: Vec<(String, u64, u64)>,
    rps: f64,
    lag_p99_ms: Option<f64>,
    /// When its load started, by its wall clock (µs since the epoch; 0: not said).
    started_at_us: u64,
}

impl Slot {
    /// Whether its snapshots are still expected.
    fn expected(&self) -> bool {
        !self.final_seen && self.state != AgentState::Lost && self.state != AgentState::Done
    }

    /// Queues `m`; `false` when the agent's queue is full or gone.
    fn send(&mut self, m: coordinator_message::Msg) -> bool {
        match &self.tx {
            // Never wait on one agent: a full queue means it is stuck, and
            // silence detection will mark it lost.
            Some(tx) => tx.try_send(Ok(v1::CoordinatorMessage { msg: Some(m) })).is_ok(),
            None => false,
        }
    }

    fn ready(&self) -> bool {
        self.assigns_sent > 0 && self.readies == self.assigns_sent
    }
}

struct Pending {
    reported: BTreeSet<usize>,
    /// The agents' snapshots of this interval as they came (each checked on
    /// arrival), merged when the interval goes out: series by series, which
    /// keeps the merge in the CPU's cache (see `merge_wires_into`).
    snapshots: Vec<v1::Snapshot>,
    since: Instant,
    /// Which of `snapshots` holds each agent's gauges (VUs, VUs allocated):
    /// an agent folded in twice (late data meeting its next interval)
    /// counts with its latest report, not with both.
    gauges: BTreeMap<usize, usize>,
}

/// What each agent delivered, for the summary.
#[derive(Debug, Clone)]
pub struct AgentReport {
    pub name: String,
    pub address: String,
    pub state: AgentState,
    pub requests: u64,
    pub iterations: u64,
    pub planned_vus: u64,
    pub cores: u32,
}

/// What the agents' k6 scripts did besides measuring, merged over agents
/// (empty for scenario files).
#[derive(Debug, Clone, Default)]
pub struct ScriptOutcomes {
    /// Iterations ended by an exception, by location: how many, the first text.
    pub exceptions: BTreeMap<String, (u64, String)>,
    /// An agent's script called `exec.test.abort()` (its reason, maybe empty).
    pub aborted: Option<String>,
    /// A VU's init code threw (the first such error).
    pub init_failure: Option<String>,
    /// Console lines the agents did not print (over their rate limit).
    pub console_dropped: u64,
    /// Every agent was told to stop because of a script.
    stopped: bool,
}

impl ScriptOutcomes {
    fn merge(&mut self, o: &v1::ScriptOutcome) {
        for e in &o.exceptions {
            let entry = self.exceptions.entry(e.location.clone()).or_insert_with(|| (0, e.first.clone()));
            entry.0 = entry.0.saturating_add(e.count);
        }
        if o.aborted && self.aborted.is_none() {
            self.aborted = Some(o.abort_reason.clone());
        }
        if !o.init_failure.is_empty() && self.init_failure.is_none() {
            self.init_failure = Some(o.init_failure.clone());
        }
        self.console_dropped = self.console_dropped.saturating_add(o.console_dropped);
    }
}

/// A coordinated run, driven by its caller: `wait_for_agents`, `start`, then
/// `next_interval` until `None`.
pub struct Coordinator {
    cfg: CoordinatorConfig,
    events: mpsc::Receiver<Event>,
    /// The agents: before the start, those attached now (a slot is freed when
    /// its agent leaves); from the start on, the run's agents, never removed.
    slots: Vec<Slot>,
    /// Which slot each live connection feeds.
    conns: HashMap<ConnId, usize>,
    /// The plan's part every agent shares (scenario, data files as
    /// reference-counted bytes), checked once against the message limit.
    assign: v1::Assign,
    /// Whether every current slot holds an assignment made for the current
    /// set of agents (any arrival or departure before the start voids it).
    assigned: bool,
    /// The start barrier's deadline (`agent_timeout` after `serve`).
    barrier_deadline: tokio::time::Instant,
    last_wait_line: Instant,
    signal: watch::Sender<Signal>,
    signal_rx: watch::Receiver<Signal>,
    live: Shared,
    pending: BTreeMap<u64, Pending>,
    next_emit: u64,
    /// How long after its end each interval went out, and the merge's CPU
    /// time per interval, µs.
    late: stampede_metrics::hist::Histogram,
    merge_cpu: stampede_metrics::hist::Histogram,
    names: Interner,
    lost: Vec<String>,
    started: bool,
    last_heartbeat: Instant,
    /// When the load started (after the barrier).
    pub start: Instant,
    server: Option<(oneshot::Sender<()>, ServerTask)>,
    pub local_addr: SocketAddr,
    script: std::sync::Arc<std::sync::Mutex<ScriptOutcomes>>,
}

/// The gRPC server's task: it ends with the transport's error, if any.
type ServerTask = tokio::task::JoinHandle<Result<(), tonic::transport::Error>>;

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator").field("agents", &self.slots.len()).field("addr", &self.local_addr).finish()
    }
}

/// Names for a progress line: all of a few, the first 8 of hundreds ("a,
/// b, … and 192 more"), so a line stays a line at 1,000 agents.
fn few<'a>(names: impl Iterator<Item = &'a str>) -> String {
    const SHOWN: usize = 8;
    let mut out = String::new();
    let mut n = 0usize;
    for name in names {
        if n < SHOWN {
            if n > 0 {
                out.push_str(", ");
            }
            out.push_str(name);
        }
        n += 1;
    }
    if n > SHOWN {
        out.push_str(&format!(" and {} more", n - SHOWN));
    }
    out
}

/// "start skew 1.2 ms across 200 agents; 120 intervals out 14 ms after
/// their end (median), p99 31 ms, max 40 ms; merge 9.1 ms per interval
/// (median), max 22 ms".
pub fn coordination_line(c: &stampede_metrics::live::Coordination, agents: usize) -> String {
    let skew = c.start_skew_ms.map_or_else(
        || format!("start skew unknown ({agents} agent(s), fewer than two said when they started)"),
        |s| format!("start skew {s:.1} ms across {agents} agent(s)"),
    );
    let [late50, late99, late_max] = c.late_ms;
    let [merge50, merge_max] = c.merge_ms;
    format!(
        "{skew}; {} interval(s) out {late50:.0} ms after their end (median), p99 {late99:.0} ms, max {late_max:.0} ms; \
         merge {merge50:.1} ms per interval (median), max {merge_max:.1} ms",
        c.intervals
    )
}

/// Tells the allocator to keep freed heap for reuse. A coordinator builds
/// each merged interval's histograms and frees the previous interval's:
/// with hundreds of series over many agents that is a hundred megabytes and
/// more a second, and glibc handed it back to the kernel each time, which
/// faulted it back in, zeroed, the next second (at 100 agents × 500 series,
/// half the merge's CPU: `examples/merge_bench.rs`). Up to 1 GiB of freed
/// heap is kept instead, and allocations up to 4 MiB come from the heap.
#[allow(unsafe_code)]
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; any values are valid.
    unsafe {
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

impl Coordinator {
    /// Serves the protocol on `listener` (TLS when `tls` is given).
    pub fn serve(
        mut cfg: CoordinatorConfig,
        listener: tokio::net::TcpListener,
        tls: Option<tonic::transport::ServerTlsConfig>,
        live: Shared,
    ) -> Result<Coordinator, CoordinatorError> {
        keep_freed_memory();
        let assign = v1::Assign {
            scenario_toml: cfg.scenario_toml.clone(),
            scenario_name: cfg.scenario_name.clone(),
            data_files: std::mem::take(&mut cfg.data_files)
                .into_iter()
                .map(|(path, content)| v1::DataFile { path, content: content.into() })
                .collect(),
            overrides: Some(cfg.overrides.clone()),
            ..Default::default()
        };
        // Refused here, before any agent waits or any load starts.
        stampede_proto::assignment_fits(&v1::Assign {
            first_worker: u32::MAX,
            workers: u32::MAX,
            total_workers: u32::MAX,
            interval_ms: u64::MAX,
            seed: u64::MAX,
            ..assign.clone()
        })?;
        let local_addr = listener.local_addr().map_err(|e| CoordinatorError::Server(e.to_string()))?;
        let (events_tx, events) = mpsc::channel(1024);
        let svc = service::AttachService::new(cfg.token.clone(), events_tx);
        let mut builder = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(1)))
            .http2_keepalive_timeout(Some(Duration::from_secs(3)));
        if let Some(tls) = tls {
            builder = builder.tls_config(tls).map_err(|e| CoordinatorError::Server(e.to_string()))?;
        }
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = stampede_proto::v1::coordinator_server::CoordinatorServer::new(svc)
            .max_decoding_message_size(stampede_proto::MAX_MESSAGE_BYTES)
            .max_encoding_message_size(stampede_proto::MAX_MESSAGE_BYTES);
        let router = builder.add_service(server);
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let server = tokio::spawn(router.serve_with_incoming_shutdown(incoming, async {
            let _ = stop_rx.await;
        }));
        let (signal, signal_rx) = watch::channel(Signal::Run);
        Ok(Coordinator {
            barrier_deadline: tokio::time::Instant::now() + cfg.agent_timeout,
            cfg,
            events,
            slots: Vec::new(),
            conns: HashMap::new(),
            assign,
            assigned: false,
            last_wait_line: Instant::now(),
            signal,
            signal_rx,
            live,
            pending: BTreeMap::new(),
            next_emit: 0,
            late: stampede_metrics::hist::new_histogram(),
            merge_cpu: stampede_metrics::hist::new_histogram(),
            names: Interner::default(),
            lost: Vec::new(),
            started: false,
            last_heartbeat: Instant::now(),
            start: Instant::now(),
            server: Some((stop_tx, server)),
            local_addr,
            script: Default::default(),
        })
    }

    /// A sender for run signals (Ctrl-C, the UI, thresholds).
    pub fn signaller(&self) -> watch::Sender<Signal> {
        self.signal.clone()
    }

    /// What the agents' scripts did (filled as agents stop or finish);
    /// readable after the coordinator itself is gone.
    pub fn script_outcomes(&self) -> std::sync::Arc<std::sync::Mutex<ScriptOutcomes>> {
        self.script.clone()
    }

    /// Names of agents lost during the run.
    pub fn lost_agents(&self) -> &[String] {
        &self.lost
    }

    pub fn agent_reports(&self) -> Vec<AgentReport> {
        self.slots
            .iter()
            .map(|s| AgentReport {
                name: s.name.clone(),
                address: s.address.clone(),
                state: s.state,
                requests: s.requests,
                iterations: s.iterations,
                planned_vus: s.planned_vus,
                cores: s.cores,
            })
            .collect()
    }

    fn publish_agents(&self) {
        let mut live = lock(&self.live);
        live.agents = self
            .slots
            .iter()
            .map(|s| AgentInfo {
                name: s.name.clone(),
                address: s.address.clone(),
                state: s.state,
                vus: s.vus,
                rps: s.rps,
                lag_p99_ms: s.lag_p99_ms,
                cpu_percent: s.cpu_percent,
                last_heartbeat: s.last_heard,
                requests: s.requests,
            })
            .collect();
        live.coordination = Some(self.coordination());
    }

    /// The start barrier's skew and how the merge keeps up, so far.
    fn coordination(&self) -> stampede_metrics::live::Coordination {
        use stampede_metrics::hist::Histogram;
        let starts = self.slots.iter().map(|s| s.started_at_us).filter(|&t| t > 0);
        let (first, last, n) = starts.fold((u64::MAX, 0, 0), |(a, b, n), t| (a.min(t), b.max(t), n + 1));
        let ms = |h: &Histogram, q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 };
        stampede_metrics::live::Coordination {
            start_skew_ms: (n >= 2).then(|| (last - first) as f64 / 1000.0),
            intervals: self.late.len(),
            late_ms: [ms(&self.late, 0.5), ms(&self.late, 0.99), ms(&self.late, 1.0)],
            merge_ms: [ms(&self.merge_cpu, 0.5), ms(&self.merge_cpu, 1.0)],
        }
    }

    // === the start barrier ===

    /// Waits until the expected agents are attached (the first half of the
    /// barrier; [`Coordinator::start`] does the rest, and waits again if an
    /// agent leaves meanwhile).
    ///
    /// Returns [`CoordinatorError::Interrupted`] promptly on a Stop or Abort
    /// from [`Coordinator::signaller`], after telling attached agents to stop.
    /// Call `start` right after: until then nobody answers new hellos or
    /// sends heartbeats.
    pub async fn wait_for_agents(&mut self) -> Result<(), CoordinatorError> {
        self.barrier(None, None::<std::pin::Pin<&mut std::future::Ready<()>>>).await.map(|_| ())
    }

    /// Like [`Coordinator::wait_for_agents`], while `work` (the plan's
    /// `[setup]`) runs: returns its output once it is done and the expected
    /// agents are attached. Agents attached meanwhile are heard and sent
    /// heartbeats, so a setup longer than their patience loses none; the
    /// barrier's deadline does not run out while only `work` is awaited, and
    /// is moved back by the time `work` took.
    pub async fn wait_for_agents_while<T>(&mut self, work: impl Future<Output = T>) -> Result<T, CoordinatorError> {
        let began = tokio::time::Instant::now();
        let work = std::pin::pin!(work);
        let out = self.barrier(None, Some(work)).await?;
        self.barrier_deadline += began.elapsed();
        out.ok_or_else(|| CoordinatorError::Server("setup ended without a result".into()))
    }

    /// Tells every attached agent to stop before the start (the setup
    /// failed): nothing runs. Call [`Coordinator::shutdown`] after.
    pub fn cancel_before_start(&mut self, reason: &str) {
        self.stop_all(true, reason);
    }

    /// Values every VU starts with (the setup's, by variable name), sent in
    /// every assignment from now on. Refused if they make an assignment too
    /// large for the protocol.
    pub fn set_setup_values(&mut self, values: HashMap<String, String>) -> Result<(), CoordinatorError> {
        let assign = v1::Assign { setup_values: values, ..self.assign.clone() };
        stampede_proto::assignment_fits(&v1::Assign {
            first_worker: u32::MAX,
            workers: u32::MAX,
            total_workers: u32::MAX,
            interval_ms: u64::MAX,
            seed: u64::MAX,
            ..assign.clone()
        })?;
        self.assign = assign;
        self.assigned = false;
        Ok(())
    }

    /// Splits the plan over the attached agents, waits until every one is
    /// ready, and starts them together. An agent that leaves before the start
    /// frees its slot: the coordinator waits for another and assigns everybody
    /// again (segments depend on the set of agents). Bounded by
    /// `agent_timeout` from [`Coordinator::serve`]; interrupted as
    /// [`Coordinator::wait_for_agents`] is.
    pub async fn start(&mut self, plan: &Plan) -> Result<(), CoordinatorError> {
        // Agents' series of these custom metrics are accepted, no others.
        self.names.declare_metrics(&plan.metrics);
        self.barrier(Some(plan), None::<std::pin::Pin<&mut std::future::Ready<()>>>).await?;
        let total: u32 = self.slots.iter().map(|s| s.cores).sum();
        for s in &mut self.slots {
            s.send(coordinator_message::Msg::Start(v1::Start { delay_ms: START_DELAY.as_millis() as u64 }));
            s.state = AgentState::Running;
            // The run's clock starts now: silence is measured from here.
            s.last_heard = Instant::now();
        }
        self.start = Instant::now() + START_DELAY;
        self.started = true;
        {
            let mut live = lock(&self.live);
            live.phase = Phase::Running;
            live.event(format!("started {} agent(s), {total} worker(s)", self.slots.len()));
        }
        if self.cfg.print {
            eprintln!("coordinator: starting {} agent(s), {total} worker(s)", self.slots.len());
        }
        self.publish_agents();
        Ok(())
    }

    /// The barrier's loop: with no plan, until the expected agents are
    /// attached; with one, until all of them are ready for their assignment.
    /// `work`: a future awaited meanwhile (the loop ends only once it is done).
    async fn barrier<F: Future>(
        &mut self,
        plan: Option<&Plan>,
        mut work: Option<std::pin::Pin<&mut F>>,
    ) -> Result<Option<F::Output>, CoordinatorError> {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut out = None;
        loop {
            let full = self.slots.len() >= self.cfg.expected_agents;
            let working = work.is_some() && out.is_none();
            match plan {
                None if full && !working => break,
                Some(plan) if full && !self.assigned => self.assign_all(plan),
                Some(_) if full && self.slots.iter().all(Slot::ready) => break,
                _ => {}
            }
            tokio::select! {
                done = async { work.as_mut().expect("working").as_mut().await }, if working => out = Some(done),
                ev = self.events.recv() => match ev {
                    Some(ev) => self.handle_before_start(ev)?,
                    // Only when the server task is gone.
                    None => return Err(CoordinatorError::Server("the gRPC server stopped".into())),
                },
                changed = self.signal_rx.changed() => {
                    let sig = if changed.is_ok() { *self.signal_rx.borrow_and_update() } else { Signal::Abort };
                    if matches!(sig, Signal::Stop | Signal::Abort) {
                        self.stop_all(true, "the coordinator was interrupted before the start");
                        lock(&self.live).event("interrupted before the start");
                        return Err(CoordinatorError::Interrupted);
                    }
                }
                _ = tokio::time::sleep_until(self.barrier_deadline), if !(full && working) => return Err(self.barrier_timeout()),
                _ = tick.tick() => self.tick_before_start(),
            }
        }
        self.publish_agents();
        Ok(out)
    }

    fn barrier_timeout(&mut self) -> CoordinatorError {
        let timeout = self.cfg.agent_timeout;
        let err = if self.slots.len() < self.cfg.expected_agents {
            CoordinatorError::AgentsMissing {
                expected: self.cfg.expected_agents,
                arrived: self.slots.len(),
                timeout,
                names: if self.slots.is_empty() { String::new() } else { format!(" (connected: {})", self.names()) },
            }
        } else {
            let waiting: Vec<&str> = self.slots.iter().filter(|s| !s.ready()).map(|s| s.name.as_str()).collect();
            CoordinatorError::NotReady { agents: waiting.join(", "), timeout }
        };
        self.stop_all(true, "the coordinator gave up waiting for its agents");
        err
    }

    /// Sends every attached agent its segment of `plan`.
    fn assign_all(&mut self, plan: &Plan) {
        let total: u32 = self.slots.iter().map(|s| s.cores).sum();
        let mut first = 0u32;
        let mut stuck = Vec::new();
        for s in &mut self.slots {
            let workers = s.cores;
            s.planned_vus = stampede_engine::schedule::ProcessSpan { first, count: workers, total }.peak_vus(plan);
            let assign = v1::Assign {
                first_worker: first,
                workers,
                total_workers: total,
                interval_ms: self.cfg.interval.as_millis() as u64,
                seed: self.cfg.seed.wrapping_add(first as u64),
                ..self.assign.clone()
            };
            first += workers;
            s.assigns_sent += 1;
            s.state = AgentState::Connected;
            if !s.send(coordinator_message::Msg::Assign(assign)) {
                stuck.push(s.conn);
            }
        }
        self.assigned = true;
        if self.cfg.print {
            eprintln!(
                "coordinator: assigned {} agent(s), {total} worker(s); waiting for them to be ready",
                self.slots.len()
            );
        }
        for conn in stuck {
            self.free(conn, "its queue is full (it does not read)");
        }
        self.publish_agents();
    }

    fn names(&self) -> String {
        few(self.slots.iter().map(|s| s.name.as_str()))
    }

    /// "waiting for agents: 2 of 3 connected (a, b)" (or who is not ready yet).
    fn wait_line(&self) -> String {
        let n = self.slots.len();
        if n < self.cfg.expected_agents {
            let names = if n == 0 { String::new() } else { format!(" ({})", self.names()) };
            format!("waiting for agents: {n} of {} connected{names}", self.cfg.expected_agents)
        } else if !self.assigned {
            format!("all {n} agent(s) connected ({})", self.names())
        } else {
            let waiting = self.slots.iter().filter(|s| !s.ready()).count();
            format!(
                "waiting for agents: {n} of {n} connected, {} ready (waiting for {})",
                n - waiting,
                few(self.slots.iter().filter(|s| !s.ready()).map(|s| s.name.as_str()))
            )
        }
    }

    /// A change in the set of agents: on stderr (unless a live UI will own
    /// the terminal) and in the live state's events.
    fn announce(&mut self, what: &str) {
        let line = format!("{what}; {}", self.wait_line());
        if self.cfg.print {
            eprintln!("coordinator: {line}");
        }
        lock(&self.live).event(line);
        self.last_wait_line = Instant::now();
        self.publish_agents();
    }

    fn send_heartbeats(&mut self) {
        if self.last_heartbeat.elapsed() < HEARTBEAT {
            return;
        }
        self.last_heartbeat = Instant::now();
        let sent_ms = self.start.elapsed().as_millis() as u64;
        for s in &mut self.slots {
            s.send(coordinator_message::Msg::Heartbeat(v1::Heartbeat { sent_ms, echo_ms: 0, cpu_percent: 0.0 }));
        }
    }

    fn tick_before_start(&mut self) {
        self.send_heartbeats();
        let silent: Vec<ConnId> =
            self.slots.iter().filter(|s| s.last_heard.elapsed() > AGENT_SILENCE).map(|s| s.conn).collect();
        for conn in silent {
            self.free(conn, &format!("no word for {AGENT_SILENCE:?}"));
        }
        if self.last_wait_line.elapsed() >= WAIT_PROGRESS {
            // Always printed: nothing else shows the wait (a live UI starts
            // with the run), and a wait this long deserves a line.
            let left = self.barrier_deadline.saturating_duration_since(tokio::time::Instant::now());
            eprintln!("coordinator: {}; {} s left (--agent-timeout)", self.wait_line(), left.as_secs());
            self.last_wait_line = Instant::now();
        }
    }

    /// Frees the slot of connection `conn` before the start (it left, fell
    /// silent, or was replaced): it no longer counts, and the assignment made
    /// for the old set of agents is void.
    fn free(&mut self, conn: ConnId, why: &str) {
        let Some(index) = self.conns.remove(&conn) else { return };
        let s = self.slots.remove(index);
        for i in self.conns.values_mut() {
            if *i > index {
                *i -= 1;
            }
        }
        self.assigned = false;
        // Dropping its sender ends its stream, so a live agent notices and
        // reconnects (and is re-admitted).
        drop(s.tx);
        self.announce(&format!("agent {} left before the start ({why})", s.name));
    }

    fn handle_before_start(&mut self, ev: Event) -> Result<(), CoordinatorError> {
        match ev {
            Event::Hello { conn, hello, addr, tx, reply } => self.hello(conn, hello, addr, tx, reply),
            Event::Closed { conn, error } => {
                self.free(conn, &error.unwrap_or_else(|| "its stream closed".into()));
            }
            Event::Message { conn, msg } => {
                let Some(&index) = self.conns.get(&conn) else { return Ok(()) };
                let s = &mut self.slots[index];
                s.last_heard = Instant::now();
                match msg.msg {
                    Some(agent_message::Msg::Ready(r)) if s.readies < s.assigns_sent => {
                        s.readies += 1;
                        if s.ready() {
                            // The agent's own count is the same function of
                            // its assignment; the coordinator's stands.
                            s.state = AgentState::Ready;
                            let _ = r.planned_vus;
                            self.publish_agents();
                        }
                    }
                    Some(agent_message::Msg::Refusal(r)) => {
                        let agent = s.name.clone();
                        self.stop_all(true, "another agent refused the plan");
                        return Err(CoordinatorError::Refused { agent, reason: r.reason });
                    }
                    Some(agent_message::Msg::Heartbeat(h)) => s.cpu_percent = Some(h.cpu_percent),
                    // Nothing else means anything before the start (a Ready
                    // without an Assign, snapshots, a second hello).
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn hello(
        &mut self,
        conn: ConnId,
        hello: v1::Hello,
        addr: Option<SocketAddr>,
        tx: mpsc::Sender<Result<v1::CoordinatorMessage, Status>>,
        reply: oneshot::Sender<Result<(), Status>>,
    ) {
        if self.started {
            let why = format!("this run has already started with {} agent(s)", self.slots.len());
            let _ = reply.send(Err(Status::resource_exhausted(why)));
            return;
        }
        if let Some(old) = self.slots.iter().find(|s| s.name == hello.name) {
            if old.last_heard.elapsed() < RECONNECT_SILENCE {
                let why =
                    format!("an agent named `{}` is already attached; give each agent a distinct --name", hello.name);
                let _ = reply.send(Err(Status::resource_exhausted(why)));
                return;
            }
            // The same agent, back on a new connection before its old one was
            // noticed dead.
            let old = old.conn;
            self.free(old, "it reconnected");
        }
        if self.slots.len() >= self.cfg.expected_agents {
            // Unavailable, not a refusal: the agent retries, and gets in if
            // an agent leaves before the start.
            let why = format!(
                "this run expects {} agent(s) and has them all ({}); a slot may free up before the start",
                self.cfg.expected_agents,
                self.names()
            );
            let _ = reply.send(Err(Status::unavailable(why)));
            return;
        }
        if reply.send(Ok(())).is_err() {
            // Its handler is gone: the stream ended while the hello waited.
            return;
        }
        let name = hello.name;
        let address = addr.map_or_else(String::new, |a| a.to_string());
        let cores = hello.cores.clamp(1, 1024);
        self.conns.insert(conn, self.slots.len());
        self.slots.push(Slot {
            conn,
            name: name.clone(),
            address: address.clone(),
            tx: Some(tx),
            state: AgentState::Connected,
            cores,
            last_heard: Instant::now(),
            final_seen: false,
            assigns_sent: 0,
            readies: 0,
            requests: 0,
            iterations: 0,
            planned_vus: 0,
            cpu_percent: None,
            vus: 0,
            gauges: Vec::new(),
            rps: 0.0,
            lag_p99_ms: None,
            started_at_us: 0,
        });
        self.assigned = false;
        let from = if address.is_empty() { String::new() } else { format!(" from {address}") };
        self.announce(&format!("agent {name} attached{from} ({cores} core(s))"));
    }

    fn stop_all(&mut self, hard: bool, reason: &str) {
        self.stop_all_as(hard, reason, "");
    }

    /// Stops every agent, telling them how the run ends (`outcome`, for
    /// their own outputs).
    fn stop_all_as(&mut self, hard: bool, reason: &str, outcome: &str) {
        for s in &mut self.slots {
            s.send(coordinator_message::Msg::Stop(v1::Stop { hard, reason: reason.into(), outcome: outcome.into() }));
        }
    }

    /// Aborts the run because a threshold with `abort_on_fail` failed: every
    /// agent stops now and records that outcome.
    pub fn abort_by_threshold(&mut self, threshold: &str) {
        self.stop_all_as(true, &format!("threshold {threshold} failed with abort_on_fail"), "aborted_by_threshold");
    }

    /// The next merged interval, or `None` when every agent has finished or
    /// is lost and everything received has been returned.
    pub async fn next_interval(&mut self) -> Option<IntervalSnapshot> {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            if let Some(iv) = self.pop_ready() {
                return Some(iv);
            }
            if !self.slots.iter().any(Slot::expected) {
                // Everything that will come has come.
                if let Some((index, p)) = self.pending.pop_first() {
                    self.next_emit = index + 1;
                    return Some(self.interval_of(index, p));
                }
                // The agents' final states (done, lost) for the live view and
                // the reports written from it.
                self.publish_agents();
                if self.cfg.print {
                    eprintln!("coordinator: {}", coordination_line(&self.coordination(), self.slots.len()));
                }
                return None;
            }
            tokio::select! {
                ev = self.events.recv() => match ev {
                    Some(ev) => self.handle(ev),
                    None => {
                        for s in &mut self.slots {
                            if s.expected() { s.state = AgentState::Lost; }
                        }
                    }
                },
                changed = self.signal_rx.changed() => {
                    if changed.is_ok() {
                        let sig = *self.signal_rx.borrow_and_update();
                        self.forward(sig);
                    }
                }
                _ = tick.tick() => {
                    self.send_heartbeats();
                    for id in 0..self.slots.len() {
                        if self.slots[id].expected() && self.slots[id].last_heard.elapsed() > AGENT_SILENCE {
                            self.mark_lost(id, format!("no word for {AGENT_SILENCE:?}"));
                        }
                    }
                    self.publish_agents();
                }
            }
        }
    }

    /// An agent's script ended the test (`exec.test.abort()`, or a VU's init
    /// code threw): as k6, the whole test stops now, on every agent (once).
    fn script_stop(&mut self, agent: &str, reason: String, init_failed: bool) {
        let first = {
            let mut o = self.script.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let first = !o.stopped;
            o.stopped = true;
            if init_failed {
                o.init_failure.get_or_insert_with(|| reason.clone());
            } else {
                o.aborted.get_or_insert_with(|| reason.clone());
            }
            first
        };
        if !first {
            return;
        }
        let what = if init_failed {
            format!("a VU's init code threw: {reason}")
        } else if reason.is_empty() {
            "the script called exec.test.abort()".to_string()
        } else {
            format!("the script called exec.test.abort(): {reason}")
        };
        let why = format!("agent {agent}: {what}");
        lock(&self.live).event(format!("{why}; stopping every agent"));
        if self.cfg.print {
            eprintln!("coordinator: {why}; stopping every agent");
        }
        self.stop_all_as(true, &why, "interrupted");
    }

    fn forward(&mut self, sig: Signal) {
        match sig {
            Signal::Stop => self.stop_all_as(false, "stop requested", "interrupted"),
            Signal::Abort => self.stop_all_as(true, "abort requested", "interrupted"),
            Signal::Pause | Signal::Run => {
                let paused = sig == Signal::Pause;
                for s in &mut self.slots {
                    s.send(coordinator_message::Msg::Control(v1::Control { paused }));
                }
            }
        }
    }

    fn mark_lost(&mut self, id: usize, why: String) {
        let s = &mut self.slots[id];
        if !s.expected() {
            return;
        }
        s.state = AgentState::Lost;
        s.tx = None;
        let name = s.name.clone();
        let requests = s.requests;
        self.lost.push(name.clone());
        {
            let mut live = lock(&self.live);
            live.event(format!("agent {name} lost ({why}); it had delivered {requests} requests"));
        }
        if self.cfg.print {
            eprintln!("coordinator: agent {name} lost ({why}); it had delivered {requests} requests");
        }
        if self.cfg.on_agent_loss == LossPolicy::Abort {
            lock(&self.live).event("--on-agent-loss abort: stopping every agent");
            self.stop_all(true, "an agent was lost and --on-agent-loss is abort");
        }
        self.publish_agents();
    }

    fn pop_ready(&mut self) -> Option<IntervalSnapshot> {
        let (&index, p) = self.pending.iter().next()?;
        let stuck = p.since.elapsed() > self.cfg.interval * 3;
        let complete = self.slots.iter().enumerate().all(|(id, s)| !s.expected() || p.reported.contains(&id));
        if !(complete || stuck) {
            return None;
        }
        let p = self.pending.remove(&index)?;
        self.next_emit = index + 1;
        Some(self.interval_of(index, p))
    }

    /// Merges an interval's snapshots into the one that goes out.
    fn interval_of(&mut self, index: u64, p: Pending) -> IntervalSnapshot {
        let merge_started = Instant::now();
        let mut snapshot = Snapshot::default();
        let all: Vec<&v1::Snapshot> = p.snapshots.iter().collect();
        // Each was checked on arrival (`check_wire`), so this cannot fail;
        // should it, what merged is kept and the run says so.
        if let Err(e) = merge_wires_into(&all, &mut snapshot, &mut self.names) {
            lock(&self.live).event(format!("interval {index}: a snapshot could not be merged: {e}"));
        }
        // An agent that has not reported this interval still has its VUs:
        // count its latest gauges (its late report goes to a later interval).
        for (id, slot) in self.slots.iter().enumerate() {
            if slot.expected() && !p.gauges.contains_key(&id) {
                for (name, vus, vus_max) in &slot.gauges {
                    let sc = snapshot.scenarios.entry(self.names.get(name)).or_default();
                    sc.vus = sc.vus.saturating_add(*vus);
                    sc.vus_max = sc.vus_max.saturating_add(*vus_max);
                }
            }
        }
        drop(all);
        drop(p);
        let index32 = u32::try_from(index).unwrap_or(u32::MAX);
        let end = self.start + self.cfg.interval.saturating_mul(index32.saturating_add(1));
        stampede_metrics::hist::record(&mut self.late, end.elapsed().as_micros() as u64);
        stampede_metrics::hist::record(&mut self.merge_cpu, merge_started.elapsed().as_micros() as u64);
        IntervalSnapshot { index, start: self.cfg.interval.saturating_mul(index32), snapshot }
    }

    /// An event once the run has started.
    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Hello { reply, hello, addr, .. } => {
                // A late agent, or one restarted mid-run: its share is being
                // delivered (or was lost) already, so it is never let in.
                let why = format!(
                    "this run has already started with {} agent(s); an agent joins only before the start",
                    self.slots.len()
                );
                let from = addr.map_or_else(String::new, |a| format!(" at {a}"));
                lock(&self.live).event(format!("agent {}{from} refused: the run has already started", hello.name));
                if self.cfg.print {
                    eprintln!("coordinator: agent {}{from} refused: the run has already started", hello.name);
                }
                let _ = reply.send(Err(Status::resource_exhausted(why)));
            }
            Event::Message { conn, msg } => {
                let Some(&id) = self.conns.get(&conn) else { return };
                let interval = self.cfg.interval;
                let now_index = (self.start.elapsed().as_millis() / interval.as_millis().max(1)) as u64;
                let s = &mut self.slots[id];
                s.last_heard = Instant::now();
                match msg.msg {
                    Some(agent_message::Msg::Heartbeat(h)) => s.cpu_percent = Some(h.cpu_percent),
                    Some(agent_message::Msg::Snapshot(w)) => {
                        if w.r#final {
                            s.final_seen = true;
                            s.state = AgentState::Done;
                            if let Some(o) = w.script {
                                let name = s.name.clone();
                                self.script.lock().unwrap_or_else(std::sync::PoisonError::into_inner).merge(&o);
                                // An agent whose every VU failed may finish
                                // before it could say so: the test stops now.
                                if !o.init_failure.is_empty() {
                                    self.script_stop(&name, o.init_failure, true);
                                } else if o.aborted {
                                    self.script_stop(&name, o.abort_reason, false);
                                }
                            }
                            return;
                        }
                        if !s.expected() {
                            return;
                        }
                        if w.index > now_index.saturating_add(MAX_INTERVALS_AHEAD) {
                            self.mark_lost(
                                id,
                                format!(
                                    "sent a snapshot for interval {}, but the run is at interval {now_index}",
                                    w.index
                                ),
                            );
                            return;
                        }
                        if w.started_at_us > 0 {
                            s.started_at_us = w.started_at_us;
                        }
                        if let Err(e) = check_wire(&w, &self.names) {
                            self.mark_lost(id, format!("sent an undecodable snapshot: {e}"));
                            return;
                        }
                        // Late data (its interval was already emitted) folds
                        // into the oldest interval still open.
                        let index = w.index.max(self.next_emit);
                        let agents = self.conns.len();
                        let p = self.pending.entry(index).or_insert_with(|| Pending {
                            reported: BTreeSet::new(),
                            snapshots: Vec::with_capacity(agents),
                            since: Instant::now(),
                            gauges: BTreeMap::new(),
                        });
                        s.gauges = w.scenarios.iter().map(|x| (x.name.clone(), x.vus, x.vus_max)).collect();
                        // Counters and histograms add; gauges are a level:
                        // this agent's newer report replaces what it put here before.
                        if let Some(old) = p.gauges.insert(id, p.snapshots.len()) {
                            for sc in &mut p.snapshots[old].scenarios {
                                sc.vus = 0;
                                sc.vus_max = 0;
                            }
                        }
                        if index == w.index {
                            p.reported.insert(id);
                        }
                        // Per-agent figures for the live view, from the
                        // counters (each bounded by `check_wire`).
                        let count = w.requests.iter().fold(0u64, |a, r| {
                            a.saturating_add(r.counters.get(RequestCounter::Count as usize).copied().unwrap_or(0))
                        });
                        s.requests = s.requests.saturating_add(count);
                        let iterations = w.scenarios.iter().fold(0u64, |a, x| a.saturating_add(x.iterations));
                        s.iterations = s.iterations.saturating_add(iterations);
                        s.vus = w.scenarios.iter().fold(0u64, |a, x| a.saturating_add(x.vus));
                        s.rps = count as f64 / interval.as_secs_f64();
                        s.lag_p99_ms = w
                            .scenarios
                            .iter()
                            .filter(|x| !x.scheduling_lag.is_empty())
                            .filter_map(|x| stampede_metrics::hist::decode(&x.scheduling_lag).ok())
                            .map(|h| stampede_metrics::hist::quantile_ms(&h, 0.99))
                            .reduce(f64::max);
                        p.snapshots.push(w);
                    }
                    Some(agent_message::Msg::Done(d)) => {
                        s.state = AgentState::Done;
                        s.final_seen = true;
                        s.requests = s.requests.max(d.requests);
                    }
                    Some(agent_message::Msg::ScriptStop(st)) => {
                        let name = s.name.clone();
                        self.script_stop(&name, st.reason, st.init_failed);
                    }
                    Some(agent_message::Msg::Refusal(r)) => {
                        self.mark_lost(id, format!("refused: {}", r.reason));
                    }
                    // A Ready (for an assignment before the start) or a
                    // second hello mean nothing now.
                    Some(agent_message::Msg::Ready(_)) | Some(agent_message::Msg::Hello(_)) | None => {}
                }
            }
            Event::Closed { conn, error } => {
                let Some(id) = self.conns.remove(&conn) else { return };
                if self.slots[id].expected() {
                    self.mark_lost(id, error.unwrap_or_else(|| "its stream closed".into()));
                } else {
                    self.slots[id].tx = None;
                }
            }
        }
    }

    /// Stops the gRPC server (after the run).
    pub async fn shutdown(mut self) {
        for s in &mut self.slots {
            s.tx = None;
        }
        if let Some((stop, handle)) = self.server.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(2), handle).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn progress_lines_name_a_few_agents_and_count_the_rest() {
        assert_eq!(super::few(["a", "b"].into_iter()), "a, b");
        let names: Vec<String> = (0..1000).map(|i| format!("sim-{i:04}")).collect();
        let line = super::few(names.iter().map(String::as_str));
        assert_eq!(line, "sim-0000, sim-0001, sim-0002, sim-0003, sim-0004, sim-0005, sim-0006, sim-0007 and 992 more");
    }
}
