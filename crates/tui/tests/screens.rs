//! Whole screens drawn with `TestBackend` at 80×24 and 160×48 from a
//! synthetic run: real shards recorded, turned into snapshots and folded into
//! a `LiveState` the way the run loop does it. Each test looks for a figure
//! where a user would look for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use stampede_metrics::live::{AgentInfo, AgentState, Coordination, LiveState, Phase, StageInfo};
use stampede_metrics::shard::Layout;
use stampede_metrics::{CacheOutcome, ErrorKind, Method, RequestId, RequestSample, Shard, ThresholdOutcome, Timings};
use stampede_tui::{AgentSort, SortColumn, View, ViewState, Window, draw};

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

/// One interval of the synthetic run (950 requests in one second):
/// - home: 450 × 4 ms, 400 CDN hits and 50 misses;
/// - product: 290 × 20 ms and 10 × 45 ms, all CDN misses;
/// - checkout: 97 × 120 ms (200), 1 × 120 ms (503), 2 × 812 ms (503);
/// - search: 90 × 60 ms, 10 timeouts after 60 ms.
///
/// So per interval: p50 20 ms, p95 120 ms, 13 failed (1.37 %), CDN hits
/// 400 of 750 classified (53.3 %); checkout's p99 is 812 ms.
fn interval(layout: &Arc<Layout>) -> stampede_metrics::Snapshot {
    let mut shard = Shard::new(layout.clone());
    let mut rec = |name: u32, status: u16, ms: f64, n: usize, error: Option<ErrorKind>, cache: CacheOutcome| {
        let id =
            RequestId { scenario: if name == 2 { 1 } else { 0 }, name, method: Method::Get, status, group: 0, tags: 0 };
        for _ in 0..n {
            let sample = RequestSample {
                timings: Timings { waiting: (ms * 1000.0) as u64, ..Timings::default() },
                bytes_sent: 200,
                bytes_received: 5_000,
                body_bytes: 4_000,
                error,
                cache,
            };
            shard.request(id).record(&sample);
        }
    };
    rec(0, 200, 4.0, 400, None, CacheOutcome::Hit);
    rec(0, 200, 4.0, 50, None, CacheOutcome::Miss);
    rec(1, 200, 20.0, 290, None, CacheOutcome::Miss);
    rec(1, 200, 45.0, 10, None, CacheOutcome::Miss);
    rec(2, 200, 120.0, 97, None, CacheOutcome::Unknown);
    rec(2, 503, 120.0, 1, Some(ErrorKind::Status5xx), CacheOutcome::Unknown);
    rec(2, 503, 812.0, 2, Some(ErrorKind::Status5xx), CacheOutcome::Unknown);
    rec(3, 200, 60.0, 90, None, CacheOutcome::Unknown);
    rec(3, 0, 60.0, 10, Some(ErrorKind::Timeout), CacheOutcome::Unknown);
    let browse = shard.scenario(0);
    browse.vus = 30;
    browse.vus_max = 40;
    browse.iterations = 300;
    let checkout = shard.scenario(1);
    checkout.vus = 5;
    checkout.vus_max = 10;
    checkout.iterations = 100;
    shard.into_snapshot()
}

fn run_state() -> LiveState {
    let layout = Arc::new(Layout {
        scenarios: vec!["browse".into(), "checkout".into()],
        request_names: vec!["home".into(), "product".into(), "checkout".into(), "search".into()],
        check_names: vec![],
        groups: vec!["".into()],
        tag_sets: vec![std::sync::Arc::from(Vec::new())],
        metrics: Vec::new(),
    });
    let mut s = LiveState::new(
        "scenarios/black-friday.toml".into(),
        vec!["browse".into(), "checkout".into()],
        Duration::from_secs(120),
        60,
    );
    s.phase = Phase::Running;
    let stage = |start: u64, secs: u64, label: &str| StageInfo {
        scenario: "browse".into(),
        start: Duration::from_secs(start),
        duration: Duration::from_secs(secs),
        label: label.into(),
    };
    s.stages = vec![stage(0, 30, "ramp 0→50 VUs"), stage(30, 60, "hold 50 VUs"), stage(90, 30, "ramp 50→0 VUs")];
    for t in 1..=10 {
        s.push_interval(Duration::from_secs(t), interval(&layout), 1.0);
    }
    s.thresholds = vec![
        ThresholdOutcome {
            metric: "http_req_duration{name:checkout}".into(),
            threshold: "p(95)<100".into(),
            passed: false,
            observed: Some(120.063),
            abort_on_fail: false,
            time: None,
        },
        ThresholdOutcome {
            metric: "http_req_failed".into(),
            threshold: "rate<0.05".into(),
            passed: true,
            observed: Some(13.0 / 950.0),
            abort_on_fail: true,
            time: None,
        },
    ];
    let agent = |name: &str, address: &str, state: AgentState, rps: f64, heartbeat_ago: u64| AgentInfo {
        name: name.into(),
        address: address.into(),
        state,
        vus: 15,
        rps,
        lag_p99_ms: Some(0.8),
        cpu_percent: Some(42.0),
        last_heartbeat: Instant::now() - Duration::from_secs(heartbeat_ago),
        requests: 3_000,
    };
    s.agents = vec![
        agent("agent-a", "10.0.0.1:41000", AgentState::Running, 480.0, 0),
        agent("agent-b", "10.0.0.2:41000", AgentState::Lost, 0.0, 30),
        agent("agent-c", "10.0.0.3:41000", AgentState::Running, 470.0, 0),
    ];
    s.event("agent agent-b lost (no heartbeat for 10s)");
    s.event("threshold http_req_duration{name:checkout} p(95)<100 failing");
    s
}

fn screen(state: &LiveState, view: &ViewState, (w, h): (u16, u16)) -> Vec<String> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, state, view)).unwrap();
    let b = t.backend().buffer();
    (0..h).map(|y| (0..w).map(|x| b[(x, y)].symbol()).collect::<String>()).collect()
}

fn view(v: View) -> ViewState {
    ViewState { view: v, ..ViewState::default() }
}

/// The first line containing `needle`, or a failure showing the screen.
fn line_with<'a>(screen: &'a [String], needle: &str) -> &'a str {
    screen
        .iter()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line contains {needle:?}:\n{}", screen.join("\n")))
}

fn assert_has(screen: &[String], needle: &str) {
    line_with(screen, needle);
}

#[test]
fn overview_shows_throughput_latency_errors_and_cdn_now() {
    let state = run_state();
    for size in SIZES {
        let s = screen(&state, &view(View::Overview), size);
        let now = line_with(&s, "RPS 950.0");
        assert!(now.contains("p50 20.0ms"), "{now}");
        assert!(now.contains("p95 120ms"), "{now}");
        assert!(now.contains("errors 1.37%"), "{now}");
        assert!(now.contains("CDN hit 53.3%"), "{now}");
        let second = line_with(&s, "VUs 35");
        assert!(second.contains("VUs 35/60"), "{second}");
        assert!(second.contains("reqs 9500"), "{second}");
        assert!(second.contains("run CDN 53.3%"), "{second}");
        assert!(second.contains("in 4.8 MB/s"), "950 × 5 kB a second: {second}");
        // The charts are titled with their latest value.
        assert_has(&s, "┌ RPS 950.0 ");
        assert_has(&s, "┌ errors 1.37% ");
    }
}

#[test]
fn overview_shows_progress_over_the_stages() {
    let state = run_state();
    for size in SIZES {
        let s = screen(&state, &view(View::Overview), size);
        let title = line_with(&s, "black-friday.toml");
        assert!(title.contains("stage browse: 1/3 ramp 0→50 VUs"), "{title}");
        assert_has(&s, "0:10 / 2:00 · 8%");
        assert!(s[0].contains("RUNNING") && s[0].contains("0:10/2:00"), "{}", s[0]);
    }
}

#[test]
fn overview_marks_each_threshold_passed_or_failed() {
    let state = run_state();
    for size in SIZES {
        let s = screen(&state, &view(View::Overview), size);
        let failed = line_with(&s, "http_req_duration{name:checkout}");
        assert!(failed.contains('✗') && !failed.contains('✓'), "{failed}");
        assert!(failed.contains("p(95)=120ms"), "{failed}");
        let passed = line_with(&s, "http_req_failed ");
        assert!(passed.contains('✓') && passed.contains("rate=1.37%"), "{passed}");
        assert_has(&s, "1 of 2 fail");
    }
}

/// The synthetic run with custom metrics: 10 intervals of 30 orders, the
/// server's time 10..=39 ms, 4 of 5 carts not empty, stock counting down.
fn run_state_with_custom_metrics() -> LiveState {
    use stampede_metrics::{CustomMetric, MetricId, MetricKind};
    let metric = |name: &str, kind, time| Arc::new(CustomMetric { name: name.into(), kind, time });
    let metrics = vec![
        metric("orders", MetricKind::Counter, false),
        metric("server_time", MetricKind::Trend, true),
        metric("cart_not_empty", MetricKind::Rate, false),
        metric("stock", MetricKind::Gauge, false),
    ];
    let layout = Arc::new(Layout { metrics, ..Layout::plain(vec!["checkout".into()], vec!["pay".into()], vec![]) });
    let mut s = run_state();
    for t in 1..=10u64 {
        let mut shard = Shard::new(layout.clone());
        let id = |metric| MetricId { metric, scenario: 0, name: 0, group: 0, tags: 0 };
        for i in 0..30u64 {
            shard.record_metric(id(0), Some(1.0), 0);
            shard.record_metric(id(1), Some((10 + i) as f64), 0);
            shard.record_metric(id(2), Some((i % 5).min(1) as f64), 0);
            shard.record_metric(id(3), Some(1000.0 - (t * 30 + i) as f64), t * 1_000_000 + i);
        }
        s.push_interval(Duration::from_secs(10 + t), shard.into_snapshot(), 1.0);
    }
    s
}

#[test]
fn overview_lists_the_custom_metrics_of_the_run() {
    let state = run_state_with_custom_metrics();
    for size in SIZES {
        let s = screen(&state, &view(View::Overview), size);
        let line = line_with(&s, "metrics  ");
        assert!(line.contains("cart_not_empty 80.0%"), "{line}");
        assert!(line.contains("orders 300"), "{line}");
        if size.0 >= 160 {
            // p95 of 10..=39 ms (HDR: within 0.1 %), then the last stock set.
            assert!(line.contains("server_time p95 38.0ms") && line.contains("stock 671"), "{line}");
        }
    }
    let plain = screen(&run_state(), &view(View::Overview), SIZES[1]);
    assert!(!plain.iter().any(|l| l.contains("metrics  ")), "no line without custom metrics");
}

#[test]
fn requests_table_shows_every_name_with_its_percentiles() {
    let state = run_state();
    for size in SIZES {
        let s = screen(&state, &view(View::Requests), size);
        for name in ["home", "product", "checkout", "search"] {
            assert_has(&s, &format!("│{name} "));
        }
        let checkout = line_with(&s, "│checkout ");
        // count, rps, p50, p95, p99, max, err%, then no CDN classification.
        let cells: Vec<&str> = checkout.split('│').nth(1).unwrap().split_whitespace().collect();
        assert_eq!(
            cells[..9],
            ["checkout", "1000", "100.0", "120ms", "120ms", "812ms", "812ms", "3.00%", "-"],
            "{checkout}"
        );
        let home = line_with(&s, "│home ");
        assert!(home.contains("88.9%"), "home's CDN hits, 400 of 450: {home}");
    }
}

#[test]
fn requests_sort_by_p99_puts_the_slowest_first_and_selection_shows_its_distribution() {
    let state = run_state();
    for size in SIZES {
        let v = ViewState { view: View::Requests, sort: SortColumn::P99, descending: true, ..ViewState::default() };
        let s = screen(&state, &v, size);
        let header = s.iter().position(|l| l.contains("p99▼")).expect("the sorted column is marked");
        assert!(s[header + 1].contains("│checkout "), "checkout is the slowest:\n{}", s.join("\n"));
        assert!(s[header + 4].contains("│home "), "home is the fastest:\n{}", s.join("\n"));

        let v = ViewState { selected: Some("search".into()), ..v };
        let s = screen(&state, &v, size);
        assert!(line_with(&s, "›").contains("search"), "the selected row is marked");
        assert_has(&s, "latency of search");
        let p99 = line_with(&s, "p99.99 ");
        assert!(p99.contains("60.0ms"), "{p99}");
        let max = line_with(&s, "│max ");
        assert!(max.contains("60.0ms"), "{max}");
    }
}

#[test]
fn requests_window_switches_to_the_last_interval() {
    let state = run_state();
    let v = ViewState { view: View::Requests, window: Window::Interval, ..ViewState::default() };
    let s = screen(&state, &v, (80, 24));
    assert_has(&s, "requests · last interval");
    let product = line_with(&s, "│product ");
    let cells: Vec<&str> = product.split('│').nth(1).unwrap().split_whitespace().collect();
    // Whole-run count, last-interval rate and percentiles.
    assert_eq!(cells[..5], ["product", "3000", "300.0", "20.0ms", "20.0ms"], "{product}");
}

#[test]
fn agents_view_shows_a_lost_agent() {
    let state = run_state();
    for size in SIZES {
        let s = screen(&state, &view(View::Agents), size);
        let lost = line_with(&s, "agent-b");
        assert!(lost.contains("lost"), "{lost}");
        assert!(lost.contains("30s ago"), "{lost}");
        let running = line_with(&s, "agent-a");
        assert!(running.contains("running") && running.contains("480.0"), "{running}");
        assert_has(&s, "3 agent(s): 2 running  1 lost");
    }
}

#[test]
fn errors_view_counts_by_kind_and_request_and_lists_events() {
    let state = run_state();
    for size in SIZES {
        let s = screen(&state, &view(View::Errors), size);
        let timeouts = line_with(&s, "timeout ");
        assert!(timeouts.contains("100"), "10 timeouts × 10 intervals: {timeouts}");
        let server = line_with(&s, "status_5xx");
        assert!(server.contains("30"), "{server}");
        assert_has(&s, "130 failed");
        let checkout = line_with(&s, "│checkout ");
        assert!(checkout.contains("3.00%"), "{checkout}");
        let search = line_with(&s, "│search ");
        assert!(search.contains("10.0%"), "{search}");
        assert!(s.iter().all(|l| !l.contains("│home ")), "home never failed");
        assert_has(&s, "agent agent-b lost");
    }
}

#[test]
fn header_says_when_a_stop_was_asked_and_when_paused() {
    let state = run_state();
    let v = ViewState { stop_requested: true, paused: true, ..ViewState::default() };
    let s = screen(&state, &v, (80, 24));
    assert!(s[0].contains("STOPPING…") && s[0].contains("PAUSED"), "{}", s[0]);
    assert!(s[0].contains("4 Errors"), "the tabs still fit: {}", s[0]);
    assert!(s[23].contains("abort now"), "{}", s[23]);

    let mut stopping = run_state();
    stopping.phase = Phase::Stopping;
    let s = screen(&stopping, &ViewState::default(), (80, 24));
    assert!(s[0].contains("STOPPING…"), "a stop from elsewhere shows too: {}", s[0]);
}

#[test]
fn help_lists_the_keys() {
    let state = run_state();
    let v = ViewState { help: true, ..ViewState::default() };
    for size in SIZES {
        let s = screen(&state, &v, size);
        assert!(line_with(&s, "q, Ctrl-C").contains("stop gracefully"));
        assert_has(&s, "pause / resume");
    }
}

#[test]
fn every_view_draws_before_the_first_interval_and_on_tiny_terminals() {
    let empty = LiveState::new("smoke.toml".into(), vec!["smoke".into()], Duration::from_secs(30), 5);
    let full = run_state();
    for v in View::ALL {
        for size in [(80, 24), (160, 48), (40, 10), (20, 5), (1, 1)] {
            screen(&empty, &view(v), size);
            screen(&full, &view(v), size);
        }
    }
    let s = screen(&empty, &view(View::Overview), (80, 24));
    assert_has(&s, "waiting for the first interval");
    assert!(s[0].contains("STARTING"), "{}", s[0]);
    let s = screen(&empty, &view(View::Agents), (80, 24));
    assert_has(&s, "no agent has connected yet");
}

/// `cargo test -p stampede-tui --test screens -- --ignored --nocapture` shows every screen.
#[test]
#[ignore = "prints screens for a person to look at"]
fn print_screens() {
    let state = run_state();
    for size in SIZES {
        for v in View::ALL {
            let v = ViewState { view: v, selected: Some("checkout".into()), ..ViewState::default() };
            println!("{}\n", screen(&state, &v, size).join("\n"));
        }
    }
    let v = ViewState { help: true, ..ViewState::default() };
    println!("{}\n", screen(&state, &v, (80, 24)).join("\n"));
}

/// 200 agents: the table sorts those needing attention first (lost, late
/// heartbeat, falling behind), pages through the rest, and two summary
/// lines say what the rows no longer can at a glance.
#[test]
fn agents_view_with_two_hundred_agents_sorts_pages_and_sums_up() {
    let mut state = run_state();
    let now = Instant::now();
    state.agents = (0..200)
        .map(|i| AgentInfo {
            name: format!("agent-{i:03}"),
            address: format!("10.0.{}.{}:41000", i / 250, i % 250),
            state: if i == 137 { AgentState::Lost } else { AgentState::Running },
            vus: 75,
            rps: 100.0 + i as f64,
            lag_p99_ms: Some(if i == 42 { 25.0 } else { 1.0 }),
            cpu_percent: Some(if i == 7 { 95.0 } else { 40.0 }),
            last_heartbeat: now - Duration::from_secs(if i == 99 { 8 } else { 0 }),
            requests: 1_000,
        })
        .collect();
    state.coordination = Some(Coordination {
        start_skew_ms: Some(2.5),
        intervals: 120,
        late_ms: [14.0, 31.0, 40.0],
        merge_ms: [9.1, 22.0],
    });
    for (w, h) in SIZES {
        let s = screen(&state, &view(View::Agents), (w, h));
        assert_has(&s, "200 agent(s): 199 running  1 lost  1 late  1 lagging  VUs 14925  rps 39.9k");
        assert_has(&s, "start skew 2.5ms");
        assert_has(&s, "intervals out after their end 14.0ms p99 31.0ms");
        let rows: Vec<&String> = s.iter().filter(|l| l.contains("│agent-")).collect();
        // Borders, the header line, two summary lines, the screen's header and footer.
        let visible = h as usize - 2 - 2 - 3;
        assert_eq!(rows.len(), visible, "{s:#?}");
        assert!(rows[0].contains("agent-137") && rows[0].contains("lost"), "{}", rows[0]);
        assert!(rows[1].contains("agent-099") && rows[1].contains("8.0s ago"), "{}", rows[1]);
        assert!(rows[2].contains("agent-042") && rows[2].contains("25.0ms"), "{}", rows[2]);
        assert!(rows[3].contains("agent-000"), "then by name: {}", rows[3]);
        assert_has(&s, &format!("agents 1–{visible} of 200 · by attention"));
    }
    // The last page, and another order.
    let v = ViewState { agent_top: usize::MAX, agent_sort: AgentSort::Cpu, ..view(View::Agents) };
    let s = screen(&state, &v, (80, 24));
    assert_has(&s, "agents 184–200 of 200 · by cpu");
    let rows: Vec<&String> = s.iter().filter(|l| l.contains("│agent-")).collect();
    assert!(rows.last().unwrap().contains("agent-199"), "{s:#?}");
    let v = ViewState { agent_sort: AgentSort::Cpu, ..view(View::Agents) };
    let s = screen(&state, &v, (80, 24));
    let first = s.iter().find(|l| l.contains("│agent-")).unwrap();
    assert!(first.contains("agent-007") && first.contains("95%"), "{first}");
}
