//! The Prometheus exposition: strict format checks, the Grafana dashboard
//! against what is exported, and the HTTP endpoint on loopback.

mod support;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use regex::Regex;
use stampede_report::prometheus::{CONTENT_TYPE, prometheus_text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn live() -> stampede_metrics::live::LiveState {
    support::run(&mut [], 5, 300, 21).1
}

/// Checks the text format the way a strict reader would, beyond what the
/// parser crate enforces; returns the sample names.
fn strict_check(text: &str) -> BTreeSet<String> {
    let name_re = Regex::new(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$").unwrap();
    let label_re = Regex::new(r#"^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"$"#).unwrap();
    let mut families_seen = HashSet::new();
    let mut series_seen = HashSet::new();
    let mut samples = BTreeSet::new();
    // (family, type) once both HELP and TYPE were read.
    let mut current: Option<(String, String)> = None;
    let mut pending_help: Option<String> = None;
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a text");
            assert!(!help.trim().is_empty(), "{name}: empty HELP");
            assert!(name_re.is_match(name), "bad name {name}");
            assert!(families_seen.insert(name.to_string()), "family {name} appears twice");
            pending_help = Some(name.to_string());
            current = None;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(pending_help.take().as_deref(), Some(name), "TYPE {name} must follow its HELP");
            assert!(["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind), "{kind}");
            if kind == "counter" {
                assert!(name.ends_with("_total"), "counter {name} must end in _total");
            } else {
                assert!(!name.ends_with("_total"), "only counters end in _total: {name}");
            }
            for bad in ["_ms", "millis", "_percent", "_kb", "_mb"] {
                assert!(!name.contains(bad), "{name}: use base units (seconds, bytes, ratios)");
            }
            current = Some((name.to_string(), kind.to_string()));
        } else {
            assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line `{line}`");
            let (family, kind) = current.as_ref().unwrap_or_else(|| panic!("sample before HELP/TYPE: {line}"));
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value), "bad value in `{line}`");
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n, l.strip_suffix('}').expect("closing brace")),
                None => (series, ""),
            };
            let allowed: Vec<String> = match kind.as_str() {
                "summary" => vec![family.clone(), format!("{family}_sum"), format!("{family}_count")],
                _ => vec![family.clone()],
            };
            assert!(allowed.contains(&name.to_string()), "sample {name} outside its family {family}");
            let mut keys = Vec::new();
            if !labels.is_empty() {
                // Split on commas outside quotes.
                let mut parts = Vec::new();
                let (mut start, mut quoted, mut escaped) = (0, false, false);
                for (i, c) in labels.char_indices() {
                    match c {
                        '\\' if quoted && !escaped => escaped = true,
                        '"' if !escaped => quoted = !quoted,
                        ',' if !quoted => {
                            parts.push(&labels[start..i]);
                            start = i + 1;
                        }
                        _ => escaped = false,
                    }
                    if c != '\\' {
                        escaped = false;
                    }
                }
                parts.push(&labels[start..]);
                for p in parts {
                    let cap = label_re.captures(p).unwrap_or_else(|| panic!("bad label `{p}` in `{line}`"));
                    keys.push(cap[1].to_string());
                }
            }
            let unique: HashSet<_> = keys.iter().collect();
            assert_eq!(unique.len(), keys.len(), "duplicate label in `{line}`");
            if kind != "summary" {
                assert!(!keys.contains(&"quantile".to_string()), "`quantile` is reserved for summaries: {line}");
            }
            assert!(!keys.contains(&"le".to_string()), "`le` is reserved for histograms: {line}");
            if kind == "summary" && name == family {
                assert!(keys.contains(&"quantile".to_string()), "summary quantile sample without quantile: {line}");
            }
            assert!(series_seen.insert(series.to_string()), "duplicate series {series}");
            samples.insert(name.to_string());
        }
    }
    assert!(pending_help.is_none(), "HELP without TYPE at the end");
    samples
}

#[test]
fn exposition_passes_a_strict_check_and_the_parser() {
    let state = live();
    let text = prometheus_text(&state);
    let names = strict_check(&text);
    assert!(names.contains("stampede_http_req_duration_seconds_count"));

    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let sum = |metric: &str| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == metric)
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(sum("stampede_http_requests_total"), state.total.total_requests() as f64);
    assert_eq!(sum("stampede_iterations_total"), state.total.iterations() as f64);
    assert_eq!(sum("stampede_agents"), 2.0);
    let checkout_p99 = scrape
        .samples
        .iter()
        .find(|s| s.metric == "stampede_http_req_duration_seconds" && s.labels.get("name") == Some("checkout"))
        .expect("summary by name");
    match &checkout_p99.value {
        prometheus_parse::Value::Summary(qs) => {
            let p99 = qs.iter().find(|q| q.quantile == 0.99).unwrap().count;
            let want = state.total.by_name("checkout").duration().value_at_quantile(0.99) as f64 / 1e6;
            assert!((p99 - want).abs() < 1e-9, "{p99} vs {want}");
        }
        other => panic!("expected a summary, got {other:?}"),
    }
    let fails = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "stampede_checks_total"
                && s.labels.get("check") == Some("cart < 500ms")
                && s.labels.get("result") == Some("fail")
        })
        .unwrap();
    assert!(matches!(fails.value, prometheus_parse::Value::Counter(v) if v == 50.0));
}

#[test]
fn custom_metrics_are_exported_by_kind_with_a_metric_label() {
    let state = live();
    let text = prometheus_text(&state);
    strict_check(&text);
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |family: &str, metric: &str| {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == family && s.labels.get("metric") == Some(metric))
            .unwrap_or_else(|| panic!("{family}{{metric={metric}}} in\n{text}"));
        assert_eq!(
            s.labels.get("scenario").or(Some("")),
            if family.contains("skipped") { Some("") } else { Some("buy") }
        );
        s.value.clone()
    };
    // 5 intervals of 100 samples each.
    assert!(
        matches!(value("stampede_custom_counter_total", "orders"), prometheus_parse::Value::Counter(v) if v == 500.0)
    );
    assert!(matches!(value("stampede_custom_rate", "cart_not_empty"), prometheus_parse::Value::Gauge(v) if v == 0.9));
    let stock = value("stampede_custom_gauge", "stock");
    assert!(matches!(stock, prometheus_parse::Value::Gauge(v) if (v - 950.1).abs() < 1e-9), "{stock:?}");
    assert!(
        matches!(value("stampede_custom_skipped_total", "server_time"), prometheus_parse::Value::Counter(v) if v == 5.0)
    );
    match value("stampede_custom_trend_seconds", "server_time") {
        prometheus_parse::Value::Summary(qs) => {
            let p95 = qs.iter().find(|q| q.quantile == 0.95).unwrap().count;
            assert!((0.005..=0.0451).contains(&p95), "seconds: {p95}");
        }
        other => panic!("expected a summary, got {other:?}"),
    }
    assert!(!text.contains("stampede_custom_trend{"), "no plain trend in this run");
}

#[test]
fn label_values_are_escaped() {
    let mut state = live();
    state.scenario_file = "dir\\with \"quotes\"\nand newline.toml".into();
    let text = prometheus_text(&state);
    assert!(
        text.contains(r#"stampede_run_info{scenario_file="dir\\with \"quotes\"\nand newline.toml"} 1"#),
        "{}",
        &text[..400]
    );
    strict_check(&text);
}

#[test]
fn an_empty_run_is_still_valid() {
    let state = stampede_metrics::live::LiveState::new("x.toml".into(), vec![], Duration::from_secs(10), 0);
    let text = prometheus_text(&state);
    strict_check(&text);
    assert!(text.contains("stampede_run_phase{phase=\"starting\"} 1"));
    assert!(text.contains("stampede_http_req_duration_interval_seconds{percentile=\"99\"} NaN"));
}

/// Every PromQL expression in the dashboard, with the metric names it reads.
fn dashboard_metrics() -> (usize, BTreeSet<String>) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dashboards/stampede.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("dashboard is JSON");
    let mut exprs = Vec::new();
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                        ("query", serde_json::Value::String(s)) if s.contains("stampede_") => out.push(s.clone()),
                        ("query", serde_json::Value::Object(q)) => {
                            if let Some(serde_json::Value::String(s)) = q.get("query") {
                                out.push(s.clone());
                            }
                        }
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(&json, &mut exprs);
    let re = Regex::new(r"\bstampede_[a-zA-Z0-9_:]*").unwrap();
    let names = exprs.iter().flat_map(|e| re.find_iter(e).map(|m| m.as_str().to_string())).collect();
    (exprs.len(), names)
}

#[test]
fn the_dashboard_queries_only_exported_metrics() {
    let (exprs, queried) = dashboard_metrics();
    assert!(exprs >= 15, "the dashboard has its panels ({exprs} expressions)");
    let exported = strict_check(&prometheus_text(&live()));
    let missing: Vec<_> = queried.difference(&exported).collect();
    assert!(missing.is_empty(), "the dashboard queries metrics prometheus_text does not export: {missing:?}");
    // And the dashboard shows the headline families.
    for m in [
        "stampede_vus",
        "stampede_http_requests_total",
        "stampede_http_req_duration_seconds",
        "stampede_cdn_responses_total",
        "stampede_agents",
    ] {
        assert!(queried.iter().any(|q| q.starts_with(m)), "the dashboard does not show {m}");
    }
}

#[test]
fn the_dashboard_is_importable() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dashboards/stampede.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(json["title"].as_str().unwrap().contains("Stampede"));
    assert!(json["uid"].is_string() && json["schemaVersion"].as_u64().unwrap() >= 30);
    let vars = json["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["type"] == "datasource" && v["query"] == "prometheus" && v["name"] == "datasource"));
    let mut ids = HashSet::new();
    for p in json["panels"].as_array().unwrap() {
        assert!(ids.insert(p["id"].as_u64().unwrap()), "panel ids are unique");
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "panel {} uses the datasource variable", p["title"]);
            for t in p["targets"].as_array().unwrap() {
                assert_eq!(t["datasource"]["uid"], "${datasource}");
            }
        }
    }
}

async fn get(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn serves_metrics_over_http_until_shutdown() {
    let shared = live().shared();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(stampede_report::serve_metrics(listener, shared.clone(), async {
        let _ = stopped.await;
    }));

    let ok = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{}", &ok[..ok.len().min(200)]);
    assert!(ok.to_ascii_lowercase().contains(&format!("content-type: {CONTENT_TYPE}")));
    let body = ok.split_once("\r\n\r\n").unwrap().1;
    strict_check(body);

    // The endpoint reads the state as it is now.
    shared.lock().unwrap().phase = stampede_metrics::live::Phase::Done;
    let again = get(addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(again.contains("stampede_run_phase{phase=\"done\"} 1"));

    assert!(get(addr, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.starts_with("HTTP/1.1 404"));
    assert!(
        get(addr, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .await
            .starts_with("HTTP/1.1 405")
    );

    // An idle keep-alive connection (as Prometheus keeps) does not hold shutdown up.
    let _idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("server stops").unwrap().unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "listener closed");
}
