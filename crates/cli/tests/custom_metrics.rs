//! Issue 15, point 7: custom metrics end to end. A coordinator and 3 agent
//! processes on 127.0.0.1 feed a counter, a time trend, a rate and a gauge
//! from a loopback server's `/order` answers: the counter equals the
//! server's own count exactly, thresholds on each kind pass and fail as the
//! server's answers say, and every output carries them.

mod support;

use std::sync::atomic::Ordering;

use support::{Server, run_cluster, tempdir};

fn outcome<'a>(s: &'a serde_json::Value, selector: &str, expr: &str) -> &'a serde_json::Value {
    s["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["metric"] == selector && t["threshold"] == expr)
        .unwrap_or_else(|| panic!("no threshold `{selector}` `{expr}` in {}", s["thresholds"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_counter_equals_the_server_count_across_three_agents_and_thresholds_hold_by_kind() {
    let server = Server::start().await;
    let dir = tempdir();
    // 600 orders: n = 0..599 server-side, so 200 created (201), server
    // times 1..=40 ms, half the carts with an item, the last stock 401.
    let scenario = format!(
        r#"
[target]
base_url = "{}"

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
name = "order"
method = "POST"
url = "/order"
group = "checkout"
tags = {{ page = "order" }}
metrics = [
  {{ name = "orders", if_status = 201 }},
  {{ name = "server_time", header = "X-Server-Time" }},
  {{ name = "cart_not_empty", json = "$.items[0]" }},
  {{ name = "stock", json = "$.stock" }},
]

[scenarios.buyers]
executor = "shared-iterations"
vus = 6
iterations = 600
max_duration = "30s"
flow = "buy"

[thresholds]
orders = ["count==200", "count>200"]
"orders{{group:::checkout,page:order}}" = ["count==200"]
"server_time{{name:order}}" = ["p(95)<45", "p(95)<20"]
cart_not_empty = ["rate>0.4", "rate>0.6"]
stock = ["value<=500", "value>600", "max>=1000", "min<400"]
"#,
        server.url()
    );
    let junit = dir.path().join("run.xml");
    let html = dir.path().join("run.html");
    let out = run_cluster(
        dir.path(),
        &scenario,
        3,
        &["--out", &format!("junit={}", junit.display()), "--out", &format!("html={}", html.display())],
    )
    .await;
    assert_eq!(out.code, 99, "thresholds fail: {}", out.stderr);
    let s = out.summary.expect("json summary");

    // Exact across agents: what the server created is what the counter counted.
    let created = server.seen.orders_created.load(Ordering::Relaxed);
    assert_eq!(server.seen.orders.load(Ordering::Relaxed), 600);
    assert_eq!(created, 200);
    let custom = &s["custom_metrics"];
    assert_eq!(custom["orders"]["count"].as_u64(), Some(created), "{custom}");
    let agents = s["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 3);
    assert!(agents.iter().all(|a| a["requests"].as_u64().unwrap() > 0), "each agent sent some: {agents:?}");
    assert_eq!(custom["server_time"]["count"], 600);
    assert_eq!(custom["server_time"]["time"], true);
    assert_eq!(
        (custom["cart_not_empty"]["trues"].as_u64(), custom["cart_not_empty"]["total"].as_u64()),
        (Some(300), Some(600))
    );
    assert_eq!((custom["stock"]["min"].as_i64(), custom["stock"]["max"].as_i64()), (Some(401), Some(1000)));

    for (selector, expr, passed) in [
        ("orders", "count==200", true),
        ("orders", "count>200", false),
        ("orders{group:::checkout,page:order}", "count==200", true),
        ("server_time{name:order}", "p(95)<45", true),
        ("server_time{name:order}", "p(95)<20", false),
        ("cart_not_empty", "rate>0.4", true),
        ("cart_not_empty", "rate>0.6", false),
        ("stock", "value<=500", true),
        ("stock", "value>600", false),
        ("stock", "max>=1000", true),
        ("stock", "min<400", false),
    ] {
        let t = outcome(&s, selector, expr);
        assert_eq!(t["passed"], passed, "{t}");
    }
    let p95 = outcome(&s, "server_time{name:order}", "p(95)<20")["observed"].as_f64().unwrap();
    assert!((37.0..=40.1).contains(&p95), "p(95) of 1..=40 ms in ms: {p95}");
    let stock = outcome(&s, "stock", "value<=500")["observed"].as_f64().unwrap();
    assert!((401.0..=500.0).contains(&stock), "the latest stock of any agent, near the server's last (401): {stock}");

    let shares: Vec<u64> = agents.iter().map(|a| a["requests"].as_u64().unwrap()).collect();
    eprintln!(
        "server created {created} orders, the counter says {}; requests per agent {shares:?}; server_time p(95) {p95} ms; stock {stock}",
        custom["orders"]["count"]
    );

    // Every output carries them.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"classname="thresholds.server_time{name:order}" name="p(95)&lt;20""#), "{xml}");
    assert!(xml.contains("failed: observed p(95)=3"), "the observed value in ms: {xml}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("<h2>Custom metrics</h2>")
            && page.contains("<td class=\"name\">orders</td><td>counter</td><td>200 ")
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(text.contains("CUSTOM") && text.contains("cart_not_empty"), "the end-of-test summary:\n{text}");
}
