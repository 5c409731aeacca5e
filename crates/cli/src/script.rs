//! k6 scripts on the command line (`stampede validate|run|coordinator
//! FILE.js`, chosen by extension): validate prints what it prints for a
//! scenario file; run runs the script in this process (setup, the
//! scenarios, teardown); coordinator validates, then refuses (shipping
//! scripts to agents is not there yet).
//!
//! Exit codes: everything refused before any load exits 104 (invalid
//! input), as issue 16 asks; an exception in a VU's init code, `setup()` or
//! `teardown()` exits 107 and `exec.test.abort()` 108, as in k6.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use stampede_controller::{Cluster, InProcess};
use stampede_coordinator::{Coordinator, CoordinatorError, LossPolicy};
use stampede_engine::{Body, Run, RunOptions, Signal};
use stampede_metrics::live::lock;
use stampede_script::runtime::{HookError, ScriptBody, ScriptEnd};

use crate::cli::{CoordinatorArgs, OverrideArgs, RunArgs, ValidateArgs};
use crate::exit;
use crate::flags::{bind_flag, open_outputs};
use crate::present::{live_state, present_finished};

/// Loads a script with the command-line overrides, printing its warnings
/// and what its init code printed; the located errors on failure.
fn load(file: &Path, overrides: &OverrideArgs) -> Result<stampede_script::ScriptPlan, i32> {
    match stampede_script::load(file, &overrides.to_overrides()) {
        Ok(sp) => {
            for line in &sp.console {
                eprintln!("init: {line}");
            }
            for w in sp.warnings() {
                eprintln!("{w}");
            }
            Ok(sp)
        }
        Err(e) => {
            eprintln!("{e}");
            Err(exit::INVALID_INPUT)
        }
    }
}

/// `stampede validate FILE.js`.
pub fn validate(args: &ValidateArgs) -> i32 {
    let sp = match load(&args.file, &args.overrides) {
        Ok(sp) => sp,
        Err(code) => return code,
    };
    let plan = &sp.plan;
    let functions: Vec<&str> = sp.functions().collect();
    println!(
        "{}: ok — {} scenario(s), {} exported function(s) ({}), {} threshold(s), {} custom metric(s); up to {} VUs for {:.0?}",
        args.file.display(),
        plan.scenarios.len(),
        functions.len(),
        functions.join(", "),
        plan.thresholds.len(),
        plan.metrics.len(),
        plan.peak_vus(),
        plan.planned_duration()
    );
    exit::OK
}

/// `stampede run FILE.js`: k6's life cycle in this process — `setup()`
/// once, the scenarios' functions on the engine's workers, `teardown(data)`
/// once — with the same outputs, summary and exit codes as a scenario file,
/// plus k6's 107 (an exception in init code, `setup()` or `teardown()`) and
/// 108 (`exec.test.abort()`).
pub async fn run(args: &RunArgs) -> anyhow::Result<i32> {
    let sp = match load(&args.file, &args.overrides) {
        Ok(sp) => sp,
        Err(code) => return Ok(code),
    };
    // In this process unless agents are asked for or the open-files limit
    // needs several processes (scenario files default to one agent per
    // core): exceptions, `exec.test.abort()` and init failures then reach the
    // exit code (107, 108) as in k6.
    let agents = match args.agents {
        Some(n) => n,
        None => match placed_agents(&sp.plan) {
            Ok(None) => 0,
            Ok(Some(p)) => {
                if !args.report.quiet {
                    eprintln!("{}", p.describe());
                }
                p.agents
            }
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::INVALID_INPUT);
            }
        },
    };
    if agents > 0 {
        return run_local_cluster(args, Arc::new(sp), agents).await;
    }
    let plan = sp.plan.clone();
    let limit = crate::run::raise_nofile_limit();
    if plan.peak_vus().saturating_add(crate::run::FD_RESERVE) > limit {
        eprintln!(
            "error: this script can run {} VUs at once, but a load process here may open only {limit} files (hard limit, `ulimit -Hn`)",
            plan.peak_vus()
        );
        return Ok(exit::INVALID_INPUT);
    }
    let seed = args.report.seed.unwrap_or_else(|| fastrand::u64(..));
    let has = |name: &str| sp.functions().any(|f| f == name);

    // setup(), once.
    let mut setup_json = None;
    let mut setup_measured = None;
    if has("setup") {
        let probe = ScriptBody::new(&sp, &sp.env, seed, None);
        let setup = stampede_script::runtime::run_hook(&sp, &probe, "setup", None, plan.setup_timeout);
        let outcome = tokio::select! {
            r = setup => r,
            true = crate::present::wait_for_stop_signal() => {
                eprintln!("interrupted during setup: no load ran");
                return Ok(exit::INTERRUPTED);
            }
        };
        match outcome {
            Ok((data, measured)) => {
                setup_json = data;
                setup_measured = Some(measured);
            }
            Err(e) => return Ok(hook_failed("setup", &e, true)),
        }
    }

    let body = ScriptBody::new(&sp, &sp.env, seed, setup_json.clone());
    let shared = body.shared.clone();
    let (outputs, ctx) = open_outputs(&args.report, &args.file, &plan)?;
    let metrics = match &args.report.metrics_listen {
        Some(addr) => Some(bind_flag("--metrics-listen", addr).await?),
        None => None,
    };
    let planned = plan.planned_duration();
    let live = live_state(&plan, &args.file, planned, plan.peak_vus(), ctx.interval).shared();
    let workers = args.workers.unwrap_or_else(crate::run::cores).max(1);
    let mut opts = RunOptions::local(workers);
    opts.seed = seed;
    opts.body = Some(Body(Arc::new(body)));
    lock(&live).agents.push(crate::run::local_agent());
    let run = Run::start(plan.clone(), opts).context("starting worker threads")?;
    let _ = shared.stopper.set(run.signaller());
    // The script may abort the test, and a VU's init code may fail: both
    // stop every worker at once.
    let watcher = {
        let (signaller, shared) = (run.signaller(), shared.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                if shared.ended().is_some() {
                    let _ = signaller.send(Signal::Abort);
                    return;
                }
            }
        })
    };
    let teardown_failed: Arc<std::sync::Mutex<Option<HookError>>> = Arc::default();
    let teardown = has("teardown").then(|| {
        let shared = shared.clone();
        teardown_hook(&sp, seed, setup_json.clone(), teardown_failed.clone(), move || shared.fatal().is_some())
    });
    let ended: ScriptEnded = {
        let shared = shared.clone();
        Box::new(move || shared.ended())
    };
    let source = ScriptSource { inner: InProcess(run), setup: setup_measured, teardown, last: None, ended };
    let handle_summary = has("handleSummary");
    let (code, summary) = present_finished(
        &plan,
        &args.file,
        &args.report,
        source,
        outputs,
        metrics,
        ctx,
        live,
        Arc::from([]),
        !handle_summary,
    )
    .await?;
    watcher.abort();
    report_exceptions(&shared);
    if handle_summary {
        summarize(&sp, &summary, seed).await;
    }
    say_script_end(shared.ended());
    Ok(after_teardown(code, &teardown_failed))
}

/// The run's exit code once `teardown()` is over: its failure (said here)
/// replaces a code that says the load itself went well or only failed
/// thresholds.
fn after_teardown(code: i32, failed: &std::sync::Mutex<Option<HookError>>) -> i32 {
    match failed.lock().ok().and_then(|mut f| f.take()) {
        Some(e) => {
            let c = hook_failed("teardown", &e, false);
            if code == exit::OK || code == exit::THRESHOLDS_FAILED { c } else { code }
        }
        None => code,
    }
}

/// `teardown(data)`, to run when the load is over: what it measured; a
/// failure lands in `failed`. Not run when `init_failed()` says a VU's init
/// code threw during the run (k6 runs no teardown then either).
fn teardown_hook(
    sp: &stampede_script::ScriptPlan,
    seed: u64,
    data: Option<String>,
    failed: Arc<std::sync::Mutex<Option<HookError>>>,
    init_failed: impl FnOnce() -> bool + Send + 'static,
) -> HookFuture {
    let sp = sp.clone();
    let hooks = ScriptBody::new(&sp, &sp.env, seed, None);
    Box::pin(async move {
        if init_failed() {
            return stampede_metrics::Snapshot::default();
        }
        let timeout = sp.plan.teardown_timeout;
        match stampede_script::runtime::run_hook(&sp, &hooks, "teardown", data, timeout).await {
            Ok((_, measured)) => measured,
            Err(e) => {
                if let Ok(mut f) = failed.lock() {
                    *f = Some(e);
                }
                stampede_metrics::Snapshot::default()
            }
        }
    })
}

/// `teardown()`, run when the load is over, with what it measured.
type HookFuture = std::pin::Pin<Box<dyn std::future::Future<Output = stampede_metrics::Snapshot> + Send>>;

/// The run's intervals with what `setup()` measured merged into the first
/// and what `teardown()` measured as one more after the last: k6 counts
/// their requests and checks with the rest.
struct ScriptSource<S> {
    inner: S,
    setup: Option<stampede_metrics::Snapshot>,
    teardown: Option<HookFuture>,
    last: Option<(u64, Duration)>,
    /// How the script ended the test, if it did (read once the load is over).
    ended: ScriptEnded,
}

/// Reads how the script ended the test, if it did.
type ScriptEnded = Box<dyn Fn() -> Option<ScriptEnd> + Send>;

impl<S: stampede_controller::Source> stampede_controller::Source for ScriptSource<S> {
    async fn next_interval(&mut self) -> Option<stampede_engine::IntervalSnapshot> {
        match self.inner.next_interval().await {
            Some(mut s) => {
                if let Some(setup) = self.setup.take() {
                    s.snapshot.merge(&setup);
                }
                self.last = Some((s.index, s.start));
                Some(s)
            }
            None => {
                let teardown = self.teardown.take()?;
                let mut snapshot = teardown.await;
                if let Some(setup) = self.setup.take() {
                    snapshot.merge(&setup);
                }
                let (index, start) =
                    self.last.map_or((0, Duration::ZERO), |(i, s)| (i + 1, s + Duration::from_secs(1)));
                Some(stampede_engine::IntervalSnapshot { index, start, snapshot })
            }
        }
    }
    fn signaller(&self) -> tokio::sync::watch::Sender<Signal> {
        self.inner.signaller()
    }
    fn started(&self) -> std::time::Instant {
        self.inner.started()
    }
    fn abort_by_threshold(&mut self, threshold: &str) {
        self.inner.abort_by_threshold(threshold);
    }
    fn in_process(&self) -> bool {
        self.inner.in_process()
    }
    async fn finish(self) -> stampede_controller::SourceEnd {
        let mut end = self.inner.finish().await;
        end.outcome = (self.ended)().map(|e| match e {
            ScriptEnd::InitFailed(_) => stampede_controller::Outcome::ScriptError,
            ScriptEnd::Aborted(_) => stampede_controller::Outcome::AbortedByScript,
        });
        end
    }
}

/// k6's end-of-test data for `handleSummary(data)`: the common fields of
/// k6's shape (`metrics` with `type`, `contains`, `values` and
/// `thresholds`; `root_group` with the checks; `options`; `state`).
fn k6_summary_data(summary: &stampede_report::Summary, sp: &stampede_script::ScriptPlan) -> serde_json::Value {
    use serde_json::{Map, Value, json};
    use stampede_report::summary::{CustomValue, MetricSummary};
    let stats: Vec<String> = sp.options.summary_trend_stats.clone();
    let trend_values = |t: &stampede_metrics::TrendStats| -> Value {
        let mut v = Map::new();
        for s in &stats {
            let x = match s.as_str() {
                "avg" => t.mean,
                "min" => t.min,
                "med" => t.p50,
                "max" => t.max,
                "count" => t.count as f64,
                p if p.starts_with("p(") => {
                    let q: f64 = p.trim_start_matches("p(").trim_end_matches(')').parse().unwrap_or(0.0);
                    // Only these pass validation (summaryTrendStats).
                    match q {
                        50.0 => t.p50,
                        90.0 => t.p90,
                        95.0 => t.p95,
                        99.0 => t.p99,
                        99.9 => t.p999,
                        100.0 => t.max,
                        _ => continue,
                    }
                }
                _ => continue,
            };
            v.insert(s.clone(), json!(x));
        }
        Value::Object(v)
    };
    let mut metrics = Map::new();
    let time_metric = |name: &str| {
        name.starts_with("http_req_") && name != "http_req_failed"
            || matches!(name, "iteration_duration" | "group_duration")
    };
    for (name, m) in &summary.metrics {
        let (kind, values) = match m {
            MetricSummary::Trend { stats, .. } => ("trend", trend_values(stats)),
            MetricSummary::Rate { rate, trues, total } => {
                ("rate", json!({ "rate": rate, "passes": trues, "fails": total - trues }))
            }
            MetricSummary::Counter { count, rate } => ("counter", json!({ "count": count, "rate": rate })),
            MetricSummary::Gauge { value, max } => ("gauge", json!({ "value": value, "min": 0, "max": max })),
        };
        let contains = if time_metric(name) {
            "time"
        } else if matches!(name.as_str(), "data_sent" | "data_received") {
            "data"
        } else {
            "default"
        };
        metrics.insert(name.clone(), json!({ "type": kind, "contains": contains, "values": values }));
    }
    for (name, m) in &summary.custom_metrics {
        let (kind, contains, values) = match &m.value {
            CustomValue::Counter { count, rate } => ("counter", "default", json!({ "count": count, "rate": rate })),
            CustomValue::Gauge { value, min, max } => {
                ("gauge", "default", json!({ "value": value, "min": min, "max": max }))
            }
            CustomValue::Rate { rate, trues, total } => {
                ("rate", "default", json!({ "rate": rate, "passes": trues, "fails": total - trues }))
            }
            CustomValue::Trend { time, stats, .. } => {
                ("trend", if *time { "time" } else { "default" }, trend_values(stats))
            }
        };
        metrics.insert(name.clone(), json!({ "type": kind, "contains": contains, "values": values }));
    }
    for t in &summary.thresholds {
        let base = t.metric.split('{').next().unwrap_or(&t.metric).to_string();
        let entry =
            metrics.entry(base).or_insert_with(|| json!({ "type": "counter", "contains": "default", "values": {} }));
        if let Some(o) = entry.as_object_mut() {
            let th = o.entry("thresholds").or_insert_with(|| json!({}));
            if let Some(th) = th.as_object_mut() {
                th.insert(t.threshold.to_string(), json!({ "ok": t.passed }));
            }
        }
    }
    let checks: Vec<Value> = summary
        .checks
        .iter()
        .map(|c| json!({ "name": c.name, "path": format!("::{}", c.name), "id": "", "passes": c.passes, "fails": c.fails }))
        .collect();
    json!({
        "root_group": { "name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e", "groups": [], "checks": checks },
        "options": { "summaryTrendStats": stats, "summaryTimeUnit": "", "noColor": false },
        "state": {
            "isStdOutTTY": false,
            "isStdErrTTY": false,
            "testRunDurationMs": summary.run.duration_s * 1000.0,
        },
        "metrics": metrics,
    })
}

/// Writes what `handleSummary` returned: `stdout`, `stderr`, or a file path
/// each, with its text.
fn write_summary_outputs(json: &str, summary: &stampede_report::Summary) {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(json) else {
        eprintln!("warning: handleSummary() returned no object; the default summary follows");
        print!("{}", stampede_report::text::render(summary, false));
        return;
    };
    for (target, content) in map {
        let text = match content {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        match target.as_str() {
            "stdout" => print!("{text}"),
            "stderr" => eprint!("{text}"),
            path => {
                if let Err(e) = std::fs::write(path, text) {
                    eprintln!("error: handleSummary(): cannot write {path}: {e}");
                }
            }
        }
    }
}

/// Says why `setup()` or `teardown()` failed; its exit code.
fn hook_failed(name: &str, e: &HookError, before_load: bool) -> i32 {
    let after = if before_load { "; no load ran" } else { "" };
    match e {
        HookError::Timeout(d) => {
            eprintln!("error: {name}() ran longer than its timeout ({d:?}){after}");
            if before_load { exit::SETUP_TIMEOUT } else { exit::TEARDOWN_TIMEOUT }
        }
        HookError::Exception(text) => {
            eprintln!("error: {name}() threw: {text}{after}");
            exit::SCRIPT_EXCEPTION
        }
        HookError::Internal(text) => {
            eprintln!("error: {name}(): {text}{after}");
            exit::ERROR
        }
    }
}

/// Exceptions thrown by iterations, by location (each printed when it was
/// first thrown; this is the count).
fn report_exceptions(shared: &stampede_script::runtime::Shared) {
    let all = shared.exceptions().into_iter().map(|(l, e)| (l, (e.count, e.first))).collect();
    print_exceptions(&all, shared.console_dropped());
}

/// Iteration exceptions by location (count, first text), and console lines
/// not printed; for in-process and distributed runs alike.
fn print_exceptions(all: &std::collections::BTreeMap<String, (u64, String)>, console_dropped: u64) {
    if !all.is_empty() {
        let total: u64 = all.values().map(|e| e.0).sum();
        eprintln!("script exceptions: {total} iteration(s) ended by an exception (each VU went on):");
        for (location, (count, first)) in all {
            eprintln!("  {count:>8} × {location}: {first}");
        }
    }
    if console_dropped > 0 {
        eprintln!("console: {console_dropped} line(s) not printed (over {} per second)", 50);
    }
}

/// Says why the run ended early when the script ended it (the exit code,
/// 107 or 108, is the run's outcome's).
fn say_script_end(end: Option<ScriptEnd>) {
    if let Some(ScriptEnd::Aborted(reason)) = end {
        eprintln!(
            "test aborted by the script{}",
            if reason.is_empty() { String::new() } else { format!(": {reason}") }
        );
    }
}

/// The script's files for agents (no shared disk): the main module's text,
/// and every other module and every file its init code opened, by path
/// relative to the main module's directory.
fn agent_payload(sp: &stampede_script::ScriptPlan) -> crate::run::AgentPayload {
    let main = sp.bundle.main();
    let abs =
        |p: &Path| stampede_script::transform::normalize(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    let parent = main.path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let base = abs(parent);
    let relative =
        |p: &Path| -> String { stampede_script::transform::relative_to(&base, &abs(p)).display().to_string() };
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    for m in &sp.bundle.modules[..sp.bundle.modules.len() - 1] {
        files.push((relative(&m.path), m.source.as_bytes().to_vec()));
    }
    for f in &sp.files {
        let rel = relative(&f.path);
        if !files.iter().any(|(p, _)| *p == rel) {
            files.push((rel, f.bytes.to_vec()));
        }
    }
    crate::run::AgentPayload {
        text: main.source.to_string(),
        name: main.path.file_name().map_or_else(|| "script.js".into(), |n| n.to_string_lossy().into_owned()),
        files,
    }
}

/// Where a script run without `--agents` goes: `None`, this process, when
/// one process can hold its connections; otherwise the placement a scenario
/// file would get.
fn placed_agents(plan: &stampede_scenario::Plan) -> Result<Option<crate::placement::Placement>, String> {
    let limits = crate::placement::Limits::here();
    match crate::placement::place(plan, Some(0), limits) {
        Ok(_) => Ok(None),
        Err(_) => crate::placement::place(plan, None, limits).map(Some),
    }
}

/// `stampede run FILE.js --agents N`: N local agent processes, each
/// running its segment of the script; `setup()` once, here.
async fn run_local_cluster(args: &RunArgs, sp: Arc<stampede_script::ScriptPlan>, agents: u32) -> anyhow::Result<i32> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the local coordinator")?;
    let addr = listener.local_addr()?;
    let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let token_file = crate::run::tempfile_with(&token)?;
    let workers = args.workers.unwrap_or_else(crate::run::cores).max(1);
    let per_agent = (workers / agents).max(1);
    let cluster = ClusterArgs {
        listener,
        tls: None,
        token: Some(token),
        agents: agents as usize,
        agent_timeout: Duration::from_secs(30),
        policy: LossPolicy::Continue,
        announce: false,
    };
    let mut children = Vec::new();
    let spawn = |addr: std::net::SocketAddr| -> anyhow::Result<()> {
        for i in 0..agents {
            children.push(crate::run::spawn_local_agent(&addr, token_file.path(), i, per_agent)?);
        }
        Ok(())
    };
    let code = run_cluster(&args.file, &args.report, &args.overrides, sp, cluster, spawn, addr).await;
    drop(token_file);
    for mut c in children {
        if tokio::time::timeout(Duration::from_secs(5), c.wait()).await.is_err() {
            let _ = c.kill().await;
        }
    }
    code
}

/// `stampede coordinator FILE.js`: agents on other hosts run the script;
/// the script and its files travel with the assignment; `setup()` once, here.
pub async fn coordinate(args: &CoordinatorArgs) -> anyhow::Result<i32> {
    let sp = match load(&args.file, &args.overrides) {
        Ok(sp) => Arc::new(sp),
        Err(code) => return Ok(code),
    };
    let crate::run::CoordinatorFlags { token, tls, listener, policy } =
        match crate::run::coordinator_flags(args).await? {
            Ok(f) => f,
            Err(code) => return Ok(code),
        };
    let addr = listener.local_addr()?;
    let cluster = ClusterArgs {
        listener,
        tls,
        token,
        agents: args.agents,
        agent_timeout: args.agent_timeout,
        policy,
        announce: true,
    };
    run_cluster(&args.file, &args.report, &args.overrides, sp, cluster, |_| Ok(()), addr).await
}

struct ClusterArgs {
    listener: tokio::net::TcpListener,
    tls: Option<tonic::transport::ServerTlsConfig>,
    token: Option<String>,
    agents: usize,
    agent_timeout: Duration,
    policy: LossPolicy,
    /// Say where the coordinator listens (agents on other hosts).
    announce: bool,
}

/// A coordinator for a script: agents attach and compile the script they
/// are sent; `setup()` runs here while they do, its result goes to every
/// agent; the run's intervals merge as for scenario files; `teardown()` and
/// `handleSummary()` run here after the load.
async fn run_cluster(
    file: &Path,
    report: &crate::cli::ReportArgs,
    overrides: &OverrideArgs,
    sp: Arc<stampede_script::ScriptPlan>,
    cluster: ClusterArgs,
    spawn: impl FnOnce(std::net::SocketAddr) -> anyhow::Result<()>,
    addr: std::net::SocketAddr,
) -> anyhow::Result<i32> {
    let plan = sp.plan.clone();
    let (outputs, ctx) = open_outputs(report, file, &plan)?;
    let metrics = match &report.metrics_listen {
        Some(a) => Some(bind_flag("--metrics-listen", a).await?),
        None => None,
    };
    let live = live_state(&plan, file, plan.planned_duration(), plan.peak_vus(), ctx.interval).shared();
    let seed = report.seed.unwrap_or_else(|| fastrand::u64(..));
    let cfg = crate::run::coordinator_config_with(
        report.headless,
        agent_payload(&sp),
        overrides,
        cluster.agents,
        cluster.token,
        seed,
        cluster.agent_timeout,
        cluster.policy,
    );
    let has_tls = cluster.tls.is_some();
    let mut coord = Coordinator::serve(cfg, cluster.listener, cluster.tls, live.clone())?;
    if cluster.announce {
        eprintln!(
            "coordinator listening on {}{}; waiting for {} agent(s) (up to {:?})",
            coord.local_addr,
            if has_tls { " (TLS)" } else { "" },
            cluster.agents,
            cluster.agent_timeout
        );
    }
    spawn(addr)?;
    let has = |name: &str| sp.functions().any(|f| f == name);
    let hooks = ScriptBody::new(&sp, &sp.env, seed, None);
    // setup(), once for the whole test, while the agents attach.
    let setup = async {
        if !has("setup") {
            return Ok((None, None));
        }
        match stampede_script::runtime::run_hook(&sp, &hooks, "setup", None, plan.setup_timeout).await {
            Ok((data, measured)) => Ok((data, Some(measured))),
            Err(e) => Err(hook_failed("setup", &e, true)),
        }
    };
    let signaller = coord.signaller();
    let stop_watch = tokio::spawn(async move {
        if crate::present::wait_for_stop_signal().await {
            let _ = signaller.send(Signal::Stop);
        }
    });
    let started = coord.wait_for_agents_while(setup).await;
    let (setup_json, setup_measured) = match started {
        Ok(Ok(x)) => x,
        Ok(Err(code)) => {
            stop_watch.abort();
            coord.cancel_before_start("setup() failed");
            coord.shutdown().await;
            return Ok(code);
        }
        Err(e) => {
            stop_watch.abort();
            return Ok(cluster_error(coord, e).await);
        }
    };
    let mut values = std::collections::HashMap::new();
    if let Some(json) = &setup_json {
        values.insert(stampede_agent::K6_SETUP_KEY.to_string(), json.clone());
    }
    let begun = match coord.set_setup_values(values) {
        Ok(()) => coord.start(&plan).await,
        Err(e) => Err(e),
    };
    stop_watch.abort();
    if let Err(e) = begun {
        return Ok(cluster_error(coord, e).await);
    }
    let teardown_failed: Arc<std::sync::Mutex<Option<HookError>>> = Arc::default();
    // What the agents' scripts did (exceptions, aborts, init failures).
    let outcomes = coord.script_outcomes();
    let outcome = {
        let o = outcomes.clone();
        move || o.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    };
    let teardown = has("teardown").then(|| {
        let outcome = outcome.clone();
        teardown_hook(&sp, seed, setup_json.clone(), teardown_failed.clone(), move || outcome().init_failure.is_some())
    });
    let ended: ScriptEnded = {
        let outcome = outcome.clone();
        Box::new(move || {
            let o = outcome();
            ScriptEnd::of(o.init_failure, o.aborted)
        })
    };
    let source = ScriptSource { inner: Cluster(Box::new(coord)), setup: setup_measured, teardown, last: None, ended };
    let handle_summary = has("handleSummary");
    let (code, summary) =
        present_finished(&plan, file, report, source, outputs, metrics, ctx, live, Arc::from([]), !handle_summary)
            .await?;
    let o = outcome();
    // Agents name locations relative to the main module's directory.
    let dir = sp.bundle.main().path.parent().map(Path::to_path_buf).unwrap_or_default();
    let exceptions = o
        .exceptions
        .iter()
        .map(|(l, e)| (stampede_script::transform::normalize(&dir.join(l)).display().to_string(), e.clone()))
        .collect();
    print_exceptions(&exceptions, o.console_dropped);
    if let Some(e) = &o.init_failure {
        eprintln!("error: a VU's init code threw on an agent: {e}");
    }
    if handle_summary {
        summarize(&sp, &summary, seed).await;
    }
    say_script_end(ScriptEnd::of(o.init_failure, o.aborted));
    Ok(after_teardown(code, &teardown_failed))
}

/// The exit code of a coordinator that could not start the load.
async fn cluster_error(coord: Coordinator, e: CoordinatorError) -> i32 {
    let code = crate::run::start_error_code(&e);
    if code == exit::INTERRUPTED {
        eprintln!("{e}");
    } else {
        eprintln!("error: {e}");
    }
    coord.shutdown().await;
    code
}

/// Runs `handleSummary(data)` and writes what it returns (the default
/// summary when it fails).
async fn summarize(sp: &stampede_script::ScriptPlan, summary: &stampede_report::Summary, seed: u64) {
    let data = k6_summary_data(summary, sp);
    let hooks = ScriptBody::new(sp, &sp.env, seed, None);
    let ran = stampede_script::runtime::run_hook(
        sp,
        &hooks,
        "handleSummary",
        Some(data.to_string()),
        Duration::from_secs(60),
    )
    .await;
    match ran {
        Ok((Some(json), _)) => write_summary_outputs(&json, summary),
        Ok((None, _)) => {}
        Err(e) => {
            eprintln!("error: handleSummary() failed: {e}; the default summary follows");
            print!("{}", stampede_report::text::render(summary, false));
        }
    }
}
