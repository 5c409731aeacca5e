//! A coordinator and agent processes on 127.0.0.1 against a loopback server:
//! exact totals, rates, faults, and refusals.

mod support;

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use support::{Server, tempdir};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_stampede");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Cluster {
    coordinator: Child,
    agents: Vec<Child>,
    dir: tempfile::TempDir,
}

/// Starts a coordinator for `scenario` expecting `n` agents, and `n` agents.
async fn cluster(scenario: &str, n: usize, coordinator_extra: &[&str], agent_extra: &[&str]) -> Cluster {
    let dir = tempdir();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, scenario).unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "sekrit-token-42\n").unwrap();
    let port = free_port();
    let coordinator = Command::new(BIN)
        .args(["coordinator", file.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--agents",
            &n.to_string(),
            "--token-file",
            token.to_str().unwrap(),
            "--quiet",
            "--agent-timeout",
            "20s",
        ])
        .arg("--out")
        .arg(format!("summary={}", dir.path().join("summary.json").display()))
        .args(coordinator_extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut agents = Vec::new();
    for i in 0..n {
        agents.push(
            Command::new(BIN)
                .args(["agent", "--coordinator", &format!("http://127.0.0.1:{port}"), "--once", "--workers", "1"])
                .args(["--name", &format!("agent-{i}"), "--token-file", token.to_str().unwrap()])
                .args(agent_extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .unwrap(),
        );
    }
    Cluster { coordinator, agents, dir }
}

impl Cluster {
    async fn finish(self) -> (i32, String, String, serde_json::Value) {
        let out =
            tokio::time::timeout(Duration::from_secs(90), self.coordinator.wait_with_output()).await.unwrap().unwrap();
        for a in self.agents {
            let _ = tokio::time::timeout(Duration::from_secs(10), a.wait_with_output()).await;
        }
        let json = std::fs::read_to_string(self.dir.path().join("summary.json")).unwrap_or_default();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
            serde_json::from_str(&json).unwrap_or(serde_json::Value::Null),
        )
    }
}

fn pid(c: &Child) -> String {
    c.id().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agents_share_iterations_exactly() {
    let server = Server::start().await;
    let scenario = format!(
        r#"
[target]
base_url = "{}"
[[flows.main.steps]]
url = "/ok"
[scenarios.main]
executor = "shared-iterations"
vus = 30
iterations = 10000
flow = "main"
"#,
        server.url()
    );
    let (code, stdout, stderr, s) = cluster(&scenario, 3, &[], &[]).await.finish().await;
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 10_000);
    assert_eq!(s["metrics"]["http_reqs"]["count"], 10_000);
    assert_eq!(s["metrics"]["iterations"]["count"], 10_000);
    for i in 0..3 {
        assert!(stdout.contains(&format!("agent-{i}")), "the summary lists every agent:\n{stdout}");
    }
    // The reports' agents table shows how each ended, as the summary does.
    let agents = s["agents"].as_array().expect("agents in the JSON");
    assert_eq!(agents.len(), 3);
    assert!(agents.iter().all(|a| a["state"] == "done"), "{agents:?}");
    assert_eq!(agents.iter().map(|a| a["requests"].as_u64().unwrap()).sum::<u64>(), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arrival_rate_split_over_three_agents_keeps_the_total_rate() {
    let server = Server::start().await;
    let scenario = format!(
        r#"
[target]
base_url = "{}"
[[flows.main.steps]]
url = "/ok"
[scenarios.open]
executor = "constant-arrival-rate"
rate = 300
duration = "8s"
pre_allocated_vus = 10
max_vus = 60
flow = "main"
"#,
        server.url()
    );
    let (code, _, stderr, s) = cluster(&scenario, 3, &[], &[]).await.finish().await;
    assert_eq!(code, 0, "{stderr}");
    let iterations = s["metrics"]["iterations"]["count"].as_u64().unwrap();
    assert!((2352..=2448).contains(&iterations), "2400 ± 2 %: {iterations}");
    assert_eq!(s["metrics"]["dropped_iterations"]["count"], 0);
}

fn steady(url: &str, seconds: u32) -> String {
    format!(
        r#"
[target]
base_url = "{url}"
[[flows.main.steps]]
url = "/ok"
think_time = "20ms"
[scenarios.main]
executor = "constant-vus"
vus = 6
duration = "{seconds}s"
flow = "main"
graceful_stop = "1s"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agent_is_reported_lost_and_the_run_finishes_degraded() {
    let server = Server::start().await;
    let mut c = cluster(&steady(&server.url(), 8), 2, &[], &[]).await;
    // Timestamp the coordinator's messages as they come.
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(Instant, String)>::new()));
    let stderr = c.coordinator.stderr.take().unwrap();
    let reader = {
        let lines = lines.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt;
            let mut r = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(l)) = r.next_line().await {
                lines.lock().unwrap().push((Instant::now(), l));
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let victim = pid(&c.agents[0]);
    let killed_at = Instant::now();
    assert!(std::process::Command::new("kill").args(["-9", &victim]).status().unwrap().success());
    let _ = c.agents.remove(0).wait().await;
    let (code, stdout, _, s) = c.finish().await;
    let _ = reader.await;
    let lines = lines.lock().unwrap().clone();
    let all: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(code, 110, "degraded exit code: {all:?}");
    let (lost_at, lost_line) = lines.iter().find(|(_, l)| l.contains("agent-0 lost")).expect("the loss is reported");
    assert!(lost_at.duration_since(killed_at) <= Duration::from_secs(5), "{lost_line}");
    assert_eq!(s["run"]["outcome"], "degraded");
    // What the lost agent delivered before it died stays in the results.
    let agent0 = stdout.lines().find(|l| l.contains("agent-0")).expect("agents table");
    assert!(agent0.contains("lost"), "{agent0}");
    let mut states: Vec<(&str, &str)> = s["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap(), a["state"].as_str().unwrap()))
        .collect();
    states.sort_unstable();
    assert_eq!(states, [("agent-0", "lost"), ("agent-1", "done")], "the JSON's agents table");
    let delivered: u64 = agent0.split_whitespace().nth(3).unwrap().parse().unwrap();
    assert!(delivered > 0, "{agent0}");
    let total = s["metrics"]["http_reqs"]["count"].as_u64().unwrap();
    assert!(total > delivered);
    // What the dead agent did after its last snapshot (at most one 1 s
    // interval) is missing; nothing else is.
    let seen = server.seen.requests.load(Ordering::Relaxed);
    assert!(
        seen >= total && seen - total <= delivered,
        "server saw {seen}, summary {total}, agent-0 delivered {delivered}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_stop_within_five_seconds_of_losing_their_coordinator() {
    let server = Server::start().await;
    let mut c = cluster(&steady(&server.url(), 60), 2, &[], &[]).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(server.seen.requests.load(Ordering::Relaxed) > 0);
    assert!(std::process::Command::new("kill").args(["-9", &pid(&c.coordinator)]).status().unwrap().success());
    let _ = c.coordinator.wait().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_grace = server.seen.requests.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = server.seen.requests.load(Ordering::Relaxed);
    assert_eq!(later, after_grace, "requests kept arriving after the coordinator died");
    for a in c.agents.iter_mut() {
        let status = tokio::time::timeout(Duration::from_secs(5), a.wait()).await.expect("agent exits").unwrap();
        assert!(!status.success(), "an agent that lost its coordinator reports failure");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_on_both_sides() {
    let server = Server::start().await;
    let dir = tempdir();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, steady(&server.url(), 2)).unwrap();
    std::fs::write(dir.path().join("good"), "right").unwrap();
    std::fs::write(dir.path().join("bad"), "wrong").unwrap();
    let port = free_port();
    let coordinator = Command::new(BIN)
        .args(["coordinator", file.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}"), "--agents", "1"])
        .args(["--token-file", dir.path().join("good").to_str().unwrap(), "--agent-timeout", "4s", "-q"])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    for token in [Some("bad"), None] {
        let mut cmd = Command::new(BIN);
        cmd.args(["agent", "--coordinator", &format!("http://127.0.0.1:{port}"), "--once"]);
        if let Some(t) = token {
            cmd.args(["--token-file", dir.path().join(t).to_str().unwrap()]);
        }
        let out = tokio::time::timeout(Duration::from_secs(10), cmd.output()).await.unwrap().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        let expected = if token.is_some() { "wrong token" } else { "needs a token" };
        assert!(stderr.contains(expected), "{stderr}");
    }
    let out = coordinator.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused an agent") && stderr.contains("token"), "{stderr}");
    assert!(stderr.contains("1 agent(s) expected, 0 connected"), "{stderr}");
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_protocol_version_mismatch_is_refused_with_a_clear_message() {
    use stampede_proto::v1;
    let dir = tempdir();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, steady("http://127.0.0.1:9", 2)).unwrap();
    let port = free_port();
    let coordinator = Command::new(BIN)
        .args(["coordinator", file.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}"), "--agents", "1"])
        .args(["--agent-timeout", "3s", "-q"])
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut client =
        v1::coordinator_client::CoordinatorClient::connect(format!("http://127.0.0.1:{port}")).await.unwrap();
    let hello = v1::AgentMessage {
        msg: Some(v1::agent_message::Msg::Hello(v1::Hello {
            protocol_version: 99,
            name: "future".into(),
            cores: 1,
            ..Default::default()
        })),
    };
    let status = client.attach(tokio_stream::iter(vec![hello])).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::FailedPrecondition);
    assert!(
        status.message().contains("protocol version 99")
            && status.message().contains(&format!("speaks {}", stampede_proto::PROTOCOL_VERSION)),
        "{}",
        status.message()
    );
    let out = coordinator.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("protocol version 99"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_refuses_a_target_outside_its_allow_list() {
    // Never contacted: the agent refuses the plan before any load.
    let scenario = steady("http://shop.example.com", 2);
    let (code, _, stderr, _) = cluster(&scenario, 1, &[], &[]).await.finish().await;
    assert_ne!(code, 0);
    assert!(
        stderr.contains("refused the plan") && stderr.contains("shop.example.com") && stderr.contains("--allow-target"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_channel_runs_over_tls() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let dir = tempdir();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
    let (ca_pem, cert_pem, key_pem) =
        (dir.path().join("ca.pem"), dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();

    let server = Server::start().await;
    let file = dir.path().join("s.toml");
    std::fs::write(&file, steady(&server.url(), 2)).unwrap();
    let port = free_port();
    let coordinator = Command::new(BIN)
        .args(["coordinator", file.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}"), "--agents", "1", "-q"])
        .args([
            "--tls-cert",
            cert_pem.to_str().unwrap(),
            "--tls-key",
            key_pem.to_str().unwrap(),
            "--agent-timeout",
            "15s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Without the CA the agent cannot trust the coordinator.
    let untrusted = Command::new(BIN)
        .args(["agent", "--coordinator", &format!("https://localhost:{port}"), "--once", "--workers", "1"])
        .kill_on_drop(true)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(server.seen.requests.load(Ordering::Relaxed) == 0);
    drop(untrusted);
    let agent = Command::new(BIN)
        .args(["agent", "--coordinator", &format!("https://localhost:{port}"), "--once", "--workers", "1"])
        .args(["--tls-ca", ca_pem.to_str().unwrap()])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(30), coordinator.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(server.seen.requests.load(Ordering::Relaxed) > 0);
    let _ = agent.wait_with_output().await;
}

/// Every sample each agent measured, from its own HdrHistogram log, in one
/// histogram: the coordinator's merged percentiles must equal its percentiles.
fn all_samples(hlogs: &[std::path::PathBuf]) -> stampede_metrics::Histogram {
    use base64::Engine;
    let mut all = stampede_metrics::hist::new_histogram();
    for path in hlogs {
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines().filter(|l| l.starts_with("Tag=http_req_duration,")) {
            let payload = line.rsplit(',').next().unwrap();
            let bytes = base64::engine::general_purpose::STANDARD.decode(payload).unwrap();
            stampede_metrics::hist::merge(&mut all, &stampede_metrics::hist::decode(&bytes).unwrap());
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_percentiles_equal_one_histogram_of_every_sample() {
    let server = Server::start().await;
    let scenario = format!(
        r#"
[target]
base_url = "{}"
[[flows.main.steps]]
name = "dist"
url = "/dist"
[scenarios.main]
executor = "shared-iterations"
vus = 60
iterations = 3000
flow = "main"
"#,
        server.url()
    );
    let logs = tempdir();
    let hlogs: Vec<_> = (0..3).map(|i| logs.path().join(format!("agent-{i}.hlog"))).collect();
    let dir = tempdir();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, &scenario).unwrap();
    let json = dir.path().join("merged.json");
    let port = free_port();
    let coordinator = Command::new(BIN)
        .args(["coordinator", file.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}"), "--agents", "3", "-q"])
        .arg("--out")
        .arg(format!("summary={}", json.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut agents = Vec::new();
    for (i, h) in hlogs.iter().enumerate() {
        agents.push(
            Command::new(BIN)
                .args(["agent", "--coordinator", &format!("http://127.0.0.1:{port}"), "--once", "--workers", "1", "-q"])
                .args(["--name", &format!("agent-{i}"), "--out", &format!("hlog={}", h.display())])
                .kill_on_drop(true)
                .spawn()
                .unwrap(),
        );
    }
    let out = tokio::time::timeout(Duration::from_secs(90), coordinator.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for mut a in agents {
        let _ = a.wait().await;
    }
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let all = all_samples(&hlogs);
    assert_eq!(all.len(), 3000, "every sample is in exactly one agent's log");
    let merged = &s["metrics"]["http_req_duration"];
    let ms = |us: u64| us as f64 / 1000.0;
    assert_eq!(merged["count"], 3000);
    assert_eq!(merged["p50"].as_f64().unwrap(), ms(all.value_at_quantile(0.5)));
    assert_eq!(merged["p99"].as_f64().unwrap(), ms(all.value_at_quantile(0.99)));
    assert_eq!(merged["max"].as_f64().unwrap(), ms(all.max()));
    // The known distribution: 1..100 ms uniformly.
    let p50 = merged["p50"].as_f64().unwrap();
    assert!((50.0..60.0).contains(&p50), "p50 {p50}");
}

/// A data file over gRPC's 4 MB default message size reaches local agents
/// (`stampede run`) as it does the in-process run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_six_mb_data_file_reaches_local_agents() {
    let server = Server::start().await;
    let dir = tempdir();
    let mut csv = String::from("id,padding\n");
    let padding = "x".repeat(54);
    for i in 0..100_000 {
        csv.push_str(&format!("{i:07},{padding}\n"));
    }
    assert!(csv.len() > 6_000_000);
    std::fs::write(dir.path().join("users.csv"), &csv).unwrap();
    let scenario = format!(
        r#"
[target]
base_url = "{}"
[data.users]
file = "users.csv"
[[flows.main.steps]]
url = "/ok?user={{{{ data.users.id }}}}"
[scenarios.main]
executor = "shared-iterations"
vus = 4
iterations = 400
flow = "main"
"#,
        server.url()
    );
    let out = support::run_scenario(dir.path(), &scenario, &["--agents", "2", "--workers", "2"]).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stderr, out.stdout);
    let s = out.summary.expect("a summary");
    assert_eq!(s["metrics"]["http_reqs"]["count"], 400);
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 400);
}

/// An agent's own `--out` file tells the run as it was: aborted by a
/// threshold, started when the load started, at the assigned interval (it
/// used to say "completed", exit code 0, started at 0 — 1970).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_own_json_says_the_true_outcome_and_start() {
    let server = Server::start().await;
    let scenario = steady(&server.url(), 30).replace("url = \"/ok\"", "url = \"/fail\"")
        + "[thresholds]\nhttp_req_failed = [{ threshold = \"rate<0.01\", abort_on_fail = true }]\n";
    let own = tempdir();
    let own_json = own.path().join("agent.json");
    let before_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let agent_out = format!("summary={}", own_json.display());
    let (code, _, stderr, coordinator_json) = cluster(&scenario, 1, &[], &["--out", &agent_out]).await.finish().await;
    assert_eq!(code, 99, "{stderr}");
    assert_eq!(coordinator_json["run"]["outcome"], "aborted_by_threshold");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&own_json).unwrap()).unwrap();
    assert_eq!(doc["run"]["outcome"], "aborted_by_threshold");
    assert_eq!(doc["run"]["exit_code"], 99);
    let started = doc["run"]["started_at_ms"].as_u64().unwrap();
    let after_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(started >= before_ms && started <= after_ms, "started {started}, test ran {before_ms}..{after_ms}");
    assert!(doc["run"]["duration_s"].as_f64().unwrap() < 20.0, "aborted long before its 30 s");
    assert_eq!(doc["run"]["planned_duration_s"], 30.0);
    // What the agent measured is what the coordinator merged (one agent).
    assert_eq!(doc["metrics"]["http_reqs"]["count"], coordinator_json["metrics"]["http_reqs"]["count"]);
}

/// An agent counts the connections its share of a plan holds (one per VU
/// and origin) against its open-files limit, and refuses a share that would
/// run out mid-run; it used to count one per VU and accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_refuses_a_share_whose_connections_exceed_its_open_files() {
    let (a, b) = (Server::start().await, Server::start().await);
    // 100 VUs, two origins each: 200 connections; the agent may open 400
    // files less its reserve of 256.
    let scenario = format!(
        "[target]\nbase_url = \"{}\"\n[[flows.main.steps]]\nurl = \"/ok\"\n[[flows.main.steps]]\nurl = \"{}/ok\"\n\
         [scenarios.main]\nexecutor = \"constant-vus\"\nvus = 100\nduration = \"2s\"\nflow = \"main\"\n",
        a.url(),
        b.url()
    );
    let dir = tempdir();
    let file = dir.path().join("s.toml");
    std::fs::write(&file, scenario).unwrap();
    let port = free_port();
    let coordinator = Command::new(BIN)
        .args(["coordinator", file.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}"), "--agents", "1"])
        .args(["--agent-timeout", "20s", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let agent = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n 400 && exec {BIN} agent --coordinator http://127.0.0.1:{port} --once --name small --workers 1"
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), agent.wait_with_output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("needs 200") && stderr.contains("connection per origin"), "{stderr}");
    let out = tokio::time::timeout(Duration::from_secs(30), coordinator.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(out.status.code(), Some(104), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(a.seen.requests.load(Ordering::Relaxed) + b.seen.requests.load(Ordering::Relaxed), 0);
}

/// A step URL whose host comes from a placeholder (`{{ env.T }}` given to the
/// coordinator) is checked where the agent connects: a loopback-only agent
/// never reaches `0.0.0.0` (this machine, but not a loopback address); it
/// used to, as the plan-time check could not see the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templated_host_cannot_get_past_the_agents_allow_list() {
    let server = Server::start().await;
    let scenario = "[[flows.main.steps]]\nurl = \"{{ env.T }}/ok\"\n[scenarios.main]\nexecutor = \"shared-iterations\"\nvus = 2\niterations = 20\nflow = \"main\"\n";
    let target = format!("T=http://0.0.0.0:{}", server.addr.port());
    let (code, _, stderr, summary) = cluster(scenario, 1, &["-e", &target], &[]).await.finish().await;
    assert_eq!(server.seen.requests.load(Ordering::Relaxed), 0, "nothing reached the destination");
    assert_eq!(summary["errors"]["not_allowed"], 20, "{stderr}");
    assert_eq!(summary["metrics"]["http_reqs"]["count"], 20);
    assert_eq!(code, 0, "network faults are counted, not fatal");
}

/// `--hosts` and `--local-ips` given to the coordinator reach every agent: a
/// name that does not resolve is connected to at the mapped loopback
/// address with its own name in `Host`, from four source addresses in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_and_local_ips_given_to_the_coordinator_reach_every_agent() {
    let server = Server::start().await;
    let port = server.addr.port();
    // 3 agents × 8 VUs, each VU one keep-alive connection; `.invalid` never resolves.
    let scenario = format!(
        "[[flows.main.steps]]\nurl = \"http://shop.stampede.invalid:{port}/host\"\n\
         [scenarios.main]\nexecutor = \"shared-iterations\"\nvus = 24\niterations = 2400\nflow = \"main\"\n"
    );
    let hosts = format!("shop.stampede.invalid={}", server.addr.ip());
    let extra = ["--hosts", hosts.as_str(), "--local-ips", "127.0.0.2-127.0.0.5"];
    let (code, stdout, stderr, summary) = cluster(&scenario, 3, &extra, &[]).await.finish().await;
    assert_eq!(code, 0, "{stderr}\n{stdout}");
    assert_eq!(summary["metrics"]["http_reqs"]["count"], 2400);
    let hosts = server.seen.host_headers.lock().unwrap().clone();
    assert_eq!(
        hosts.into_iter().collect::<Vec<_>>(),
        vec![(format!("shop.stampede.invalid:{port}"), 2400)],
        "every request reached the mapped address and kept its name in Host"
    );
    let sources = server.seen.sources.lock().unwrap().clone();
    let addrs: Vec<String> = sources.keys().map(|ip| ip.to_string()).collect();
    assert_eq!(addrs, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"], "{sources:?}");
    let total: u64 = sources.values().sum();
    assert!(total >= 24, "one connection per VU at least: {sources:?}");
    // Each agent's worker goes round-robin from the first address, so every
    // address carries its quarter of each agent's 8 connections.
    let quarter = total as f64 / 4.0;
    for (ip, n) in &sources {
        assert!((*n as f64 - quarter).abs() <= 2.0, "{ip} carried {n} of {total}: {sources:?}");
    }
}
