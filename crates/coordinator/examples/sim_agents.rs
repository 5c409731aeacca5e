//! Simulated agents: many agents attach to a real coordinator over real gRPC
//! and report an interval snapshot every second, so the coordinator's cost
//! with 100–1,000 agents can be measured on one machine (issue 21). They send
//! no load: each answers its Assign with a Ready, waits for the Start, then
//! sends a heartbeat and a snapshot every second and ends with Done.
//!
//!     stampede coordinator run.toml --agents 200 --listen 127.0.0.1:7100 --headless &
//!     URL=http://127.0.0.1:7100 AGENTS=200 SECONDS=120 \
//!       cargo run --release -p stampede-coordinator --example sim_agents
//!
//! Environment: `URL` (coordinator), `AGENTS`, `SECONDS` (intervals sent),
//! `NAMES` × 4 statuses = series, `SAMPLES` per series per interval,
//! `TOKEN` (as `--token-file` holds), `COORDINATOR_PID` (then its CPU and
//! peak RSS over the run are printed), `RECORDED` (a run's `--out hlog`
//! file: its per-name histograms replayed, see `support/synthetic.rs`;
//! without it snapshots are synthetic, shaped like `merge_bench`'s). 8
//! distinct snapshots, rotated. `bench/coordinator.sh` runs it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_proto::convert::to_wire;
use stampede_proto::v1::{self, agent_message, coordinator_message};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

#[path = "support/synthetic.rs"]
mod synthetic;
use synthetic::{STATUSES, agent_interval, env_or};

/// An agent's interval on the wire, with its scenario's VUs.
fn snapshot(seed: u64, names: usize, samples: usize) -> v1::Snapshot {
    let mut w = to_wire(0, false, &agent_interval(seed, names, samples));
    w.scenarios = vec![v1::ScenarioSeries { name: "main".into(), vus: 10, vus_max: 10, ..Default::default() }];
    w
}

fn msg(m: agent_message::Msg) -> v1::AgentMessage {
    v1::AgentMessage { msg: Some(m) }
}

fn now_ms(t0: Instant) -> u64 {
    t0.elapsed().as_millis() as u64
}

/// One simulated agent; returns the snapshots it sent.
async fn agent(
    url: String,
    name: String,
    token: Option<String>,
    payloads: Arc<Vec<v1::Snapshot>>,
    seconds: u64,
) -> Result<u64, String> {
    let mut client =
        v1::coordinator_client::CoordinatorClient::connect(url).await.map_err(|e| format!("{name}: connect: {e}"))?;
    let (tx, rx) = mpsc::channel(16);
    let hello = v1::Hello {
        protocol_version: stampede_proto::PROTOCOL_VERSION,
        agent_version: env!("CARGO_PKG_VERSION").into(),
        name: name.clone(),
        cores: 1,
        ..Default::default()
    };
    tx.send(msg(agent_message::Msg::Hello(hello))).await.map_err(|e| e.to_string())?;
    let mut req = tonic::Request::new(ReceiverStream::new(rx));
    if let Some(t) = &token {
        req.metadata_mut().insert("authorization", format!("Bearer {t}").parse().map_err(|_| "token")?);
    }
    let mut inbound = client.attach(req).await.map_err(|s| format!("{name}: attach: {s}"))?.into_inner();
    let t0 = Instant::now();
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    let heartbeat =
        |t0| msg(agent_message::Msg::Heartbeat(v1::Heartbeat { sent_ms: now_ms(t0), ..Default::default() }));
    // Until the Start: heartbeats, and a Ready for each Assign.
    let delay = loop {
        tokio::select! {
            _ = beat.tick() => { let _ = tx.send(heartbeat(t0)).await; }
            m = inbound.message() => match m.map_err(|s| format!("{name}: {s}"))?.and_then(|m| m.msg) {
                Some(coordinator_message::Msg::Assign(_)) => {
                    let ready = msg(agent_message::Msg::Ready(v1::Ready { planned_vus: 10 }));
                    tx.send(ready).await.map_err(|e| e.to_string())?;
                }
                Some(coordinator_message::Msg::Start(s)) => break Duration::from_millis(s.delay_ms),
                Some(coordinator_message::Msg::Stop(_)) => return Ok(0),
                Some(_) => {}
                None => return Err(format!("{name}: the coordinator closed the stream before the start")),
            },
        }
    };
    tokio::time::sleep(delay).await;
    let start = tokio::time::Instant::now();
    let started_at_us =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_micros() as u64;
    let mut sent = 0u64;
    let seed = name.bytes().map(u64::from).sum::<u64>();
    let mut inbound_open = true;
    while sent < seconds {
        let due = start + Duration::from_secs(sent + 1);
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {
                let mut s = payloads[((seed + sent) % payloads.len() as u64) as usize].clone();
                s.index = sent;
                s.r#final = false;
                s.started_at_us = started_at_us;
                let _ = tx.send(heartbeat(t0)).await;
                tx.send(msg(agent_message::Msg::Snapshot(s))).await.map_err(|e| format!("{name}: {e}"))?;
                sent += 1;
            }
            m = inbound.message(), if inbound_open => match m {
                Ok(Some(v1::CoordinatorMessage { msg: Some(coordinator_message::Msg::Stop(_)) })) => break,
                Ok(Some(_)) => {}
                _ => inbound_open = false,
            },
        }
    }
    // As an agent: the last interval, then a final snapshot (no data), then Done.
    let last = v1::Snapshot { r#final: true, started_at_us, ..Default::default() };
    tx.send(msg(agent_message::Msg::Snapshot(last))).await.map_err(|e| e.to_string())?;
    tx.send(msg(agent_message::Msg::Done(v1::Done { requests: sent }))).await.map_err(|e| e.to_string())?;
    // Until the coordinator ends the stream.
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_secs(30), inbound.message()).await.unwrap_or(Ok(None)) {
    }
    Ok(sent)
}

/// utime + stime in seconds, and VmHWM in KiB, of a process.
fn cpu_and_peak(pid: u32) -> Option<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some((ticks / 100.0, hwm))
}

#[tokio::main]
async fn main() {
    let url = std::env::var("URL").unwrap_or_else(|_| "http://127.0.0.1:7100".into());
    let agents = env_or("AGENTS", 200);
    let seconds = env_or("SECONDS", 120) as u64;
    let (names, samples) = (env_or("NAMES", 25), env_or("SAMPLES", 20));
    let token = std::env::var("TOKEN").ok();
    let pid = std::env::var("COORDINATOR_PID").ok().and_then(|p| p.parse::<u32>().ok());
    let payloads = Arc::new((0..8).map(|i| snapshot(i, names, samples)).collect::<Vec<_>>());
    let bytes: usize = payloads.iter().map(prost::Message::encoded_len).sum::<usize>() / payloads.len();
    let source = match std::env::var("RECORDED") {
        Ok(path) => format!("snapshots replayed from {path}"),
        Err(_) => format!("{samples} synthetic samples per series per interval"),
    };
    println!(
        "{agents} simulated agents → {url}: {} series each, {source}, {:.1} KiB a snapshot, {seconds} intervals",
        names * STATUSES.len(),
        bytes as f64 / 1024.0
    );
    let before = pid.and_then(cpu_and_peak);
    let t = Instant::now();
    let tasks: Vec<_> = (0..agents)
        .map(|i| tokio::spawn(agent(url.clone(), format!("sim-{i:04}"), token.clone(), payloads.clone(), seconds)))
        .collect();
    let (mut ok, mut sent) = (0, 0);
    for task in tasks {
        match task.await {
            Ok(Ok(n)) => {
                ok += 1;
                sent += n;
            }
            Ok(Err(e)) => eprintln!("{e}"),
            Err(e) => eprintln!("agent task: {e}"),
        }
    }
    let wall = t.elapsed().as_secs_f64();
    println!("{ok} of {agents} agents ran to the end; {sent} snapshots sent in {wall:.1} s");
    if let (Some((c0, _)), Some(p)) = (before, pid)
        && let Some((c1, hwm)) = cpu_and_peak(p)
    {
        println!(
            "coordinator (pid {p}): {:.2} s CPU over the run ({:.1} % of one core), peak RSS {:.1} MiB",
            c1 - c0,
            (c1 - c0) / wall * 100.0,
            hwm as f64 / 1024.0
        );
    }
}
