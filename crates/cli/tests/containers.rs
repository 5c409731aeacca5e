//! The image and `deploy/compose.yaml`, for real, and what happens on each
//! fault: the bundled shop, a coordinator and agents, each in its own
//! container on the two private networks the Compose project creates
//! (`control` for the protocol, `load` for the requests), and the shop's own
//! count of the requests it answered, by client address, as the truth.
//!
//! - [`compose_run_counts_every_request_at_the_shop`]: 3 agents; every
//!   agent's share in the summary equals what the shop got from it.
//! - [`agent_faults_are_detected_and_never_double_counted`]: 5 agents and,
//!   mid-run, one killed, one paused 10 s, one cut off `control` 10 s, one
//!   restarted, and a sixth started late.
//! - [`a_partitioned_coordinator_stops_every_agent`]: the coordinator cut
//!   off `control`; every agent stops its load within 3 s.
//! - [`compose_run_on_postgres_pgbouncer_and_redis`]: the same project with
//!   `deploy/compose.stack.yaml`: the shop's origins on PostgreSQL through
//!   PgBouncer and on Redis, in containers of the `stampede-stack` image.
//!
//! Ignored by `cargo test --workspace` (they need the image that
//! `deploy/image.sh` builds, a release build); `.ci/run` builds the image and
//! runs them with `--ignored`, one at a time. Without a Docker daemon each
//! says so and passes. All load goes to the shop container, on an internal
//! network (nothing leaves it); each run is bounded by its scenario and by a
//! deadline, and each project is taken down (`down -v`) whatever happens.
//! The agents' clocks are never compared: the coordinator orders the data by
//! interval number, and the test times everything on its own clock.

use std::collections::BTreeMap;
use std::io::{BufRead as _, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shop's edge inside its container (deploy/compose.yaml).
const EDGE_PORT: u16 = 8081;
/// The promise: an agent stops its load within this long of losing its coordinator.
const STOP_WITHIN: Duration = Duration::from_secs(3);
/// The coordinator's loss detection for a silent agent (5 s), plus its 250 ms check.
const SILENT_LOST_WITHIN: Duration = Duration::from_millis(5_500);

#[test]
#[ignore = "needs Docker and the image from deploy/image.sh; .ci/run runs it"]
fn compose_run_counts_every_request_at_the_shop() {
    const AGENTS: usize = 3;
    let Some(stack) = Stack::up("compose", AGENTS, None) else { return };
    let exit_code = stack.wait_for_coordinator(Duration::from_secs(150));
    assert_eq!(exit_code, 0, "the run did not pass\n{}", stack.project.logs());

    let summary = stack.summary();
    let http_reqs = summary["metrics"]["http_reqs"]["count"].as_u64().expect("metrics.http_reqs.count");
    let at_shop = stack.shop_counts();
    let agents = stack.summary_agents(&summary);
    assert_eq!(agents.len(), AGENTS, "{}", summary["agents"]);
    let mut delivered = 0;
    for (agent, a) in stack.agents.iter().zip(&agents) {
        assert_eq!(a.state, "done", "{agent:?}");
        assert!(a.requests > 0, "agent {} delivered nothing", a.name);
        // Each agent's share, as the summary has it, is exactly what the shop
        // answered to that agent's address.
        let shop = at_shop.get(&agent.load_ip).copied().unwrap_or(0);
        eprintln!("containers: agent {}: {} requests in the summary, {shop} at the shop", a.name, a.requests);
        assert_eq!(shop, a.requests, "agent {}: the shop answered {shop}, the summary counts {}", a.name, a.requests);
        delivered += a.requests;
    }
    assert_eq!(delivered, http_reqs, "the agents' requests do not add up to http_reqs");
    let total: u64 = at_shop.values().sum();
    eprintln!("containers: http_reqs {http_reqs}, requests answered by the shop's edge {total}");
    assert!(http_reqs > 1_000, "too little load to prove anything: {http_reqs} requests");
    assert_eq!(total, http_reqs, "the shop answered {total} requests, the summary counts {http_reqs}");
}

#[test]
#[ignore = "needs Docker and the image from deploy/image.sh; .ci/run runs it"]
fn agent_faults_are_detected_and_never_double_counted() {
    // 5 agents at 40 requests/s each for 40 s; the faults come once every
    // agent's load is seen at the shop, and last 10 s.
    const AGENTS: usize = 5;
    let scenario = FaultScenario::new(200, "40s");
    let Some(stack) = Stack::up("faults", AGENTS, Some(scenario.path())) else { return };
    let sampler = Sampler::start(stack.shop_edge);
    let log = LogFollower::start(&stack.coordinator);
    stack.wait_for_load(&sampler, Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(3));
    let [killed, paused, cut, restarted, healthy] = [0, 1, 2, 3, 4].map(|i| &stack.agents[i]);

    // A sixth agent, started the way a user would add one.
    stack.project.run(&["up", "-d", "--no-recreate", "--scale", &format!("agent={}", AGENTS + 1), "agent"]);
    let late = stack.agent_containers().into_iter().find(|a| !stack.agents.iter().any(|b| b.id == a.id));
    let late = late.expect("the late agent's container");

    let t_kill = Instant::now();
    docker_ok(&["kill", &killed.id]);
    let t_pause = Instant::now();
    docker_ok(&["pause", &paused.id]);
    let paused_at_shop = {
        // What the paused agent had answered once frozen (in-flight requests done).
        std::thread::sleep(Duration::from_millis(500));
        sampler.latest(&paused.load_ip)
    };
    let t_cut = Instant::now();
    docker_ok(&["network", "disconnect", &stack.network("control"), &cut.id]);
    let t_restart = Instant::now();
    docker_ok(&["restart", "--time", "5", &restarted.id]);
    let t_restarted = Instant::now();

    std::thread::sleep(Duration::from_secs(10).saturating_sub(t_pause.elapsed()));
    let t_unpause = Instant::now();
    docker_ok(&["unpause", &paused.id]);
    std::thread::sleep(Duration::from_secs(10).saturating_sub(t_cut.elapsed()));
    let t_reconnect = Instant::now();
    docker_ok(&["network", "connect", &stack.network("control"), &cut.id]);

    let exit_code = stack.wait_for_coordinator(Duration::from_secs(120));
    // Late refusals and their exits, then the shop's final word.
    std::thread::sleep(Duration::from_secs(1));
    let samples = sampler.stop();
    let lines = log.lines();
    eprintln!("containers: the coordinator exited with {exit_code}");
    assert_eq!(exit_code, 110, "a run that lost agents is degraded (110)\n{}", stack.project.logs());

    let summary = stack.summary();
    assert_eq!(summary["run"]["outcome"], "degraded", "{}", summary["run"]);
    let agents = stack.summary_agents(&summary);
    assert_eq!(agents.len(), AGENTS, "only the run's 5 agents, never the late one: {}", summary["agents"]);
    let http_reqs = summary["metrics"]["http_reqs"]["count"].as_u64().unwrap();
    assert_eq!(agents.iter().map(|a| a.requests).sum::<u64>(), http_reqs, "the agents' requests add up to http_reqs");
    let final_at = |ip: &str| samples.last().and_then(|s| s.1.get(ip).copied()).unwrap_or(0);
    let of = |agent: &Agent| agents.iter().find(|a| a.name.starts_with(&format!("{}-", agent.hostname))).unwrap();

    // Killed: its stream closes with the process, so it is lost at once; what
    // it delivered until then stays in the summary.
    let lost = log.lost_after(&lines, killed, t_kill);
    let a = of(killed);
    eprintln!(
        "containers: killed agent lost {:.2?} after `docker kill`; {} requests in the summary, {} at the shop",
        lost,
        a.requests,
        final_at(&killed.load_ip)
    );
    assert_eq!(a.state, "lost");
    assert!(lost <= Duration::from_secs(5), "the killed agent was marked lost {lost:?} after the kill");
    assert!(a.requests > 0 && a.requests <= final_at(&killed.load_ip), "{a:?}");

    // Paused: silent, so lost after 5 s; when it thaws, it finds its
    // coordinator gone and stops, is refused on reconnecting, and nothing it
    // sent after the pause is in the summary.
    let lost = log.lost_after(&lines, paused, t_pause);
    let a = of(paused);
    let stop = stopped_after(&samples, &paused.load_ip, t_unpause);
    let after_thaw = final_at(&paused.load_ip) - paused_at_shop;
    eprintln!(
        "containers: paused agent lost {lost:.2?} after `docker pause`; after `docker unpause` it sent {after_thaw} more \
         requests and stopped within {stop:.2?}; {} requests in the summary, {paused_at_shop} at the shop before the pause",
        a.requests
    );
    assert_eq!(a.state, "lost");
    assert!(lost <= SILENT_LOST_WITHIN, "the paused agent was marked lost {lost:?} after the pause");
    assert!(a.requests <= paused_at_shop, "the summary counts requests the paused agent sent after it was lost: {a:?}");
    assert!(stop <= STOP_WITHIN, "the thawed agent went on loading for {stop:?}");
    assert!(log.refused(&lines, paused), "the thawed agent was not refused on reconnecting");

    // Cut off the control network (the shop still reachable): it stops its
    // load within 3 s, is lost after 5 s, and is refused once reconnected.
    let lost = log.lost_after(&lines, cut, t_cut);
    let a = of(cut);
    let stop = stopped_after(&samples, &cut.load_ip, t_cut);
    let at_cut = count_at(&samples, &cut.load_ip, t_cut);
    eprintln!(
        "containers: partitioned agent stopped its load {stop:.2?} after `docker network disconnect` ({} requests \
         after the cut), lost {lost:.2?} after it; {} requests in the summary, {} at the shop",
        final_at(&cut.load_ip) - at_cut,
        a.requests,
        final_at(&cut.load_ip)
    );
    assert_eq!(a.state, "lost");
    assert!(stop <= STOP_WITHIN, "the partitioned agent went on loading for {stop:?} after the cut");
    assert!(lost <= SILENT_LOST_WITHIN, "the partitioned agent was marked lost {lost:?} after the cut");
    assert!(a.requests <= final_at(&cut.load_ip), "{a:?}");
    assert!(log.refused_after(&lines, cut, t_reconnect), "the reconnected agent was not refused");

    // Restarted: the old process is lost when its stream closes; the new one
    // is refused and sends nothing.
    let lost = log.lost_after(&lines, restarted, t_restart);
    let a = of(restarted);
    let stop = stopped_after(&samples, &restarted.load_ip, t_restart);
    eprintln!(
        "containers: restarted agent lost {lost:.2?} after `docker restart` began, its load stopped within {stop:.2?}; \
         the new process was refused; {} requests in the summary, {} at the shop",
        a.requests,
        final_at(&restarted.load_ip)
    );
    assert_eq!(a.state, "lost");
    assert!(lost <= t_restarted - t_restart + Duration::from_secs(1), "lost {lost:?} after the restart began");
    assert!(stop <= t_restarted - t_restart + Duration::from_secs(1), "the restarted agent loaded for {stop:?}");
    assert!(log.refused_after(&lines, restarted, t_restart), "the restarted agent was not refused");

    // Late: refused, never loads; the shop heard from nobody but the run's agents.
    let state = inspect(&late.id, "{{.State.Status}} {{.State.ExitCode}}");
    eprintln!("containers: late agent refused, then {state}");
    assert!(log.refused(&lines, &late), "the late agent was not refused");
    assert_eq!(state, "exited 1", "a refused agent exits 1");
    let strangers: Vec<_> = samples
        .last()
        .map(|s| s.1.keys().filter(|ip| !stack.agents.iter().any(|a| &a.load_ip == *ip)).cloned().collect())
        .unwrap_or_default();
    assert!(strangers.is_empty(), "the shop answered clients that are not the run's agents: {strangers:?}");

    // Healthy: done, and exactly what the shop answered it.
    let a = of(healthy);
    eprintln!(
        "containers: healthy agent: {} requests in the summary, {} at the shop",
        a.requests,
        final_at(&healthy.load_ip)
    );
    assert_eq!(a.state, "done");
    assert_eq!(a.requests, final_at(&healthy.load_ip));

    let total: u64 = samples.last().map_or(0, |s| s.1.values().sum());
    eprintln!("containers: http_reqs {http_reqs}, answered by the shop {total}");
    assert!(http_reqs <= total, "the summary counts more than the shop answered");
}

#[test]
#[ignore = "needs Docker and the image from deploy/image.sh; .ci/run runs it"]
fn a_partitioned_coordinator_stops_every_agent() {
    const AGENTS: usize = 3;
    let scenario = FaultScenario::new(150, "30s");
    let Some(stack) = Stack::up("partition", AGENTS, Some(scenario.path())) else { return };
    let sampler = Sampler::start(stack.shop_edge);
    let log = LogFollower::start(&stack.coordinator);
    stack.wait_for_load(&sampler, Duration::from_secs(90));
    std::thread::sleep(Duration::from_secs(3));

    let t_cut = Instant::now();
    docker_ok(&["network", "disconnect", &stack.network("control"), &stack.coordinator]);
    std::thread::sleep(Duration::from_secs(10));
    docker_ok(&["network", "connect", &stack.network("control"), &stack.coordinator]);
    let exit_code = stack.wait_for_coordinator(Duration::from_secs(60));
    let samples = sampler.stop();
    let lines = log.lines();

    for agent in &stack.agents {
        let stop = stopped_after(&samples, &agent.load_ip, t_cut);
        let lost = log.lost_after(&lines, agent, t_cut);
        let after = samples.last().and_then(|s| s.1.get(&agent.load_ip).copied()).unwrap_or(0)
            - count_at(&samples, &agent.load_ip, t_cut);
        eprintln!(
            "containers: agent {} stopped its load {stop:.2?} after the coordinator was cut off ({after} requests \
             after the cut); the coordinator marked it lost after {lost:.2?}",
            agent.hostname
        );
        assert!(stop <= STOP_WITHIN, "agent {} went on loading for {stop:?} without its coordinator", agent.hostname);
        assert!(lost <= SILENT_LOST_WITHIN, "agent {} marked lost after {lost:?}", agent.hostname);
    }
    // Every agent lost: what they delivered until then is the run's result
    // (the coordinator ends the run then, before it is reconnected).
    eprintln!("containers: the coordinator exited with {exit_code}");
    assert_eq!(exit_code, 110, "{}", stack.project.logs());
    let summary = stack.summary();
    let agents = stack.summary_agents(&summary);
    assert!(agents.iter().all(|a| a.state == "lost" && a.requests > 0), "{}", summary["agents"]);
}

// === the stack ===

#[test]
#[ignore = "needs Docker and the images from deploy/image.sh and deploy/stack-image.sh; .ci/run runs it"]
fn compose_run_on_postgres_pgbouncer_and_redis() {
    const AGENTS: usize = 2;
    if docker_daemon().is_err() {
        eprintln!("SKIPPED containers test: no Docker daemon");
        return;
    }
    let stack_image = std::env::var("STAMPEDE_STACK_IMAGE").unwrap_or_else(|_| "stampede-stack:latest".into());
    let version = docker(&["run", "--rm", "--pull=never", &stack_image, "version"]);
    assert!(
        version.status.success(),
        "cannot run {stack_image}: build it with deploy/stack-image.sh\n{}",
        String::from_utf8_lossy(&version.stderr)
    );
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/containers/stack.toml");
    let Some(stack) = Stack::up_with("stack", AGENTS, Some(&scenario), &["compose.stack.yaml"]) else { return };
    let exit_code = stack.wait_for_coordinator(Duration::from_secs(240));
    assert_eq!(exit_code, 0, "the run did not pass\n{}", stack.project.logs());
    let summary = stack.summary();
    let http_reqs = summary["metrics"]["http_reqs"]["count"].as_u64().expect("metrics.http_reqs.count");
    assert!(http_reqs > 500, "too little load to prove anything: {http_reqs} requests");
    let orders = summary["requests"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "checkout"))
        .and_then(|r| r["statuses"]["201"].as_u64())
        .unwrap_or(0);
    assert!(orders > 0, "no order placed: {}", summary["requests"]);

    // The origin's /metrics: the database is PostgreSQL, reached through PgBouncer, and Redis
    // answered. Both origin processes share the port and each answers with its own counters (the
    // edge's few keep-alive connections may all have gone to one of them): a fresh connection per
    // scrape, 20 scrapes, the largest value of each figure.
    let origin = SocketAddr::new(stack.shop_edge.ip(), 8080);
    let scrapes: Vec<String> = (0..20).map(|_| http_get(origin, "/metrics").expect("the origin's /metrics")).collect();
    let value = |name: &str| -> f64 {
        scrapes
            .iter()
            .map(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
                    .unwrap_or_else(|| panic!("no {name} in the origin's /metrics:\n{m}"))
            })
            .fold(f64::MIN, f64::max)
    };
    assert_eq!(value("shop_db_info{database=\"postgres\"}"), 1.0);
    assert!(value("shop_pg_commits_total") > 0.0);
    assert!(value("shop_pg_max_connections") >= 100.0);
    let servers = value("shop_pgbouncer_servers{state=\"active\"}")
        + value("shop_pgbouncer_servers{state=\"idle\"}")
        + value("shop_pgbouncer_servers{state=\"used\"}");
    assert!(servers > 0.0, "PgBouncer holds server connections:\n{}", scrapes[0]);
    assert!(value("shop_redis_commands_total") > 0.0, "Redis answered:\n{}", scrapes.join("\n"));
    assert_eq!(value("shop_redis_errors_total"), 0.0);
    eprintln!("containers: {http_reqs} requests, {orders} orders on PostgreSQL through PgBouncer, and Redis");
}

/// A Compose project of deploy/compose.yaml, up, with its containers found.
struct Stack {
    project: Project,
    /// Holds the token (and the summary copied out).
    dir: tempfile::TempDir,
    coordinator: String,
    /// The run's agents, in container-name order.
    agents: Vec<Agent>,
    shop_edge: SocketAddr,
}

#[derive(Debug, Clone)]
struct Agent {
    id: String,
    /// Its agent name is `HOSTNAME-PID`.
    hostname: String,
    /// Its address on the `load` network: the client address the shop counts.
    load_ip: String,
}

/// An agent as the summary has it.
#[derive(Debug)]
struct SummaryAgent {
    name: String,
    state: String,
    requests: u64,
}

impl Stack {
    /// Brings the project up with `agents` agents (None: no Docker daemon,
    /// the test is skipped).
    fn up(test: &str, agents: usize, scenario: Option<&Path>) -> Option<Stack> {
        Self::up_with(test, agents, scenario, &[])
    }

    /// As [`Stack::up`], with more Compose files over deploy/compose.yaml
    /// (names in deploy/).
    fn up_with(test: &str, agents: usize, scenario: Option<&Path>, overlays: &[&str]) -> Option<Stack> {
        if let Err(why) = docker_daemon() {
            eprintln!("SKIPPED containers test: no Docker daemon ({why})");
            return None;
        }
        let compose = compose_command().expect(
            "Docker is here but neither `docker compose` nor `docker-compose` works; .ci/run installs docker-compose",
        );
        let image = std::env::var("STAMPEDE_IMAGE").unwrap_or_else(|_| "stampede:latest".into());
        check_image(&image);
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("token");
        std::fs::write(&token, "containers-test-token-0123456789\n").unwrap();
        // Compose bind-mounts the file as it is; the image's user is 65532.
        set_mode(&token, 0o644);
        let mut env = vec![
            ("STAMPEDE_IMAGE", image),
            ("STAMPEDE_TOKEN_FILE", token.display().to_string()),
            ("STAMPEDE_AGENTS", agents.to_string()),
        ];
        if let Some(s) = scenario {
            env.push(("STAMPEDE_SCENARIO", s.display().to_string()));
        }
        let project = Project {
            compose,
            name: format!("stampede-{test}-{}", std::process::id()),
            files: ["compose.yaml"]
                .iter()
                .chain(overlays)
                .map(|f| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy").join(f))
                .collect(),
            env,
        };
        project.run(&["up", "-d", "--scale", &format!("agent={agents}")]);
        let coordinator = project.container("coordinator");
        let shop_ip = inspect(&project.container("shop"), &network_ip_format(&format!("{}_load", project.name)));
        let shop_edge = SocketAddr::new(shop_ip.parse().expect("the shop's address"), EDGE_PORT);
        let mut stack = Stack { project, dir, coordinator, agents: Vec::new(), shop_edge };
        stack.agents = stack.agent_containers();
        assert_eq!(stack.agents.len(), agents, "agent containers");
        Some(stack)
    }

    /// The project's network `name` (`control` or `load`).
    fn network(&self, name: &str) -> String {
        format!("{}_{name}", self.project.name)
    }

    /// The agent containers now, in container-name order.
    fn agent_containers(&self) -> Vec<Agent> {
        let ids = self.project.run(&["ps", "-q", "agent"]);
        let mut agents: Vec<(String, Agent)> = ids
            .lines()
            .map(|id| {
                let fields = inspect(
                    id,
                    &format!("{{{{.Name}}}} {{{{.Config.Hostname}}}} {}", network_ip_format(&self.network("load"))),
                );
                // An exited container has no address: "".
                let f: Vec<&str> = fields.split_whitespace().chain([""]).collect();
                (f[0].to_string(), Agent { id: id.to_string(), hostname: f[1].to_string(), load_ip: f[2].to_string() })
            })
            .collect();
        agents.sort_by(|a, b| a.0.cmp(&b.0));
        agents.into_iter().map(|(_, a)| a).collect()
    }

    /// Waits until the shop has answered every agent.
    fn wait_for_load(&self, sampler: &Sampler, within: Duration) {
        let started = Instant::now();
        while !self.agents.iter().all(|a| sampler.latest(&a.load_ip) > 0) {
            assert!(started.elapsed() < within, "no load from every agent within {within:?}\n{}", self.project.logs());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits for the coordinator's container to exit; its exit code.
    fn wait_for_coordinator(&self, within: Duration) -> i32 {
        let started = Instant::now();
        loop {
            let state = inspect(&self.coordinator, "{{.State.Status}} {{.State.ExitCode}}");
            if let Some(code) = state.strip_prefix("exited ") {
                return code.parse::<i32>().unwrap();
            }
            assert!(
                started.elapsed() < within,
                "the coordinator is still {state} after {within:?}\n{}",
                self.project.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The coordinator's /results/summary.json.
    fn summary(&self) -> serde_json::Value {
        let path = self.dir.path().join("summary.json");
        let cp = docker(&["cp", &format!("{}:/results/summary.json", self.coordinator), path.to_str().unwrap()]);
        assert!(cp.status.success(), "no /results/summary.json: {}", String::from_utf8_lossy(&cp.stderr));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    /// The summary's agents, in the order of `self.agents`.
    fn summary_agents(&self, summary: &serde_json::Value) -> Vec<SummaryAgent> {
        let mut all: Vec<SummaryAgent> = summary["agents"]
            .as_array()
            .expect("agents")
            .iter()
            .map(|a| SummaryAgent {
                name: a["name"].as_str().unwrap().to_string(),
                state: a["state"].as_str().unwrap().to_string(),
                requests: a["requests"].as_u64().unwrap(),
            })
            .collect();
        let mut ordered = Vec::new();
        for agent in &self.agents {
            if let Some(i) = all.iter().position(|a| a.name.starts_with(&format!("{}-", agent.hostname))) {
                ordered.push(all.swap_remove(i));
            }
        }
        assert!(all.is_empty(), "agents in the summary that are not this project's: {}", summary["agents"]);
        ordered
    }

    /// The shop's requests by client address, now.
    fn shop_counts(&self) -> BTreeMap<String, u64> {
        client_counts(&http_get(self.shop_edge, "/metrics").expect("the shop's /metrics"))
    }
}

/// faults.toml with its rate and duration filled in, in a file of its own.
struct FaultScenario {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl FaultScenario {
    fn new(rate: u32, duration: &str) -> Self {
        let text = include_str!("containers/faults.toml")
            .replace("FAULT_RATE", &rate.to_string())
            .replace("FAULT_DURATION", duration);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faults.toml");
        std::fs::write(&path, text).unwrap();
        // Read by the coordinator's user (65532) through a bind mount.
        set_mode(dir.path(), 0o755);
        set_mode(&path, 0o644);
        FaultScenario { _dir: dir, path }
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

// === what the shop answered, over time ===

/// Reads the shop's requests by client address every 100 ms.
struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Sample = (Instant, BTreeMap<String, u64>);

impl Sampler {
    fn start(edge: SocketAddr) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // The shop seeds before it answers; a failed read is skipped.
                    if let Ok(body) = http_get(edge, "/metrics") {
                        samples.lock().unwrap().push((Instant::now(), client_counts(&body)));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Sampler { samples, stop, thread: Some(thread) }
    }

    fn latest(&self, ip: &str) -> u64 {
        self.samples.lock().unwrap().last().and_then(|s| s.1.get(ip).copied()).unwrap_or(0)
    }

    /// Stops sampling, after one last sample; every sample.
    fn stop(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The count for `ip` in the last sample taken at or before `t`.
fn count_at(samples: &[Sample], ip: &str, t: Instant) -> u64 {
    samples.iter().rev().find(|s| s.0 <= t).and_then(|s| s.1.get(ip).copied()).unwrap_or(0)
}

/// How long after `t` the shop last saw a new request from `ip`: the time of
/// the first sample that holds its final count (zero if it had it by `t`).
fn stopped_after(samples: &[Sample], ip: &str, t: Instant) -> Duration {
    let last = samples.last().and_then(|s| s.1.get(ip).copied()).unwrap_or(0);
    let reached = samples.iter().find(|s| s.1.get(ip).copied().unwrap_or(0) >= last).map_or(t, |s| s.0);
    reached.saturating_duration_since(t)
}

/// `shop_edge_client_requests_total{client="IP"} N` lines.
fn client_counts(metrics: &str) -> BTreeMap<String, u64> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("shop_edge_client_requests_total{client=\""))
        .filter_map(|l| {
            let (ip, rest) = l.split_once("\"}")?;
            Some((ip.to_string(), rest.trim().parse().ok()?))
        })
        .collect()
}

// === the coordinator's log, as it comes ===

/// Follows a container's log (`docker logs -f`), each line with the time it arrived.
struct LogFollower {
    lines: Arc<Mutex<Vec<(Instant, String)>>>,
    child: Child,
}

impl LogFollower {
    fn start(container: &str) -> LogFollower {
        let mut child = Command::new("docker")
            .args(["logs", "-f", container])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker logs -f");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let err: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        for stream in [out, err] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push((Instant::now(), line));
                }
            });
        }
        LogFollower { lines, child }
    }

    fn lines(&self) -> Vec<(Instant, String)> {
        self.lines.lock().unwrap().clone()
    }

    /// How long after `t` the coordinator said `agent` was lost.
    fn lost_after(&self, lines: &[(Instant, String)], agent: &Agent, t: Instant) -> Duration {
        let prefix = format!("coordinator: agent {}-", agent.hostname);
        let line = lines.iter().find(|(_, l)| l.starts_with(&prefix) && l.contains(" lost ("));
        let (at, _) = line.unwrap_or_else(|| {
            panic!("the coordinator never said agent {} was lost:\n{}", agent.hostname, join(lines))
        });
        at.saturating_duration_since(t)
    }

    fn refused(&self, lines: &[(Instant, String)], agent: &Agent) -> bool {
        self.refused_after(lines, agent, Instant::now() - Duration::from_secs(3600))
    }

    /// Whether the coordinator refused `agent` (by its host name) after `t`.
    fn refused_after(&self, lines: &[(Instant, String)], agent: &Agent, t: Instant) -> bool {
        let prefix = format!("coordinator: agent {}-", agent.hostname);
        lines
            .iter()
            .any(|(at, l)| *at >= t && l.starts_with(&prefix) && l.contains("refused: the run has already started"))
    }
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn join(lines: &[(Instant, String)]) -> String {
    lines.iter().map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n")
}

// === Docker and Compose ===

/// A Compose project of deploy/compose.yaml; taken down, volumes and all,
/// when dropped (also when the test fails).
struct Project {
    compose: Vec<String>,
    name: String,
    files: Vec<PathBuf>,
    env: Vec<(&'static str, String)>,
}

impl Project {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.compose[0]);
        cmd.args(&self.compose[1..]).arg("-p").arg(&self.name);
        for f in &self.files {
            cmd.arg("-f").arg(f);
        }
        cmd.args(args);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }

    /// Runs a Compose command that must succeed.
    fn run(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("running compose");
        assert!(
            out.status.success(),
            "compose {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The id of the (first) container of `service`.
    fn container(&self, service: &str) -> String {
        let ids = self.run(&["ps", "-q", service]);
        ids.lines().next().unwrap_or_else(|| panic!("no container for {service}\n{}", self.logs())).to_string()
    }

    /// Every service's logs, for a failure message.
    fn logs(&self) -> String {
        match self.command(&["logs", "--no-color", "--tail", "60"]).output() {
            Ok(out) => format!("--- compose logs ---\n{}", String::from_utf8_lossy(&out.stdout)),
            Err(e) => format!("(no compose logs: {e})"),
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        // A paused container cannot be stopped: thaw everything first.
        if let Ok(out) = self.command(&["ps", "-q"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = docker(&["unpause", id]);
            }
        }
        let out = self.command(&["down", "-v", "--timeout", "10"]).output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("containers: `down -v` of {} failed: {out:?}", self.name);
        }
    }
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("running docker")
}

fn docker_ok(args: &[&str]) {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Whether a Docker daemon answers, and if not why.
fn docker_daemon() -> Result<(), String> {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map_err(|e| format!("the docker command: {e}"))?;
    if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).trim().to_string()) }
}

/// `docker compose` (v2) if it works, else `docker-compose` (v1).
fn compose_command() -> Option<Vec<String>> {
    let works =
        |cmd: &[&str]| Command::new(cmd[0]).args(&cmd[1..]).arg("version").output().is_ok_and(|o| o.status.success());
    [&["docker", "compose"][..], &["docker-compose"][..]]
        .into_iter()
        .find(|c| works(c))
        .map(|c| c.iter().map(|s| s.to_string()).collect())
}

/// The image runs and is of this version.
fn check_image(image: &str) {
    let version = docker(&["run", "--rm", "--pull=never", image, "--version"]);
    assert!(
        version.status.success(),
        "cannot run the image {image}: build it first with deploy/image.sh\n{}",
        String::from_utf8_lossy(&version.stderr)
    );
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    assert_eq!(
        version,
        format!("stampede {}", env!("CARGO_PKG_VERSION")),
        "the image {image} is of another version: rebuild it with deploy/image.sh"
    );
}

fn inspect(container: &str, format: &str) -> String {
    let out = docker(&["inspect", "-f", format, container]);
    assert!(out.status.success(), "docker inspect {container}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A `docker inspect` format for a container's address on `network`.
fn network_ip_format(network: &str) -> String {
    format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}")
}

/// A plain HTTP/1.1 GET (the shop's container address is reachable from the
/// Docker host, internal network or not); the body of a 200.
fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot reach the shop at {addr} from this host: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut response = String::new();
    s.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("not an HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {head}"));
    }
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "a chunked body: {head}");
    Ok(body.to_string())
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
