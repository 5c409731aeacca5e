//! Running a plan: `stampede run` (local agents, or in-process with
//! `--agents 0`) and `stampede coordinator` (remote agents) share one loop:
//! live progress, live thresholds, graceful Ctrl-C, outputs, a summary and
//! an exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use stampede_coordinator::{Coordinator, CoordinatorConfig, CoordinatorError, LossPolicy};
use stampede_engine::schedule::{plan_duration, plan_peak_vus};
use stampede_engine::{IntervalSnapshot, Run, RunOptions, Signal};
use stampede_metrics::Snapshot;
use stampede_metrics::live::{AgentInfo, AgentState, LiveState, Phase, Shared, StageInfo};
use stampede_metrics::summary::evaluate;
use stampede_report::outputs::{Output, RunContext};
use stampede_report::{RunInfo, Summary};
use stampede_scenario::Plan;
use tokio::sync::watch;

use crate::cli::{CoordinatorArgs, OnAgentLoss, ReportArgs, RunArgs};
use crate::exit;

/// Descriptors kept for things other than VU connections (listeners, files,
/// the runtime, DNS).
pub const FD_RESERVE: u64 = 256;
/// Length of a measurement interval: agents' snapshots, report lines, chart points.
const INTERVAL: Duration = Duration::from_secs(1);

/// Raises the soft open-files limit to the hard one; returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

/// How the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Completed,
    Interrupted,
    AbortedByThreshold,
}

/// Where merged intervals come from.
enum Source {
    /// Worker threads of this process.
    InProcess(Run),
    /// Agents through a coordinator (local child processes or remote).
    Cluster(Box<Coordinator>),
}

impl Source {
    async fn next_interval(&mut self) -> Option<IntervalSnapshot> {
        match self {
            Source::InProcess(r) => r.next_interval().await,
            Source::Cluster(c) => c.next_interval().await,
        }
    }

    fn signaller(&self) -> watch::Sender<Signal> {
        match self {
            Source::InProcess(r) => r.signaller(),
            Source::Cluster(c) => c.signaller(),
        }
    }

    fn start(&self) -> Instant {
        match self {
            Source::InProcess(r) => r.start,
            Source::Cluster(c) => c.start,
        }
    }
}

fn load(file: &Path, o: &crate::cli::OverrideArgs) -> Result<Arc<Plan>, i32> {
    crate::load_plan(file, o).map(Arc::new).map_err(|e| {
        eprintln!("{e}");
        exit::INVALID_INPUT
    })
}

fn open_outputs(report: &ReportArgs, file: &Path) -> anyhow::Result<(Vec<Box<dyn Output>>, RunContext)> {
    let started_wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let ctx = RunContext {
        scenario_file: file.display().to_string(),
        started_at_ms: started_wall.as_millis() as u64,
        interval: INTERVAL,
    };
    let mut outputs = Vec::new();
    for (kind, path) in &report.out {
        outputs.push(
            stampede_report::outputs::open(kind, path, &ctx)
                .with_context(|| format!("cannot write {kind} output {}", path.display()))?,
        );
    }
    Ok((outputs, ctx))
}

fn cores() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// Loads the plan; when it targets the bundled shop (and `--target` does not
/// override that), starts the shop and points the plan at its edge. Returns
/// the overrides in force (agents compile the plan with them).
async fn load_with_shop(
    file: &Path,
    overrides: &crate::cli::OverrideArgs,
    shop_flags: &[String],
    quiet: bool,
) -> anyhow::Result<Result<(Arc<Plan>, crate::cli::OverrideArgs, Option<crate::shop::ShopProcess>), i32>> {
    let plan = match load(file, overrides) {
        Ok(p) => p,
        Err(code) => return Ok(Err(code)),
    };
    let Some(spec) = plan.target.shop.clone() else {
        if !shop_flags.is_empty() && overrides.target.is_none() {
            eprintln!(
                "error: --shop-flag given, but {} does not use the bundled shop (`[target] shop`)",
                file.display()
            );
            return Ok(Err(exit::INVALID_INPUT));
        }
        return Ok(Ok((plan, overrides.clone(), None)));
    };
    if !quiet {
        let flags: Vec<&String> = spec.flags.iter().chain(shop_flags).collect();
        eprintln!(
            "starting the bundled shop{}…",
            if flags.is_empty() {
                String::new()
            } else {
                format!(" with {}", flags.iter().map(|f| f.as_str()).collect::<Vec<_>>().join(", "))
            }
        );
    }
    let shop = crate::shop::start(&spec, shop_flags, quiet).await?;
    if !quiet {
        eprintln!("bundled shop ready: edge {} (origin {})", shop.edge, shop.origin);
    }
    let mut effective = overrides.clone();
    effective.target = Some(shop.edge.clone());
    match load(file, &effective) {
        Ok(p) => Ok(Ok((p, effective, Some(shop)))),
        Err(code) => {
            shop.stop().await;
            Ok(Err(code))
        }
    }
}

/// `stampede run`.
pub async fn run(args: RunArgs) -> anyhow::Result<i32> {
    let (plan, overrides, shop) =
        match load_with_shop(&args.file, &args.overrides, &args.shop.shop_flags, args.report.quiet).await? {
            Ok(x) => x,
            Err(code) => return Ok(code),
        };
    let code = run_plan(&args, plan, &overrides).await;
    if let Some(shop) = shop {
        shop.stop().await;
    }
    code
}

async fn run_plan(args: &RunArgs, plan: Arc<Plan>, overrides: &crate::cli::OverrideArgs) -> anyhow::Result<i32> {
    let agents = args.agents.unwrap_or_else(cores);
    let limit = raise_nofile_limit();
    let peak = plan_peak_vus(&plan);
    let per_process = if agents == 0 { peak } else { peak.div_ceil(agents as u64) };
    if per_process + FD_RESERVE > limit {
        eprintln!(
            "error: this plan can run {peak} VUs at once, each with its own connection, but a load process here may open only {limit} files \
             (hard limit, `ulimit -Hn`).\n  help: lower the VUs, use more --agents, raise the hard limit, or spread the run over several machines"
        );
        return Ok(exit::INVALID_INPUT);
    }
    let (outputs, ctx) = open_outputs(&args.report, &args.file)?;
    let planned = plan_duration(&plan);
    let live = live_state(&plan, &args.file, planned, peak, ctx.interval).shared();
    let workers = args.workers.unwrap_or_else(cores).max(1);
    let seed = args.report.seed.unwrap_or_else(|| fastrand::u64(..));

    let mut children = Vec::new();
    let source = if agents == 0 {
        let mut opts = RunOptions::local(workers);
        opts.seed = seed;
        lock(&live).agents.push(local_agent());
        Source::InProcess(Run::start(plan.clone(), opts).context("starting worker threads")?)
    } else {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the local coordinator")?;
        let addr = listener.local_addr()?;
        let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let cfg = coordinator_config(
            args.report.headless,
            &plan,
            &args.file,
            overrides,
            agents as usize,
            Some(token.clone()),
            seed,
            Duration::from_secs(30),
            LossPolicy::Continue,
        )?;
        let coord = Coordinator::serve(cfg, listener, None, live.clone())?;
        let token_file = tempfile_with(&token)?;
        let per_agent = (workers / agents).max(1);
        for i in 0..agents {
            children.push(spawn_local_agent(&addr, token_file.path(), i, per_agent)?);
        }
        let coord = match start_cluster(coord, &plan).await {
            Ok(c) => c,
            Err(code) => return Ok(code),
        };
        // The token file may go once every agent has read it (and none will
        // need it to reconnect before the start).
        drop(token_file);
        Source::Cluster(Box::new(coord))
    };
    let code = drive(&plan, &args.file, &args.report, source, outputs, ctx, live).await;
    for mut c in children {
        if tokio::time::timeout(Duration::from_secs(5), c.wait()).await.is_err() {
            let _ = c.kill().await;
        }
    }
    code
}

/// `stampede coordinator`.
pub async fn coordinate(args: CoordinatorArgs) -> anyhow::Result<i32> {
    let (plan, overrides, shop) =
        match load_with_shop(&args.file, &args.overrides, &args.shop.shop_flags, args.report.quiet).await? {
            Ok(x) => x,
            Err(code) => return Ok(code),
        };
    let code = coordinate_plan(&args, plan, &overrides).await;
    if let Some(shop) = shop {
        shop.stop().await;
    }
    code
}

async fn coordinate_plan(
    args: &CoordinatorArgs,
    plan: Arc<Plan>,
    overrides: &crate::cli::OverrideArgs,
) -> anyhow::Result<i32> {
    if args.agents == 0 {
        eprintln!("error: --agents must be at least 1");
        return Ok(exit::INVALID_INPUT);
    }
    let token = match &args.token_file {
        Some(f) => Some(read_token(f)?),
        None => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => {
            let cert = std::fs::read(c).with_context(|| format!("reading --tls-cert {}", c.display()))?;
            let key = std::fs::read(k).with_context(|| format!("reading --tls-key {}", k.display()))?;
            Some(tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(cert, key)))
        }
        _ => None,
    };
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let (outputs, ctx) = open_outputs(&args.report, &args.file)?;
    let planned = plan_duration(&plan);
    let live = live_state(&plan, &args.file, planned, plan_peak_vus(&plan), ctx.interval).shared();
    let seed = args.report.seed.unwrap_or_else(|| fastrand::u64(..));
    let policy = match args.on_agent_loss {
        OnAgentLoss::Continue => LossPolicy::Continue,
        OnAgentLoss::Abort => LossPolicy::Abort,
    };
    if token.is_none() && !listener.local_addr()?.ip().is_loopback() {
        eprintln!("warning: listening on {} without --token-file: any agent that can reach it may join", args.listen);
    }
    let cfg = coordinator_config(
        args.report.headless,
        &plan,
        &args.file,
        overrides,
        args.agents,
        token,
        seed,
        args.agent_timeout,
        policy,
    )?;
    let coord = Coordinator::serve(cfg, listener, tls, live.clone())?;
    eprintln!(
        "coordinator listening on {}{}; waiting for {} agent(s) (up to {:?})",
        coord.local_addr,
        if args.tls_cert.is_some() { " (TLS)" } else { "" },
        args.agents,
        args.agent_timeout
    );
    let coord = match start_cluster(coord, &plan).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    drive(&plan, &args.file, &args.report, Source::Cluster(Box::new(coord)), outputs, ctx, live).await
}

/// Waits for the agents and passes the start barrier; Ctrl-C or SIGTERM
/// meanwhile stops it (the coordinator tells attached agents to stop): 105.
async fn start_cluster(mut coord: Coordinator, plan: &Plan) -> Result<Coordinator, i32> {
    let signaller = coord.signaller();
    let watcher = tokio::spawn(async move {
        if wait_for_stop_signal().await {
            let _ = signaller.send(Signal::Stop);
        }
    });
    let started = match coord.wait_for_agents().await {
        Ok(()) => coord.start(plan).await,
        Err(e) => Err(e),
    };
    watcher.abort();
    let Err(e) = started else { return Ok(coord) };
    let code = match e {
        CoordinatorError::Interrupted => exit::INTERRUPTED,
        CoordinatorError::AgentsMissing { .. } | CoordinatorError::NotReady { .. } => exit::ERROR,
        _ => exit::INVALID_INPUT,
    };
    // Being interrupted is what was asked for, not an error.
    if code == exit::INTERRUPTED {
        eprintln!("{e}")
    } else {
        eprintln!("error: {e}")
    }
    coord.shutdown().await;
    Err(code)
}

/// Whether the live UI will run (stdout is a terminal and not `--headless`).
fn ui_wanted(headless: bool) -> bool {
    std::io::stdout().is_terminal() && !headless
}

#[allow(clippy::too_many_arguments)]
fn coordinator_config(
    report_headless: bool,
    plan: &Plan,
    file: &Path,
    o: &crate::cli::OverrideArgs,
    agents: usize,
    token: Option<String>,
    seed: u64,
    agent_timeout: Duration,
    on_agent_loss: LossPolicy,
) -> anyhow::Result<CoordinatorConfig> {
    let scenario_toml = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut data_files = Vec::new();
    for d in &plan.data {
        let bytes = std::fs::read(&d.path).with_context(|| format!("reading data file {}", d.path.display()))?;
        data_files.push((d.file.clone(), bytes));
    }
    Ok(CoordinatorConfig {
        expected_agents: agents,
        token,
        agent_timeout,
        on_agent_loss,
        interval: INTERVAL,
        seed,
        scenario_toml,
        scenario_name: file.display().to_string(),
        data_files,
        print: !ui_wanted(report_headless),
        overrides: stampede_proto::v1::Overrides {
            target: o.target.clone().unwrap_or_default(),
            vus: o.vus.unwrap_or(0),
            duration_ms: o.duration.map_or(0, |d| d.as_millis() as u64),
            env: o.env.iter().cloned().collect(),
        },
    })
}

fn read_token(f: &Path) -> anyhow::Result<String> {
    let t = std::fs::read_to_string(f).with_context(|| format!("reading token file {}", f.display()))?;
    let t = t.trim().to_string();
    anyhow::ensure!(!t.is_empty(), "token file {} is empty", f.display());
    Ok(t)
}

/// A private file holding `content`, removed on drop.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_with(content: &str) -> anyhow::Result<TempFile> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = std::env::temp_dir().join(format!("stampede-token-{}-{:x}", std::process::id(), fastrand::u64(..)));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    f.write_all(content.as_bytes())?;
    Ok(TempFile(path))
}

/// Starts `stampede agent` as a child in its own process group, so a
/// terminal's Ctrl-C reaches only the coordinator (which stops the agents
/// gracefully).
fn spawn_local_agent(
    addr: &std::net::SocketAddr,
    token_file: &Path,
    i: u32,
    workers: u32,
) -> anyhow::Result<tokio::process::Child> {
    let exe = std::env::current_exe().context("finding the stampede binary")?;
    let child = tokio::process::Command::new(exe)
        .arg("agent")
        .arg("--coordinator")
        .arg(format!("http://{addr}"))
        .arg("--token-file")
        .arg(token_file)
        .arg("--name")
        .arg(format!("local-{}", i + 1))
        .arg("--workers")
        .arg(workers.to_string())
        .arg("--allow-target")
        .arg("*")
        .arg("--once")
        .arg("--quiet")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .context("starting a local agent process")?;
    Ok(child)
}

fn local_agent() -> AgentInfo {
    AgentInfo {
        name: "local".into(),
        address: "in-process".into(),
        state: AgentState::Running,
        vus: 0,
        rps: 0.0,
        lag_p99_ms: None,
        cpu_percent: None,
        last_heartbeat: std::time::Instant::now(),
        requests: 0,
    }
}

async fn drive(
    plan: &Arc<Plan>,
    file: &Path,
    report: &ReportArgs,
    mut source: Source,
    mut outputs: Vec<Box<dyn Output>>,
    ctx: RunContext,
    live: Shared,
) -> anyhow::Result<i32> {
    let signaller = source.signaller();
    let planned = plan_duration(plan);
    // Live Prometheus endpoint, for as long as the run lasts.
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(addr) = &report.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on --metrics-listen {addr}"))?;
        if !report.quiet && !ui_wanted(report.headless) {
            eprintln!("Prometheus metrics on http://{}/metrics", listener.local_addr()?);
        }
        tokio::spawn(stampede_report::serve_metrics(listener, live.clone(), async {
            let _ = metrics_stopped.await;
        }));
    }
    let peak = plan_peak_vus(plan);
    // Ctrl-C: first asks for a graceful stop, second aborts.
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (signaller, interrupted) = (signaller.clone(), interrupted.clone());
        tokio::spawn(async move {
            let mut presses = 0;
            loop {
                if !wait_for_stop_signal().await {
                    return;
                }
                presses += 1;
                interrupted.store(true, std::sync::atomic::Ordering::Relaxed);
                if presses == 1 {
                    eprintln!("\nstopping gracefully: in-flight iterations may finish (Ctrl-C again to abort now)");
                    let _ = signaller.send(Signal::Stop);
                } else {
                    eprintln!("\naborting");
                    let _ = signaller.send(Signal::Abort);
                    return;
                }
            }
        });
    }

    // The live UI when stdout is a terminal (and not --headless).
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let ui = ui_wanted(report.headless).then(|| {
        let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        let (signaller, live2, interrupted) = (signaller.clone(), live.clone(), interrupted.clone());
        tokio::spawn(async move {
            while let Some(c) = ctl_rx.recv().await {
                use stampede_tui::Control;
                let sig = match c {
                    Control::Stop => {
                        interrupted.store(true, std::sync::atomic::Ordering::Relaxed);
                        lock(&live2).phase = Phase::Stopping;
                        Signal::Stop
                    }
                    Control::Abort => {
                        interrupted.store(true, std::sync::atomic::Ordering::Relaxed);
                        Signal::Abort
                    }
                    Control::Pause => {
                        lock(&live2).paused = true;
                        Signal::Pause
                    }
                    Control::Resume => {
                        lock(&live2).paused = false;
                        Signal::Run
                    }
                };
                let _ = signaller.send(sig);
            }
        });
        tokio::spawn(stampede_tui::run(live.clone(), ctl_tx, async {
            let _ = done_rx.await;
        }))
    });

    let mut vus_peak = 0u64;
    let mut aborted_by_threshold = false;
    let mut last_progress = Instant::now();
    let mut window = Snapshot::default();
    let mut window_start = Duration::ZERO;
    let progress = !report.quiet && ui.is_none();
    let every = Duration::from_secs(report.progress_every.max(1));
    if progress {
        eprintln!(
            "running {} — {} scenario(s), up to {peak} VUs, {:.0?} planned",
            file.display(),
            plan.scenarios.len(),
            planned
        );
    }
    lock(&live).phase = Phase::Running;
    let mut output_failed = false;
    while let Some(iv) = source.next_interval().await {
        let elapsed = source.start().elapsed();
        let end = (iv.start + ctx.interval).min(elapsed.max(iv.start));
        for o in outputs.iter_mut() {
            if let Err(e) = o.interval(iv.start, end, &iv.snapshot)
                && !output_failed
            {
                lock(&live).event(format!("an output failed: {e}"));
                if ui.is_none() {
                    eprintln!("warning: an output failed: {e}");
                }
                output_failed = true;
            }
        }
        window.accumulate(&iv.snapshot);
        vus_peak = vus_peak.max(iv.snapshot.vus());
        let secs = (end - iv.start).as_secs_f64();
        let mut guard = lock(&live);
        let state = &mut *guard;
        state.push_interval(end, iv.snapshot, secs);
        state.thresholds = evaluate(&plan.thresholds, &state.total, elapsed);
        if let Source::InProcess(_) = source
            && let Some(a) = state.agents.first_mut()
        {
            a.vus = state.last_interval.vus();
            a.rps = state.now.map_or(0.0, |p| p.rps);
            a.requests = state.total.total_requests();
            a.last_heartbeat = std::time::Instant::now();
        }
        let total = &state.total;
        if progress && last_progress.elapsed() >= every {
            let span = elapsed.saturating_sub(window_start).as_secs_f64().max(1e-3);
            eprintln!("{}", progress_line(elapsed, planned, &window, total, span));
            window = Snapshot::default();
            window_start = elapsed;
            last_progress = Instant::now();
        }
        if !aborted_by_threshold && !plan.thresholds.is_empty() {
            for (t, o) in plan.thresholds.iter().zip(state.thresholds.iter()) {
                if !o.passed && t.abort_on_fail && elapsed >= t.delay_abort_eval {
                    if ui.is_none() {
                        eprintln!(
                            "threshold {} '{}' failed (observed {}) and has abort_on_fail: aborting the run",
                            t.selector,
                            t.source,
                            o.observed.map_or("-".into(), |v| format!("{v:.3}"))
                        );
                    }
                    aborted_by_threshold = true;
                    let _ = signaller.send(Signal::Abort);
                    break;
                }
            }
        }
        if aborted_by_threshold {
            state.event("a threshold with abort_on_fail failed: run aborted");
        }
    }
    let elapsed = source.start().elapsed();
    let _ = done_tx.send(());
    if let Some(ui) = ui
        && let Ok(Err(e)) = ui.await
    {
        eprintln!("warning: live UI: {e}");
    }
    let (lost, agent_lines) = match source {
        Source::InProcess(run) => {
            run.join();
            (Vec::new(), Vec::new())
        }
        Source::Cluster(c) => {
            let lost = c.lost_agents().to_vec();
            let lines = agent_lines(&c.agent_reports());
            c.shutdown().await;
            (lost, lines)
        }
    };

    let outcome = if aborted_by_threshold {
        Outcome::AbortedByThreshold
    } else if interrupted.load(std::sync::atomic::Ordering::Relaxed) {
        Outcome::Interrupted
    } else {
        Outcome::Completed
    };
    let total = {
        let mut state = lock(&live);
        state.phase = Phase::Done;
        if let Some(a) = state.agents.iter_mut().find(|a| a.address == "in-process") {
            a.state = AgentState::Done;
        }
        std::mem::take(&mut state.total)
    };
    let outcomes = evaluate(&plan.thresholds, &total, elapsed);
    let passed = outcomes.iter().all(|o| o.passed);
    let code = match outcome {
        Outcome::Interrupted => exit::INTERRUPTED,
        Outcome::AbortedByThreshold => exit::THRESHOLDS_FAILED,
        Outcome::Completed if !passed => exit::THRESHOLDS_FAILED,
        Outcome::Completed if !lost.is_empty() => exit::DEGRADED,
        Outcome::Completed => exit::OK,
    };
    let info = RunInfo {
        scenario_file: file.display().to_string(),
        started_at_ms: ctx.started_at_ms,
        duration_s: elapsed.as_secs_f64(),
        planned_duration_s: planned.as_secs_f64(),
        outcome: match outcome {
            Outcome::Completed if !lost.is_empty() => "degraded",
            Outcome::Completed => "completed",
            Outcome::Interrupted => "interrupted",
            Outcome::AbortedByThreshold => "aborted_by_threshold",
        }
        .into(),
        exit_code: code,
    };
    let summary = Summary::build(info, &total, outcomes, vus_peak);
    let color = std::io::stdout().is_terminal();
    let mut text = stampede_report::text::render(&summary, color);
    if !agent_lines.is_empty() {
        text.push_str("\n  █ AGENTS\n\n");
        for l in &agent_lines {
            text.push_str(l);
            text.push('\n');
        }
    }
    {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }
    let _ = metrics_stop.send(());
    let agents = lock(&live).agents.clone();
    for o in outputs.iter_mut() {
        o.agents(&agents);
        if let Err(e) = o.finish(&summary) {
            eprintln!("error: writing an output failed: {e}");
            return Ok(exit::ERROR);
        }
    }
    Ok(code)
}

/// Who delivered what, for the summary.
fn agent_lines(reports: &[stampede_coordinator::AgentReport]) -> Vec<String> {
    let total: u64 = reports.iter().map(|r| r.requests).sum::<u64>().max(1);
    reports
        .iter()
        .map(|r| {
            format!(
                "    {:<16} {:<22} {:<7} {:>10} requests ({:>5.1}%) {:>9} iterations, planned up to {} VUs on {} core(s)",
                r.name,
                r.address,
                r.state.as_str(),
                r.requests,
                r.requests as f64 * 100.0 / total as f64,
                r.iterations,
                r.planned_vus,
                r.cores
            )
        })
        .collect()
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, LiveState> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The live state of a run, with its stages for the progress gauge.
pub fn live_state(plan: &Plan, file: &Path, planned: Duration, peak: u64, interval: Duration) -> LiveState {
    let mut live = LiveState::new(
        file.display().to_string(),
        plan.scenarios.iter().map(|s| s.name.to_string()).collect(),
        planned,
        peak,
    );
    live.stages = stages(plan);
    live.interval = interval;
    live
}

fn progress_line(elapsed: Duration, planned: Duration, window: &Snapshot, total: &Snapshot, span: f64) -> String {
    let all = window.all_requests();
    let rps = all.count as f64 / span;
    let p95 = if all.duration.is_empty() { 0.0 } else { all.duration.value_at_quantile(0.95) as f64 / 1000.0 };
    let err = if all.count > 0 { all.failed as f64 * 100.0 / all.count as f64 } else { 0.0 };
    format!(
        "[{:>6.1}s/{:.0}s] vus {:>5}/{:<5} rps {:>8.1} p95 {:>9} errors {:>5.2}% reqs {}",
        elapsed.as_secs_f64(),
        planned.as_secs_f64(),
        total.vus(),
        total.vus_max(),
        rps,
        stampede_report::text::fmt_ms(p95),
        err,
        total.total_requests()
    )
}

/// Every scenario's stages on the run's time line.
pub fn stages(plan: &Plan) -> Vec<StageInfo> {
    use stampede_scenario::Executor as E;
    let mut out = Vec::new();
    for s in &plan.scenarios {
        let mut at = s.start_time;
        let mut push = |d: Duration, label: String| {
            out.push(StageInfo { scenario: s.name.to_string(), start: at, duration: d, label });
            at += d;
        };
        match &s.executor {
            E::RampingVus { start_vus, stages, .. } => {
                let mut from = *start_vus;
                for st in stages {
                    let label = if st.target == from {
                        format!("hold {} VUs", st.target)
                    } else {
                        format!("ramp {from}→{} VUs", st.target)
                    };
                    push(st.duration, label);
                    from = st.target;
                }
            }
            E::RampingArrivalRate { start_rate, time_unit, stages, .. } => {
                let mut from = *start_rate;
                for st in stages {
                    let unit = stampede_scenario::format_duration(*time_unit);
                    let label = if st.target == from {
                        format!("hold {}/{unit}", st.target)
                    } else {
                        format!("ramp {from}→{}/{unit}", st.target)
                    };
                    push(st.duration, label);
                    from = st.target;
                }
            }
            E::ConstantVus { vus, duration } => push(*duration, format!("{vus} VUs")),
            E::ConstantArrivalRate { rate, time_unit, duration, .. } => {
                push(*duration, format!("{rate}/{}", stampede_scenario::format_duration(*time_unit)))
            }
            E::SharedIterations { vus, iterations, max_duration } => {
                push(*max_duration, format!("{iterations} iterations over {vus} VUs (max)"))
            }
            E::PerVuIterations { vus, iterations, max_duration } => {
                push(*max_duration, format!("{iterations} iterations × {vus} VUs (max)"))
            }
        }
    }
    out
}

/// Resolves on Ctrl-C or SIGTERM; `false` if signals cannot be watched.
async fn wait_for_stop_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else { return tokio::signal::ctrl_c().await.is_ok() };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            _ = term.recv() => true,
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}
