//! `stampede compare` against runs of a loopback server whose delay
//! distribution is known and seeded: the same server twice → no change; 10 %
//! more delay → slower; a change confined to the slowest 2 % of requests → a
//! tail change (p99 slower, median unchanged); and unusable inputs → a clear
//! error. A small version of `bench/compare.sh` (20 + 20 pairs).

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One run at a time in this file: a run beside another is a noisier machine.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How the server delays its answers.
#[derive(Clone, Copy)]
enum Delay {
    /// 2 ms plus an exponential of mean 2 ms, times `factor` (in thousandths).
    Scaled(u32),
    /// As `Scaled(1000)`, and 2 % of the answers 15 ms later.
    SlowTail,
}

/// A keep-alive HTTP/1.1 server on loopback, a thread per connection, each
/// with its own seeded generator; its delay mode can change between runs.
struct DelayServer {
    port: u16,
    mode: Arc<AtomicU32>,
}

const TAIL_MODE: u32 = u32::MAX;

impl DelayServer {
    fn start() -> DelayServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU32::new(1000));
        let connections = Arc::new(AtomicU64::new(0));
        let m = mode.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (mode, seed) = (m.clone(), 0x9E37_79B9_7F4A_7C15 ^ connections.fetch_add(1, Ordering::Relaxed));
                std::thread::spawn(move || serve(stream, &mode, seed));
            }
        });
        DelayServer { port, mode }
    }

    fn set(&self, d: Delay) {
        self.mode.store(
            match d {
                Delay::Scaled(f) => f,
                Delay::SlowTail => TAIL_MODE,
            },
            Ordering::Relaxed,
        );
    }
}

fn serve(stream: std::net::TcpStream, mode: &AtomicU32, seed: u64) {
    let _ = stream.set_nodelay(true);
    let mut rng = seed.max(1);
    let mut next = move || {
        // xorshift64*: uniform in (0, 1).
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        ((rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    loop {
        // The request head (no body: GETs only).
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let exp = -next().ln();
        let mode = mode.load(Ordering::Relaxed);
        let (factor, extra) =
            if mode == TAIL_MODE { (1.0, if next() < 0.02 { 15.0 } else { 0.0 }) } else { (mode as f64 / 1000.0, 0.0) };
        let ms = (2.0 + 2.0 * exp.min(10.0)) * factor + extra;
        std::thread::sleep(Duration::from_secs_f64(ms / 1000.0));
        if writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
            return;
        }
    }
}

fn scenario(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("calibration.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[target]
base_url = "http://127.0.0.1:{port}"

[[flows.main.steps]]
name = "item"
url = "/item"

[scenarios.main]
executor = "constant-vus"
vus = 6
duration = "6s"
flow = "main"
"#
        ),
    )
    .unwrap();
    path
}

fn stampede(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stampede")).args(args).output().unwrap()
}

fn run(scenario: &Path, out: &Path) {
    let o = stampede(&["run", scenario.to_str().unwrap(), "-q", "--out", &format!("summary={}", out.display())]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `stampede compare` → (exit code, the comparison as JSON).
fn compare(base: &Path, run: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let json = run.with_extension("cmp.json");
    let mut args = vec!["compare", base.to_str().unwrap(), run.to_str().unwrap(), "--json", json.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = stampede(&args);
    let code = o.status.code().unwrap();
    assert!(code == 0 || code == 111, "compare failed: {}", String::from_utf8_lossy(&o.stderr));
    (code, serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap())
}

/// The comparison of all requests together (`http_req_duration`).
fn headline(c: &serde_json::Value) -> &serde_json::Value {
    c["series"].as_array().unwrap().iter().find(|s| s["label"] == "http_req_duration").expect("http_req_duration")
}

fn verdict_at(s: &serde_json::Value, q: f64) -> &str {
    s["shifts"].as_array().unwrap().iter().find(|x| (x["q"].as_f64().unwrap() - q).abs() < 1e-9).unwrap()["verdict"]
        .as_str()
        .unwrap()
}

/// Runs `pairs` A/A and A/B comparisons (A: the server as is; B: 10 % more
/// delay), interleaved, plus one slow-tail run; prints every verdict and the
/// tallies; returns the server, the directory and the misses.
fn calibrate(pairs: usize, secs: u32) -> (DelayServer, tempfile::TempDir, Vec<String>) {
    let server = DelayServer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = scenario(dir.path(), server.port);
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("\"6s\"", &format!("\"{secs}s\""))).unwrap();
    let path = |n: String| dir.path().join(format!("{n}.json"));
    // A first run warms the machine (threads, caches, clocks) and is not used.
    server.set(Delay::Scaled(1000));
    run(&file, &path("warm".into()));
    // Interleaved, so that a drift of the machine touches both sides.
    for i in 0..=pairs {
        server.set(Delay::Scaled(1000));
        run(&file, &path(format!("a{i}")));
        if i < pairs {
            server.set(Delay::Scaled(1100));
            run(&file, &path(format!("b{i}")));
        }
    }
    server.set(Delay::SlowTail);
    run(&file, &path("tail".into()));

    let (mut same, mut slower, mut misses) = (0, 0, Vec::new());
    for i in 0..pairs {
        for (base, run, expect) in
            [(format!("a{i}"), format!("a{}", i + 1), "no_change"), (format!("a{i}"), format!("b{i}"), "slower")]
        {
            let (code, c) = compare(&path(base.clone()), &path(run.clone()), &[]);
            let h = headline(&c);
            let median = &h["shifts"].as_array().unwrap()[4];
            eprintln!(
                "compare {base} → {run}: {} (median {:+.1}%, p99 {:+.1}%), exit {code}",
                h["verdict"],
                median["relative"].as_f64().unwrap() * 100.0,
                h["shifts"][10]["relative"].as_f64().unwrap() * 100.0
            );
            assert_eq!(code, if h["verdict"] == "slower" { 111 } else { 0 }, "exit code of {base} → {run}");
            match (expect, h["verdict"] == expect) {
                ("no_change", true) => same += 1,
                ("slower", true) => slower += 1,
                _ => misses.push(format!("{base} → {run}: {} where {expect} was expected", h["verdict"])),
            }
        }
    }
    eprintln!("calibration: A/A no change {same} of {pairs}; A/B (+10 % delay) slower {slower} of {pairs}");
    (server, dir, misses)
}

#[test]
fn same_server_no_change_more_delay_slower_and_a_tail_change_is_a_tail_change() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (server, dir, misses) = calibrate(3, 5);
    let path = |n: &str| dir.path().join(format!("{n}.json"));
    // 1 miss in 6 is within what 95 % confidence allows; 2 would not be.
    assert!(misses.len() <= 1, "{misses:?}");

    // 2 % of the answers 15 ms later: the tail moved, the median did not.
    let (_, c) = compare(&path("a3"), &path("tail"), &[]);
    let h = headline(&c);
    eprintln!("compare a3 → tail (2 % of answers 15 ms later): {} — {}", h["verdict"], h["summary"]);
    assert_eq!(h["verdict"], "slower");
    assert_eq!(verdict_at(h, 0.99), "slower", "{h}");
    assert_eq!(verdict_at(h, 0.5), "no_change", "{h}");
    assert!(h["summary"].as_str().unwrap().contains("median unchanged"), "{}", h["summary"]);
    let o = stampede(&["compare", path("a3").to_str().unwrap(), path("tail").to_str().unwrap()]);
    eprintln!("{}", String::from_utf8_lossy(&o.stdout));

    // Budgets decide the exit code: p99 may get 10 % slower (it got far
    // more), the median 50 % (it did not).
    let (code, c) = compare(&path("a3"), &path("tail"), &["--budget", "http_req_duration=p(99)+10%"]);
    assert_eq!(code, 111, "{}", c["budgets"]);
    assert_eq!(c["budgets"][0]["exceeded"], true);
    let (code, c) = compare(&path("a3"), &path("tail"), &["--budget", "http_req_duration{name:item}=median +50%"]);
    assert_eq!(code, 0, "{}", c["budgets"]);

    // `run --baseline` with the scenario's own budget ([compare]): the slow
    // tail again exceeds it, and the passing run exits 111.
    let budgeted = dir.path().join("budgeted");
    std::fs::create_dir(&budgeted).unwrap();
    let file = budgeted.join("calibration.toml");
    let text = std::fs::read_to_string(dir.path().join("calibration.toml")).unwrap();
    std::fs::write(&file, format!("{text}\n[compare]\nhttp_req_duration = [\"p(99) +10%\"]\n")).unwrap();
    server.set(Delay::SlowTail);
    let report = budgeted.join("report.html");
    let o = stampede(&[
        "run",
        file.to_str().unwrap(),
        "-q",
        "--baseline",
        path("a3").to_str().unwrap(),
        "--out",
        &format!("html={}", report.display()),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(111), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("TOTAL RESULTS") && stdout.contains("✗ http_req_duration p(99) +10%"), "{stdout}");
    assert!(stdout.contains("REGRESSION: exit 111"), "{stdout}");
    // The run's HTML report has the comparison, distributions overlaid.
    let report = std::fs::read_to_string(report).unwrap();
    assert!(report.contains("<h2>Compared with ") && report.contains("Distributions: baseline and run overlaid"));

    // The Markdown and JUnit renderings.
    let md = dir.path().join("c.md");
    let xml = dir.path().join("c.xml");
    let html = dir.path().join("c.html");
    let o = stampede(&[
        "compare",
        path("a3").to_str().unwrap(),
        path("tail").to_str().unwrap(),
        "--budget",
        "http_req_duration=p(99)+10%",
        "--markdown",
        md.to_str().unwrap(),
        "--junit",
        xml.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(111));
    let md = std::fs::read_to_string(md).unwrap();
    assert!(md.contains("| `http_req_duration` |") && md.contains("Regression beyond budget"), "{md}");
    let xml = std::fs::read_to_string(xml).unwrap();
    assert!(xml.contains("tests=\"1\" failures=\"1\"") && xml.contains("<failure"), "{xml}");
    // Both runs' distributions overlaid, per series.
    let html = std::fs::read_to_string(html).unwrap();
    assert!(html.contains("http_req_duration: latency by percentile (slower)"), "no chart of all requests");
    assert_eq!(
        html.matches("<path class=\"line\"").count(),
        2 * html.matches("<figure>").count(),
        "two curves per chart"
    );
}

#[test]
fn unusable_inputs_get_a_clear_error() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let server = DelayServer::start();
    let file = scenario(dir.path(), server.port);
    // One short run is enough to have a valid file to spoil.
    std::fs::write(&file, std::fs::read_to_string(&file).unwrap().replace("\"6s\"", "\"2s\"")).unwrap();
    let good = dir.path().join("good.json");
    run(&file, &good);
    let text = std::fs::read_to_string(&good).unwrap();
    let write = |name: &str, s: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, s).unwrap();
        p
    };
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("histograms");
    let old = write("old.json", &v.to_string());
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["run"]["scenario_file"] = "other.toml".into();
    let other = write("other.json", &v.to_string());
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["histograms"]["series"][0]["hdr"][0] = "bm90IGEgaGlzdG9ncmFt".into();
    let spoiled = write("spoiled.json", &v.to_string());
    let truncated = write("truncated.json", &text[..text.len() / 2]);

    let g = good.to_str().unwrap();
    for (args, expect) in [
        (vec![g, truncated.to_str().unwrap()], "truncated.json: not JSON: EOF while parsing"),
        (vec![g, old.to_str().unwrap()], "old.json has no `histograms`"),
        (vec![g, other.to_str().unwrap()], "these are different tests (pass --allow-different-scenarios"),
        (vec![g, spoiled.to_str().unwrap()], "spoiled.json: histograms of http_req_duration: block 0: not an HDR"),
        (vec![g, g, "--budget", "http_req_duration=p(95)"], "the allowance needs a `+`"),
        (vec![g, g, "--budget", "http_req_duration{name:nope}=p(95)+5%"], "no series of that name in both runs"),
    ] {
        let mut all = vec!["compare"];
        all.extend(args.iter().copied());
        let o = stampede(&all);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(104), "{all:?}: {err}");
        assert!(err.contains(expect), "{all:?}: expected `{expect}` in: {err}");
    }
    // A baseline that cannot be compared with stops `run` before any load.
    let o = stampede(&["run", file.to_str().unwrap(), "-q", "--baseline", old.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(104));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--baseline: ")
            && String::from_utf8_lossy(&o.stderr).contains("has no `histograms`")
    );
    // The same run against itself: no change, exit 0.
    let (code, c) = compare(&good, &good, &["--allow-different-scenarios"]);
    assert_eq!(code, 0);
    assert_ne!(headline(&c)["verdict"], "slower");
}

/// The full calibration: `bench/compare.sh` runs it (20 + 20
/// pairs of 6 s runs, about 5 minutes).
#[test]
#[ignore = "minutes long: bench/compare.sh runs it"]
fn full_calibration() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let pairs: usize = std::env::var("CALIBRATION_PAIRS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let (_, dir, misses) = calibrate(pairs, 6);
    let (same, slower) = (
        pairs - misses.iter().filter(|m| m.ends_with("no_change was expected")).count(),
        pairs - misses.iter().filter(|m| m.ends_with("slower was expected")).count(),
    );
    let (_, c) = compare(&dir.path().join("a0.json"), &dir.path().join("tail.json"), &[]);
    eprintln!("calibration: slow tail: {} — {}", headline(&c)["verdict"], headline(&c)["summary"]);
    eprintln!("calibration: misses {misses:?}");
    assert!(same * 20 >= pairs * 19 && slower * 20 >= pairs * 19, "{misses:?}");
}
