//! Placement across load processes and source addresses, on a machine
//! made small on purpose: in a network namespace of its own (root, as CI
//! is) with 500 ephemeral ports, and with 1,024 open files per process,
//! 2,000 VUs need 3 load processes (768 connections each at most) and 9
//! source addresses (225 connections each: under half of the ports, where
//! Linux's `connect()` stays fast). The shop's side of the
//! connections, counted by `ss` per peer address, shows where they came from.

use std::path::Path;
use std::process::Command;

#[test]
fn two_thousand_vus_on_a_small_machine_spread_over_processes_and_source_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("many.toml");
    std::fs::write(
        &scenario,
        r#"
[target]
base_url = "http://127.0.0.1:1"
think_time = { min = "900ms", max = "1100ms" }

[[flows.browse.steps]]
name = "product"
url = "/api/products/{{ random_int(1, 500) }}"
checks = [{ status = 200 }]

[scenarios.crowd]
executor = "constant-vus"
vus = 2000
duration = "14s"
flow = "browse"

[thresholds]
http_req_failed = ["rate<0.01"]
"#,
    )
    .unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/placement/netns.sh");
    let status = Command::new("unshare")
        .arg("-n")
        .arg("sh")
        .arg(&script)
        .arg(env!("CARGO_BIN_EXE_stampede"))
        .arg(&scenario)
        .arg(dir.path())
        .args(["1024", "50000 50499"])
        .status()
        .expect("unshare (util-linux)");
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap_or_default();
    assert!(
        status.success(),
        "netns.sh (needs root for a network namespace): {}\n{}",
        read("run.err"),
        read("shop.log")
    );
    let err = read("run.err");
    assert_eq!(read("run.code").trim(), "0", "{err}\n{}", read("run.out"));
    // The plan's figures, printed at the start.
    assert!(
        err.contains("placement: 2000 VUs, 2000 connections → 3 load processes, at most 667 connections each (open files: 1024 per process); source addresses 127.0.0.2-127.0.0.10"),
        "{err}"
    );
    let summary: serde_json::Value = serde_json::from_str(&read("summary.json")).unwrap();
    assert_eq!(summary["agents"].as_array().map(Vec::len), Some(3), "{}", summary["agents"]);
    assert_eq!(summary["metrics"]["vus"]["max"], 2000);
    // Server side: every VU's connection, from nine source addresses, evenly.
    let sources: Vec<(u64, String)> = read("sources.txt")
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.parse().ok()?, it.next()?.to_string()))
        })
        .collect();
    println!("connections at the shop by source address: {sources:?}");
    let mut addrs: Vec<&str> = sources.iter().map(|(_, a)| a.as_str()).collect();
    addrs.sort_by_key(|a| a.parse::<std::net::Ipv4Addr>().ok());
    let expected: Vec<String> = (2..=10).map(|i| format!("127.0.0.{i}")).collect();
    assert_eq!(addrs, expected, "{sources:?}");
    let total: u64 = sources.iter().map(|(n, _)| n).sum();
    assert!((1990..=2000).contains(&total), "{total} connections");
    for (n, a) in &sources {
        assert!(*n <= 225, "{a} carries {n} connections, more than half its ports");
    }
}

/// A k6 script with more VUs than one process may hold connections for
/// (1,024 open files, set for the test) runs on as many load processes as
/// that needs, chosen and printed as for a scenario file; `--agents 0` is
/// refused with what would work.
#[test]
fn a_script_larger_than_one_process_is_placed_over_several() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("crowd.js");
    std::fs::write(
        &script,
        "import { sleep } from 'k6';\n\
         export const options = { vus: 1500, duration: '2s' };\n\
         export default function () { sleep(0.5); }\n",
    )
    .unwrap();
    let summary = dir.path().join("summary.json");
    let run = |extra: &[&str]| {
        Command::new("prlimit")
            .args(["--nofile=1024:1024", env!("CARGO_BIN_EXE_stampede"), "run"])
            .arg(&script)
            .args(["--headless", "--out"])
            .arg(format!("summary={}", summary.display()))
            .args(extra)
            .output()
            .expect("prlimit (util-linux)")
    };
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("placement: 1500 VUs, 1500 connections → 2 load processes"), "{err}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["agents"].as_array().map(Vec::len), Some(2), "{}", s["agents"]);
    assert_eq!(s["metrics"]["vus"]["max"], 1500);
    // 1,500 VUs x ~4 iterations of 0.5 s in 2 s.
    assert!(s["metrics"]["iterations"]["count"].as_u64().unwrap() >= 4000, "{}", s["metrics"]["iterations"]);

    let out = run(&["--agents", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(104), "{err}");
    assert!(err.contains("1024 files"), "{err}");
}
