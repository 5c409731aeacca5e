//! `stampede run` (local agents, or in-process with `--agents 0`) and
//! `stampede coordinator` (remote agents): flags to a plan, outputs and a
//! source of intervals (child agent processes, the coordinator's barrier),
//! then the run itself through [`stampede_controller::run`], with the live UI,
//! progress lines, Ctrl-C and the printed summary around it.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use stampede_controller::{Cluster, InProcess, Observer, OutputError, Progress, Recorder, RunSpec, Source};
use stampede_coordinator::{Coordinator, CoordinatorConfig, CoordinatorError, LossPolicy};
use stampede_engine::{Run, RunOptions, Signal};
use stampede_metrics::Snapshot;
use stampede_metrics::live::{AgentInfo, AgentState, LiveState, Shared, StageInfo, lock};
use stampede_report::outputs::{Output, RunContext};
use stampede_scenario::Plan;
use stampede_scenario::threshold::Threshold;

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

/// Refuses two `--out` flags that name the same file (the second would
/// silently overwrite the first).
pub(crate) fn check_distinct_outputs(specs: &[(String, std::path::PathBuf)], flag: &str) -> anyhow::Result<()> {
    fn normalized(p: &Path) -> std::path::PathBuf {
        if let Ok(c) = p.canonicalize() {
            return c;
        }
        let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        match (abs.parent().and_then(|d| d.canonicalize().ok()), abs.file_name()) {
            (Some(dir), Some(name)) => dir.join(name),
            _ => abs,
        }
    }
    for (i, (kind, path)) in specs.iter().enumerate() {
        for (earlier_kind, earlier) in &specs[..i] {
            if path == earlier || normalized(path) == normalized(earlier) {
                return Err(crate::invalid(format!(
                    "{flag} {earlier_kind}={} and {flag} {kind}={} write the same file (one would overwrite the other); give each output its own path",
                    earlier.display(),
                    path.display()
                )));
            }
        }
    }
    Ok(())
}

/// Opens the `--out` files before any load: a path that cannot be written is a flag error.
pub(crate) fn open_named_outputs(
    specs: &[(String, std::path::PathBuf)],
    ctx: &RunContext,
    flag: &str,
) -> anyhow::Result<Vec<(String, Box<dyn Output>)>> {
    check_distinct_outputs(specs, flag)?;
    let mut outputs = Vec::new();
    for (kind, path) in specs {
        let output = stampede_report::outputs::open(kind, path, ctx).map_err(|e| {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            let hint = match dir {
                Some(d) if e.kind() == std::io::ErrorKind::NotFound && !d.exists() => {
                    format!(": the directory {} does not exist (create it first)", d.display())
                }
                _ => String::new(),
            };
            crate::invalid(format!("{flag} {kind}={}: cannot create the file: {e}{hint}", path.display()))
        })?;
        outputs.push((format!("{kind} output {}", path.display()), output));
    }
    Ok(outputs)
}

fn open_outputs(report: &ReportArgs, file: &Path) -> anyhow::Result<(Recorder, RunContext)> {
    let started_wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let ctx = RunContext {
        scenario_file: file.display().to_string(),
        started_at_ms: started_wall.as_millis() as u64,
        interval: INTERVAL,
    };
    let outputs = open_named_outputs(&report.out, &ctx, "--out")?;
    Ok((Recorder::new(outputs), ctx))
}

/// Binds an address a flag names; failure is a flag error.
async fn bind_flag(flag: &str, addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        crate::invalid(format!(
            "{flag} {addr}: cannot listen there: {e} (give HOST:PORT of this machine, e.g. 127.0.0.1:9650, with a free port)"
        ))
    })
}

/// Reads a file a flag names with the size bound of [`read_bounded`]; failure is a flag error.
///
/// [`read_bounded`]: stampede_scenario::input::read_bounded
pub(crate) fn read_flag_file(flag: &'static str, path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    stampede_scenario::input::read_bounded(path, limit, flag).map_err(|e| crate::invalid(e.to_string()))
}

/// The shared token of a `--token-file`: its text, trimmed, never empty.
pub(crate) fn read_token(f: &Path) -> anyhow::Result<String> {
    let bytes = read_flag_file("--token-file", f, stampede_scenario::input::MAX_TOKEN_BYTES)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| crate::invalid(format!("--token-file `{}` is not text (UTF-8)", f.display())))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(crate::invalid(format!(
            "--token-file `{}` is empty: write the shared token in it (the coordinator and its agents use the same file)",
            f.display()
        )));
    }
    Ok(token.to_string())
}

/// Certificates of a PEM file a flag names (at least one).
pub(crate) fn pem_certificates(
    flag: &'static str,
    path: &Path,
) -> anyhow::Result<(Vec<u8>, Vec<rustls::pki_types::CertificateDer<'static>>)> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let pem = read_flag_file(flag, path, stampede_scenario::input::MAX_PEM_BYTES)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| crate::invalid(format!("{flag} `{}` is not a valid PEM certificate file: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(crate::invalid(format!(
            "{flag} `{}` holds no certificate: expected PEM text with -----BEGIN CERTIFICATE-----",
            path.display()
        )));
    }
    Ok((pem, certs))
}

/// `--tls-cert` and `--tls-key`, checked before any agent connects (tonic
/// only says "transport error" about a bad identity, and only once serving).
fn server_tls(cert: &Path, key: &Path) -> anyhow::Result<tonic::transport::ServerTlsConfig> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject as _;
    let (cert_pem, chain) = pem_certificates("--tls-cert", cert)?;
    let key_pem = read_flag_file("--tls-key", key, stampede_scenario::input::MAX_PEM_BYTES)?;
    let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        crate::invalid(format!(
            "--tls-key `{}` holds no usable private key ({e}): expected PEM text with -----BEGIN PRIVATE KEY----- (PKCS#8, RSA or EC)",
            key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(chain, private))
        .map_err(|e| {
            crate::invalid(format!(
                "--tls-cert `{}` and --tls-key `{}` cannot serve TLS together: {e}",
                cert.display(),
                key.display()
            ))
        })?;
    Ok(tonic::transport::ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(cert_pem, key_pem)))
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
    let peak = plan.peak_vus();
    // A VU keeps a connection per origin its flows reach, not just one.
    let connections = plan.peak_connections();
    let per_vu = plan.scenarios.iter().map(|s| plan.connections_per_vu(s)).max().unwrap_or(1);
    let per_process = if agents == 0 { connections } else { connections.div_ceil(agents as u64) };
    if per_process.saturating_add(FD_RESERVE) > limit {
        eprintln!(
            "error: this plan can run {peak} VUs at once with up to {per_vu} connection(s) each (one per origin its flows reach), \
             {connections} connections in all, but a load process here may open only {limit} files (hard limit, `ulimit -Hn`).\n  \
             help: lower the VUs, use more --agents, raise the hard limit, or spread the run over several machines"
        );
        return Ok(exit::INVALID_INPUT);
    }
    let (outputs, ctx) = open_outputs(&args.report, &args.file)?;
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
        let mut opts = RunOptions::local(workers);
        opts.seed = seed;
        lock(&live).agents.push(local_agent());
        let source = InProcess(Run::start(plan.clone(), opts).context("starting worker threads")?);
        present(&plan, &args.file, &args.report, source, outputs, metrics, ctx, live).await
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
        present(&plan, &args.file, &args.report, Cluster(Box::new(coord)), outputs, metrics, ctx, live).await
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
        (Some(c), Some(k)) => Some(server_tls(c, k)?),
        _ => None,
    };
    let listener = bind_flag("--listen", &args.listen).await?;
    let (outputs, ctx) = open_outputs(&args.report, &args.file)?;
    let metrics = match &args.report.metrics_listen {
        Some(addr) => Some(bind_flag("--metrics-listen", addr).await?),
        None => None,
    };
    let planned = plan.planned_duration();
    let live = live_state(&plan, &args.file, planned, plan.peak_vus(), ctx.interval).shared();
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
    present(&plan, &args.file, &args.report, Cluster(Box::new(coord)), outputs, metrics, ctx, live).await
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
    use stampede_scenario::input::{MAX_DATA_BYTES, MAX_SCENARIO_BYTES, read_bounded};
    // Read again for the agents: bounded, since the file may have changed since it was compiled.
    let scenario_toml = String::from_utf8(read_bounded(file, MAX_SCENARIO_BYTES, "scenario file")?)
        .with_context(|| format!("scenario file {} is no longer UTF-8 text", file.display()))?;
    let mut data_files = Vec::new();
    for d in &plan.data {
        data_files.push((d.file.clone(), read_bounded(&d.path, MAX_DATA_BYTES, "data file")?));
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
        overrides: stampede_proto::convert::overrides_to_wire(&o.to_overrides()),
    })
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

/// Prints progress, threshold aborts and output failures when no live UI
/// shows them.
struct Printer {
    /// Progress lines and messages go to stderr (no UI, not `--quiet`).
    progress: bool,
    /// Messages the UI would otherwise show as events.
    messages: bool,
    every: Duration,
    last: Instant,
    /// Measurements since the last progress line.
    window: Snapshot,
    window_start: Duration,
}

impl Observer for Printer {
    fn interval(&mut self, p: &Progress<'_>) {
        self.window.accumulate(p.interval);
        if self.progress && self.last.elapsed() >= self.every {
            let span = p.elapsed.saturating_sub(self.window_start).as_secs_f64().max(1e-3);
            eprintln!("{}", progress_line(p.elapsed, p.planned, &self.window, p.total, span));
            self.window = Snapshot::default();
            self.window_start = p.elapsed;
            self.last = Instant::now();
        }
    }

    fn threshold_abort(&mut self, t: &Threshold, observed: Option<f64>) {
        if self.messages {
            eprintln!(
                "threshold {} '{}' failed (observed {}) and has abort_on_fail: aborting the run",
                t.selector,
                t.source,
                observed.map_or("-".into(), |v| format!("{v:.3}"))
            );
        }
    }

    fn output_failed(&mut self, e: &OutputError) {
        if self.messages {
            eprintln!("error: {e}; the run will exit with code {}", exit::ERROR);
        }
    }
}

/// Runs a started source to its end through the controller, with what a
/// person sees around it: the live UI or progress lines, the Prometheus
/// endpoint, Ctrl-C (first: graceful stop; second: abort), and the summary
/// printed at the end. Returns the exit code.
#[allow(clippy::too_many_arguments)]
async fn present(
    plan: &Arc<Plan>,
    file: &Path,
    report: &ReportArgs,
    source: impl Source,
    mut recorder: Recorder,
    metrics: Option<tokio::net::TcpListener>,
    ctx: RunContext,
    live: Shared,
) -> anyhow::Result<i32> {
    let signaller = source.signaller();
    // Live Prometheus endpoint, for as long as the run lasts (bound before
    // the load started, so a bad --metrics-listen stops nothing midway).
    let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(listener) = metrics {
        if !report.quiet && !ui_wanted(report.headless) {
            eprintln!("Prometheus metrics on http://{}/metrics", listener.local_addr()?);
        }
        tokio::spawn(stampede_report::serve_metrics(listener, live.clone(), async {
            let _ = metrics_stopped.await;
        }));
    }
    // Ctrl-C or SIGTERM: the first asks the controller for a graceful stop,
    // a second aborts.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    {
        let signaller = signaller.clone();
        tokio::spawn(async move {
            if !wait_for_stop_signal().await {
                return;
            }
            eprintln!("\nstopping gracefully: in-flight iterations may finish (Ctrl-C again to abort now)");
            let _ = stop_tx.send(());
            if wait_for_stop_signal().await {
                eprintln!("\naborting");
                let _ = signaller.send(Signal::Abort);
            }
        });
    }

    // The live UI when stdout is a terminal (and not --headless).
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let ui = ui_wanted(report.headless).then(|| {
        let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::unbounded_channel();
        // The UI's keys become run signals; the controller shows their effect.
        let signaller = signaller.clone();
        tokio::spawn(async move {
            while let Some(c) = ctl_rx.recv().await {
                use stampede_tui::Control;
                let _ = signaller.send(match c {
                    Control::Stop => Signal::Stop,
                    Control::Abort => Signal::Abort,
                    Control::Pause => Signal::Pause,
                    Control::Resume => Signal::Run,
                });
            }
        });
        tokio::spawn(stampede_tui::run(live.clone(), ctl_tx, async {
            let _ = done_rx.await;
        }))
    });

    let planned = plan.planned_duration();
    let mut printer = Printer {
        progress: !report.quiet && ui.is_none(),
        messages: ui.is_none(),
        every: Duration::from_secs(report.progress_every.max(1)),
        last: Instant::now(),
        window: Snapshot::default(),
        window_start: Duration::ZERO,
    };
    if printer.progress {
        eprintln!(
            "running {} — {} scenario(s), up to {} VUs, {:.0?} planned",
            file.display(),
            plan.scenarios.len(),
            plan.peak_vus(),
            planned
        );
    }
    let spec = RunSpec {
        plan: plan.clone(),
        scenario_file: file.display().to_string(),
        started_at_ms: ctx.started_at_ms,
        interval: ctx.interval,
    };
    let stop = async {
        let _ = stop_rx.await;
    };
    let finished = stampede_controller::run(&spec, source, &mut recorder, &live, &mut printer, stop).await;
    let _ = done_tx.send(());
    if let Some(ui) = ui
        && let Ok(Err(e)) = ui.await
    {
        eprintln!("warning: live UI: {e}");
    }
    let _ = metrics_stop.send(());

    let color = std::io::stdout().is_terminal();
    let mut text = stampede_report::text::render(&finished.summary, color);
    let agent_lines = agent_lines(&finished.end.agents);
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
    let failed = recorder.failed();
    if !failed.is_empty() {
        eprintln!("error: incomplete output(s): {}; exit code {}", failed.join(", "), finished.exit_code);
    }
    Ok(finished.exit_code)
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
    let rps = all.count() as f64 / span;
    let p95 = stampede_metrics::hist::quantile_ms(all.duration(), 0.95);
    let err = if all.count() > 0 { all.failed() as f64 * 100.0 / all.count() as f64 } else { 0.0 };
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
