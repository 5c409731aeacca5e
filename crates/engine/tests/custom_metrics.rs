//! Custom metrics fed by steps, run on worker threads against a loopback
//! server whose `/order/N` answers are a function of N: every source (a
//! constant, `json`, `header`, `cookie`, `regex`, a template over a variable
//! the step extracted) and `if_status`, with what is skipped and what a rate
//! counts as false.

mod support;

use std::time::Duration;

use stampede_engine::RunOptions;
use stampede_metrics::custom::GaugeValue;
use stampede_metrics::{Histogram, MetricValue, Snapshot};
use stampede_scenario::{Overrides, Plan};
use support::{Server, plan, run};

/// The recorded buckets of a histogram: what two equal ones share.
fn buckets(h: &Histogram) -> Vec<(u64, u64)> {
    h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
}

/// The buckets of a histogram of exactly these values (in thousandths).
fn of(values: impl IntoIterator<Item = u64>) -> Vec<(u64, u64)> {
    let mut h = stampede_metrics::hist::new_histogram();
    for v in values {
        stampede_metrics::hist::record(&mut h, v);
    }
    buckets(&h)
}

/// Compiles `toml` and runs it to its end on `workers` workers.
async fn measure(toml: &str, workers: u32) -> (std::sync::Arc<Plan>, Snapshot) {
    let p = plan(toml, &Overrides::default());
    (p.clone(), run(p, RunOptions::local(workers), Duration::from_secs(15)).await)
}

fn metric(s: &Snapshot, p: &Plan, name: &str) -> (MetricValue, u64) {
    let m = p.metrics.iter().find(|m| &*m.name == name).unwrap();
    let stats = s.custom(m, &[]);
    (stats.value, stats.skipped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_source_feeds_its_metric_from_each_response() {
    let server = Server::start().await;
    let toml = format!(
        r#"
[target]
base_url = "{}"
[metrics.orders]
kind = "counter"
[metrics.revenue]
kind = "counter"
[metrics.server_time]
kind = "trend"
time = true
[metrics.app_time]
kind = "trend"
time = true
[metrics.total]
kind = "trend"
[metrics.cart_not_empty]
kind = "rate"
[metrics.discounted]
kind = "rate"
[metrics.stock]
kind = "gauge"
[metrics.seen]
kind = "gauge"
[metrics.missing]
kind = "trend"

[[flows.f.steps]]
name = "order"
url = "/order/{{{{ iter }}}}"
extract = [{{ var = "total", json = "$.total" }}]
metrics = [
  {{ name = "orders", if_status = 201 }},
  {{ name = "revenue", json = "$.total" }},
  {{ name = "server_time", header = "X-Server-Time" }},
  {{ name = "app_time", header = "Server-Timing" }},
  {{ name = "total", value = "{{{{ total }}}}" }},
  {{ name = "cart_not_empty", json = "$.items[0]" }},
  {{ name = "discounted", header = "X-Discount" }},
  {{ name = "stock", regex = '"stock": "(-?\d+)"' }},
  {{ name = "seen", cookie = "seen", if_status = [200, 201] }},
  {{ name = "missing", json = "$.nope" }},
]
[[flows.f.steps]]
name = "home"
url = "/"
metrics = [{{ name = "total", value = 1000 }}, {{ name = "orders", add = 0.25 }}]

[scenarios.s]
executor = "per-vu-iterations"
flow = "f"
vus = 2
iterations = 6
"#,
        server.url()
    );
    let (p, s) = measure(&toml, 2).await;
    assert_eq!(s.all_requests().count(), 24);
    // Each VU orders n = 0..=5: created for 0 and 3; plus 0.25 per home.
    assert_eq!(metric(&s, &p, "orders"), (MetricValue::Counter(4_000 + 3_000), 0));
    // 2 × 1.5 × (0 + 1 + … + 5), exactly.
    assert_eq!(metric(&s, &p, "revenue"), (MetricValue::Counter(45_000), 0));
    let trend = |name| match metric(&s, &p, name) {
        (MetricValue::Trend { hist, time, .. }, skipped) => (hist, time, skipped),
        other => panic!("{name}: {other:?}"),
    };
    let twice = |f: fn(u64) -> u64| (0..12).map(move |i| f(i % 6));
    let (h, time, skipped) = trend("server_time");
    assert!(time && skipped == 0);
    assert_eq!(buckets(&h), of(twice(|n| n * 1000)), "ms, kept as µs");
    let (h, _, _) = trend("app_time");
    assert_eq!(buckets(&h), of(twice(|n| n * 1000 + 500)), "Server-Timing's dur");
    let (h, time, _) = trend("total");
    assert!(!time);
    // The order step's extracted total, and the home step's constant.
    assert_eq!(buckets(&h), of(twice(|n| n * 1500).chain([1_000_000; 12])), "the template saw the extracted total");
    let (h, _, skipped) = trend("missing");
    assert_eq!((h.len(), skipped), (0, 12), "a trend skips what is not found");
    assert_eq!(metric(&s, &p, "cart_not_empty").0, MetricValue::Rate { trues: 6, total: 12 });
    assert_eq!(metric(&s, &p, "discounted").0, MetricValue::Rate { trues: 0, total: 12 }, "no header: false");
    let (MetricValue::Gauge(Some(GaugeValue { last, min, max, .. })), 0) = metric(&s, &p, "stock") else {
        panic!("{:?}", metric(&s, &p, "stock"))
    };
    assert_eq!((last, min, max), (5_000, 5_000, 10_000), "each VU's last order set 10 - 5");
    let (MetricValue::Gauge(Some(g)), 0) = metric(&s, &p, "seen") else { panic!() };
    assert_eq!((g.last, g.min, g.max), (5_000, 0, 5_000));
    // Samples carry the step's request name.
    let by_name = |name: &str| s.custom(&p.metrics[0], &[("name".into(), name.into())]).value;
    assert_eq!((by_name("order"), by_name("home")), (MetricValue::Counter(4_000), MetricValue::Counter(3_000)));
}

/// A batch's requests and a `for_each` step feed their metrics from each
/// response, and a value template sees the element (`{{ item }}`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_requests_and_for_each_steps_feed_metrics_per_response() {
    let server = Server::start().await;
    let toml = format!(
        r#"
[target]
base_url = "{}"
[metrics.orders]
kind = "counter"
[metrics.n]
kind = "trend"

[[flows.f.steps]]
url = "/list/6"
extract = [{{ var = "ids", json = "$.ids[*]", all = true }}]
[[flows.f.steps]]
batch = [{{ name = "order", url = "/order/{{{{ item }}}}", for_each = "ids", metrics = [{{ name = "orders", if_status = 201 }}, {{ name = "n", value = "{{{{ item }}}}" }}] }}]
[[flows.f.steps]]
name = "again"
url = "/order/{{{{ item }}}}"
for_each = "ids"
metrics = [{{ name = "orders", if_status = 201 }}, {{ name = "n", value = "{{{{ item }}}}" }}]

[scenarios.s]
executor = "per-vu-iterations"
flow = "f"
vus = 1
iterations = 1
"#,
        server.url()
    );
    let (p, s) = measure(&toml, 1).await;
    assert_eq!(s.all_requests().count(), 13);
    // Orders 0 and 3 are created, once by the batch and once by the loop.
    let by_name = |name: &str| s.custom(&p.metrics[0], &[("name".into(), name.into())]).value;
    assert_eq!((by_name("order"), by_name("again")), (MetricValue::Counter(2_000), MetricValue::Counter(2_000)));
    let (MetricValue::Trend { hist, .. }, 0) = metric(&s, &p, "n") else { panic!("{:?}", metric(&s, &p, "n").1) };
    assert_eq!(buckets(&hist), of((0..12).map(|i| (i % 6) * 1000)), "each element, twice");
}
