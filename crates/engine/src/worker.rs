//! A worker: one OS thread with a current-thread runtime, running its
//! segment of every scenario. Its VUs are local tasks sharing the worker's
//! metrics shard through a `RefCell` — no locks, no atomics, no messages on
//! the request path. Once per interval the shard is swapped out and sent.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use stampede_metrics::{Layout, MetricId, NameKind, RequestId, RequestSample, RunNames, Shard};
use stampede_scenario::{Executor, Plan};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{ClientConfig, Resolver};
use crate::schedule::{ArrivalSchedule, ProcessSpan, Segment, ramping_target};
use crate::vu::Vu;
use crate::{Signal, WorkerReport};

/// State shared by the tasks of one worker thread.
pub struct Worker {
    pub plan: Arc<Plan>,
    pub segment: Segment,
    pub client: ClientConfig,
    pub resolver: Resolver,
    /// Buffers lent to HTTP/1.1 requests while in flight.
    pub pools: crate::h1::Pools,
    /// The interval's measurements. Borrowed only between awaits.
    shard: RefCell<Shard>,
    /// Per scenario: iterations this process started, shared by its workers
    /// (one relaxed add per iteration, only when a data set is sequential);
    /// see [`ProcessSpan::iteration_in_test`].
    started_iterations: Option<Arc<[AtomicU64]>>,
    span: ProcessSpan,
    /// Index of the interval being recorded (the next one the flush sends).
    interval: Cell<u64>,
    /// Latest run signal, mirrored from the watch channel for cheap reads.
    signal: Cell<Signal>,
    /// Woken when the signal changes (pause → run).
    signal_changed: Notify,
    seed: u64,
    /// Every VU's variables at creation: the setup's values (by slot).
    initial_vars: crate::SetupValues,
    /// The test start (shared by every process of a run through the start
    /// barrier): custom gauge values are ordered by their time since it.
    t0: Instant,
    /// Names given at run time (a script's), after the plan's.
    names: RefCell<RunNames>,
    /// What iterations run instead of flows (a script), set once at start.
    body: std::cell::OnceCell<Rc<dyn crate::IterationBody>>,
    /// No iteration may start any more on this worker (a script aborted
    /// the test; the run's abort signal follows).
    halted: Cell<bool>,
}

impl Worker {
    #[inline]
    pub fn record_request(&self, id: RequestId, sample: &RequestSample) {
        self.shard.borrow_mut().request(id).record(sample);
    }

    #[inline]
    pub fn record_group(&self, scenario: u16, group: u32, micros: u64) {
        self.shard.borrow_mut().group_duration(scenario, group, micros);
    }

    #[inline]
    pub fn record_check(&self, scenario: u16, check: u32, passed: bool) {
        self.shard.borrow_mut().check(scenario, check, passed);
    }

    /// A check outcome in a group with a tag set (plan or run-time ids; 0
    /// and 0 record as [`Worker::record_check`] does).
    #[inline]
    pub fn record_check_tagged(&self, scenario: u16, check: u32, group: u32, tags: u32, passed: bool) {
        self.shard.borrow_mut().check_tagged(scenario, check, group, tags, passed);
    }

    /// One sample of a custom metric (`None`: skipped); `at_us` orders gauges.
    #[inline]
    pub fn record_metric(&self, id: MetricId, value: Option<f64>, at_us: u64) {
        self.shard.borrow_mut().record_metric(id, value, at_us);
    }

    /// The id of a request, check or group name given at run time. The
    /// first name past [`RunNames::CAP`] of a kind prints one warning.
    pub fn intern(&self, kind: NameKind, name: &str) -> u32 {
        let mut folded = false;
        let id = self.names.borrow_mut().intern(kind, name, &mut folded);
        if folded {
            warn_folded(kind);
        }
        id
    }

    /// The id of a tag set given at run time (sorted by key).
    pub fn intern_tags(&self, tags: &stampede_scenario::TagSet) -> u32 {
        let mut folded = false;
        let id = self.names.borrow_mut().intern_tags(tags, &mut folded);
        if folded {
            eprintln!(
                "warning: more than {} distinct tag sets in one worker; later ones are recorded without tags",
                RunNames::CAP
            );
        }
        id
    }

    /// Starts no more iterations on this worker, at once (a script's
    /// `exec.test.abort()`; whoever controls the run aborts it too).
    pub fn halt(&self) {
        self.halted.set(true);
    }

    /// This worker's global index among the run's workers.
    pub fn segment(&self) -> Segment {
        self.segment
    }

    /// The run signal as last seen.
    pub fn signal(&self) -> Signal {
        self.signal.get()
    }

    /// Microseconds since the test start.
    pub fn since_start_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    /// A worker outside any run, for the steps of `[setup]` or `[teardown]`
    /// on the caller's thread: segment and span are the whole test.
    pub(crate) fn standalone(plan: Arc<Plan>, layout: Arc<Layout>, client: ClientConfig, seed: u64) -> Worker {
        Worker {
            segment: Segment { index: 0, count: 1 },
            client,
            resolver: Resolver::default(),
            pools: Default::default(),
            shard: RefCell::new(Shard::new(layout)),
            started_iterations: None,
            span: ProcessSpan { first: 0, count: 1, total: 1 },
            interval: Cell::new(0),
            signal: Cell::new(Signal::Run),
            signal_changed: Notify::new(),
            seed,
            initial_vars: Arc::from([]),
            t0: Instant::now(),
            names: RefCell::new(RunNames::after(&layout_of(&plan))),
            body: Default::default(),
            halted: Cell::new(false),
            plan,
        }
    }

    /// What was recorded since the last call.
    pub(crate) fn take_snapshot(&self) -> stampede_metrics::Snapshot {
        let shard = self.shard.borrow_mut().take();
        shard.into_snapshot_with(&self.names.borrow())
    }

    /// The test-wide number of a closed-model iteration starting now.
    pub fn next_iteration_in_test(&self, scenario: u16) -> u64 {
        let Some(counters) = &self.started_iterations else { return 0 };
        let n = counters[scenario as usize].fetch_add(1, Ordering::Relaxed);
        self.span.iteration_in_test(n, self.plan.scenarios[scenario as usize].executor.peak_vus())
    }

    async fn wait_while_paused(&self) {
        while self.signal.get() == Signal::Pause {
            self.signal_changed.notified().await;
        }
    }
}

/// One scenario as run by one worker.
struct ScenarioRun {
    idx: u16,
    /// Set when no new iteration may start (time is up, or a graceful stop).
    stopping: Cell<bool>,
    /// Cancelled when in-flight iterations must end now.
    hard: CancellationToken,
    /// VUs currently running an iteration or looping (the `vus` gauge).
    active: Cell<u64>,
    /// VUs allocated (the `vus_max` gauge).
    allocated: Cell<u64>,
    /// First global VU id of this scenario minus one.
    vu_base: u64,
}

impl ScenarioRun {
    fn stop_gracefully(self: &Rc<Self>, grace: Duration) {
        if self.stopping.replace(true) {
            return;
        }
        let me = self.clone();
        tokio::task::spawn_local(async move {
            tokio::select! {
                _ = tokio::time::sleep(grace) => me.hard.cancel(),
                _ = me.hard.cancelled() => {}
            }
        });
    }
}

pub(crate) struct WorkerArgs {
    pub plan: Arc<Plan>,
    pub layout: Arc<Layout>,
    pub segment: Segment,
    pub span: ProcessSpan,
    pub started_iterations: Option<Arc<[AtomicU64]>>,
    pub local_index: usize,
    pub client: ClientConfig,
    pub t0: std::time::Instant,
    pub interval: Duration,
    pub signal: watch::Receiver<Signal>,
    pub reports: mpsc::UnboundedSender<WorkerReport>,
    pub seed: u64,
    pub initial_vars: crate::SetupValues,
    pub body: Option<crate::Body>,
}

/// Starts a worker thread. Its runtime is built here, on the caller's
/// thread, so a failure (out of descriptors, say) is an error of the run's
/// start rather than a worker that silently runs nothing.
pub(crate) fn spawn(args: WorkerArgs) -> std::io::Result<std::thread::JoinHandle<()>> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    std::thread::Builder::new().name(format!("stampede-worker-{}", args.local_index)).spawn(move || {
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, run(args));
    })
}

async fn run(args: WorkerArgs) {
    let WorkerArgs {
        plan,
        layout,
        segment,
        span,
        started_iterations,
        local_index,
        client,
        t0,
        interval,
        mut signal,
        reports,
        seed,
        initial_vars,
        body,
    } = args;
    let t0 = Instant::from_std(t0);
    let names = RefCell::new(RunNames::after(&layout));
    let w = Rc::new(Worker {
        segment,
        client,
        resolver: Resolver::default(),
        pools: Default::default(),
        shard: RefCell::new(Shard::new(layout)),
        started_iterations,
        span,
        interval: Cell::new(0),
        signal: Cell::new(*signal.borrow()),
        signal_changed: Notify::new(),
        seed,
        initial_vars,
        t0,
        names,
        body: Default::default(),
        halted: Cell::new(false),
        plan,
    });
    let mut body_failed = false;
    if let Some(factory) = body {
        match factory.0.on_worker(&w) {
            Ok(b) => {
                let _ = w.body.set(b);
            }
            Err(e) => {
                eprintln!("error: worker {local_index}: {e}");
                body_failed = true;
            }
        }
    }
    let mut vu_base = 0;
    let runs: Vec<Rc<ScenarioRun>> = w
        .plan
        .scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let r = Rc::new(ScenarioRun {
                idx: i as u16,
                stopping: Cell::new(false),
                hard: CancellationToken::new(),
                active: Cell::new(0),
                allocated: Cell::new(0),
                vu_base,
            });
            vu_base += s.executor.peak_vus();
            r
        })
        .collect();

    // Interval flushes.
    let flush = {
        let (w, runs, reports) = (w.clone(), runs.clone(), reports.clone());
        tokio::task::spawn_local(async move {
            loop {
                let k = w.interval.get();
                tokio::time::sleep_until(t0 + interval * (k as u32 + 1)).await;
                let snap = take_shard(&w, &runs);
                w.interval.set(k + 1);
                let _ = reports.send(WorkerReport { worker: local_index, index: k, snapshot: snap, last: false });
            }
        })
    };

    // Run signals from the controller.
    let watcher = {
        let (w, runs) = (w.clone(), runs.clone());
        tokio::task::spawn_local(async move {
            loop {
                let s = if signal.changed().await.is_ok() { *signal.borrow_and_update() } else { Signal::Abort };
                w.signal.set(s);
                w.signal_changed.notify_waiters();
                match s {
                    Signal::Stop => {
                        for r in &runs {
                            r.stop_gracefully(w.plan.scenarios[r.idx as usize].graceful_stop);
                        }
                    }
                    Signal::Abort => {
                        for r in &runs {
                            r.stopping.set(true);
                            r.hard.cancel();
                        }
                        w.signal_changed.notify_waiters();
                        return;
                    }
                    Signal::Run | Signal::Pause => {}
                }
            }
        })
    };

    if body_failed {
        for r in &runs {
            r.stopping.set(true);
            r.hard.cancel();
        }
    }
    let tasks: Vec<_> = runs.iter().map(|r| tokio::task::spawn_local(run_scenario(w.clone(), r.clone(), t0))).collect();
    for t in tasks {
        let _ = t.await;
    }
    flush.abort();
    watcher.abort();
    let snap = take_shard(&w, &runs);
    let _ = reports.send(WorkerReport { worker: local_index, index: w.interval.get(), snapshot: snap, last: true });
}

fn take_shard(w: &Worker, runs: &[Rc<ScenarioRun>]) -> stampede_metrics::Snapshot {
    let mut shard = w.shard.borrow_mut();
    for r in runs {
        let s = shard.scenario(r.idx);
        s.vus = r.active.get();
        s.vus_max = r.allocated.get();
    }
    let taken = shard.take();
    drop(shard);
    taken.into_snapshot_with(&w.names.borrow())
}

fn layout_of(plan: &Plan) -> Layout {
    Layout::of_plan(plan)
}

fn warn_folded(kind: NameKind) {
    let what = match kind {
        NameKind::Request => {
            "request names (k6 names a request by its URL: give URLs with ids a name, e.g. `tags: { name: 'product' }` or http.url`…`)"
        }
        NameKind::Check => "check names",
        NameKind::Group => "group names",
    };
    eprintln!(
        "warning: more than {} distinct {what} in one worker; later ones are recorded as {:?}",
        RunNames::CAP,
        RunNames::OVERFLOW
    );
}

async fn run_scenario(w: Rc<Worker>, run: Rc<ScenarioRun>, t0: Instant) {
    let s = &w.plan.scenarios[run.idx as usize];
    let start = t0 + s.start_time;
    tokio::select! {
        _ = tokio::time::sleep_until(start) => {}
        _ = run.hard.cancelled() => return,
    }
    if run.stopping.get() {
        return;
    }
    // Time limit of the executor, then graceful stop.
    let end = start + s.executor.planned_duration();
    let timer = {
        let (run, grace) = (run.clone(), s.graceful_stop);
        tokio::task::spawn_local(async move {
            tokio::time::sleep_until(end).await;
            run.stop_gracefully(grace);
        })
    };
    match &s.executor {
        Executor::SharedIterations { iterations, .. } => {
            let vus_all = s.executor.peak_vus();
            let local_vus = w.segment.share(vus_all);
            let remaining = Rc::new(Cell::new(w.segment.proportional(*iterations, vus_all)));
            closed_model(&w, &run, local_vus, move |_vu: &Vu, _j| {
                let n = remaining.get();
                if n == 0 {
                    return false;
                }
                remaining.set(n - 1);
                true
            })
            .await;
        }
        Executor::PerVuIterations { vus, iterations, .. } => {
            let iterations = *iterations;
            closed_model(&w, &run, w.segment.share(*vus), move |vu: &Vu, _j| vu.iteration < iterations).await;
        }
        Executor::ConstantVus { vus, .. } => {
            closed_model(&w, &run, w.segment.share(*vus), |_vu: &Vu, _j| true).await;
        }
        Executor::RampingVus { start_vus, stages, graceful_ramp_down } => {
            ramping_vus(&w, &run, start, *start_vus, stages, *graceful_ramp_down).await;
        }
        Executor::ConstantArrivalRate { pre_allocated_vus, .. }
        | Executor::RampingArrivalRate { pre_allocated_vus, .. } => {
            let sched = ArrivalSchedule::from_executor(&s.executor).expect("arrival-rate executor");
            arrival_rate(&w, &run, start, sched, w.segment.share(*pre_allocated_vus), s.executor.peak_vus()).await;
        }
    }
    timer.abort();
}

fn new_vu(w: &Worker, run: &ScenarioRun, local_j: u64) -> Box<Vu> {
    let id = run.vu_base + w.segment.global(local_j) + 1;
    run.allocated.set(run.allocated.get() + 1);
    let mut vu = Box::new(Vu::new(id, run.idx, &w.initial_vars, w.plan.var_slots, w.plan.data.len(), w.seed));
    if let Some(body) = w.body.get()
        && let Err(e) = body.new_vu(w, &mut vu)
    {
        // The body reported it; without its init the VU cannot run.
        let _ = e;
        run.stopping.set(true);
        run.hard.cancel();
    }
    vu
}

/// Runs one iteration unless a hard stop interrupts it; records it.
/// `in_test`: its test-wide number when the executor knows it (open model).
async fn one_iteration(
    w: &Worker,
    run: &ScenarioRun,
    vu: &mut Vu,
    cancel: &CancellationToken,
    in_test: Option<u64>,
) -> bool {
    if w.halted.get() {
        return false;
    }
    let started = Instant::now();
    let done = match w.body.get() {
        None => tokio::select! {
            biased;
            _ = cancel.cancelled() => false,
            _ = vu.iteration(w, in_test) => true,
        },
        Some(body) => {
            if vu.ext.is_none() {
                // Its init failed: the scenario is stopping.
                return false;
            }
            let body = body.clone();
            tokio::select! {
                biased;
                _ = cancel.cancelled() => false,
                _ = body.iteration(w, vu, in_test) => true,
            }
        }
    };
    let mut shard = w.shard.borrow_mut();
    let stats = shard.scenario(run.idx);
    if done {
        stats.iterations += 1;
        stampede_metrics::hist::record(&mut stats.iteration_duration, started.elapsed().as_micros() as u64);
    } else {
        stats.interrupted_iterations += 1;
    }
    done
}

/// Closed model: each VU loops while `more` allows another iteration.
async fn closed_model(
    w: &Rc<Worker>,
    run: &Rc<ScenarioRun>,
    local_vus: u64,
    more: impl Fn(&Vu, u64) -> bool + Clone + 'static,
) {
    let mut tasks = Vec::with_capacity(local_vus as usize);
    for j in 0..local_vus {
        let mut vu = new_vu(w, run, j);
        let (w, run, more) = (w.clone(), run.clone(), more.clone());
        tasks.push(tokio::task::spawn_local(async move {
            run.active.set(run.active.get() + 1);
            loop {
                w.wait_while_paused().await;
                if run.stopping.get() || !more(&vu, j) {
                    break;
                }
                if !one_iteration(&w, &run, &mut vu, &run.hard, None).await {
                    break;
                }
            }
            run.active.set(run.active.get() - 1);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// Ramping VUs: a controller adjusts this worker's share of the target every
/// 50 ms; VUs above the target finish their iteration (cut after
/// `graceful_ramp_down`) and park, keeping their state for reactivation.
async fn ramping_vus(
    w: &Rc<Worker>,
    run: &Rc<ScenarioRun>,
    start: Instant,
    start_vus: u64,
    stages: &[stampede_scenario::Stage],
    graceful_ramp_down: Duration,
) {
    struct Slot {
        vu: Option<Box<Vu>>,
        running: bool,
        generation: u64,
        cancel: CancellationToken,
    }
    let target = Rc::new(Cell::new(0u64));
    let slots: Rc<RefCell<Vec<Slot>>> = Rc::new(RefCell::new(Vec::new()));
    let done = Rc::new(Notify::new());
    let total: Duration = stages.iter().map(|s| s.duration).sum();
    let tick = Duration::from_millis(50);
    let mut last_target = 0u64;
    loop {
        let elapsed = Instant::now().saturating_duration_since(start);
        if run.stopping.get() || elapsed >= total {
            break;
        }
        let global = ramping_target(start_vus, stages, elapsed);
        let local = w.segment.share(global);
        target.set(local);
        // Start VUs up to the target.
        for j in 0..local {
            let mut s = slots.borrow_mut();
            while s.len() as u64 <= j {
                s.push(Slot { vu: None, running: false, generation: 0, cancel: CancellationToken::new() });
            }
            let slot = &mut s[j as usize];
            if slot.running {
                continue;
            }
            let vu = slot.vu.take().unwrap_or_else(|| new_vu(w, run, j));
            slot.running = true;
            slot.generation += 1;
            slot.cancel = run.hard.child_token();
            let (gen_, cancel) = (slot.generation, slot.cancel.clone());
            drop(s);
            let (w, run, target, slots, done) = (w.clone(), run.clone(), target.clone(), slots.clone(), done.clone());
            tokio::task::spawn_local(async move {
                let mut vu = vu;
                run.active.set(run.active.get() + 1);
                loop {
                    w.wait_while_paused().await;
                    if run.stopping.get() || target.get() <= j || cancel.is_cancelled() {
                        break;
                    }
                    if !one_iteration(&w, &run, &mut vu, &cancel, None).await {
                        break;
                    }
                }
                run.active.set(run.active.get() - 1);
                let mut s = slots.borrow_mut();
                let slot = &mut s[j as usize];
                if slot.generation == gen_ {
                    slot.running = false;
                }
                vu.reset_for_reuse();
                slot.vu = Some(vu);
                drop(s);
                done.notify_waiters();
            });
        }
        // Ramping down: cut iterations still running after the grace period.
        // Only the VUs this tick took above the target: those above the
        // previous target have a timer of their own already (each tick's
        // timer holding every VU above the target was 80 MB at 17,000 VUs
        // ramping down over 30 s).
        if local < last_target {
            let (slots, target) = (slots.clone(), target.clone());
            let gens: Vec<(u64, u64)> = slots
                .borrow()
                .iter()
                .enumerate()
                .take(last_target as usize)
                .skip(local as usize)
                .map(|(j, s)| (j as u64, s.generation))
                .collect();
            tokio::task::spawn_local(async move {
                tokio::time::sleep(graceful_ramp_down).await;
                for (j, g) in gens {
                    let s = slots.borrow();
                    if let Some(slot) = s.get(j as usize)
                        && slot.generation == g
                        && target.get() <= j
                    {
                        slot.cancel.cancel();
                    }
                }
            });
        }
        last_target = local;
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = run.hard.cancelled() => break,
        }
    }
    // Stages are over: no new iterations; the scenario timer cuts in-flight ones
    // after graceful_stop.
    target.set(0);
    run.stop_gracefully(w.plan.scenarios[run.idx as usize].graceful_stop);
    loop {
        let notified = done.notified();
        if !slots.borrow().iter().any(|s| s.running) {
            break;
        }
        notified.await;
    }
}

/// The open-model schedule wakes its worker at most this often: up to
/// 1,000 iterations per second per worker, each starts on time (within tens
/// of microseconds, see [`crate::timer`]); above, one wake-up starts every
/// iteration due by then, at most this late, for the same CPU per request as
/// a millisecond timer. Measured on 2 cores at 10,000/s in one worker:
/// waking for each iteration cost 36 µs CPU per request against 9.3 µs.
const MIN_WAKE_SPACING: Duration = Duration::from_millis(1);

/// Open model: iterations start on schedule whatever the target does; a free
/// VU takes each one, a new VU is allocated up to `max_vus`, beyond that the
/// iteration is dropped and counted.
async fn arrival_rate(
    w: &Rc<Worker>,
    run: &Rc<ScenarioRun>,
    start: Instant,
    sched: ArrivalSchedule,
    pre_allocated: u64,
    max_vus: u64,
) {
    let g = w.segment;
    let local_max = g.share(max_vus);
    let idle: Rc<RefCell<Vec<Box<Vu>>>> = Rc::new(RefCell::new(Vec::with_capacity(local_max as usize)));
    let mut allocated = 0u64;
    for _ in 0..pre_allocated.min(local_max) {
        idle.borrow_mut().push(new_vu(w, run, allocated));
        allocated += 1;
    }
    let busy = Rc::new(Cell::new(0u64));
    let done = Rc::new(Notify::new());
    let m = max_vus.max(1);
    // Slot `s` of the `m` VU slots belongs to worker `s % count`: a worker
    // whose index is `m` or more owns none, and runs none of the iterations.
    if g.index as u64 >= m {
        return;
    }
    let timer = crate::timer::PreciseTimer::new();
    let mut last_wake = Instant::now();
    let mut i = 0u64;
    loop {
        // This worker's next iteration: slot (i mod max_vus) striped over workers.
        while !g.owns(i % m) {
            i += 1;
        }
        let Some(due) = sched.due(i) else { break };
        let in_test = i;
        i += 1;
        let intended = start + Duration::from_secs_f64(due);
        if intended > Instant::now() {
            // Wake exactly on time, but not more often than every
            // MIN_WAKE_SPACING: at high rates one wake-up starts every
            // iteration due by then (each wake-up costs a context switch).
            let wake_at = intended.max(last_wake + MIN_WAKE_SPACING);
            tokio::select! {
                () = timer.sleep_until(wake_at) => {}
                _ = run.hard.cancelled() => break,
            }
            // The planned wake-up, not the actual one: exactly spaced
            // arrivals keep their exact times.
            last_wake = wake_at;
        } else if run.hard.is_cancelled() {
            break;
        } else {
            // Behind schedule, no sleep: still give the runtime its turn
            // (the VU tasks this loop spawns run on this same thread).
            tokio::task::consume_budget().await;
        }
        if run.stopping.get() {
            break;
        }
        if w.signal.get() == Signal::Pause {
            continue;
        }
        let vu = idle.borrow_mut().pop();
        let mut vu = match vu {
            Some(vu) => vu,
            None if allocated < local_max => {
                allocated += 1;
                new_vu(w, run, allocated - 1)
            }
            None => {
                w.shard.borrow_mut().scenario(run.idx).dropped_iterations += 1;
                continue;
            }
        };
        let actual = Instant::now();
        {
            let mut shard = w.shard.borrow_mut();
            let lag = actual.saturating_duration_since(intended).as_micros() as u64;
            stampede_metrics::hist::record(&mut shard.scenario(run.idx).scheduling_lag, lag);
        }
        busy.set(busy.get() + 1);
        run.active.set(run.active.get() + 1);
        let (w, run, idle, busy, done) = (w.clone(), run.clone(), idle.clone(), busy.clone(), done.clone());
        tokio::task::spawn_local(async move {
            if one_iteration(&w, &run, &mut vu, &run.hard, Some(in_test)).await {
                let latency = Instant::now().saturating_duration_since(intended).as_micros() as u64;
                let mut shard = w.shard.borrow_mut();
                stampede_metrics::hist::record(&mut shard.scenario(run.idx).intended_latency, latency);
            }
            idle.borrow_mut().push(vu);
            busy.set(busy.get() - 1);
            run.active.set(run.active.get() - 1);
            done.notify_waiters();
        });
    }
    run.stop_gracefully(w.plan.scenarios[run.idx as usize].graceful_stop);
    loop {
        let notified = done.notified();
        if busy.get() == 0 {
            break;
        }
        notified.await;
    }
}
