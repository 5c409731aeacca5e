//! One attachment to a coordinator: hello → assign → ready → start →
//! snapshots → done, with heartbeats both ways and a watchdog that stops the
//! load when the coordinator falls silent.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_engine::schedule::ProcessSpan;
use stampede_engine::{IntervalSnapshot, Run, RunOptions, Signal};
use stampede_proto::v1::coordinator_client::CoordinatorClient;
use stampede_proto::v1::{self, agent_message, coordinator_message};
use stampede_scenario::Plan;
use stampede_script::runtime::ScriptEnd;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

use crate::{AgentConfig, AgentError, LocalRecord};

/// Silence from the coordinator after which the load stops. The coordinator
/// sends a heartbeat every 500 ms, so this is five missed in a row; checked
/// every [`WATCHDOG`], the load stops within 2.75 s of the coordinator's last
/// word (the promise: within 3 s of losing it).
const COORDINATOR_SILENCE: Duration = Duration::from_millis(2500);
const WATCHDOG: Duration = Duration::from_millis(250);
/// The same before the load starts, where nothing is at stake but the slot:
/// longer, because a large assignment (data files) arrives as one message and
/// holds back the heartbeats queued behind it; the connection's HTTP/2
/// keepalive still notices a dead coordinator within seconds.
const COORDINATOR_SILENCE_BEFORE_START: Duration = Duration::from_secs(10);
const HEARTBEAT: Duration = Duration::from_secs(1);
/// A send the coordinator does not take within this long means it is stuck.
const SEND_TIMEOUT: Duration = Duration::from_secs(3);

/// How a session ended without an error.
#[derive(Debug)]
pub enum SessionEnd {
    /// A run completed (or the coordinator ended it) and the agent said done.
    Finished,
    /// The coordinator could not be reached, or did not take this agent yet
    /// (all its slots are taken); try again later.
    Unreachable(String),
    /// The connection ended before the load started (the coordinator
    /// restarted, dropped this agent, or fell silent): nothing ran, so the
    /// agent reconnects, even with `--once`, and is re-admitted.
    Dropped(String),
}

pub(crate) fn endpoint(cfg: &AgentConfig) -> Result<Endpoint, AgentError> {
    let bad = |why: String| AgentError::BadAddress(cfg.coordinator.clone(), why);
    let uri: http::Uri = cfg.coordinator.parse().map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(bad("use http://HOST:PORT or https://HOST:PORT".into())),
    }
    let mut ep = Endpoint::from_shared(cfg.coordinator.clone())
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(1))
        .keep_alive_timeout(Duration::from_secs(3));
    if uri.scheme_str() == Some("https") {
        let mut tls = ClientTlsConfig::new().domain_name(uri.host().unwrap_or_default().to_string());
        if let Some(ca) = &cfg.tls_ca {
            tls = tls.ca_certificate(Certificate::from_pem(ca));
        }
        ep = ep.tls_config(tls).map_err(|e| bad(e.to_string()))?;
    }
    Ok(ep)
}

fn msg(m: agent_message::Msg) -> v1::AgentMessage {
    v1::AgentMessage { msg: Some(m) }
}

/// CPU seconds used by this process so far (user + system).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // Linux reports clock ticks of USER_HZ, 100 on every mainstream kernel.
    Some((utime + stime) / 100.0)
}

struct Assigned {
    plan: Arc<Plan>,
    assign: v1::Assign,
    /// The coordinator's setup values, by variable slot.
    setup_values: stampede_engine::SetupValues,
    /// A k6 script's body, when the assignment is a script.
    script: Option<AgentScript>,
}

/// A k6 script as this agent runs it: its body for the engine, and what it
/// shares across workers (aborts, init failures, exceptions).
#[derive(Clone)]
struct AgentScript {
    body: stampede_engine::Body,
    shared: Arc<stampede_script::runtime::Shared>,
    /// The main module's directory here (exception locations are sent
    /// relative to it).
    root: std::path::PathBuf,
}

/// `PATH:LINE:COL` with PATH made relative to `root` (`..` where needed).
fn relative_location(root: &Path, location: &str) -> String {
    let mut parts = location.rsplitn(3, ':');
    let (Some(col), Some(line), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
        return location.to_string();
    };
    let rel = stampede_script::transform::relative_to(root, Path::new(path));
    format!("{}:{line}:{col}", rel.display())
}

/// What the script did besides measuring, for the coordinator: locations
/// relative to the main module's directory, as the coordinator's files are.
fn script_outcome(script: &AgentScript) -> v1::ScriptOutcome {
    let shared = &script.shared;
    let aborted = shared.aborted();
    v1::ScriptOutcome {
        exceptions: shared
            .exceptions()
            .into_iter()
            .map(|(location, e)| v1::ScriptExceptions {
                location: relative_location(&script.root, &location),
                count: e.count,
                first: e.first,
            })
            .collect(),
        aborted: aborted.is_some(),
        abort_reason: aborted.unwrap_or_default(),
        init_failure: shared.fatal().unwrap_or_default(),
        console_dropped: shared.console_dropped(),
    }
}

pub(crate) async fn attach(cfg: &AgentConfig, endpoint: Endpoint) -> Result<SessionEnd, AgentError> {
    let channel = match endpoint.connect().await {
        Ok(c) => c,
        Err(e) => return Ok(SessionEnd::Unreachable(describe(&e))),
    };
    let mut client = CoordinatorClient::new(channel)
        .max_decoding_message_size(stampede_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(stampede_proto::MAX_MESSAGE_BYTES);
    let (tx, rx) = mpsc::channel::<v1::AgentMessage>(64);
    let hello = v1::Hello {
        protocol_version: stampede_proto::PROTOCOL_VERSION,
        agent_version: env!("CARGO_PKG_VERSION").into(),
        name: cfg.name.clone(),
        cores: cfg.workers.max(1),
        max_vus: cfg.max_vus,
        labels: cfg.labels.iter().cloned().collect(),
    };
    let _ = tx.send(msg(agent_message::Msg::Hello(hello))).await;
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    if let Some(t) = &cfg.token {
        let value = format!("Bearer {t}")
            .parse()
            .map_err(|_| AgentError::Refused("the token has characters a header cannot carry".into()))?;
        req.metadata_mut().insert("authorization", value);
    }
    let mut inbound = match client.attach(req).await {
        Ok(r) => r.into_inner(),
        Err(status) => return refusal_or_unreachable(status),
    };

    let started = Instant::now();
    let mut assigned: Option<Assigned> = None;
    let mut run: Option<Run> = None;
    let mut finished = false;
    // How this run ends, for the agent's own outputs: what the coordinator's
    // Stop says, else a completed run.
    let mut outcome: &'static str = "completed";
    let mut requests = 0u64;
    let mut last_heard = Instant::now();
    let mut echo_ms = 0u64;
    // When the load started, wall clock, µs (sent with each snapshot).
    let mut started_at_us = 0u64;
    let mut cpu_mark = (Instant::now(), cpu_seconds().unwrap_or(0.0));
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A running script that aborts the test or whose init code fails says
    // so at once (the coordinator stops every agent); checked this often.
    let mut watchdog = tokio::time::interval(WATCHDOG);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut script_watch = tokio::time::interval(Duration::from_millis(50));
    script_watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut script_stop_sent = false;

    let send = |tx: mpsc::Sender<v1::AgentMessage>, m: v1::AgentMessage| async move {
        match tokio::time::timeout(SEND_TIMEOUT, tx.send(m)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(AgentError::CoordinatorLost("the coordinator stopped reading".into())),
        }
    };
    // The load stops now; the agent's own outputs end with what they have.
    let abort = |run: &Option<Run>| {
        if let Some(r) = run {
            r.signal(Signal::Abort);
            if let Some(rec) = &cfg.local_record {
                let _ = rec.send(LocalRecord::Finished { outcome: "aborted" });
            }
        }
    };

    loop {
        tokio::select! {
            m = inbound.message() => {
                let m = match m {
                    Ok(Some(m)) => m,
                    Ok(None) => {
                        abort(&run);
                        return if finished {
                            Ok(SessionEnd::Finished)
                        } else if run.is_none() {
                            Ok(SessionEnd::Dropped("the coordinator closed the stream before the start".into()))
                        } else {
                            Err(AgentError::CoordinatorLost("the coordinator closed the stream".into()))
                        };
                    }
                    Err(status) => {
                        abort(&run);
                        if finished {
                            return Ok(SessionEnd::Finished);
                        }
                        return match refusal_or_unreachable(status) {
                            Err(e) => Err(e),
                            Ok(SessionEnd::Unreachable(why) | SessionEnd::Dropped(why)) if run.is_none() => Ok(SessionEnd::Dropped(why)),
                            Ok(SessionEnd::Unreachable(why) | SessionEnd::Dropped(why)) => Err(AgentError::CoordinatorLost(why)),
                            Ok(SessionEnd::Finished) => Err(AgentError::CoordinatorLost("the stream ended".into())),
                        };
                    }
                };
                last_heard = Instant::now();
                match m.msg {
                    Some(coordinator_message::Msg::Assign(_)) if run.is_some() => {
                        // The coordinator assigns only before the start; a
                        // running segment is never swapped under the load.
                    }
                    Some(coordinator_message::Msg::Assign(a)) => {
                        // A second Assign before the start replaces the first
                        // (the set of agents changed): answered like the first.
                        // Compiling reads every data file: off this task, with
                        // heartbeats going out meanwhile (the coordinator drops
                        // an agent silent for 5 s before the start).
                        let job = {
                            let cfg = cfg.clone();
                            tokio::task::spawn_blocking(move || {
                                let compiled = check_segment(&cfg, &a).and_then(|()| compile(&cfg, &a)).and_then(
                                    |(plan, script)| {
                                        let values = if script.is_some() { Arc::from([]) } else { setup_values(&plan, &a)? };
                                        Ok(((values, script), plan))
                                    },
                                );
                                (a, compiled)
                            })
                        };
                        tokio::pin!(job);
                        let (a, compiled) = loop {
                            tokio::select! {
                                done = &mut job => break done.map_err(|e| AgentError::Refused(format!("compiling the plan failed: {e}")))?,
                                _ = heartbeat.tick() => {
                                    let hb = v1::Heartbeat { sent_ms: started.elapsed().as_millis() as u64, echo_ms, cpu_percent: 0.0 };
                                    let _ = tx.try_send(msg(agent_message::Msg::Heartbeat(hb)));
                                }
                            }
                        };
                        match compiled {
                            Ok(((setup_values, script), plan)) => {
                                let planned = span(&a).peak_vus(&plan);
                                let connections = span(&a).peak_connections(&plan);
                                let refusal = if cfg.max_vus > 0 && planned > cfg.max_vus {
                                    Some(format!("agent {} accepts at most {} VUs (--max-vus) but its share of the plan needs {planned}", cfg.name, cfg.max_vus))
                                } else if cfg.max_connections > 0 && connections > cfg.max_connections {
                                    Some(format!("agent {} may open {} connections (its open-files limit, less a reserve) but its share of the plan needs {connections}: {planned} VUs, each with a connection per origin its flows reach; use more agents or raise the limit", cfg.name, cfg.max_connections))
                                } else {
                                    None
                                };
                                if let Some(reason) = refusal {
                                    let _ = send(tx.clone(), msg(agent_message::Msg::Refusal(v1::Refusal { reason: reason.clone() }))).await;
                                    let _ = tokio::time::timeout(Duration::from_secs(2), inbound.message()).await;
                                    return Err(AgentError::Refused(reason));
                                }
                                if !cfg.quiet { eprintln!("agent {}: assigned {} ({} scenario(s), workers {}..{} of {}, up to {planned} VUs)", cfg.name, a.scenario_name, plan.scenarios.len(), a.first_worker, a.first_worker + a.workers, a.total_workers); }
                                send(tx.clone(), msg(agent_message::Msg::Ready(v1::Ready { planned_vus: planned }))).await?;
                                assigned = Some(Assigned { plan: Arc::new(plan), assign: a, setup_values, script });
                            }
                            Err(reason) => {
                                eprintln!("agent {}: refusing the plan: {reason}", cfg.name);
                                let _ = send(tx.clone(), msg(agent_message::Msg::Refusal(v1::Refusal { reason: reason.clone() }))).await;
                                // Let the refusal reach the coordinator before the stream closes.
                                let _ = tokio::time::timeout(Duration::from_secs(2), inbound.message()).await;
                                return Err(AgentError::Refused(reason));
                            }
                        }
                    }
                    Some(coordinator_message::Msg::Start(s)) => {
                        let Some(a) = &assigned else { continue };
                        if run.is_some() {
                            continue;
                        }
                        let opts = RunOptions {
                            workers: a.assign.workers.max(1),
                            first_worker: a.assign.first_worker,
                            total_workers: a.assign.total_workers.max(1),
                            interval: Duration::from_millis(a.assign.interval_ms.max(100)),
                            seed: a.assign.seed,
                            start_at: std::time::Instant::now() + Duration::from_millis(s.delay_ms.min(10_000)),
                            allow: Some(Arc::new(cfg.allow.clone())),
                            setup_values: a.setup_values.clone(),
                            body: a.script.as_ref().map(|s| s.body.clone()),
                        };
                        let start_delay = opts.start_at.saturating_duration_since(std::time::Instant::now());
                        started_at_us = (std::time::SystemTime::now() + start_delay)
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_micros() as u64;
                        match Run::start(a.plan.clone(), opts) {
                            Ok(r) => {
                                if let Some(script) = &a.script {
                                    // exec.test.abort() stops every worker of this agent.
                                    let _ = script.shared.stopper.set(r.signaller());
                                }
                                run = Some(r);
                                if let Some(rec) = &cfg.local_record {
                                    let wall = std::time::SystemTime::now() + start_delay;
                                    let _ = rec.send(LocalRecord::Started {
                                        scenario: a.assign.scenario_name.clone(),
                                        interval: Duration::from_millis(a.assign.interval_ms.max(100)),
                                        started_at_ms: wall.duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64,
                                        planned: a.plan.planned_duration(),
                                    });
                                }
                            }
                            Err(e) => {
                                let reason = format!("agent {} cannot start its workers: {e}", cfg.name);
                                let _ = send(tx.clone(), msg(agent_message::Msg::Refusal(v1::Refusal { reason: reason.clone() }))).await;
                                return Err(AgentError::Refused(reason));
                            }
                        }
                    }
                    Some(coordinator_message::Msg::Stop(s)) => {
                        outcome = match s.outcome.as_str() {
                            "interrupted" => "interrupted",
                            "aborted_by_threshold" => "aborted_by_threshold",
                            _ => outcome,
                        };
                        match &run {
                            Some(r) => r.signal(if s.hard { Signal::Abort } else { Signal::Stop }),
                            None => {
                                let _ = send(tx.clone(), msg(agent_message::Msg::Done(v1::Done { requests }))).await;
                                return Ok(SessionEnd::Finished);
                            }
                        }
                    }
                    Some(coordinator_message::Msg::Control(c)) => {
                        if let Some(r) = &run {
                            r.signal(if c.paused { Signal::Pause } else { Signal::Run });
                        }
                    }
                    Some(coordinator_message::Msg::Heartbeat(h)) => echo_ms = h.sent_ms,
                    Some(coordinator_message::Msg::Refusal(r)) => {
                        abort(&run);
                        return Err(AgentError::Refused(r.reason));
                    }
                    None => {}
                }
            }
            iv = next(&mut run), if !finished => {
                match iv {
                    Some(iv) => {
                        if let Some(rec) = &cfg.local_record {
                            let _ = rec.send(LocalRecord::Interval(iv.clone()));
                        }
                        let IntervalSnapshot { index, snapshot, .. } = iv;
                        requests += snapshot.total_requests();
                        let mut wire = stampede_proto::convert::to_wire(index, false, &snapshot);
                        wire.started_at_us = started_at_us;
                        if let Err(e) = send(tx.clone(), msg(agent_message::Msg::Snapshot(wire))).await {
                            abort(&run);
                            return Err(e);
                        }
                    }
                    None => {
                        if let Some(r) = run.take() {
                            r.join();
                        }
                        finished = true;
                        if let Some(rec) = &cfg.local_record {
                            let _ = rec.send(LocalRecord::Finished { outcome });
                        }
                        let script = assigned.as_ref().and_then(|a| a.script.as_ref()).map(script_outcome);
                        let last = v1::Snapshot { index: u64::MAX, r#final: true, script, ..Default::default() };
                        send(tx.clone(), msg(agent_message::Msg::Snapshot(last))).await?;
                        send(tx.clone(), msg(agent_message::Msg::Done(v1::Done { requests }))).await?;
                        if !cfg.quiet {
                            eprintln!("agent {}: run done, {requests} requests", cfg.name);
                        }
                        if cfg.once {
                            // Give the stream a moment to deliver, then leave.
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            return Ok(SessionEnd::Finished);
                        }
                    }
                }
            }
            _ = script_watch.tick(), if run.is_some() && !script_stop_sent => {
                let Some(shared) = assigned.as_ref().and_then(|a| a.script.as_ref()).map(|s| s.shared.clone()) else {
                    script_stop_sent = true;
                    continue;
                };
                let stop = shared.ended().map(|end| match end {
                    ScriptEnd::InitFailed(reason) => v1::ScriptStop { reason, init_failed: true },
                    ScriptEnd::Aborted(reason) => v1::ScriptStop { reason, init_failed: false },
                });
                if let Some(stop) = stop {
                    script_stop_sent = true;
                    // Stops this agent's workers now (an abort already has).
                    if let Some(r) = &run {
                        r.signal(Signal::Abort);
                    }
                    let _ = send(tx.clone(), msg(agent_message::Msg::ScriptStop(stop))).await;
                }
            }
            _ = watchdog.tick(), if run.is_some() => {
                if last_heard.elapsed() > COORDINATOR_SILENCE {
                    abort(&run);
                    return Err(AgentError::CoordinatorLost(format!("no word from the coordinator for {:?}", COORDINATOR_SILENCE)));
                }
            }
            _ = heartbeat.tick() => {
                if run.is_none() && !finished && last_heard.elapsed() > COORDINATOR_SILENCE_BEFORE_START {
                    return Ok(SessionEnd::Dropped(format!("no word from the coordinator for {COORDINATOR_SILENCE_BEFORE_START:?} before the start")));
                }
                let now = Instant::now();
                let cpu = cpu_seconds().unwrap_or(cpu_mark.1);
                let pct = (cpu - cpu_mark.1) / now.duration_since(cpu_mark.0).as_secs_f64().max(1e-3) * 100.0;
                cpu_mark = (now, cpu);
                let hb = v1::Heartbeat { sent_ms: started.elapsed().as_millis() as u64, echo_ms, cpu_percent: pct };
                if tx.try_send(msg(agent_message::Msg::Heartbeat(hb))).is_err() && tx.is_closed() {
                    abort(&run);
                    return Err(AgentError::CoordinatorLost("the stream to the coordinator closed".into()));
                }
            }
        }
    }
}

async fn next(run: &mut Option<Run>) -> Option<IntervalSnapshot> {
    match run {
        Some(r) => r.next_interval().await,
        None => std::future::pending().await,
    }
}

fn describe(e: &tonic::transport::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(x) = src {
        s = format!("{s}: {x}");
        src = x.source();
    }
    s
}

fn refusal_or_unreachable(status: tonic::Status) -> Result<SessionEnd, AgentError> {
    use tonic::Code;
    match status.code() {
        Code::Unauthenticated
        | Code::PermissionDenied
        | Code::FailedPrecondition
        | Code::InvalidArgument
        | Code::ResourceExhausted => Err(AgentError::Refused(status.message().to_string())),
        _ => Ok(SessionEnd::Unreachable(status.message().to_string())),
    }
}

/// Compiles the assigned plan from the TOML and data files it came with,
/// or a k6 script from its modules and files (with its body).
fn compile(cfg: &AgentConfig, a: &v1::Assign) -> Result<(Plan, Option<AgentScript>), String> {
    let overrides =
        stampede_proto::convert::overrides_from_wire(&a.overrides.clone().unwrap_or_default(), &a.data_files);
    if stampede_script::is_script(Path::new(&a.scenario_name)) {
        return compile_script(cfg, a, &overrides);
    }
    let plan = stampede_scenario::parse_str(&a.scenario_toml, Path::new(&a.scenario_name), &overrides)
        .map_err(|e| e.to_string())?;
    cfg.allow.check(&plan)?;
    Ok((plan, None))
}

/// The setup value that carries a k6 script's `setup()` result (JSON).
pub const K6_SETUP_KEY: &str = "__k6_setup";

/// A k6 script sent by the coordinator: its main module is the assignment's
/// text, its other modules and opened files the data files, by path relative
/// to the main module's directory (`..` allowed, kept inside a private
/// directory). Loaded as `stampede run` loads it; the coordinator ran
/// `setup()` and sent its result.
fn compile_script(
    cfg: &AgentConfig,
    a: &v1::Assign,
    overrides: &stampede_scenario::Overrides,
) -> Result<(Plan, Option<AgentScript>), String> {
    let dir = tempfile::tempdir().map_err(|e| format!("a directory for the script: {e}"))?;
    let name = Path::new(&a.scenario_name)
        .file_name()
        .map_or_else(|| std::path::PathBuf::from("script.js"), std::path::PathBuf::from);
    // Deep enough that every `..` of a file's path stays inside `dir`.
    let ups = a
        .data_files
        .iter()
        .map(|f| Path::new(&f.path).components().filter(|c| matches!(c, std::path::Component::ParentDir)).count())
        .max()
        .unwrap_or(0);
    let mut main_dir = dir.path().to_path_buf();
    for i in 0..ups {
        main_dir.push(format!("d{i}"));
    }
    let write = |rel: &Path, bytes: &[u8]| -> Result<(), String> {
        if rel.is_absolute() || rel.as_os_str().is_empty() {
            return Err(format!("the coordinator sent a script file with an unusable path {}", rel.display()));
        }
        let full = stampede_script::transform::normalize(&main_dir.join(rel));
        if !full.starts_with(dir.path()) {
            return Err(format!("the coordinator sent a script file outside the script's tree: {}", rel.display()));
        }
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&full, bytes).map_err(|e| format!("{}: {e}", rel.display()))
    };
    write(&name, a.scenario_toml.as_bytes())?;
    for f in &a.data_files {
        write(Path::new(&f.path), &f.content)?;
    }
    let sp = stampede_script::load(&main_dir.join(&name), overrides).map_err(|e| e.to_string())?;
    cfg.allow.check(&sp.plan)?;
    let setup_json = a.setup_values.get(K6_SETUP_KEY).cloned();
    let body = stampede_script::runtime::ScriptBody::new(&sp, &sp.env, a.seed, setup_json);
    let shared = body.shared.clone();
    let plan = (*sp.plan).clone();
    let root = stampede_script::transform::normalize(&main_dir);
    Ok((plan, Some(AgentScript { body: stampede_engine::Body(Arc::new(body)), shared, root })))
}

/// The assignment's setup values, placed in the plan's variable slots. Only
/// variables the plan's `[setup]` extracts may be set: anything else would
/// write a VU's own variable, so the assignment is refused.
fn setup_values(plan: &Plan, a: &v1::Assign) -> Result<stampede_engine::SetupValues, String> {
    if a.setup_values.is_empty() {
        return Ok(Arc::from([]));
    }
    let mut values = vec![None; plan.var_slots];
    for (name, value) in &a.setup_values {
        let slot =
            plan.setup_vars.iter().copied().find(|&s| &*plan.var_names[s] == name.as_str()).ok_or_else(|| {
                format!("the coordinator sent a setup value `{name}` that this plan's [setup] does not extract")
            })?;
        values[slot] = Some(value.clone());
    }
    Ok(values.into())
}

/// Refuses a segment this agent cannot run as told: more workers than it
/// offered (threads are its capacity) or a range outside the whole.
fn check_segment(cfg: &AgentConfig, a: &v1::Assign) -> Result<(), String> {
    let offered = cfg.workers.max(1);
    if a.workers == 0 || a.workers > offered {
        return Err(format!(
            "the coordinator assigned {} worker(s), but agent {} offered {offered} (--workers)",
            a.workers, cfg.name
        ));
    }
    match a.first_worker.checked_add(a.workers) {
        Some(end) if end <= a.total_workers => {}
        _ => {
            return Err(format!(
                "the assigned segment (workers {}+{} of {}) lies outside the whole: the coordinator speaks another dialect",
                a.first_worker, a.workers, a.total_workers
            ));
        }
    }
    // The engine adds intervals to instants: an absurd one would overflow.
    if a.interval_ms > MAX_INTERVAL_MS {
        return Err(format!("the assigned snapshot interval is {} ms; an agent accepts at most 1 hour", a.interval_ms));
    }
    Ok(())
}

/// The longest snapshot interval an agent accepts (one hour).
const MAX_INTERVAL_MS: u64 = 3_600_000;

/// The workers an assignment gives this agent.
fn span(a: &v1::Assign) -> ProcessSpan {
    ProcessSpan { first: a.first_worker, count: a.workers, total: a.total_workers }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(workers: u32) -> AgentConfig {
        AgentConfig {
            coordinator: "http://127.0.0.1:1".into(),
            token: None,
            name: "a".into(),
            max_vus: 0,
            max_connections: 0,
            allow: crate::allow::AllowList::new(&[]),
            workers,
            once: true,
            tls_ca: None,
            labels: Vec::new(),
            quiet: true,
            local_record: None,
        }
    }

    /// What a coordinator assigns is checked before it drives threads or
    /// arithmetic: more workers than offered, a segment past the whole (its
    /// end would overflow u32), an interval the engine cannot add.
    #[test]
    fn a_segment_the_agent_cannot_run_as_told_is_refused() {
        let ok = v1::Assign { first_worker: 2, workers: 2, total_workers: 4, interval_ms: 1000, ..Default::default() };
        assert_eq!(check_segment(&agent(2), &ok), Ok(()));
        let refused = [
            (v1::Assign { workers: 3, ..ok.clone() }, "assigned 3 worker(s), but agent a offered 2"),
            (v1::Assign { workers: 0, ..ok.clone() }, "assigned 0 worker(s)"),
            (v1::Assign { first_worker: u32::MAX, ..ok.clone() }, "lies outside the whole"),
            (v1::Assign { total_workers: 3, ..ok.clone() }, "lies outside the whole"),
            (v1::Assign { interval_ms: u64::MAX, ..ok.clone() }, "at most 1 hour"),
        ];
        for (a, why) in refused {
            let err = check_segment(&agent(2), &a).expect_err(why);
            assert!(err.contains(why), "{err}");
        }
    }
}
