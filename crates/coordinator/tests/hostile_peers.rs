//! The coordinator in-process against raw gRPC clients on 127.0.0.1 that
//! break the protocol: nothing a peer sends may panic it, and limits are
//! refused before any agent waits.

use std::time::Duration;

use stampede_coordinator::{Coordinator, CoordinatorConfig, CoordinatorError, LossPolicy};
use stampede_metrics::live::LiveState;
use stampede_proto::v1::{self, agent_message, coordinator_message};
use tokio::sync::mpsc;

const SCENARIO: &str = r#"
[target]
base_url = "http://127.0.0.1:9"
[[flows.main.steps]]
url = "/never-contacted"
[scenarios.main]
executor = "shared-iterations"
vus = 2
iterations = 10
flow = "main"
"#;

fn config(expected_agents: usize, data: Vec<(String, Vec<u8>)>) -> CoordinatorConfig {
    CoordinatorConfig {
        expected_agents,
        token: None,
        agent_timeout: Duration::from_secs(30),
        on_agent_loss: LossPolicy::Continue,
        interval: Duration::from_secs(1),
        seed: 1,
        scenario_toml: SCENARIO.into(),
        scenario_name: "hostile.toml".into(),
        data_files: data,
        overrides: v1::Overrides::default(),
        print: false,
    }
}

fn live() -> stampede_metrics::live::Shared {
    LiveState::new("hostile.toml".into(), vec!["main".into()], Duration::from_secs(1), 2).shared()
}

async fn serve(cfg: CoordinatorConfig) -> Result<Coordinator, CoordinatorError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Coordinator::serve(cfg, listener, None, live())
}

fn plan() -> stampede_scenario::Plan {
    stampede_scenario::parse_str(SCENARIO, std::path::Path::new("hostile.toml"), &Default::default()).unwrap()
}

fn agent(m: agent_message::Msg) -> v1::AgentMessage {
    v1::AgentMessage { msg: Some(m) }
}

fn hello(name: &str) -> v1::AgentMessage {
    agent(agent_message::Msg::Hello(v1::Hello {
        protocol_version: stampede_proto::PROTOCOL_VERSION,
        name: name.into(),
        cores: u32::MAX,
        ..Default::default()
    }))
}

#[tokio::test]
async fn an_assignment_over_the_message_limit_is_refused_before_any_agent_waits() {
    let big = vec![b'x'; stampede_proto::MAX_MESSAGE_BYTES + 1];
    let err = serve(config(1, vec![("users.csv".into(), big)])).await.expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, CoordinatorError::AssignmentTooLarge(_)), "{err:?}");
    assert!(text.contains("64.0 MiB (scenario + data files), over the 64 MiB limit"), "{text}");
    // Just under the limit is fine.
    let fits = vec![b'x'; stampede_proto::MAX_MESSAGE_BYTES - 64 * 1024];
    serve(config(1, vec![("users.csv".into(), fits)])).await.expect("fits");
}

/// A raw client walks through the protocol out of order (Ready before any
/// Assign, snapshots before the start, more error kinds than exist, a
/// foreign histogram layout), then sends a snapshot for an interval far in
/// the future. The coordinator ignores what means nothing, merges what is
/// valid, marks the agent lost for the rest, and ends the run normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_breaking_the_protocol_is_ignored_or_lost_never_a_panic() {
    let mut coord = serve(config(1, Vec::new())).await.unwrap();
    let url = format!("http://{}", coord.local_addr);
    let run = tokio::spawn(async move {
        coord.wait_for_agents().await?;
        coord.start(&plan()).await?;
        let mut intervals = 0;
        while let Some(_iv) = coord.next_interval().await {
            intervals += 1;
        }
        Ok::<_, CoordinatorError>((intervals, coord.lost_agents().to_vec(), coord.agent_reports()))
    });

    let mut client = v1::coordinator_client::CoordinatorClient::connect(url).await.unwrap();
    let (tx, rx) = mpsc::channel(64);
    tx.send(hello("rogue")).await.unwrap();
    // Out of order: Ready with no Assign yet, a snapshot before the start, Done.
    tx.send(agent(agent_message::Msg::Ready(v1::Ready { planned_vus: u64::MAX }))).await.unwrap();
    tx.send(agent(agent_message::Msg::Snapshot(v1::Snapshot { index: 3, ..Default::default() }))).await.unwrap();
    let mut inbound = client.attach(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    let mut assigns = 0;
    loop {
        let m = tokio::time::timeout(Duration::from_secs(10), inbound.message()).await.unwrap().unwrap().unwrap();
        match m.msg {
            Some(coordinator_message::Msg::Assign(a)) => {
                assigns += 1;
                // The hello's absurd core count was clamped.
                assert_eq!(a.workers, 1024);
                tx.send(agent(agent_message::Msg::Ready(v1::Ready { planned_vus: 2 }))).await.unwrap();
            }
            Some(coordinator_message::Msg::Start(_)) => break,
            _ => {}
        }
    }
    assert_eq!(assigns, 1);
    let foreign = {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 2).unwrap();
        h.record(1234).unwrap();
        let mut out = Vec::new();
        hdrhistogram::serialization::Serializer::serialize(
            &mut hdrhistogram::serialization::V2Serializer::new(),
            &h,
            &mut out,
        )
        .unwrap();
        out
    };
    let odd = v1::Snapshot {
        index: 0,
        requests: vec![v1::RequestSeries {
            scenario: "main".into(),
            name: "never-declared".into(),
            method: "BREW".into(),
            status: u32::MAX,
            trends: vec![foreign.into()],
            counters: vec![1],
            errors: vec![1; 64],
            ..Default::default()
        }],
        ..Default::default()
    };
    tx.send(agent(agent_message::Msg::Snapshot(odd))).await.unwrap();
    let future = v1::Snapshot { index: u64::MAX - 1, ..Default::default() };
    tx.send(agent(agent_message::Msg::Snapshot(future))).await.unwrap();
    let (intervals, lost, reports) =
        tokio::time::timeout(Duration::from_secs(20), run).await.expect("the run ends").expect("no panic").unwrap();
    assert_eq!(lost, ["rogue"]);
    assert_eq!(reports[0].requests, 1, "the valid snapshot was counted");
    assert!(intervals >= 1);
    drop(tx);
}

async fn attach(
    url: &str,
    name: &str,
) -> Result<(mpsc::Sender<v1::AgentMessage>, tonic::Streaming<v1::CoordinatorMessage>), tonic::Status> {
    let mut client = v1::coordinator_client::CoordinatorClient::connect(url.to_string()).await.unwrap();
    let (tx, rx) = mpsc::channel(8);
    tx.send(hello(name)).await.unwrap();
    let inbound = client.attach(tokio_stream::wrappers::ReceiverStream::new(rx)).await?.into_inner();
    Ok((tx, inbound))
}

/// A name already attached is refused while its agent is alive (two agents
/// must not share one), and taken over once it has been silent for 2 s (the
/// same agent, reconnecting before its old connection was seen dead). A
/// hello while every slot is taken is told to retry, not refused. A Stop
/// ends the barrier at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_agent_takes_over_its_silent_slot_and_a_spare_is_told_to_retry() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let live = live();
    let mut coord = Coordinator::serve(config(2, Vec::new()), listener, None, live.clone()).unwrap();
    let url = format!("http://{}", coord.local_addr);
    let signaller = coord.signaller();
    // These raw clients never answer their assignment: the barrier stays up.
    let barrier = tokio::spawn(async move { coord.start(&plan()).await });
    let first = attach(&url, "twin").await.unwrap();
    let status = attach(&url, "twin").await.expect_err("a live agent's name is taken");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    assert!(status.message().contains("give each agent a distinct --name"), "{}", status.message());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The first one sent nothing since its hello: this is its comeback.
    let again = attach(&url, "twin").await.expect("re-admitted");
    let other = attach(&url, "other").await.unwrap();
    let spare = attach(&url, "spare").await.expect_err("no slot left");
    assert_eq!(spare.code(), tonic::Code::Unavailable, "retryable: {}", spare.message());
    let names: Vec<String> = live.lock().unwrap().agents.iter().map(|a| a.name.clone()).collect();
    assert_eq!(names, ["twin", "other"]);
    // The replaced connection was closed by the coordinator.
    let (_tx, mut old) = first;
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match old.message().await {
                Ok(Some(_)) => continue,
                end => return end,
            }
        }
    })
    .await;
    assert!(matches!(end, Ok(Ok(None)) | Ok(Err(_))), "{end:?}");
    signaller.send(stampede_engine::Signal::Stop).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(5), barrier).await.expect("prompt").unwrap();
    assert!(matches!(r, Err(CoordinatorError::Interrupted)), "{r:?}");
    drop((again, other));
}

/// Gauges of a late agent: its interval goes out without its report (and
/// counts its VUs as last reported, not 0), and its late report folds into
/// the next interval, which then also gets its current one. VUs are a level,
/// not a count: that interval shows the agent's VUs once (its latest), not
/// twice. (A 50,000-VU run on a saturated machine showed 81,631 VUs, and
/// dips to 28,777, from these before.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_agent_counts_its_vus_once() {
    let mut coord = serve(config(2, Vec::new())).await.unwrap();
    let url = format!("http://{}", coord.local_addr);
    let run = tokio::spawn(async move {
        coord.wait_for_agents().await?;
        coord.start(&plan()).await?;
        let mut vus = Vec::new();
        while let Some(iv) = coord.next_interval().await {
            vus.push((iv.index, iv.snapshot.vus()));
        }
        Ok::<_, CoordinatorError>(vus)
    });
    let (a, mut a_in) = attach(&url, "prompt").await.unwrap();
    let (b, mut b_in) = attach(&url, "late").await.unwrap();
    // Both ready first (the start waits for every agent), then both started.
    for want_start in [false, true] {
        for (tx, inbound) in [(&a, &mut a_in), (&b, &mut b_in)] {
            loop {
                let m =
                    tokio::time::timeout(Duration::from_secs(10), inbound.message()).await.unwrap().unwrap().unwrap();
                match m.msg {
                    Some(coordinator_message::Msg::Assign(_)) if !want_start => {
                        tx.send(agent(agent_message::Msg::Ready(v1::Ready { planned_vus: 1 }))).await.unwrap();
                        break;
                    }
                    Some(coordinator_message::Msg::Start(_)) if want_start => break,
                    _ => {}
                }
            }
        }
    }
    let snap = |index: u64, vus: u64| {
        agent(agent_message::Msg::Snapshot(v1::Snapshot {
            index,
            scenarios: vec![v1::ScenarioSeries { name: "main".into(), vus, vus_max: vus, ..Default::default() }],
            ..Default::default()
        }))
    };
    a.send(snap(0, 5)).await.unwrap();
    b.send(snap(0, 7)).await.unwrap();
    a.send(snap(1, 5)).await.unwrap();
    // Interval 1 goes out without the late agent after 3 intervals: with
    // its VUs as last reported.
    tokio::time::sleep(Duration::from_millis(3600)).await;
    a.send(snap(2, 5)).await.unwrap();
    // Its late report folds into interval 2, which its own report then completes.
    b.send(snap(1, 7)).await.unwrap();
    b.send(snap(2, 7)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for tx in [&a, &b] {
        tx.send(agent(agent_message::Msg::Done(v1::Done { requests: 0 }))).await.unwrap();
    }
    let vus = tokio::time::timeout(Duration::from_secs(20), run).await.expect("the run ends").unwrap().unwrap();
    assert_eq!(&vus[..3], [(0, 12), (1, 12), (2, 12)], "each agent once in every interval: {vus:?}");
    assert!(vus.iter().all(|&(_, v)| v <= 12), "no agent twice: {vus:?}");
    drop((a, b));
}
