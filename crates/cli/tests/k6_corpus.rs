//! Issue 16's acceptance corpus: unmodified k6 scripts (`tests/k6/corpus`),
//! one per API area and the combinations real tests use, each run by the real
//! binary (`stampede run SCRIPT -e BASE=… --out summary=… --agents 0`) against a
//! loopback shop; the requests per name, checks, custom metrics, threshold
//! verdicts, exit code and what the server received must be what k6's
//! semantics say (`tests/k6/expect.rs`, checked against k6 itself by
//! `k6_side_by_side`).
//!
//! `K6_CORPUS_ONLY=NN` runs only the scripts whose name starts with NN.

#[path = "k6/expect.rs"]
mod expect;
#[path = "k6/observed.rs"]
mod observed;
#[path = "k6/server.rs"]
mod server;

use std::process::Command;

use observed::{corpus_dir, corpus_scripts, mismatches, run_stampede, run_stampede_with};

fn selected() -> Vec<String> {
    let only = std::env::var("K6_CORPUS_ONLY").unwrap_or_default();
    corpus_scripts().into_iter().filter(|s| s.starts_with(&only)).collect()
}

#[test]
fn the_corpus_has_forty_short_commented_scripts_each_with_its_expectations() {
    let scripts = corpus_scripts();
    assert!(scripts.len() >= 40, "{} scripts", scripts.len());
    for s in &scripts {
        assert!(expect::find(s).is_some(), "{s} has no expectations in tests/k6/expect.rs");
        let text = std::fs::read_to_string(corpus_dir().join(s)).unwrap();
        assert!(text.starts_with("// "), "{s}: a one-line comment first says what it shows");
        let lines = text.lines().count();
        assert!((10..=40).contains(&lines), "{s}: {lines} lines");
        assert!(text.contains("__ENV.BASE"), "{s}: the base URL comes from __ENV.BASE");
    }
    for e in expect::EXPECTATIONS {
        assert!(scripts.iter().any(|s| s == e.script), "expectations for a missing script {}", e.script);
    }
    for executor in [
        "shared-iterations",
        "per-vu-iterations",
        "constant-vus",
        "ramping-vus",
        "constant-arrival-rate",
        "ramping-arrival-rate",
    ] {
        let quoted = format!("'{executor}'");
        assert!(
            scripts.iter().any(|s| std::fs::read_to_string(corpus_dir().join(s)).unwrap().contains(&quoted)),
            "no script uses {executor}"
        );
    }
}

#[test]
fn every_corpus_script_validates() {
    let mut refused = Vec::new();
    for s in selected() {
        let out = Command::new(env!("CARGO_BIN_EXE_stampede"))
            .arg("validate")
            .arg(corpus_dir().join(&s))
            .args(["-e", "BASE=http://127.0.0.1:1"])
            .output()
            .unwrap();
        if out.status.code() != Some(0) {
            refused.push(format!("{s}: exit {:?}\n{}", out.status.code(), String::from_utf8_lossy(&out.stderr)));
        }
    }
    assert!(refused.is_empty(), "refused:\n{}", refused.join("\n"));
}

#[test]
fn every_corpus_script_runs_as_k6_semantics_say() {
    let mut failures = Vec::new();
    for s in selected() {
        let e = expect::find(&s).unwrap_or_else(|| panic!("no expectations for {s}"));
        let o = run_stampede(&s);
        let m = mismatches(e, &o);
        if !m.is_empty() {
            let log: String = o.log.lines().take(20).collect::<Vec<_>>().join("\n    ");
            failures.push(format!("{s}:\n  - {}\n  output:\n    {log}", m.join("\n  - ")));
        }
    }
    assert!(failures.is_empty(), "{} script(s) differ from k6's semantics:\n{}", failures.len(), failures.join("\n"));
}

/// Issue 16, point 4: the script, its local modules, the files its init code
/// opens and `setup()`'s result travel to the agents (no shared disk);
/// segments and VU ids as for TOML; `setup()` and `teardown()` once. These
/// scripts' figures do not depend on how VUs are spread (scripts whose
/// checks depend on `__VU` or on one VU's iteration order are left to the
/// in-process run).
#[test]
fn scripts_spread_over_two_agents_give_the_same_figures() {
    let distributed =
        ["01_", "05_", "15_", "17_", "18_", "22_", "24_", "26_", "27_", "29_", "31_", "32_", "33_", "43_", "45_"];
    let mut failures = Vec::new();
    for s in corpus_scripts().into_iter().filter(|s| distributed.iter().any(|p| s.starts_with(p))) {
        let e = expect::find(&s).unwrap_or_else(|| panic!("no expectations for {s}"));
        let o = run_stampede_with(&s, 2);
        let m = mismatches(e, &o);
        if !m.is_empty() {
            let log: String = o.log.lines().take(20).collect::<Vec<_>>().join("\n    ");
            failures.push(format!("{s}:\n  - {}\n  output:\n    {log}", m.join("\n  - ")));
        }
    }
    assert!(failures.is_empty(), "{} script(s) differ over 2 agents:\n{}", failures.len(), failures.join("\n"));
}
