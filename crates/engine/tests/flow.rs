//! Flow control inside an iteration (`only_if`, `for_each`, batches) and
//! the final URL of a redirect chain, run on worker threads against a
//! loopback server that logs every request it gets (with its connection and
//! its arrival and answer times).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use stampede_engine::RunOptions;
use stampede_metrics::Snapshot;
use stampede_scenario::Overrides;
use support::{Canned, Hit, Server, plan, run};

/// The server answers `ok` to everything: `flag` is extracted (set),
/// `missing` is not (its regex never matches). A step with `only_if` on an
/// unset variable, or on a value it does not hold, sends nothing and counts
/// no sample; the others run every iteration.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_if_skips_a_step_when_the_variable_is_not_set_and_runs_it_when_it_is() {
    let server = Server::start().await;
    let toml = format!(
        r#"
[target]
base_url = "{}"
[[flows.f.steps]]
url = "/start"
extract = [{{ var = "flag", regex = "(ok)" }}, {{ var = "missing", regex = "(nope)" }}]
[[flows.f.steps]]
url = "/set"
only_if = "flag"
[[flows.f.steps]]
url = "/unset"
only_if = "missing"
[[flows.f.steps]]
url = "/equal"
only_if = {{ var = "flag", equals = "ok" }}
[[flows.f.steps]]
url = "/different"
only_if = {{ var = "flag", equals = "ko" }}
[scenarios.s]
executor = "per-vu-iterations"
flow = "f"
vus = 2
iterations = 3
"#,
        server.url()
    );
    let s = run(plan(&toml, &Overrides::default()), RunOptions::local(2), Duration::from_secs(15)).await;
    let targets = server.seen.targets.lock().unwrap().clone();
    let count = |t: &str| targets.iter().filter(|x| *x == t).count();
    assert_eq!(s.iterations(), 6);
    assert_eq!((count("/start"), count("/set"), count("/equal")), (6, 6, 6), "{targets:?}");
    assert_eq!((count("/unset"), count("/different")), (0, 0), "{targets:?}");
    assert_eq!(s.all_requests().count(), 18, "only the requests sent are counted");
}

/// A product page listing six images, each image answered after 300 ms (so
/// that requests sent together visibly overlap at the server), a listing of
/// ten product ids, an empty one, and a checkout that redirects.
fn shop(method: &str, target: &str) -> Option<Canned> {
    let page = (1..=6).map(|i| format!(r#"<img src="img/{i}.png">"#)).collect::<String>();
    let ids = (101..=110).map(|i| format!(r#"{{"id":{i}}}"#)).collect::<Vec<_>>().join(",");
    let redirect = |status, to: &str| {
        let mut c = Canned::new(status, "");
        c.response.headers_mut().insert("location", to.parse().unwrap());
        c
    };
    Some(match (method, target) {
        (_, "/product") => Canned::new(200, page),
        (_, t) if t.starts_with("/img/") => Canned { delay: Duration::from_millis(300), ..Canned::new(200, "png") },
        (_, "/api/products") => Canned::new(200, format!(r#"{{"items":[{ids}]}}"#)),
        (_, "/api/empty") => Canned::new(200, r#"{"items":[]}"#),
        ("POST", "/checkout") => redirect(303, "/orders/42"),
        (_, "/old-image") => redirect(301, "/new-image"),
        _ => return None,
    })
}

/// The most requests the server was working on at once (each from its
/// arrival until its response was ready).
fn peak_concurrency(hits: &[Hit]) -> usize {
    hits.iter()
        .map(|h| hits.iter().filter(|o| o.arrived <= h.arrived && h.arrived < o.answered).count())
        .max()
        .unwrap_or(0)
}

fn image_hits(server: &Server) -> Vec<Hit> {
    server.seen.hits.lock().unwrap().iter().filter(|h| h.target.starts_with("/img/")).cloned().collect()
}

/// Samples by request name and status.
fn samples(s: &Snapshot) -> BTreeMap<(String, u16), u64> {
    let mut m = BTreeMap::new();
    for (k, v) in &s.requests {
        *m.entry((k.name.to_string(), k.status)).or_default() += v.count();
    }
    m
}

/// Runs `steps` as flow `f` on one VU for `iterations` against `server`.
async fn run_one_vu(server: &Server, iterations: u32, steps: &str) -> Snapshot {
    let toml = format!(
        r#"
[target]
base_url = "{}"
{steps}
[scenarios.s]
executor = "per-vu-iterations"
vus = 1
iterations = {iterations}
flow = "f"
"#,
        server.url()
    );
    run(plan(&toml, &Overrides::default()), RunOptions::local(1), Duration::from_secs(20)).await
}

/// A page, then its six images as one batch (each request named, as k6's
/// `http.batch` does): the six are in progress at the server at once, over
/// six connections (the page's, reused, and five more), kept for the
/// second iteration's batch; every request is its own sample.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_six_images_overlaps_over_at_most_six_connections() {
    let server = Server::start_with(shop).await;
    let images = (1..=6)
        .map(|i| format!(r#"{{ name = "img{i}", url = "/img/{i}.png", checks = [{{ status = 200 }}] }}"#))
        .collect::<Vec<_>>()
        .join(",\n  ");
    let steps = format!(
        "[[flows.f.steps]]\nname = \"product\"\nurl = \"/product\"\n[[flows.f.steps]]\nbatch = [\n  {images}\n]\n"
    );
    let s = run_one_vu(&server, 2, &steps).await;
    let hits = image_hits(&server);
    let connections = server.seen.connections.load(Ordering::Relaxed);
    println!("image requests {}, peak concurrency {}, connections {connections}", hits.len(), peak_concurrency(&hits));
    assert_eq!(hits.len(), 12, "six images per iteration");
    assert_eq!(peak_concurrency(&hits), 6, "the six were in progress together: {hits:#?}");
    assert!(connections <= 6, "{connections} connections");
    assert_eq!(connections, 6, "the page's connection and five more, all kept for the next batch");
    let expected: BTreeMap<(String, u16), u64> =
        (1..=6).map(|i| ((format!("img{i}"), 200), 2)).chain([(("product".into(), 200), 2)]).collect();
    assert_eq!(samples(&s), expected, "each request is a sample of its own name");
    assert_eq!(s.checks.values().map(|c| (c.passes, c.fails)).fold((0, 0), |a, c| (a.0 + c.0, a.1 + c.1)), (12, 0));
}

/// The page's images extracted as a list (`all = true`) become one batch
/// (`for_each` on the batch); `batch_per_host = 2` keeps two in progress at
/// a time over two connections, and all six complete, each measured.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_per_host_two_uses_two_connections_and_still_completes_all() {
    let server = Server::start_with(shop).await;
    let steps = r#"
[[flows.f.steps]]
name = "product"
url = "/product"
extract = [{ var = "images", regex = 'src="([^"]+)"', all = true }]
[[flows.f.steps]]
batch_per_host = 2
for_each = "{{ images }}"
batch = [{ name = "image", url = "/{{ item }}", checks = [{ status = 200 }] }]
"#;
    let s = run_one_vu(&server, 1, steps).await;
    let hits = image_hits(&server);
    let connections = server.seen.connections.load(Ordering::Relaxed);
    println!("image requests {}, peak concurrency {}, connections {connections}", hits.len(), peak_concurrency(&hits));
    let mut targets: Vec<&str> = hits.iter().map(|h| h.target.as_str()).collect();
    targets.sort_unstable();
    assert_eq!(targets, (1..=6).map(|i| format!("/img/{i}.png")).collect::<Vec<_>>());
    assert_eq!(peak_concurrency(&hits), 2, "{hits:#?}");
    assert!(connections <= 2, "{connections} connections");
    assert_eq!(samples(&s), BTreeMap::from([(("image".into(), 200), 6), (("product".into(), 200), 1)]));
    assert_eq!(s.total_failed(), 0);
}

/// `for_each` over ten ids collected by an `all = true` JSON path makes ten
/// requests, in the listing's order; `for_each_max = 4` makes four; a list
/// that matched nothing makes none, for a step or a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn for_each_over_ten_extracted_ids_makes_ten_requests_and_the_cap_holds() {
    let steps = |cap: &str| {
        format!(
            r#"
[[flows.f.steps]]
url = "/api/products"
extract = [{{ var = "ids", json = "$.items[*].id", all = true }}]
[[flows.f.steps]]
name = "product"
url = "/product/{{{{ item }}}}"
for_each = "{{{{ ids }}}}"
{cap}
checks = [{{ status = 200 }}]
[[flows.f.steps]]
url = "/api/empty"
extract = [{{ var = "none", json = "$.items[*].id", all = true }}]
[[flows.f.steps]]
url = "/never/{{{{ item }}}}"
for_each = "none"
[[flows.f.steps]]
for_each = "none"
batch = [{{ url = "/never/batch/{{{{ item }}}}" }}]
"#
        )
    };
    for (cap, ids) in [("", 101..=110), ("for_each_max = 4", 101..=104)] {
        let server = Server::start_with(shop).await;
        let s = run_one_vu(&server, 1, &steps(cap)).await;
        let targets = server.seen.targets.lock().unwrap().clone();
        assert!(!targets.iter().any(|t| t.starts_with("/never/")), "an empty list repeats nothing: {targets:?}");
        let products: Vec<String> = targets.into_iter().filter(|t| t.starts_with("/product/")).collect();
        println!("{cap:?}: {} product requests: {products:?}", products.len());
        assert_eq!(products, ids.clone().map(|i| format!("/product/{i}")).collect::<Vec<_>>());
        assert_eq!(s.by_name("product").count(), ids.count() as u64);
    }
}

/// After `POST /checkout` → 303 → `/orders/42`, the step's extractors and
/// checks see the final URL (a check on another URL fails); a batch's
/// request that is redirected is checked on its final URL too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_final_url_of_a_redirect_chain_reaches_extractors_and_checks() {
    let server = Server::start_with(shop).await;
    let steps = r#"
[[flows.f.steps]]
name = "checkout"
method = "POST"
url = "/checkout"
extract = [{ var = "landed", url = true }, { var = "order", url = '/orders/(\d+)' }]
checks = [{ url_contains = "/orders/42" }, { name = "still on the cart", url_contains = "/cart" }]
[[flows.f.steps]]
url = "/confirm/{{ order }}?landed={{ landed }}"
[[flows.f.steps]]
batch = [{ name = "moved", url = "/old-image", checks = [{ url_contains = "/new-image" }] }, { url = "/plain" }]
"#;
    let s = run_one_vu(&server, 1, steps).await;
    let targets = server.seen.targets.lock().unwrap().clone();
    let landed = format!("/confirm/42?landed={}/orders/42", server.url());
    assert!(targets.contains(&landed), "{targets:?}");
    assert!(targets.contains(&"/new-image".to_string()), "{targets:?}");
    let checks: BTreeMap<String, (u64, u64)> =
        s.checks.iter().map(|(k, c)| (k.check.to_string(), (c.passes, c.fails))).collect();
    assert_eq!(
        checks,
        BTreeMap::from([
            ("checkout: url contains \"/orders/42\"".into(), (1, 0)),
            ("still on the cart".into(), (0, 1)),
            ("moved: url contains \"/new-image\"".into(), (1, 0)),
        ])
    );
    let moved = samples(&s).into_iter().filter(|((n, _), _)| n == "moved").collect::<Vec<_>>();
    assert_eq!(moved, [(("moved".into(), 200), 1), (("moved".into(), 301), 1)], "each hop is a sample");
}
