//! The `--out` writers, driven by a synthetic run as `stampede run` drives them.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use quick_xml::events::Event;
use stampede_report::outputs::{self, Output};
use stampede_report::{Summary, rerender};

fn open(kind: &str, path: &Path) -> Box<dyn Output> {
    outputs::open(kind, path, &support::context()).unwrap()
}

fn decode_line(line: &str) -> (String, f64, f64, f64, stampede_metrics::Histogram) {
    let rest = line.strip_prefix("Tag=").expect("every interval line is tagged");
    let f: Vec<&str> = rest.splitn(5, ',').collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(f[4].trim_end()).unwrap();
    let h = stampede_metrics::hist::decode(&bytes).unwrap();
    (f[0].to_string(), f[1].parse().unwrap(), f[2].parse().unwrap(), f[3].parse().unwrap(), h)
}

#[test]
fn hlog_lines_decode_back_to_each_interval() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.hlog");
    let mut outs = vec![open("hlog", &path)];
    let (summary, _) = support::run(&mut outs, 12, 500, 7);
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#[Histogram log format version 1.3]");
    assert!(
        lines[1].starts_with("#[StartTime: 1764320400.000 (seconds since epoch), 2025-11-28T09:00:00.000Z]"),
        "{}",
        lines[1]
    );
    assert!(lines[2].starts_with("#[BaseTime: 1764320400.000 "), "{}", lines[2]);
    assert!(
        lines.contains(&"\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"")
    );

    // Replay the same intervals to know what each line must hold.
    let mut rng = support::Rng::new(7);
    let expected: Vec<_> = (0..12).map(|i| support::interval(i, 500, &mut rng)).collect();
    let mut merged: BTreeMap<String, stampede_metrics::Histogram> = BTreeMap::new();
    let mut per_interval = 0;
    for line in lines.iter().filter(|l| l.starts_with("Tag=")) {
        let (tag, start, length, max_ms, h) = decode_line(line);
        let i = start as usize;
        assert_eq!(length, 1.0);
        let snap = &expected[i];
        let want = match tag.as_str() {
            "http_req_duration" => snap.all_requests().duration().len(),
            "iteration_duration" => snap.scenarios.values().map(|s| s.iteration_duration.len()).sum(),
            "intended_latency" => snap.scenarios.values().map(|s| s.intended_latency.len()).sum(),
            t => {
                let enc = t.strip_prefix("http_req_duration.").expect("known tag");
                let name =
                    support::NAMES.iter().find(|n| stampede_report::hlog::tag_for("http_req_duration", Some(n)) == t);
                let name = name.unwrap_or_else(|| panic!("tag {enc} maps to no request name"));
                snap.by_name(name).duration().len()
            }
        };
        assert_eq!(h.len(), want, "{tag} at {start}");
        assert!((max_ms - h.max() as f64 / 1000.0).abs() < 1e-9 || h.is_empty());
        stampede_metrics::hist::merge(merged.entry(tag).or_insert_with(stampede_metrics::hist::new_histogram), &h);
        if i == 0 {
            per_interval += 1;
        }
    }
    // all + 6 names + iterations + intended latency, every interval.
    assert_eq!(per_interval, 9);
    assert_eq!(text.lines().filter(|l| l.starts_with("Tag=")).count(), 9 * 12);
    for r in &summary.requests {
        let h = &merged[&stampede_report::hlog::tag_for("http_req_duration", Some(&r.name))];
        assert_eq!(h.len(), r.count);
        assert_eq!(h.value_at_quantile(0.99) as f64 / 1000.0, r.duration.p99);
        assert_eq!(h.max() as f64 / 1000.0, r.duration.max);
    }
}

#[test]
fn streaming_outputs_are_flushed_every_interval() {
    let dir = tempfile::tempdir().unwrap();
    let (hlog, csv) = (dir.path().join("a.hlog"), dir.path().join("a.csv"));
    let mut outs = vec![open("hlog", &hlog), open("csv", &csv)];
    let mut rng = support::Rng::new(1);
    for i in 0..3 {
        let snap = support::interval(i, 100, &mut rng);
        for o in &mut outs {
            o.interval(Duration::from_secs(i as u64), Duration::from_secs(i as u64 + 1), &snap).unwrap();
        }
        // Without finish (a killed run), the file already holds this interval.
        let text = std::fs::read_to_string(&hlog).unwrap();
        assert_eq!(text.lines().filter(|l| l.starts_with("Tag=http_req_duration,")).count(), i + 1);
        let rows = std::fs::read_to_string(&csv).unwrap();
        assert_eq!(rows.lines().filter(|l| l.contains(",http_req_duration,,,")).count(), i + 1);
    }
}

#[test]
fn csv_has_one_row_per_interval_and_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.csv");
    let mut outs = vec![open("csv", &path)];
    support::run(&mut outs, 5, 300, 3);
    let mut rdr = csv::Reader::from_path(&path).unwrap();
    let header: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, stampede_report::csvlog::HEADER);
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    // Per interval: all + 6 names + 2 × (iterations, vus) + intended latency.
    assert_eq!(rows.len(), 5 * (1 + 6 + 4 + 1));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let mut rng = support::Rng::new(3);
    for i in 0..5 {
        let snap = support::interval(i, 300, &mut rng);
        let at: Vec<&csv::StringRecord> =
            rows.iter().filter(|r| r[col("time_s")] == format!("{}.000", i + 1)).collect();
        let comma =
            at.iter().find(|r| &r[col("name")] == support::NAMES[4]).expect("name with a comma survives quoting");
        assert_eq!(comma[col("count")].parse::<u64>().unwrap(), snap.by_name(support::NAMES[4]).count());
        let checkout = at.iter().find(|r| &r[col("name")] == "checkout").unwrap();
        let c = snap.by_name("checkout");
        assert_eq!(checkout[col("errors")].parse::<u64>().unwrap(), c.failed());
        assert_eq!(checkout[col("p99_ms")], format!("{:.3}", c.duration().value_at_quantile(0.99) as f64 / 1000.0));
        assert_eq!(&checkout[col("cdn_hit_ratio")], "", "no CDN classification: empty, not 0");
        let vus = at.iter().find(|r| &r[col("metric")] == "vus" && &r[col("scenario")] == "buy").unwrap();
        assert_eq!(vus[col("count")].parse::<u64>().unwrap(), 10 + i as u64 % 20);
        assert_eq!(at[0][col("timestamp")], format!("2025-11-28T09:00:0{}.000Z", i + 1));
    }
}

/// `(classname, name, failure message)` of every test case.
fn junit_cases(xml: &str) -> Vec<(String, String, Option<String>)> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut cases = Vec::new();
    let attr = |e: &quick_xml::events::BytesStart, key: &[u8]| -> Option<String> {
        e.attributes()
            .map(Result::unwrap)
            .find(|a| a.key.as_ref() == key)
            .map(|a| a.unescape_value().unwrap().into_owned())
    };
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                cases.push((attr(&e, b"classname").unwrap(), attr(&e, b"name").unwrap(), None));
            }
            Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"failure" => {
                cases.last_mut().expect("failure inside a testcase").2 = Some(attr(&e, b"message").unwrap());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    cases
}

#[test]
fn junit_has_a_case_per_threshold_and_check_with_observed_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.xml");
    let mut outs = vec![open("junit", &path)];
    let (summary, _) = support::run(&mut outs, 4, 300, 5);
    let xml = std::fs::read_to_string(&path).unwrap();
    let cases = junit_cases(&xml);
    assert_eq!(cases.len(), summary.thresholds.len() + summary.checks.len());

    let failing = cases.iter().find(|c| c.0 == "thresholds.http_req_duration{name:checkout}").unwrap();
    let observed = summary.thresholds[1].observed.unwrap();
    let msg = failing.2.as_deref().expect("the checkout threshold fails");
    assert!(msg.contains(&format!("p(95)={}", stampede_report::text::fmt_ms(observed))), "{msg}");
    assert!(msg.contains("abort_on_fail"), "{msg}");
    assert!(cases.iter().find(|c| c.1 == "p(95)<10000").unwrap().2.is_none());
    assert!(cases.iter().find(|c| c.1 == "p(99)<1").unwrap().2.is_none(), "no samples: passes, as in k6");

    let check = cases.iter().find(|c| c.1 == "cart < 500ms").unwrap();
    assert_eq!(check.0, "checks.buy");
    assert!(check.2.as_deref().unwrap().contains("failed 40 of 400 times"), "{:?}", check.2);
    assert!(cases.iter().find(|c| c.1 == "status is 200").unwrap().2.is_none());
    // Thresholds on custom metrics are test cases too, their values in their unit.
    let server_time = cases.iter().find(|c| c.0 == "thresholds.server_time{name:checkout}").unwrap();
    let msg = server_time.2.as_deref().expect("p(95)<20 fails: values are 5 to 45 ms");
    assert!(msg.contains("'p(95)<20' failed: observed p(95)=4") && msg.ends_with("ms"), "{msg}");
    for passing in ["count>100", "rate>0.8", "value>=0"] {
        assert!(cases.iter().find(|c| c.1 == passing).unwrap().2.is_none(), "{passing}");
    }
    assert!(xml.contains(r#"failures="4""#), "2 thresholds + 2 checks fail at the top");
}

#[test]
fn junit_escapes_markup_in_names() {
    let mut report = Summary::parse(&minimal_json()).unwrap();
    report.checks.push(stampede_report::summary::CheckSummary {
        scenario: "s".into(),
        name: "body has <b>&\"'x' \u{1}".into(),
        passes: 1,
        fails: 1,
        rate: 0.5,
    });
    let xml = stampede_report::junit::render(&report);
    let cases = junit_cases(&xml);
    assert_eq!(cases[0].1, "body has <b>&\"'x' \u{FFFD}");
}

fn minimal_json() -> String {
    serde_json::json!({
        "schema": "stampede.summary/v1",
        "run": {"scenario_file": "x.toml", "started_at_ms": 0, "duration_s": 1.0, "planned_duration_s": 1.0, "outcome": "completed", "exit_code": 0},
        "metrics": {}
    })
    .to_string()
}

#[test]
fn html_is_self_contained_with_charts_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.html");
    let mut outs = vec![open("html", &path)];
    support::run(&mut outs, 30, 400, 9);
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for banned in ["http://", "https://", "<script", "<link", " src=", "@import", "url("] {
        assert!(!html.contains(banned), "the report must not fetch anything: found `{banned}`");
    }
    // 6 charts over time + one distribution per request name.
    assert_eq!(html.matches("<svg").count(), 6 + support::NAMES.len());
    assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
    for section in [
        "Over time",
        "Thresholds",
        "Checks",
        "Custom metrics",
        "Requests",
        "Latency by percentile",
        "Scenarios",
        "Errors by kind",
        "Agents",
    ] {
        assert!(html.contains(&format!("<h2>{section}</h2>")), "missing section {section}");
    }
    assert!(html.contains("search, q=&lt;b&gt;&amp;&quot;x&quot;"), "names are escaped");
    assert!(!html.contains("<b>&"), "raw markup from names never reaches the page");
    assert!(html.contains("agent-b") && html.contains("lost"));
    assert!(html.contains("2 threshold(s) failed"));
    // 30 intervals of 133 orders; the stock's last value was set in the last one.
    assert!(html.contains("<td class=\"name\">orders</td><td>counter</td><td>3990 133.00/s</td>"), "orders row");
    assert!(html.contains("<td class=\"name\">server_time</td><td>trend (ms)</td><td>avg="), "server_time row");
    assert!(html.contains("(skipped 30)"), "skipped samples show");
}

#[test]
fn custom_metrics_are_in_the_json_and_text_summaries() {
    let (summary, _) = support::run(&mut [], 10, 300, 21);
    let json: serde_json::Value = serde_json::from_str(&summary.to_json()).unwrap();
    let custom = &json["custom_metrics"];
    assert_eq!(custom["orders"], serde_json::json!({"type": "counter", "count": 1000, "rate": 100.0, "skipped": 0}));
    assert_eq!(custom["cart_not_empty"]["rate"], 0.9);
    assert_eq!(custom["stock"]["value"], 900.1, "the last value set");
    assert_eq!((custom["stock"]["min"].as_f64(), custom["stock"]["max"].as_f64()), (Some(900.1), Some(1000.0)));
    let trend = &custom["server_time"];
    assert_eq!(
        (trend["type"].as_str(), trend["time"].as_bool(), trend["count"].as_u64()),
        (Some("trend"), Some(true), Some(1000))
    );
    assert_eq!(trend["skipped"], 10);
    assert!((5.0..=45.1).contains(&trend["p95"].as_f64().unwrap()), "ms: {trend}");
    let text = stampede_report::text::render(&summary, false);
    let section = text.split("    CUSTOM\n").nth(1).expect("a CUSTOM section").split("\n\n").next().unwrap();
    let lines: Vec<&str> = section.lines().collect();
    assert_eq!(lines.len(), 4, "{section}");
    assert!(lines[0].starts_with("    cart_not_empty") && lines[0].ends_with(": 90.00% 900 out of 1000"), "{section}");
    assert!(lines[1].ends_with(": 1000 100.00/s"), "{section}");
    assert!(lines[2].contains("server_time") && lines[2].contains("p(95)=") && lines[2].ends_with("ms (skipped 10)"));
    assert!(lines[3].ends_with(": 900.1 min=900.1 max=1000"), "{section}");
}

#[test]
fn json_summary_rerenders_the_same_html_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let p = |f: &str| dir.path().join(f);
    let mut outs = vec![open("summary", &p("run.json")), open("html", &p("run.html")), open("junit", &p("run.xml"))];
    support::run(&mut outs, 8, 300, 11);
    rerender(&p("run.json"), Some(&p("again.html")), Some(&p("again.xml"))).unwrap();
    assert_eq!(std::fs::read_to_string(p("run.html")).unwrap(), std::fs::read_to_string(p("again.html")).unwrap());
    assert_eq!(std::fs::read_to_string(p("run.xml")).unwrap(), std::fs::read_to_string(p("again.xml")).unwrap());
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p("run.json")).unwrap()).unwrap();
    assert_eq!(json["schema"], "stampede.summary/v1");
    assert_eq!(json["intervals"].as_array().unwrap().len(), 8);
    assert_eq!(json["agents"].as_array().unwrap().len(), 2);
    assert_eq!(json["requests"][0]["duration_percentiles"].as_array().unwrap().last().unwrap()["p"], 100.0);
}

#[test]
fn a_written_summary_reads_back_equal() {
    let (summary, live) = support::run(&mut [], 6, 300, 13);
    let points: Vec<_> = live.chart().copied().collect();
    let full = summary.with_timeline(&points, &[], None);
    assert!(!full.intervals.is_empty() && !full.requests.is_empty() && !full.series.is_empty());
    // `stampede report RUN.json` renders from what it reads: nothing may be lost on the way.
    assert_eq!(Summary::parse(&full.to_json()).unwrap(), full);
}

#[test]
fn the_json_summary_carries_block_histograms_and_reads_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.json");
    let mut outputs = vec![stampede_report::outputs::open("summary", &path, &support::context()).unwrap()];
    let (summary, _) = support::run(&mut outputs, 8, 300, 21);
    let text = std::fs::read_to_string(&path).unwrap();
    let read = Summary::parse(&text).unwrap();
    let h = read.histograms.as_ref().expect("histograms");
    assert_eq!(h.ends_s.len(), 8, "one block per interval in a short run: {:?}", h.ends_s);
    let all = h.series.iter().find(|s| s.metric == "http_req_duration" && s.tags.is_empty()).unwrap();
    // Every request of the run is in the blocks, histograms and counts alike.
    let requests = summary.metrics["http_reqs"].clone();
    let stampede_report::summary::MetricSummary::Counter { count, .. } = requests else { panic!("{requests:?}") };
    assert_eq!(all.requests.iter().sum::<u64>(), count);
    assert_eq!(all.decode().unwrap().iter().map(|h| h.len()).sum::<u64>(), count);
    // A file from before `histograms` existed still reads and re-renders.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("histograms");
    let old = dir.path().join("old.json");
    std::fs::write(&old, v.to_string()).unwrap();
    assert!(Summary::load(&old).unwrap().histograms.is_none());
    rerender(&old, Some(&dir.path().join("old.html")), Some(&dir.path().join("old.xml"))).unwrap();
}

#[test]
fn rerender_says_what_is_wrong_with_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("k6.json");
    std::fs::write(&bad, r#"{"metrics": {}, "root_group": {}}"#).unwrap();
    let err = rerender(&bad, Some(&dir.path().join("x.html")), None).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("not a Stampede JSON summary"), "{err}");
    let err = rerender(&dir.path().join("missing.json"), None, None).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(err.to_string().contains("missing.json"), "{err}");
    // An endless file (size 0 to metadata) stops at the limit instead of filling memory.
    let err = rerender(std::path::Path::new("/dev/zero"), Some(&dir.path().join("x.html")), None).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("JSON summary `/dev/zero` is larger than 256 MiB"), "{err}");
}

#[test]
fn every_kind_is_registered_and_opens() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, _) in outputs::KINDS {
        if *kind == outputs::REMOTE_WRITE {
            // A URL, not a file: checked here, started with its settings by the CLI.
            assert!(outputs::parse_spec("prometheus-rw=http://127.0.0.1:9090/api/v1/write").is_ok());
            assert!(outputs::parse_spec("prometheus-rw=/tmp/x").is_err(), "a path is not a receiver");
            continue;
        }
        let (k, path) = outputs::parse_spec(&format!("{kind}={}", dir.path().join(kind).display())).unwrap();
        assert!(outputs::open(&k, &path, &support::context()).is_ok(), "{kind}");
    }
    let err = outputs::open("hlog", &dir.path().join("no/such/dir/x.hlog"), &support::context()).err().unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "unwritable paths fail before any load");
}
