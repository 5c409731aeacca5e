//! `stampede run` (local agents, or in-process with `--agents 0`) and
//! `stampede coordinator` (remote agents): flags to a plan, outputs and a
//! source of intervals (child agent processes, the coordinator's barrier),
//! then the run itself through [`stampede_controller::run`] (see
//! [`crate::present`] for what is shown around it).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use stampede_controller::{Cluster, InProcess};
use stampede_coordinator::{Coordinator, CoordinatorConfig, CoordinatorError, LossPolicy};
use stampede_engine::{Run, RunOptions, Signal};
use stampede_metrics::live::{AgentInfo, AgentState, lock};
use stampede_scenario::Plan;

use crate::cli::{CoordinatorArgs, OnAgentLoss, RunArgs};
use crate::exit;
use crate::flags::{bind_flag, open_outputs, read_token, server_tls};
use crate::present::{live_state, present, ui_wanted, wait_for_stop_signal};

pub use crate::placement::FD_RESERVE;
/// Length of a measurement interval: agents' snapshots, report lines, chart points.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// Raises the soft open-files limit to the hard one; returns the limit now in force.
pub fn raise_nofile_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

/// Loads the plan; `warn` prints its warnings (once per command, not per load).
fn load(file: &Path, o: &crate::cli::OverrideArgs, warn: bool) -> Result<Arc<Plan>, i32> {
    match crate::load_plan(file, o) {
        Ok(plan) => {
            if warn {
                crate::print_warnings(&plan);
            }
            Ok(Arc::new(plan))
        }
        Err(e) => {
            eprintln!("{e}");
            Err(exit::INVALID_INPUT)
        }
    }
}

pub(crate) fn cores() -> u32 {
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
    let plan = match load(file, overrides, true) {
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
    // One edge process holds what one process may open: more for a crowd.
    let edges = crate::placement::shop_edges(&plan, raise_nofile_limit());
    let mut shop_flags = shop_flags.to_vec();
    if edges > 1 && !shop_flags.iter().any(|f| f.starts_with("edges")) {
        shop_flags.push(format!("edges={edges}"));
    }
    let shop_flags = &shop_flags;
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
        if spec.origin {
            eprintln!("bundled shop ready: origin {} (the scenario's target; edge {})", shop.origin, shop.edge);
        } else {
            eprintln!("bundled shop ready: edge {} (origin {})", shop.edge, shop.origin);
        }
    }
    let mut effective = overrides.clone();
    effective.target = Some(if spec.origin { shop.origin.clone() } else { shop.edge.clone() });
    match load(file, &effective, false) {
        Ok(p) => Ok(Ok((p, effective, Some(shop)))),
        Err(code) => {
            shop.stop().await;
            Ok(Err(code))
        }
    }
}

/// `stampede run`.
pub async fn run(args: RunArgs) -> anyhow::Result<i32> {
    if stampede_script::is_script(&args.file) {
        return crate::script::run(&args).await;
    }
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
    let placement = match crate::placement::place(&plan, args.agents, crate::placement::Limits::here()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::INVALID_INPUT);
        }
    };
    if !args.report.quiet {
        eprintln!("{}", placement.describe());
    }
    // Source addresses chosen here reach the agents as `--local-ips` would.
    let (plan, overrides) = match &placement.local_ips {
        Some(ips) => {
            let mut o = overrides.clone();
            o.local_ips = Some(ips.clone());
            match load(&args.file, &o, false) {
                Ok(p) => (p, o),
                Err(code) => return Ok(code),
            }
        }
        None => (plan, overrides.clone()),
    };
    let overrides = &overrides;
    let agents = placement.agents;
    let peak = placement.peak_vus;
    let (outputs, ctx) = open_outputs(&args.report, &args.file, &plan)?;
    let metrics = match &args.report.metrics_listen {
        Some(addr) => Some(bind_flag("--metrics-listen", addr).await?),
        None => None,
    };
    let planned = plan.planned_duration();
    let live = live_state(&plan, &args.file, planned, peak, ctx.interval).shared();
    let workers = args.workers.unwrap_or_else(cores).max(1);
    let seed = args.report.seed.unwrap_or_else(|| fastrand::u64(..));

    let mut children = Vec::new();
    let code = if agents == 0 {
        let values = {
            let setup = run_setup(&plan, args.report.quiet);
            tokio::select! {
                r = setup => match r {
                    Ok(v) => v,
                    Err(code) => return Ok(code),
                },
                true = wait_for_stop_signal() => {
                    eprintln!("interrupted during setup: no load ran");
                    return Ok(exit::INTERRUPTED);
                }
            }
        };
        let mut opts = RunOptions::local(workers);
        opts.seed = seed;
        opts.setup_values = values.clone();
        lock(&live).agents.push(local_agent());
        let source = InProcess(Run::start(plan.clone(), opts).context("starting worker threads")?);
        present(&plan, &args.file, &args.report, source, outputs, metrics, ctx, live, values).await
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
        let (coord, values) = match start_cluster(coord, &plan, args.report.quiet).await {
            Ok(c) => c,
            Err(code) => return Ok(code),
        };
        // The token file may go once every agent has read it (and none will
        // need it to reconnect before the start).
        drop(token_file);
        present(&plan, &args.file, &args.report, Cluster(Box::new(coord)), outputs, metrics, ctx, live, values).await
    };
    for mut c in children {
        if tokio::time::timeout(Duration::from_secs(5), c.wait()).await.is_err() {
            let _ = c.kill().await;
        }
    }
    code
}

/// `stampede coordinator`.
pub async fn coordinate(args: CoordinatorArgs) -> anyhow::Result<i32> {
    if stampede_script::is_script(&args.file) {
        return crate::script::coordinate(&args).await;
    }
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
    let CoordinatorFlags { token, tls, listener, policy } = match coordinator_flags(args).await? {
        Ok(f) => f,
        Err(code) => return Ok(code),
    };
    let (outputs, ctx) = open_outputs(&args.report, &args.file, &plan)?;
    let metrics = match &args.report.metrics_listen {
        Some(addr) => Some(bind_flag("--metrics-listen", addr).await?),
        None => None,
    };
    let planned = plan.planned_duration();
    let live = live_state(&plan, &args.file, planned, plan.peak_vus(), ctx.interval).shared();
    let seed = args.report.seed.unwrap_or_else(|| fastrand::u64(..));
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
    let (coord, values) = match start_cluster(coord, &plan, args.report.quiet).await {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    present(&plan, &args.file, &args.report, Cluster(Box::new(coord)), outputs, metrics, ctx, live, values).await
}

/// What `stampede coordinator`'s flags set up before any agent attaches.
pub(crate) struct CoordinatorFlags {
    pub token: Option<String>,
    pub tls: Option<tonic::transport::ServerTlsConfig>,
    pub listener: tokio::net::TcpListener,
    pub policy: LossPolicy,
}

/// Reads the token file and the TLS pair, binds `--listen` (warning when it
/// is reachable beyond loopback without a token) and takes the loss policy;
/// `Err(code)` when no agent was asked for.
pub(crate) async fn coordinator_flags(args: &CoordinatorArgs) -> anyhow::Result<Result<CoordinatorFlags, i32>> {
    if args.agents == 0 {
        eprintln!("error: --agents must be at least 1");
        return Ok(Err(exit::INVALID_INPUT));
    }
    let token = match &args.token_file {
        Some(f) => Some(read_token(f)?),
        None => None,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(server_tls(c, k)?),
        _ => None,
    };
    let listener = bind_flag("--listen", &args.listen).await?;
    if token.is_none() && !listener.local_addr()?.ip().is_loopback() {
        eprintln!("warning: listening on {} without --token-file: any agent that can reach it may join", args.listen);
    }
    let policy = match args.on_agent_loss {
        OnAgentLoss::Continue => LossPolicy::Continue,
        OnAgentLoss::Abort => LossPolicy::Abort,
    };
    Ok(Ok(CoordinatorFlags { token, tls, listener, policy }))
}

/// The exit code of a coordinator that could not start the load.
pub(crate) fn start_error_code(e: &CoordinatorError) -> i32 {
    match e {
        CoordinatorError::Interrupted => exit::INTERRUPTED,
        CoordinatorError::AgentsMissing { .. } | CoordinatorError::NotReady { .. } => exit::ERROR,
        _ => exit::INVALID_INPUT,
    }
}

/// Runs the plan's `[setup]` (if any) once, here, on the engine: its steps'
/// progress on stderr (unless `quiet`). Returns the values every VU starts
/// with, or the exit code of a failed setup after saying which step failed.
async fn run_setup(plan: &Arc<Plan>, quiet: bool) -> Result<stampede_engine::SetupValues, i32> {
    if plan.setup.is_none() {
        return Ok(Arc::from([]));
    }
    let report = stampede_engine::run_hook(
        plan.clone(),
        stampede_engine::HookKind::Setup,
        Arc::from([]),
        None,
        fastrand::u64(..),
        move |s| {
            if !quiet {
                eprintln!("{}", crate::present::hook_step_line(s));
            }
        },
    )
    .await;
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: setup could not start: {e}");
            return Err(exit::ERROR);
        }
    };
    match (&report.failure, stampede_controller::hook_exit_code(&report)) {
        (Some(f), Some(code)) => {
            eprintln!("error: setup failed: {f}; no load ran (exit code {code})");
            Err(code)
        }
        _ => {
            if !quiet {
                eprintln!(
                    "setup: done, {} request(s) in {:.0} ms",
                    report.requests,
                    report.elapsed.as_secs_f64() * 1e3
                );
            }
            Ok(report.values)
        }
    }
}

/// The setup's values by variable name, for the agents' assignment.
fn setup_values_by_name(plan: &Plan, values: &[Option<String>]) -> std::collections::HashMap<String, String> {
    plan.setup_vars
        .iter()
        .filter_map(|&slot| Some((plan.var_names[slot].to_string(), values.get(slot)?.clone()?)))
        .collect()
}

/// Waits for the agents while the plan's `[setup]` runs here (once for the
/// whole test), ships its values in the assignment, and passes the start
/// barrier; Ctrl-C or SIGTERM meanwhile stops it (the coordinator tells
/// attached agents to stop): 105. A failed setup stops the agents before
/// any load, with its own exit code.
async fn start_cluster(
    mut coord: Coordinator,
    plan: &Arc<Plan>,
    quiet: bool,
) -> Result<(Coordinator, stampede_engine::SetupValues), i32> {
    let signaller = coord.signaller();
    let watcher = tokio::spawn(async move {
        if wait_for_stop_signal().await {
            let _ = signaller.send(Signal::Stop);
        }
    });
    let mut values: stampede_engine::SetupValues = Arc::from([]);
    // Whether the setup was still running when the barrier ended (an
    // interruption then says so).
    let setup_running = std::cell::Cell::new(plan.setup.is_some());
    let setup = async {
        let r = run_setup(plan, quiet).await;
        setup_running.set(false);
        r
    };
    let started = match coord.wait_for_agents_while(setup).await {
        Ok(Ok(v)) => {
            values = v;
            match coord.set_setup_values(setup_values_by_name(plan, &values)) {
                Ok(()) => coord.start(plan).await,
                Err(e) => Err(e),
            }
        }
        Ok(Err(code)) => {
            watcher.abort();
            coord.cancel_before_start("the setup failed");
            coord.shutdown().await;
            return Err(code);
        }
        Err(e) => Err(e),
    };
    watcher.abort();
    let Err(e) = started else { return Ok((coord, values)) };
    let code = start_error_code(&e);
    // Being interrupted is what was asked for, not an error.
    if code == exit::INTERRUPTED && setup_running.get() {
        eprintln!("interrupted during setup: no load ran; the attached agents were told to stop")
    } else if code == exit::INTERRUPTED {
        eprintln!("{e}")
    } else {
        eprintln!("error: {e}")
    }
    coord.shutdown().await;
    Err(code)
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
    use stampede_scenario::input::{MAX_DATA_BYTES, MAX_SCENARIO_BYTES, read_bounded};
    // Read again for the agents: bounded, since the file may have changed since it was compiled.
    let scenario_toml = String::from_utf8(read_bounded(file, MAX_SCENARIO_BYTES, "scenario file")?)
        .with_context(|| format!("scenario file {} is no longer UTF-8 text", file.display()))?;
    let mut data_files = Vec::new();
    for d in &plan.data {
        data_files.push((d.file.clone(), read_bounded(&d.path, MAX_DATA_BYTES, "data file")?));
    }
    // Uploads and `tls_ca`, as read when the plan was compiled.
    for f in &plan.upload_files {
        data_files.push((f.file.clone(), f.bytes.to_vec()));
    }
    let payload = AgentPayload { text: scenario_toml, name: file.display().to_string(), files: data_files };
    Ok(coordinator_config_with(report_headless, payload, o, agents, token, seed, agent_timeout, on_agent_loss))
}

/// What every agent receives: the scenario file's (or the main script's)
/// text and name, and the files it reads by relative path.
pub(crate) struct AgentPayload {
    pub text: String,
    pub name: String,
    pub files: Vec<(String, Vec<u8>)>,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn coordinator_config_with(
    report_headless: bool,
    payload: AgentPayload,
    o: &crate::cli::OverrideArgs,
    agents: usize,
    token: Option<String>,
    seed: u64,
    agent_timeout: Duration,
    on_agent_loss: LossPolicy,
) -> CoordinatorConfig {
    CoordinatorConfig {
        expected_agents: agents,
        token,
        agent_timeout,
        on_agent_loss,
        interval: INTERVAL,
        seed,
        scenario_toml: payload.text,
        scenario_name: payload.name,
        data_files: payload.files,
        print: !ui_wanted(report_headless),
        overrides: stampede_proto::convert::overrides_to_wire(&o.to_overrides()),
    }
}

/// A private file holding `content`, removed on drop.
pub(crate) struct TempFile(std::path::PathBuf);

impl TempFile {
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

pub(crate) fn tempfile_with(content: &str) -> anyhow::Result<TempFile> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = std::env::temp_dir().join(format!("stampede-token-{}-{:x}", std::process::id(), fastrand::u64(..)));
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    f.write_all(content.as_bytes())?;
    Ok(TempFile(path))
}

/// Starts `stampede agent` as a child in its own process group, so a
/// terminal's Ctrl-C reaches only the coordinator (which stops the agents
/// gracefully).
pub(crate) fn spawn_local_agent(
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

pub(crate) fn local_agent() -> AgentInfo {
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
