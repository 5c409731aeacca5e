//! The image and `deploy/compose.yaml`, for real: the bundled shop, a
//! coordinator and 3 agents in containers on the private network the Compose
//! project creates, and the shop's own count of the requests it answered
//! equal to the merged summary's `http_reqs`.
//!
//! Ignored by `cargo test --workspace` (it needs the image that
//! `deploy/image.sh` builds, a release build); `.ci/run` builds the image and
//! runs it with `--ignored`. Without a Docker daemon it says so and passes.
//! All load goes to the shop container, on an internal network (nothing
//! leaves it), for the scenario's 20 s; the whole test is bounded by
//! [`DEADLINE`], and the project is taken down (`down -v`) whatever happens.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// From `up` to the coordinator's exit: the scenario runs 20 s, plus its
/// graceful stop, the start barrier and the shop's seeding.
const DEADLINE: Duration = Duration::from_secs(150);
const AGENTS: usize = 3;
/// The shop's edge inside its container (deploy/compose.yaml).
const EDGE_PORT: u16 = 8081;

#[test]
#[ignore = "needs Docker and the image from deploy/image.sh; .ci/run runs it"]
fn compose_run_counts_every_request_at_the_shop() {
    if let Err(why) = docker_daemon() {
        eprintln!("SKIPPED containers test: no Docker daemon ({why})");
        return;
    }
    let compose_cmd = compose_command().expect(
        "Docker is here but neither `docker compose` nor `docker-compose` works; .ci/run installs docker-compose",
    );
    let image = std::env::var("STAMPEDE_IMAGE").unwrap_or_else(|_| "stampede:latest".into());
    let version = docker(&["run", "--rm", "--pull=never", &image, "--version"]);
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

    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "containers-test-token-0123456789\n").unwrap();
    // Compose bind-mounts the file as it is; the image's user is 65532.
    set_mode(&token, 0o644);
    let project = Project {
        compose: compose_cmd,
        name: format!("stampede-test-{}", std::process::id()),
        file: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/compose.yaml"),
        env: vec![
            ("STAMPEDE_IMAGE", image),
            ("STAMPEDE_TOKEN_FILE", token.display().to_string()),
            ("STAMPEDE_AGENTS", AGENTS.to_string()),
        ],
    };

    let started = Instant::now();
    project.run(&["up", "-d", "--scale", &format!("agent={AGENTS}")]);
    let coordinator = project.container("coordinator");
    let exit_code = loop {
        let state = inspect(&coordinator, "{{.State.Status}} {{.State.ExitCode}}");
        if let Some(code) = state.strip_prefix("exited ") {
            break code.parse::<i32>().unwrap();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the coordinator is still {state} after {DEADLINE:?}\n{}",
            project.logs()
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    eprintln!("containers: the coordinator exited with {exit_code} after {:.1?}", started.elapsed());
    assert_eq!(exit_code, 0, "the run did not pass\n{}", project.logs());

    let summary_path = dir.path().join("summary.json");
    let cp = docker(&["cp", &format!("{coordinator}:/results/summary.json"), summary_path.to_str().unwrap()]);
    assert!(
        cp.status.success(),
        "no /results/summary.json in the coordinator: {}",
        String::from_utf8_lossy(&cp.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary_path).unwrap()).unwrap();
    let http_reqs = summary["metrics"]["http_reqs"]["count"].as_u64().expect("metrics.http_reqs.count");
    let agents = summary["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), AGENTS, "{}", summary["agents"]);
    for a in agents {
        assert_eq!(a["state"], "done", "{a}");
        assert!(a["requests"].as_u64().unwrap_or(0) > 0, "an agent delivered nothing: {a}");
    }
    let delivered: u64 = agents.iter().map(|a| a["requests"].as_u64().unwrap()).sum();
    assert_eq!(delivered, http_reqs, "the agents' requests do not add up to http_reqs");

    // The shop is still up (it serves until the project goes down); its
    // edge counts every request it answered, by what the cache did, and
    // does not count requests for its own /metrics.
    let shop_ip = inspect(&project.container("shop"), "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}");
    let metrics = http_get(SocketAddr::new(shop_ip.parse().expect("the shop's address"), EDGE_PORT), "/metrics");
    let at_shop: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("shop_edge_requests_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    eprintln!("containers: http_reqs {http_reqs} (agents {delivered}), requests answered by the shop's edge {at_shop}");
    assert!(http_reqs > 1_000, "too little load to prove anything: {http_reqs} requests");
    assert_eq!(at_shop, http_reqs, "the shop answered {at_shop} requests, the summary counts {http_reqs}");
}

// === Docker and Compose ===

/// A Compose project of deploy/compose.yaml; taken down, volumes and all,
/// when dropped (also when the test fails).
struct Project {
    compose: Vec<String>,
    name: String,
    file: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Project {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.compose[0]);
        cmd.args(&self.compose[1..]).arg("-p").arg(&self.name).arg("-f").arg(&self.file).args(args);
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
        let out = self.command(&["down", "-v", "--timeout", "10"]).output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) {
            eprintln!("containers: `down -v` of {} failed: {out:?}", self.name);
        }
    }
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("running docker")
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

fn inspect(container: &str, format: &str) -> String {
    let out = docker(&["inspect", "-f", format, container]);
    assert!(out.status.success(), "docker inspect {container}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A plain HTTP/1.1 GET (the shop's container address is reachable from the
/// Docker host, internal network or not); returns the body.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("cannot reach the shop at {addr} from this host: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding: chunked"), "a chunked body: {head}");
    body.to_string()
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
