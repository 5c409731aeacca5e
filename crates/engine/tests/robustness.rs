//! Regression tests for plans and targets that used to hang the engine, leak
//! credentials, get past the allow-list, exhaust memory or skip data rows.
//! Each runs a real plan on worker threads against a loopback server.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use stampede_engine::RunOptions;
use stampede_engine::allow::AllowList;
use stampede_metrics::ErrorKind;
use stampede_scenario::Overrides;
use support::{Server, plan, run};

fn errors(s: &stampede_metrics::Snapshot) -> BTreeMap<&'static str, u64> {
    let all = s.all_requests();
    ErrorKind::ALL.iter().filter(|k| all.errors[k.index()] > 0).map(|k| (k.as_str(), all.errors[k.index()])).collect()
}

/// Two workers, one VU slot: the worker that owns no slot used to spin
/// forever looking for one (100 % CPU, no signal handled, no output).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arrival_rate_with_fewer_vus_than_workers_runs_and_ends() {
    let server = Server::start().await;
    let toml = format!(
        r#"
[target]
base_url = "{}"
[[flows.f.steps]]
url = "/"
[scenarios.s]
executor = "constant-arrival-rate"
flow = "f"
rate = 20
duration = "2s"
pre_allocated_vus = 1
max_vus = 1
"#,
        server.url()
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(2), Duration::from_secs(15)).await;
    assert_eq!(s.iterations(), 40, "every planned iteration ran on the worker that owns the VU");
    assert_eq!(server.seen.count(), 40);
}

fn rows_plan(server: &Server, executor: &str) -> (String, Overrides) {
    let toml = format!(
        r#"
[target]
base_url = "{}"
[data.rows]
file = "rows.csv"
order = "sequential"
[[flows.f.steps]]
url = "/row/{{{{ data.rows.id }}}}"
[scenarios.s]
flow = "f"
{executor}
"#,
        server.url()
    );
    let overrides = Overrides {
        data_files: vec![("rows.csv".into(), b"id\n0\n1\n2\n3\n4\n5\n6\n7\n".to_vec())],
        ..Default::default()
    };
    (toml, overrides)
}

fn rows_seen(server: &Server) -> Vec<u64> {
    let targets = server.seen.targets.lock().unwrap();
    targets.iter().map(|t| t.trim_start_matches("/row/").parse().unwrap()).collect()
}

/// Sequential rows: the test's n-th iteration gets row n. One VU on two
/// workers used to get rows 0, 2, 4, 6 only (the count was strided by the
/// number of workers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_rows_follow_the_iterations_of_the_test_on_any_number_of_workers() {
    let server = Server::start().await;
    let (toml, o) = rows_plan(&server, "executor = \"shared-iterations\"\nvus = 1\niterations = 10");
    run(plan(&toml, &o), RunOptions::local(2), Duration::from_secs(15)).await;
    assert_eq!(rows_seen(&server), [0, 1, 2, 3, 4, 5, 6, 7, 0, 1]);
}

/// The same across processes: two "agents" of one worker each, as the
/// coordinator splits them. With one VU, the agent holding it numbers every
/// iteration; with one VU per agent, the two interleave without a repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_rows_are_numbered_across_agents() {
    for (executor, expected) in [
        ("executor = \"shared-iterations\"\nvus = 1\niterations = 8", vec![0, 1, 2, 3, 4, 5, 6, 7]),
        ("executor = \"per-vu-iterations\"\nvus = 2\niterations = 4", vec![0, 1, 2, 3, 4, 5, 6, 7]),
    ] {
        let server = Server::start().await;
        let (toml, o) = rows_plan(&server, executor);
        let p = plan(&toml, &o);
        let agent =
            |first: u32| RunOptions { first_worker: first, workers: 1, total_workers: 2, ..RunOptions::local(1) };
        let (a, b) = tokio::join!(
            run(p.clone(), agent(0), Duration::from_secs(15)),
            run(p.clone(), agent(1), Duration::from_secs(15))
        );
        assert_eq!(a.iterations() + b.iterations(), 8);
        let mut seen = rows_seen(&server);
        if executor.contains("per-vu") {
            seen.sort_unstable();
        }
        assert_eq!(seen, expected, "{executor}");
    }
}

/// `http://user:secret@host` is Basic auth, and the credentials never reach
/// the `Host` header (they used to be sent verbatim in it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_a_url_become_basic_auth_and_stay_out_of_the_host_header() {
    let server = Server::start().await;
    let toml = format!(
        r#"
[target]
base_url = "http://shopper:p%40ss@{}"
[[flows.f.steps]]
url = "/account"
[scenarios.s]
executor = "shared-iterations"
flow = "f"
vus = 1
iterations = 2
"#,
        server.addr
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(15)).await;
    assert_eq!(s.total_requests(), 2);
    assert_eq!(*server.seen.hosts.lock().unwrap(), vec![server.addr.to_string(); 2]);
    // base64("shopper:p@ss")
    let basic = Some("Basic c2hvcHBlcjpwQHNz".to_string());
    assert_eq!(*server.seen.authorizations.lock().unwrap(), vec![basic; 2]);
}

/// A URL whose host comes from a template is checked where the connection
/// is made. `0.0.0.0` reaches this machine's listeners (Linux treats it as
/// the local host) but is not a loopback address, so a loopback-only agent
/// must not connect to it; it used to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_templated_destination_outside_the_allow_list_is_never_contacted() {
    let server = Server::start().await;
    let toml = r#"
[[flows.f.steps]]
url = "{{ env.T }}/x"
[scenarios.s]
executor = "shared-iterations"
flow = "f"
vus = 2
iterations = 6
"#;
    let o =
        Overrides { env: vec![("T".into(), format!("http://0.0.0.0:{}", server.addr.port()))], ..Default::default() };
    let loopback_only = RunOptions { allow: Some(Arc::new(AllowList::new(&[]))), ..RunOptions::local(2) };
    let s = run(plan(toml, &o), loopback_only, Duration::from_secs(15)).await;
    assert_eq!(server.seen.count(), 0, "nothing reached the destination");
    assert_eq!(errors(&s), BTreeMap::from([("not_allowed", 6)]));

    // The same destination on the list is reached (the check is not a blanket refusal).
    let listed = RunOptions { allow: Some(Arc::new(AllowList::new(&["0.0.0.0".into()]))), ..RunOptions::local(2) };
    let s = run(plan(toml, &o), listed, Duration::from_secs(15)).await;
    assert_eq!((s.total_requests(), s.total_failed()), (6, 0));
    assert_eq!(server.seen.count(), 6);
}

/// Peak memory of this test process so far (VmHWM), in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// A body a check reads is kept up to the cap, then the request fails as
/// `body_too_large`. Against an endless body, 4 VUs used to reach 2.9 GB
/// in 3 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_body_that_a_check_reads_is_capped() {
    let server = Server::start().await;
    let toml = format!(
        r#"
[target]
base_url = "{}"
timeout = "6s"
[[flows.f.steps]]
url = "/endless"
checks = [{{ body_contains = "done" }}]
[scenarios.s]
executor = "constant-vus"
flow = "f"
vus = 4
duration = "3s"
graceful_stop = "1s"
"#,
        server.url()
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(2), Duration::from_secs(20)).await;
    let e = errors(&s);
    assert!(e.get("body_too_large").is_some_and(|n| *n >= 4), "{e:?}");
    assert_eq!(e.len(), 1, "{e:?}");
    let peak = peak_rss();
    assert!(peak < 600 << 20, "peak RSS {} MiB", peak >> 20);
}

/// `max_body_size` sets the cap: a body over it fails, one under it is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_cap_is_the_targets_max_body_size() {
    let server = Server::start().await;
    let toml = format!(
        r#"
[target]
base_url = "{}"
max_body_size = "64KiB"
[[flows.f.steps]]
name = "small"
url = "/bytes/65536"
checks = [{{ body_contains = "x" }}]
[[flows.f.steps]]
name = "large"
url = "/bytes/65537"
checks = [{{ body_contains = "x" }}]
[scenarios.s]
executor = "shared-iterations"
flow = "f"
vus = 1
iterations = 3
"#,
        server.url()
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(15)).await;
    let (small, large) = (s.by_name("small"), s.by_name("large"));
    assert_eq!((small.count(), small.failed()), (3, 0));
    assert_eq!((large.count(), large.errors[ErrorKind::BodyTooLarge.index()]), (3, 3));
    let checks: u64 = s.checks.values().map(|c| c.passes).sum();
    assert_eq!(checks, 3, "the small body is checked, the large one is not");
}

/// Shared iterations never start more VUs than iterations, and the plan says
/// so too (the plan and the engine used to disagree: 10 against 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_iterations_peak_vus_is_what_the_engine_starts() {
    let server = Server::start().await;
    let toml = format!(
        "[target]\nbase_url = \"{}\"\n[[flows.f.steps]]\nurl = \"/\"\n[scenarios.s]\nexecutor = \"shared-iterations\"\nflow = \"f\"\nvus = 10\niterations = 3\n",
        server.url()
    );
    let p = plan(&toml, &Overrides::default());
    assert_eq!(p.peak_vus(), 3);
    let s = run(p, RunOptions::local(2), Duration::from_secs(15)).await;
    assert_eq!(s.iterations(), 3);
    assert_eq!(s.vus_max(), 3, "VUs allocated over both workers");
}
