//! `/metrics` of the origin and the edge parse as Prometheus text and follow the exposition format.

mod common;

use std::collections::HashMap;

use common::{Http, cart_with};

/// Parses with `prometheus-parse` and checks the rules `promtool check metrics` enforces.
fn parse_strict(text: &str) -> prometheus_parse::Scrape {
    let mut types: HashMap<&str, &str> = HashMap::new();
    let mut helps = 0;
    let mut plain_samples = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(types.insert(name, kind).is_none(), "family {name} declared twice");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name} must end in _total");
            }
        } else if line.starts_with("# HELP ") {
            helps += 1;
        } else {
            assert!(!line.is_empty() && !line.starts_with('#'), "unexpected line {line:?}");
            let name = line.split(['{', ' ']).next().unwrap();
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s).filter(|f| types.get(f) == Some(&"histogram")))
                .unwrap_or(name);
            assert!(types.contains_key(family), "sample {name} before its TYPE line");
            // prometheus-parse folds `_bucket` lines into one sample per series; all others stay.
            if family == name || !name.ends_with("_bucket") {
                plain_samples += 1;
            }
            assert!(line.rsplit(' ').next().unwrap().parse::<f64>().is_ok(), "bad value in {line:?}");
        }
    }
    assert_eq!(helps, types.len(), "every family needs a HELP line");
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let parsed = scrape.samples.iter().filter(|s| !matches!(s.value, prometheus_parse::Value::Histogram(_))).count();
    assert_eq!(parsed, plain_samples, "the parser dropped lines:\n{text}");
    scrape
}

fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref h) => h.last().map_or(0.0, |b| b.count),
            _ => f64::NAN,
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

#[tokio::test]
async fn origin_and_edge_metrics_parse_and_count() {
    let shop = common::small().await;
    let http = Http::new();
    let (origin, edge) = (shop.origin_url(), shop.edge_url());
    for _ in 0..3 {
        http.get(&format!("{edge}/api/products/8")).await;
        http.get(&format!("{origin}/api/products/8")).await;
    }
    http.get(&format!("{origin}/nope")).await;
    let cookie = cart_with(&http, &origin, 8, 1).await;
    http.post(&format!("{origin}/api/checkout"), &[("cookie", &cookie)], "").await;

    let r = http.get(&format!("{origin}/metrics")).await;
    assert_eq!(r.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let scrape = parse_strict(&text);
    let route = [("route", "/api/products/:id"), ("status", "200")];
    assert_eq!(value(&scrape, "shop_http_requests_total", &route), 4.0, "{text}");
    assert_eq!(value(&scrape, "shop_http_requests_total", &[("route", "other"), ("status", "404")]), 1.0);
    assert_eq!(value(&scrape, "shop_orders_total", &[]), 1.0);
    assert_eq!(value(&scrape, "shop_http_request_duration_seconds", &[("route", "/api/products/:id")]), 4.0);
    assert_eq!(value(&scrape, "shop_cache_requests_total", &[("cache", "product"), ("result", "miss")]), 1.0);
    assert_eq!(value(&scrape, "shop_cache_requests_total", &[("cache", "product"), ("result", "hit")]), 3.0);
    assert!(value(&scrape, "shop_db_pool_wait_seconds", &[]) > 0.0);
    for family in ["shop_db_pool_waits_total", "shop_receipt_queue_depth", "shop_db_pool_size"] {
        assert!(scrape.samples.iter().any(|s| s.metric == family), "{family} missing");
    }
    assert!(text.contains("shop_http_request_duration_seconds_bucket{route=\"/api/products/:id\",le=\"+Inf\"} 4\n"));

    let r = http.get(&format!("{edge}/metrics")).await;
    let text = String::from_utf8(r.body.to_vec()).unwrap();
    let scrape = parse_strict(&text);
    assert_eq!(value(&scrape, "shop_edge_origin_fetches_total", &[]), 1.0, "{text}");
    assert_eq!(value(&scrape, "shop_edge_requests_total", &[("result", "hit")]), 2.0);
    assert_eq!(value(&scrape, "shop_edge_requests_total", &[("result", "miss")]), 1.0);
    assert_eq!(value(&scrape, "shop_edge_cache_entries", &[]), 1.0);
}
