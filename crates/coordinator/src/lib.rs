//! stampede-coordinator: runs one plan over many agents.
//!
//! Owns the coordinator side of the protocol: authenticating agents (shared
//! token, constant-time compare), waiting for the expected number, splitting
//! the plan into execution segments weighted by each agent's cores, the
//! start barrier, merging snapshots exactly per interval (a slow agent never
//! stalls the others: its late data folds into a later interval), heartbeats
//! and loss detection, and forwarding stop/pause signals. It does not decide
//! thresholds or print (the CLI's run loop does, on the merged data) and owns
//! no load generation.
//!
//! # Layout
//! - [`Coordinator`]: the run's state machine, driven by the caller.
//! - `service`: the tonic `Attach` handler that turns streams into events.

mod service;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stampede_engine::{IntervalSnapshot, Segment, Signal};
use stampede_metrics::Snapshot;
use stampede_metrics::live::{AgentInfo, AgentState, Phase, Shared};
use stampede_proto::convert::{Interner, merge_wire_into};
use stampede_proto::v1::{self, agent_message, coordinator_message};
use stampede_scenario::Plan;
use tokio::sync::{mpsc, oneshot, watch};
use tonic::Status;

/// A coordinator hears nothing from an agent for this long: it is lost.
pub const AGENT_SILENCE: Duration = Duration::from_secs(5);
const HEARTBEAT: Duration = Duration::from_secs(1);
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
    /// How long to wait for the expected agents.
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
    #[error("{expected} agent(s) expected, {arrived} connected within {timeout:?}{names}")]
    AgentsMissing { expected: usize, arrived: usize, timeout: Duration, names: String },
    #[error("agent {agent} refused the plan: {reason}")]
    Refused { agent: String, reason: String },
    #[error("agent {agent} left before the start")]
    LeftEarly { agent: String },
    #[error(transparent)]
    AssignmentTooLarge(#[from] stampede_proto::TooLarge),
    #[error("the gRPC server failed: {0}")]
    Server(String),
}

pub(crate) enum Event {
    Hello {
        hello: v1::Hello,
        addr: Option<SocketAddr>,
        tx: mpsc::Sender<Result<v1::CoordinatorMessage, Status>>,
        reply: oneshot::Sender<Result<usize, Status>>,
    },
    Message {
        id: usize,
        msg: v1::AgentMessage,
    },
    Closed {
        id: usize,
        error: Option<String>,
    },
}

struct Slot {
    name: String,
    address: String,
    tx: Option<mpsc::Sender<Result<v1::CoordinatorMessage, Status>>>,
    state: AgentState,
    cores: u32,
    last_heard: Instant,
    final_seen: bool,
    ready: bool,
    requests: u64,
    iterations: u64,
    planned_vus: u64,
    cpu_percent: Option<f64>,
    vus: u64,
    rps: f64,
    lag_p99_ms: Option<f64>,
}

impl Slot {
    /// Whether its snapshots are still expected.
    fn expected(&self) -> bool {
        !self.final_seen && self.state != AgentState::Lost && self.state != AgentState::Done
    }

    fn send(&mut self, m: coordinator_message::Msg) {
        if let Some(tx) = &self.tx {
            // Never wait on one agent: a full queue means it is stuck, and
            // silence detection will mark it lost.
            let _ = tx.try_send(Ok(v1::CoordinatorMessage { msg: Some(m) }));
        }
    }
}

struct Pending {
    reported: BTreeSet<usize>,
    snapshot: Snapshot,
    since: Instant,
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

/// A coordinated run, driven by its caller: `wait_for_agents`, `start`, then
/// `next_interval` until `None`.
pub struct Coordinator {
    cfg: CoordinatorConfig,
    events: mpsc::Receiver<Event>,
    slots: Vec<Slot>,
    signal: watch::Sender<Signal>,
    signal_rx: watch::Receiver<Signal>,
    live: Shared,
    pending: BTreeMap<u64, Pending>,
    next_emit: u64,
    names: Interner,
    lost: Vec<String>,
    started: bool,
    last_heartbeat: Instant,
    /// When the load started (after the barrier).
    pub start: Instant,
    server: Option<(oneshot::Sender<()>, ServerTask)>,
    pub local_addr: SocketAddr,
}

/// The gRPC server's task: it ends with the transport's error, if any.
type ServerTask = tokio::task::JoinHandle<Result<(), tonic::transport::Error>>;

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator").field("agents", &self.slots.len()).field("addr", &self.local_addr).finish()
    }
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, stampede_metrics::live::LiveState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

impl Coordinator {
    /// Serves the protocol on `listener` (TLS when `tls` is given).
    pub fn serve(
        cfg: CoordinatorConfig,
        listener: tokio::net::TcpListener,
        tls: Option<tonic::transport::ServerTlsConfig>,
        live: Shared,
    ) -> Result<Coordinator, CoordinatorError> {
        // Refused here, before any agent waits or any load starts.
        stampede_proto::assignment_fits(&v1::Assign {
            scenario_toml: cfg.scenario_toml.clone(),
            scenario_name: cfg.scenario_name.clone(),
            data_files: cfg
                .data_files
                .iter()
                .map(|(path, content)| v1::DataFile { path: path.clone(), content: content.clone().into() })
                .collect(),
            overrides: Some(cfg.overrides.clone()),
            first_worker: u32::MAX,
            workers: u32::MAX,
            total_workers: u32::MAX,
            interval_ms: u64::MAX,
            seed: u64::MAX,
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
            cfg,
            events,
            slots: Vec::new(),
            signal,
            signal_rx,
            live,
            pending: BTreeMap::new(),
            next_emit: 0,
            names: Interner::default(),
            lost: Vec::new(),
            started: false,
            last_heartbeat: Instant::now(),
            start: Instant::now(),
            server: Some((stop_tx, server)),
            local_addr,
        })
    }

    /// A sender for run signals (Ctrl-C, the UI, thresholds).
    pub fn signaller(&self) -> watch::Sender<Signal> {
        self.signal.clone()
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
    }

    /// Waits until the expected agents said hello.
    pub async fn wait_for_agents(&mut self) -> Result<(), CoordinatorError> {
        let deadline = tokio::time::Instant::now() + self.cfg.agent_timeout;
        while self.live_slots() < self.cfg.expected_agents {
            let ev = tokio::select! {
                ev = self.events.recv() => ev,
                _ = tokio::time::sleep_until(deadline) => None,
            };
            match ev {
                Some(ev) => self.handle(ev),
                None => {
                    let names: Vec<&str> =
                        self.slots.iter().filter(|s| s.tx.is_some()).map(|s| s.name.as_str()).collect();
                    return Err(CoordinatorError::AgentsMissing {
                        expected: self.cfg.expected_agents,
                        arrived: names.len(),
                        timeout: self.cfg.agent_timeout,
                        names: if names.is_empty() {
                            String::new()
                        } else {
                            format!(" (connected: {})", names.join(", "))
                        },
                    });
                }
            }
        }
        self.publish_agents();
        Ok(())
    }

    fn live_slots(&self) -> usize {
        self.slots.iter().filter(|s| s.tx.is_some()).count()
    }

    /// Splits the plan, waits for every agent to be ready, and starts them together.
    pub async fn start(&mut self, plan: &Plan) -> Result<(), CoordinatorError> {
        // Agents that left while waiting are forgotten before the split.
        self.slots.retain(|s| s.tx.is_some());
        let total: u32 = self.slots.iter().map(|s| s.cores.max(1)).sum();
        let mut first = 0u32;
        for s in &mut self.slots {
            let workers = s.cores.max(1);
            s.planned_vus = (first..first + workers)
                .map(|index| {
                    let seg = Segment { index, count: total };
                    plan.scenarios.iter().map(|sc| seg.share(sc.executor.peak_vus())).sum::<u64>()
                })
                .sum();
            let assign = v1::Assign {
                scenario_toml: self.cfg.scenario_toml.clone(),
                scenario_name: self.cfg.scenario_name.clone(),
                data_files: self
                    .cfg
                    .data_files
                    .iter()
                    .map(|(p, c)| v1::DataFile { path: p.clone(), content: c.clone().into() })
                    .collect(),
                overrides: Some(self.cfg.overrides.clone()),
                first_worker: first,
                workers,
                total_workers: total,
                interval_ms: self.cfg.interval.as_millis() as u64,
                seed: self.cfg.seed.wrapping_add(first as u64),
            };
            first += workers;
            if let Some(tx) = &s.tx {
                // Assign can be large (data files): wait for room rather than drop it.
                let _ =
                    tx.send(Ok(v1::CoordinatorMessage { msg: Some(coordinator_message::Msg::Assign(assign)) })).await;
            }
            s.state = AgentState::Connected;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !self.slots.iter().all(|s| s.ready) {
            let ev = tokio::select! {
                ev = self.events.recv() => ev,
                _ = tokio::time::sleep_until(deadline) => None,
            };
            let Some(ev) = ev else {
                let waiting: Vec<&str> = self.slots.iter().filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
                return Err(CoordinatorError::Refused {
                    agent: waiting.join(", "),
                    reason: "not ready within 60 s".into(),
                });
            };
            match ev {
                Event::Message { id, msg: v1::AgentMessage { msg: Some(agent_message::Msg::Refusal(r)) } } => {
                    let agent = self.slots[id].name.clone();
                    self.stop_all(true, "another agent refused the plan");
                    return Err(CoordinatorError::Refused { agent, reason: r.reason });
                }
                Event::Closed { id, .. } if id < self.slots.len() => {
                    let agent = self.slots[id].name.clone();
                    self.stop_all(true, "an agent left before the start");
                    return Err(CoordinatorError::LeftEarly { agent });
                }
                other => self.handle(other),
            }
        }
        for s in &mut self.slots {
            s.send(coordinator_message::Msg::Start(v1::Start { delay_ms: START_DELAY.as_millis() as u64 }));
            s.state = AgentState::Running;
        }
        self.start = Instant::now() + START_DELAY;
        self.started = true;
        {
            let mut live = lock(&self.live);
            live.phase = Phase::Running;
            live.event(format!("started {} agent(s), {total} worker(s)", self.slots.len()));
        }
        self.publish_agents();
        Ok(())
    }

    fn stop_all(&mut self, hard: bool, reason: &str) {
        for s in &mut self.slots {
            s.send(coordinator_message::Msg::Stop(v1::Stop { hard, reason: reason.into() }));
        }
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
                    return Some(self.interval_of(index, p.snapshot));
                }
                // The agents' final states (done, lost) for the live view and
                // the reports written from it.
                self.publish_agents();
                lock(&self.live).phase = Phase::Done;
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
                    if self.last_heartbeat.elapsed() >= HEARTBEAT {
                        self.last_heartbeat = Instant::now();
                        let sent_ms = self.start.elapsed().as_millis() as u64;
                        for s in &mut self.slots {
                            s.send(coordinator_message::Msg::Heartbeat(v1::Heartbeat { sent_ms, echo_ms: 0, cpu_percent: 0.0 }));
                        }
                    }
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

    fn forward(&mut self, sig: Signal) {
        match sig {
            Signal::Stop => {
                lock(&self.live).phase = Phase::Stopping;
                self.stop_all(false, "stop requested");
            }
            Signal::Abort => {
                lock(&self.live).phase = Phase::Stopping;
                self.stop_all(true, "abort requested");
            }
            Signal::Pause | Signal::Run => {
                let paused = sig == Signal::Pause;
                lock(&self.live).paused = paused;
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
        Some(self.interval_of(index, p.snapshot))
    }

    fn interval_of(&self, index: u64, snapshot: Snapshot) -> IntervalSnapshot {
        IntervalSnapshot { index, start: self.cfg.interval * index as u32, snapshot }
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Hello { hello, addr, tx, reply } => {
                let refuse = if self.started {
                    Some(format!("this run has already started with {} agent(s)", self.slots.len()))
                } else if self.live_slots() >= self.cfg.expected_agents {
                    Some(format!("this run expects {} agent(s) and has them all", self.cfg.expected_agents))
                } else if self.slots.iter().any(|s| s.tx.is_some() && s.name == hello.name) {
                    Some(format!(
                        "an agent named `{}` is already attached; give each agent a distinct --name",
                        hello.name
                    ))
                } else {
                    None
                };
                if let Some(why) = refuse {
                    let _ = reply.send(Err(Status::resource_exhausted(why)));
                    return;
                }
                let id = self.slots.len();
                if self.cfg.print {
                    eprintln!(
                        "coordinator: agent {} attached from {} ({} core(s)) — {}/{}",
                        hello.name,
                        addr.map_or("?".into(), |a| a.to_string()),
                        hello.cores,
                        self.live_slots() + 1,
                        self.cfg.expected_agents
                    );
                }
                self.slots.push(Slot {
                    name: hello.name,
                    address: addr.map_or_else(String::new, |a| a.to_string()),
                    tx: Some(tx),
                    state: AgentState::Connected,
                    cores: hello.cores.clamp(1, 1024),
                    last_heard: Instant::now(),
                    final_seen: false,
                    ready: false,
                    requests: 0,
                    iterations: 0,
                    planned_vus: 0,
                    cpu_percent: None,
                    vus: 0,
                    rps: 0.0,
                    lag_p99_ms: None,
                });
                let _ = reply.send(Ok(id));
                self.publish_agents();
            }
            Event::Message { id, msg } => {
                let Some(s) = self.slots.get_mut(id) else { return };
                s.last_heard = Instant::now();
                match msg.msg {
                    Some(agent_message::Msg::Ready(r)) => {
                        s.ready = true;
                        s.state = AgentState::Ready;
                        s.planned_vus = r.planned_vus;
                    }
                    Some(agent_message::Msg::Heartbeat(h)) => s.cpu_percent = Some(h.cpu_percent),
                    Some(agent_message::Msg::Snapshot(w)) => {
                        if w.r#final {
                            s.final_seen = true;
                            s.state = AgentState::Done;
                            return;
                        }
                        // Per-agent figures for the live view, from the counters.
                        let count: u64 = w
                            .requests
                            .iter()
                            .map(|r| {
                                r.counters.get(stampede_metrics::RequestCounter::Count as usize).copied().unwrap_or(0)
                            })
                            .sum();
                        s.requests += count;
                        s.iterations += w.scenarios.iter().map(|x| x.iterations).sum::<u64>();
                        s.vus = w.scenarios.iter().map(|x| x.vus).sum();
                        s.rps = count as f64 / self.cfg.interval.as_secs_f64();
                        s.lag_p99_ms = w
                            .scenarios
                            .iter()
                            .filter(|x| !x.scheduling_lag.is_empty())
                            .filter_map(|x| stampede_metrics::hist::decode(&x.scheduling_lag).ok())
                            .map(|h| h.value_at_quantile(0.99) as f64 / 1000.0)
                            .reduce(f64::max);
                        // Late data (its interval was already emitted) folds
                        // into the oldest interval still open.
                        let index = w.index.max(self.next_emit);
                        let p = self.pending.entry(index).or_insert_with(|| Pending {
                            reported: BTreeSet::new(),
                            snapshot: Snapshot::default(),
                            since: Instant::now(),
                        });
                        if index == w.index {
                            p.reported.insert(id);
                        }
                        if let Err(e) = merge_wire_into(&w, &mut p.snapshot, &mut self.names) {
                            self.mark_lost(id, format!("sent an undecodable snapshot: {e}"));
                        }
                    }
                    Some(agent_message::Msg::Done(d)) => {
                        s.state = AgentState::Done;
                        s.final_seen = true;
                        s.requests = s.requests.max(d.requests);
                    }
                    Some(agent_message::Msg::Refusal(r)) => {
                        self.mark_lost(id, format!("refused: {}", r.reason));
                    }
                    Some(agent_message::Msg::Hello(_)) | None => {}
                }
            }
            Event::Closed { id, error } => {
                let Some(s) = self.slots.get_mut(id) else { return };
                if !self.started {
                    s.tx = None;
                    if self.cfg.print {
                        eprintln!("coordinator: agent {} left before the start", s.name);
                    }
                    self.publish_agents();
                    return;
                }
                if s.expected() {
                    self.mark_lost(id, error.unwrap_or_else(|| "its stream closed".into()));
                } else {
                    s.tx = None;
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
