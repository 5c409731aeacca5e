//! Issue 15, point 5: k6's groups and custom tags, end to end against a
//! loopback server: `{group:::checkout}` and `{page:…}` sub-metric
//! thresholds pass and fail by what each group's requests measured, and
//! `group_duration` covers a whole run of a group.

mod support;

use support::{Server, run_scenario, tempdir};

fn outcome<'a>(s: &'a serde_json::Value, selector: &str) -> &'a serde_json::Value {
    s["thresholds"].as_array().unwrap().iter().find(|t| t["metric"] == selector).unwrap_or_else(|| {
        panic!("no threshold `{selector}` in {}", s["thresholds"]);
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_and_tag_selectors_pass_and_fail_by_their_own_requests() {
    let server = Server::start().await;
    let dir = tempdir();
    // `/dist` answers in 1..=100 ms (p95 ≈ 95 ms), `/ok` at once.
    let scenario = format!(
        r#"
[target]
base_url = "{}"
tags = {{ team = "shop" }}

[flows.main]
tags = {{ page = "home" }}

[[flows.main.steps]]
name = "home"
url = "/ok"
group = "browse"

[[flows.main.steps]]
name = "pay"
url = "/dist"
group = "checkout"
tags = {{ page = "pay" }}
think_time = "20ms"

[[flows.main.steps]]
name = "confirm"
url = "/dist"
group = "checkout"
tags = {{ page = "pay" }}

[scenarios.main]
executor = "shared-iterations"
vus = 4
iterations = 40
flow = "main"

[thresholds]
"http_req_duration{{group:::checkout}}" = ["p(95)<50"]
"http_req_duration{{group:::browse}}" = ["p(95)<50"]
"http_req_duration{{page:pay}}" = ["p(95)<50"]
"http_req_duration{{page:home}}" = ["p(95)<50"]
"http_reqs{{team:shop}}" = ["count==120"]
"group_duration{{group:::checkout}}" = ["min>=22"]
"#,
        server.url()
    );
    let out = run_scenario(dir.path(), &scenario, &[]).await;
    assert_eq!(out.code, 99, "thresholds fail: stderr {}", out.stderr);
    let s = out.summary.expect("json summary");
    // The terminal summary lists each group's runs, as k6's shows its groups.
    let groups = out.stdout.split("    GROUPS\n").nth(1).expect("a GROUPS table in the summary").split("\n\n").next();
    let rows: Vec<Vec<&str>> = groups.unwrap().lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows.iter().map(|r| (r[0], r[1], r[2])).collect::<Vec<_>>(),
        [("::browse", "main", "40"), ("::checkout", "main", "40")],
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("group_duration....."), "{}", out.stdout);
    assert_eq!(outcome(&s, "http_req_duration{group:::checkout}")["passed"], false);
    assert_eq!(outcome(&s, "http_req_duration{group:::browse}")["passed"], true);
    assert_eq!(outcome(&s, "http_req_duration{page:pay}")["passed"], false);
    assert_eq!(outcome(&s, "http_req_duration{page:home}")["passed"], true);
    assert_eq!(outcome(&s, "http_reqs{team:shop}")["passed"], true, "{}", s["thresholds"]);
    // One run of `checkout` = pay + 20 ms think time + confirm.
    let gd = outcome(&s, "group_duration{group:::checkout}");
    assert_eq!(gd["passed"], true, "{gd}");
    let series = s["series"].as_array().unwrap();
    let checkout = series
        .iter()
        .find(|x| x["metric"] == "group_duration" && x["tags"]["group"] == "::checkout")
        .expect("a group_duration series for ::checkout");
    let browse = series.iter().find(|x| x["metric"] == "group_duration" && x["tags"]["group"] == "::browse").unwrap();
    assert!(checkout["mean"].as_f64().unwrap() > browse["mean"].as_f64().unwrap() + 20.0);
    let pay =
        series.iter().find(|x| x["metric"] == "http_req_duration" && x["tags"]["name"] == "pay").expect("pay series");
    assert_eq!(pay["tags"]["group"], "::checkout");
    assert_eq!(pay["tags"]["page"], "pay");
    assert_eq!(pay["tags"]["team"], "shop");
}
