//! Flow control inside an iteration (`only_if`), run on worker threads
//! against a loopback server that logs every request it gets.

mod support;

use std::time::Duration;

use stampede_engine::RunOptions;
use stampede_scenario::Overrides;
use support::{Server, plan, run};

/// The server answers `ok` to everything: `flag` is extracted (set),
/// `missing` is not (its regex never matches). A step with `only_if` on an
/// unset variable, or on a value it does not hold, sends nothing and counts
/// no sample; the others run every iteration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_if_skips_a_step_when_the_variable_is_not_set_and_runs_it_when_it_is() {
    let server = Server::start().await;
    let toml = format!(
        r#"
[target]
base_url = "{}"
[[flows.f.steps]]
url = "/start"
extract = [{{ var = "flag", regex = "(ok)" }}, {{ var = "missing", regex = "(nope)" }}]
[[flows.f.steps]]
url = "/set"
only_if = "flag"
[[flows.f.steps]]
url = "/unset"
only_if = "missing"
[[flows.f.steps]]
url = "/equal"
only_if = {{ var = "flag", equals = "ok" }}
[[flows.f.steps]]
url = "/different"
only_if = {{ var = "flag", equals = "ko" }}
[scenarios.s]
executor = "per-vu-iterations"
flow = "f"
vus = 2
iterations = 3
"#,
        server.url()
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(2), Duration::from_secs(15)).await;
    let targets = server.seen.targets.lock().unwrap().clone();
    let count = |t: &str| targets.iter().filter(|x| *x == t).count();
    assert_eq!(s.iterations(), 6);
    assert_eq!((count("/start"), count("/set"), count("/equal")), (6, 6, 6), "{targets:?}");
    assert_eq!((count("/unset"), count("/different")), (0, 0), "{targets:?}");
    assert_eq!(s.all_requests().count(), 18, "only the requests sent are counted");
}
