//! k6's formats over a synthetic run: the `json` NDJSON stream (one point
//! per interval and series) and the `--summary-export` document.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use stampede_report::outputs::{self, Output};
use stampede_report::summary_export::SummaryExportOutput;

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[test]
fn the_stream_sums_to_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.ndjson");
    let mut outs = vec![outputs::open("json", &path, &support::context()).unwrap()];
    let (summary, _) = support::run(&mut outs, 5, 400, 7);
    let all = lines(&std::fs::read_to_string(&path).unwrap());

    let points = |metric: &str| -> Vec<&Value> {
        all.iter().filter(|v| v["type"] == "Point" && v["metric"] == metric).collect()
    };
    let sum =
        |metric: &str, field: &str| -> f64 { points(metric).iter().map(|v| v["data"][field].as_f64().unwrap()).sum() };
    let count = |m: &str| serde_json::to_value(summary.metric(m).unwrap()).unwrap()["count"].as_f64().unwrap();

    // Counters: the values sum to the run's totals.
    for m in ["http_reqs", "iterations", "data_sent", "data_received"] {
        assert_eq!(sum(m, "value"), count(m), "{m}");
    }
    // Trends carry their count; rates their samples.
    assert_eq!(sum("http_req_duration", "count"), count("http_reqs"));
    assert_eq!(sum("http_req_failed", "count"), count("http_reqs"));
    let failed: f64 = sum("http_req_failed", "passes");
    let failed_summary =
        serde_json::to_value(summary.metric("http_req_failed").unwrap()).unwrap()["trues"].as_f64().unwrap();
    assert_eq!(failed, failed_summary, "passes of http_req_failed are the failed requests");
    // The trend's exact mean is recoverable from value × count.
    let weighted: f64 = points("http_req_duration")
        .iter()
        .map(|v| v["data"]["value"].as_f64().unwrap() * v["data"]["count"].as_f64().unwrap())
        .sum::<f64>()
        / count("http_reqs");
    let mean = serde_json::to_value(summary.metric("http_req_duration").unwrap()).unwrap()["mean"].as_f64().unwrap();
    assert!((weighted - mean).abs() / mean < 0.01, "{weighted} vs {mean}");

    // k6's tags and time; every metric declared once, before its points.
    let p = points("http_reqs")[0];
    for tag in ["scenario", "name", "method", "status", "group"] {
        assert!(p["data"]["tags"][tag].is_string(), "{tag}: {p}");
    }
    assert_eq!(p["data"]["time"], "2025-11-28T09:00:01.000Z");
    let mut declared: BTreeMap<String, usize> = BTreeMap::new();
    for (i, v) in all.iter().enumerate() {
        let m = v["metric"].as_str().unwrap().to_string();
        if v["type"] == "Metric" {
            assert_eq!(declared.insert(m, i), None, "declared once");
        } else {
            assert!(declared.contains_key(&m), "declared before its points: {v}");
        }
    }
    let kind = |m: &str| all.iter().find(|v| v["type"] == "Metric" && v["metric"] == m).unwrap()["data"].clone();
    assert_eq!(kind("http_req_duration")["type"], "trend");
    assert_eq!(kind("http_req_duration")["contains"], "time");
    assert_eq!(kind("data_sent")["contains"], "data");
    assert_eq!(kind("checks")["type"], "rate");
    assert_eq!(kind("vus")["type"], "gauge");
    assert_eq!(kind("http_reqs")["type"], "counter");
}

#[test]
fn the_summary_export_is_k6s_document() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.json");
    let out: Box<dyn Output> = Box::new(SummaryExportOutput::create(&path, &support::context()).unwrap());
    let (summary, _) = support::run(&mut [out], 4, 300, 3);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("{\n    \""), "indented by four spaces, as k6: {}", &text[..40]);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc.as_object().unwrap().keys().collect::<Vec<_>>(), ["metrics", "root_group"]);

    let m = &doc["metrics"];
    let d = &m["http_req_duration"];
    for f in ["avg", "min", "med", "max", "p(90)", "p(95)"] {
        assert!(d[f].is_number(), "{f}: {d}");
    }
    assert!(m["http_reqs"]["count"].is_u64() && m["http_reqs"]["rate"].is_number());
    let f = &m["http_req_failed"];
    assert!(f["passes"].as_u64().unwrap() > 0, "failed requests are `passes`: {f}");
    assert_eq!(f["passes"].as_u64().unwrap() + f["fails"].as_u64().unwrap(), m["http_reqs"]["count"].as_u64().unwrap());
    assert!(f["value"].as_f64().unwrap() < 0.5);
    assert!(m["vus"]["value"].is_u64() && m["vus"]["min"].is_u64() && m["vus"]["max"].is_u64());

    // Thresholds: `true` means failed.
    assert!(!summary.thresholds.is_empty());
    for t in &summary.thresholds {
        assert_eq!(m[&*t.metric]["thresholds"][&*t.threshold], Value::Bool(!t.passed), "{}", t.metric);
    }

    // Checks by group, k6's fields and ids (md5 of the path).
    let root = &doc["root_group"];
    assert_eq!(root["id"], "d41d8cd98f00b204e9800998ecf8427e");
    let checks = root["checks"].as_object().unwrap();
    let total: u64 = summary.checks.iter().map(|c| c.passes + c.fails).sum();
    assert_eq!(
        checks.values().map(|c| c["passes"].as_u64().unwrap() + c["fails"].as_u64().unwrap()).sum::<u64>(),
        total
    );
    for (name, c) in checks {
        assert_eq!(c["name"], name.as_str());
        assert_eq!(c["path"], format!("::{name}"));
    }
}

#[test]
fn readers_of_summaries_name_the_right_output_for_k6_files() {
    let dir = tempfile::tempdir().unwrap();
    let (stream, export) = (dir.path().join("run.ndjson"), dir.path().join("export.json"));
    let stream_out = outputs::open("json", &stream, &support::context()).unwrap();
    let export_out: Box<dyn Output> = Box::new(SummaryExportOutput::create(&export, &support::context()).unwrap());
    support::run(&mut [stream_out, export_out], 2, 50, 5);
    for (file, what) in [(&stream, "k6-style NDJSON stream"), (&export, "k6-style summary export")] {
        let err = stampede_report::Summary::load(file).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let msg = err.to_string();
        assert!(msg.contains(what) && msg.contains("--out summary=FILE"), "{msg}");
    }
}
