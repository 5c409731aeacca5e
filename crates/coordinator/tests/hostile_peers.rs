//! The coordinator in-process, on 127.0.0.1: limits are refused before any
//! agent waits.

use std::time::Duration;

use stampede_coordinator::{Coordinator, CoordinatorConfig, CoordinatorError, LossPolicy};
use stampede_metrics::live::LiveState;
use stampede_proto::v1;

const SCENARIO: &str = r#"
[target]
base_url = "http://127.0.0.1:9"
[[flows.main.steps]]
url = "/never-contacted"
[scenarios.main]
executor = "shared-iterations"
vus = 2
iterations = 10
flow = "main"
"#;

fn config(expected_agents: usize, data: Vec<(String, Vec<u8>)>) -> CoordinatorConfig {
    CoordinatorConfig {
        expected_agents,
        token: None,
        agent_timeout: Duration::from_secs(30),
        on_agent_loss: LossPolicy::Continue,
        interval: Duration::from_secs(1),
        seed: 1,
        scenario_toml: SCENARIO.into(),
        scenario_name: "hostile.toml".into(),
        data_files: data,
        overrides: v1::Overrides::default(),
        print: false,
    }
}

fn live() -> stampede_metrics::live::Shared {
    LiveState::new("hostile.toml".into(), vec!["main".into()], Duration::from_secs(1), 2).shared()
}

async fn serve(cfg: CoordinatorConfig) -> Result<Coordinator, CoordinatorError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Coordinator::serve(cfg, listener, None, live())
}

#[tokio::test]
async fn an_assignment_over_the_message_limit_is_refused_before_any_agent_waits() {
    let big = vec![b'x'; stampede_proto::MAX_MESSAGE_BYTES + 1];
    let err = serve(config(1, vec![("users.csv".into(), big)])).await.expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, CoordinatorError::AssignmentTooLarge(_)), "{err:?}");
    assert!(text.contains("64.0 MiB (scenario + data files), over the 64 MiB limit"), "{text}");
    // Just under the limit is fine.
    let fits = vec![b'x'; stampede_proto::MAX_MESSAGE_BYTES - 64 * 1024];
    serve(config(1, vec![("users.csv".into(), fits)])).await.expect("fits");
}
