//! Custom metrics recorded by three "agents" (shards of one plan), merged by
//! name and evaluated by the plan's thresholds: exact sums, the latest gauge,
//! sub-metric selectors, and pass/fail for each kind.

use std::sync::Arc;
use std::time::Duration;

use stampede_metrics::summary::evaluate;
use stampede_metrics::{Layout, MetricId, MetricValue, Shard, Snapshot};
use stampede_scenario::{Overrides, parse_str};

const PLAN: &str = r#"
[target]
base_url = "http://127.0.0.1:1"
tags = { team = "shop" }

[metrics.orders]
kind = "counter"
[metrics.server_time]
kind = "trend"
time = true
[metrics.cart_not_empty]
kind = "rate"
[metrics.stock]
kind = "gauge"

[[flows.buy.steps]]
name = "cart"
url = "/cart"
group = "shop"
metrics = [{ name = "cart_not_empty", json = "$.items[0]" }, { name = "stock", json = "$.stock" }]
[[flows.buy.steps]]
name = "checkout"
url = "/checkout"
metrics = [{ name = "orders", if_status = 201 }, { name = "server_time", header = "X-Server-Time" }]

[scenarios.s]
executor = "constant-vus"
duration = "1s"
flow = "buy"

[thresholds]
orders = ["count==300", "count>300", "rate>=10"]
"orders{team:shop}" = ["count==300"]
"orders{name:cart}" = ["count>0"]
"server_time{name:checkout}" = ["p(95)<96", "p(95)<90", "max<101"]
"cart_not_empty{group:::shop}" = ["rate>0.7", "rate>0.8"]
stock = ["value==-19", "min>=0", "max==100"]
"#;

#[test]
fn three_sources_merge_exactly_and_thresholds_hold_or_fail_by_kind() {
    let plan = parse_str(PLAN, "p.toml".as_ref(), &Overrides::default()).unwrap_or_else(|e| panic!("{e}"));
    let layout = Arc::new(Layout::of_plan(&plan));
    let [cart, checkout] = [&plan.flows[0].steps[0], &plan.flows[0].steps[1]];
    let id = |metric: u16, step: &stampede_scenario::Step| MetricId {
        metric,
        scenario: 0,
        name: step.name_id,
        group: step.group,
        tags: step.tags,
    };
    let mut merged = Snapshot::default();
    let mut at = 0u64;
    for agent in 0..3u64 {
        let mut shard = Shard::new(layout.clone());
        for i in 0..100u64 {
            at += 1;
            shard.record_metric(id(0, checkout), Some(1.0), at);
            // 1..=100 ms: p95 = 95 ms.
            shard.record_metric(id(1, checkout), Some(((i * 37 + agent) % 100 + 1) as f64), at);
            shard.record_metric(id(2, cart), Some(f64::from(u8::from(i % 4 != 0))), at);
            // The last value set anywhere is agent 2's last: 1 - 20.
            shard.record_metric(id(3, cart), Some((100 - i) as f64 - agent as f64 * 10.0), at);
        }
        shard.record_metric(id(1, checkout), None, at);
        merged.merge(&shard.into_snapshot());
    }
    let orders = merged.custom(&plan.metrics[0], &[]);
    assert_eq!(orders.value, MetricValue::Counter(300_000), "300 adds of 1, in thousandths");
    assert_eq!(merged.custom(&plan.metrics[1], &[]).skipped, 3);

    let outcomes = evaluate(&plan.thresholds, &merged, Duration::from_secs(10));
    let got: Vec<(String, bool, Option<f64>)> =
        outcomes.iter().map(|o| (format!("{} {}", o.metric, o.threshold), o.passed, o.observed)).collect();
    let want: Vec<(&str, bool, Option<f64>)> = vec![
        ("orders count==300", true, Some(300.0)),
        ("orders count>300", false, Some(300.0)),
        ("orders rate>=10", true, Some(30.0)),
        ("orders{team:shop} count==300", true, Some(300.0)),
        ("orders{name:cart} count>0", false, Some(0.0)),
        ("server_time{name:checkout} p(95)<96", true, Some(95.039)),
        ("server_time{name:checkout} p(95)<90", false, Some(95.039)),
        // Exact, as k6's: the largest sample, not its bucket's upper bound.
        ("server_time{name:checkout} max<101", true, Some(100.0)),
        ("cart_not_empty{group:::shop} rate>0.7", true, Some(0.75)),
        ("cart_not_empty{group:::shop} rate>0.8", false, Some(0.75)),
        ("stock value==-19", true, Some(-19.0)),
        ("stock min>=0", false, Some(-19.0)),
        ("stock max==100", true, Some(100.0)),
    ];
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&*g.0, g.1), (w.0, w.1), "{g:?}");
        assert!(g.2.zip(w.2).is_some_and(|(a, b)| (a - b).abs() < 1e-9), "{g:?} observed, want {w:?}");
    }
    // p(95) of a time trend is in ms; a count is not.
    assert_eq!(outcomes.iter().map(|o| o.in_ms()).collect::<Vec<_>>()[3..8], [false, false, true, true, true]);
}
