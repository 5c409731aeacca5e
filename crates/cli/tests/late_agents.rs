//! The start barrier with agents that do not arrive together (as on real
//! machines): late agents, agents that die or vanish before the start, raw
//! clients that say hello and leave, and signals while waiting. Everything
//! runs on 127.0.0.1.

mod support;

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stampede_proto::v1;
use support::{Server, tempdir};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_stampede");
const TOKEN: &str = "late-agents-token-7";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn iterations(url: &str, vus: u32, iterations: u32) -> String {
    format!(
        r#"
[target]
base_url = "{url}"
[[flows.main.steps]]
url = "/ok"
[scenarios.main]
executor = "shared-iterations"
vus = {vus}
iterations = {iterations}
flow = "main"
"#
    )
}

/// A coordinator process and the lines it printed on stderr, as they came.
struct Coord {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    lines: Arc<Mutex<Vec<String>>>,
    reader: tokio::task::JoinHandle<()>,
}

impl Coord {
    /// `stampede coordinator` for `scenario`, expecting `agents`; with a token
    /// unless `token` is false.
    fn start(scenario: &str, agents: usize, token: bool, extra: &[&str]) -> Coord {
        let dir = tempdir();
        let file = dir.path().join("s.toml");
        std::fs::write(&file, scenario).unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.args(["coordinator", file.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
            .args(["--agents", &agents.to_string(), "--agent-timeout", "60s", "--headless"])
            .arg("--out")
            .arg(format!("summary={}", dir.path().join("summary.json").display()))
            .args(extra);
        if token {
            cmd.args(["--token-file", dir.path().join("token").to_str().unwrap()]);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let reader = {
            let lines = lines.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut r = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(l)) = r.next_line().await {
                    lines.lock().unwrap().push(l);
                }
            })
        };
        Coord { child, port, dir, lines, reader }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `stampede agent --once` named `name`, with the coordinator's token.
    fn agent(&self, name: &str) -> Child {
        Command::new(BIN)
            .args(["agent", "--coordinator", &self.url(), "--once", "--workers", "1", "--name", name])
            .args(["--token-file", self.dir.path().join("token").to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits (at most `within`) until a stderr line contains `text`.
    async fn wait_for_line(&self, text: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.lines.lock().unwrap().iter().any(|l| l.contains(text)) {
            assert!(Instant::now() < deadline, "no line with `{text}` within {within:?}:\n{}", self.stderr());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Exit code, stdout, stderr and the JSON summary.
    async fn finish(self, within: Duration) -> (i32, String, String, serde_json::Value) {
        let out = tokio::time::timeout(within, self.child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("the coordinator did not finish within {within:?}"))
            .unwrap();
        let _ = self.reader.await;
        let json = std::fs::read_to_string(self.dir.path().join("summary.json")).unwrap_or_default();
        let stderr = self.lines.lock().unwrap().join("\n");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            stderr,
            serde_json::from_str(&json).unwrap_or(serde_json::Value::Null),
        )
    }
}

async fn wait_ok(agent: Child) {
    let out = tokio::time::timeout(Duration::from_secs(20), agent.wait_with_output()).await.unwrap().unwrap();
    assert!(out.status.success(), "agent failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The required acceptance test: agents arrive 0 s, 8 s and 20 s after the
/// coordinator (each gap longer than any silence limit); the run starts when
/// the third arrives and every request the server saw is in the summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_arriving_0_8_and_20_s_late_start_together_and_every_request_counts() {
    let server = Server::start().await;
    let c = Coord::start(&iterations(&server.url(), 6, 3000), 3, true, &[]);
    let t0 = Instant::now();
    let a0 = c.agent("agent-0");
    tokio::time::sleep_until((t0 + Duration::from_secs(8)).into()).await;
    let a1 = c.agent("agent-1");
    tokio::time::sleep_until((t0 + Duration::from_secs(20)).into()).await;
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 0, "no load before the third agent");
    let a2 = c.agent("agent-2");
    let third = Instant::now();
    while server.seen.requests.load(Ordering::Relaxed) == 0 {
        assert!(third.elapsed() < Duration::from_secs(30), "the run never started:\n{}", c.stderr());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("first request {:?} after the third agent was spawned", third.elapsed());
    let (code, stdout, stderr, s) = c.finish(Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    assert!(stderr.contains("waiting for agents: 2 of 3 connected (agent-0, agent-1)"), "{stderr}");
    for a in [a0, a1, a2] {
        wait_ok(a).await;
    }
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 3000);
    assert_eq!(s["metrics"]["http_reqs"]["count"], 3000, "{stderr}");
    let agents = s["agents"].as_array().expect("agents in the JSON");
    assert_eq!(agents.len(), 3, "{agents:?}");
    assert!(agents.iter().all(|a| a["state"] == "done" && a["requests"].as_u64().unwrap() > 0), "{agents:?}");
    eprintln!("coordinator's stderr:\n{stderr}");
}

/// An agent that attached and was killed before the start frees its slot; a
/// replacement takes it and the run completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_before_the_start_is_replaced() {
    let server = Server::start().await;
    let c = Coord::start(&iterations(&server.url(), 4, 1000), 2, true, &[]);
    let mut victim = c.agent("victim");
    c.wait_for_line("agent victim attached", Duration::from_secs(10)).await;
    victim.kill().await.unwrap();
    c.wait_for_line("victim left before the start", Duration::from_secs(10)).await;
    let a = c.agent("replacement");
    let b = c.agent("second");
    let (code, stdout, stderr, s) = c.finish(Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    wait_ok(a).await;
    wait_ok(b).await;
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 1000);
    assert_eq!(s["metrics"]["http_reqs"]["count"], 1000);
    let mut names: Vec<&str> = s["agents"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["replacement", "second"], "the dead agent is not part of the run");
}

fn hello(name: &str) -> v1::AgentMessage {
    v1::AgentMessage {
        msg: Some(v1::agent_message::Msg::Hello(v1::Hello {
            protocol_version: stampede_proto::PROTOCOL_VERSION,
            name: name.into(),
            cores: 1,
            ..Default::default()
        })),
    }
}

/// A raw gRPC client that says hello (no token: the coordinator has none)
/// and keeps its stream open, sending nothing more until `outbound` is dropped.
async fn raw_hello(
    url: String,
    name: &str,
) -> (tokio::sync::mpsc::Sender<v1::AgentMessage>, tonic::Streaming<v1::CoordinatorMessage>) {
    let mut client = v1::coordinator_client::CoordinatorClient::connect(url).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(hello(name)).await.unwrap();
    let inbound = client.attach(tokio_stream::wrappers::ReceiverStream::new(rx)).await.unwrap().into_inner();
    (tx, inbound)
}

/// Defect 10: a client that says hello and leaves took the agent slot and
/// aborted the whole run (exit 104). It must free the slot; the run then
/// waits for a real agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raw_hello_that_leaves_frees_its_slot() {
    let server = Server::start().await;
    let c = Coord::start(&iterations(&server.url(), 2, 200), 1, false, &[]);
    c.wait_for_line("coordinator listening", Duration::from_secs(10)).await;
    let (tx, inbound) = raw_hello(c.url(), "intruder").await;
    c.wait_for_line("intruder", Duration::from_secs(10)).await;
    drop((tx, inbound));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let agent = Command::new(BIN)
        .args(["agent", "--coordinator", &c.url(), "--once", "--workers", "1", "--name", "real"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (code, stdout, stderr, s) = c.finish(Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    wait_ok(agent).await;
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 200);
    assert_eq!(s["metrics"]["http_reqs"]["count"], 200);
}

/// A client that says hello and then falls silent must not hold the run
/// forever: it is dropped, and an agent that was turned away while the slot
/// was taken gets in on its next try.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hello_then_silent_client_is_dropped_and_a_real_agent_gets_in() {
    let server = Server::start().await;
    let c = Coord::start(&iterations(&server.url(), 2, 200), 1, false, &[]);
    c.wait_for_line("coordinator listening", Duration::from_secs(10)).await;
    let (tx, mut inbound) = raw_hello(c.url(), "mute").await;
    // Reads (and ignores) what the coordinator sends, never answering.
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = inbound.message().await {} });
    c.wait_for_line("mute", Duration::from_secs(10)).await;
    let agent = Command::new(BIN)
        .args(["agent", "--coordinator", &c.url(), "--once", "--workers", "1", "--name", "real"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (code, stdout, stderr, s) = c.finish(Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    wait_ok(agent).await;
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 200);
    assert_eq!(s["metrics"]["http_reqs"]["count"], 200);
    assert!(stderr.contains("mute"), "{stderr}");
    drop(tx);
    drain.abort();
}

/// An agent that leaves after its assignment but before the start sends the
/// coordinator back to waiting; when a replacement arrives, everybody is
/// assigned again (segments depend on the set of agents) and the run starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_leaving_after_its_assignment_makes_the_coordinator_reassign() {
    let server = Server::start().await;
    let c = Coord::start(&iterations(&server.url(), 4, 1000), 2, false, &[]);
    c.wait_for_line("coordinator listening", Duration::from_secs(10)).await;
    let real = Command::new(BIN)
        .args(["agent", "--coordinator", &c.url(), "--once", "--workers", "1", "--name", "real"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    c.wait_for_line("agent real attached", Duration::from_secs(10)).await;
    let (tx, mut inbound) = raw_hello(c.url(), "fickle").await;
    // It takes its assignment, then leaves without a word.
    let first = tokio::time::timeout(Duration::from_secs(10), inbound.message()).await.unwrap().unwrap().unwrap();
    let Some(v1::coordinator_message::Msg::Assign(a)) = first.msg else { panic!("expected an assignment first") };
    assert_eq!(a.total_workers, 2, "two agents of one worker each");
    drop((tx, inbound));
    let late = Command::new(BIN)
        .args(["agent", "--coordinator", &c.url(), "--once", "--workers", "1", "--name", "late"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (code, stdout, stderr, s) = c.finish(Duration::from_secs(60)).await;
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    wait_ok(real).await;
    wait_ok(late).await;
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 1000);
    assert_eq!(s["metrics"]["http_reqs"]["count"], 1000);
}

/// SIGTERM while the barrier waits (here for a client that never says ready)
/// ends the coordinator promptly with 105, and tells the attached agents to
/// stop (they exit cleanly instead of hunting for a lost coordinator).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_before_the_start_exits_105_and_stops_the_attached_agents() {
    let server = Server::start().await;
    let c = Coord::start(&iterations(&server.url(), 2, 200), 2, false, &[]);
    c.wait_for_line("coordinator listening", Duration::from_secs(10)).await;
    let agent = Command::new(BIN)
        .args(["agent", "--coordinator", &c.url(), "--once", "--workers", "1", "--name", "real"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    c.wait_for_line("agent real attached", Duration::from_secs(10)).await;
    let (tx, mut inbound) = raw_hello(c.url(), "mute").await;
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = inbound.message().await {} });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pid = c.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let (code, _, stderr, _) = c.finish(Duration::from_secs(10)).await;
    assert_eq!(code, 105, "{stderr}");
    wait_ok(agent).await;
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 0);
    drop(tx);
    drain.abort();
}
