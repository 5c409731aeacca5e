//! Running out of descriptors is the load generator's limit, not the
//! target's fault: it is counted as its own kind (it used to be `other`).
//! A test binary of its own, because it lowers this process's open-files limit.

mod support;

use std::time::Duration;

use stampede_engine::RunOptions;
use stampede_metrics::ErrorKind;
use stampede_scenario::Overrides;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_is_counted_as_open_files() {
    // A listener that never accepts: connections complete in the kernel's
    // backlog and then wait, each holding a descriptor here.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let toml = format!(
        r#"
[target]
base_url = "http://{addr}"
timeout = "1s"
connect_timeout = "1s"
[[flows.f.steps]]
url = "/"
[scenarios.s]
executor = "per-vu-iterations"
flow = "f"
vus = 100
iterations = 1
"#
    );
    let plan = support::plan(&toml, &Overrides::default());
    let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    // Room for the worker's runtime and a few dozen connections, not a hundred.
    rlimit::setrlimit(rlimit::Resource::NOFILE, open_now + 40, rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap().1)
        .unwrap();
    // One worker: its runtime exists before its VUs take descriptors.
    let s = support::run(plan, RunOptions::local(1), Duration::from_secs(20)).await;
    let all = s.all_requests();
    assert_eq!(all.count(), 100);
    let (open_files, other) = (all.errors[ErrorKind::OpenFiles.index()], all.errors[ErrorKind::Other.index()]);
    assert!(open_files >= 30, "open_files {open_files}, other {other}");
    assert_eq!(other, 0);
    drop(listener);
}
