//! What each corpus script must give, written from k6's semantics (not from
//! any Stampede output). `{BASE}` in a request name stands for the loopback
//! server's URL (`http://127.0.0.1:PORT`): a request's default `name` tag is
//! its URL, `tags: { name }` overrides it, `http.url` names it by its template.
//! Requests are (name, requests, failed); checks are (name, passes, fails);
//! server counts are (method, path without query, requests received).
//!
//! `side_by_side` scripts are deterministic: the side-by-side test runs them
//! with the real k6 too. Every figure below is the one k6 1.1.0 gave
//! (`k6_side_by_side::k6_gives_the_expected_figures` passed three times in a
//! row on all 58 scripts, the timing-driven ones within their ranges; and on
//! `59_html.js` when it was added).
#![allow(dead_code)]

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Count {
    Exact(u64),
    /// Timing-driven executors: anywhere in lo..=hi.
    Between(u64, u64),
}

const fn n(x: u64) -> Count {
    Count::Exact(x)
}

const fn b(lo: u64, hi: u64) -> Count {
    Count::Between(lo, hi)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// The sum of the amounts added.
    Counter(f64),
    /// The last value set, and the extremes.
    Gauge {
        value: f64,
        min: f64,
        max: f64,
    },
    Rate {
        trues: u64,
        total: u64,
    },
    /// Samples, and min/max where the values do not depend on timing.
    Trend {
        count: u64,
        min: Option<f64>,
        max: Option<f64>,
    },
}

#[derive(Debug)]
pub struct Expect {
    pub script: &'static str,
    pub exit: i32,
    /// The `iterations` metric: iterations of the default (or exec) functions, setup and teardown aside.
    pub iterations: Count,
    pub requests: &'static [(&'static str, Count, Count)],
    pub checks: &'static [(&'static str, Count, Count)],
    pub metrics: &'static [(&'static str, Metric)],
    pub thresholds: &'static [(&'static str, &'static str, bool)],
    pub server: &'static [(&'static str, &'static str, Count)],
    pub side_by_side: bool,
}

const E: Expect = Expect {
    script: "",
    exit: 0,
    iterations: n(0),
    requests: &[],
    checks: &[],
    metrics: &[],
    thresholds: &[],
    server: &[],
    side_by_side: true,
};

pub fn find(script: &str) -> Option<&'static Expect> {
    EXPECTATIONS.iter().find(|e| e.script == script)
}

pub static EXPECTATIONS: &[Expect] = &[
    Expect {
        script: "01_get_check.js",
        iterations: n(5),
        requests: &[("{BASE}/", n(5), n(0))],
        checks: &[("status is 200", n(5), n(0)), ("title is the shop", n(5), n(0))],
        server: &[("GET", "/", n(5))],
        ..E
    },
    Expect {
        script: "02_http_verbs.js",
        iterations: n(2),
        requests: &[("{BASE}/echo", n(14), n(0))],
        checks: &[("echoed method", n(12), n(0)), ("HEAD has no body", n(2), n(0))],
        server: &[
            ("DELETE", "/echo", n(2)),
            ("GET", "/echo", n(2)),
            ("HEAD", "/echo", n(2)),
            ("OPTIONS", "/echo", n(2)),
            ("PATCH", "/echo", n(2)),
            ("POST", "/echo", n(2)),
            ("PUT", "/echo", n(2)),
        ],
        ..E
    },
    Expect {
        script: "03_http_request.js",
        iterations: n(3),
        requests: &[("{BASE}/cart", n(3), n(0)), ("{BASE}/echo", n(3), n(0)), ("{BASE}/product/9", n(3), n(3))],
        checks: &[
            ("cart created", n(3), n(0)),
            ("header sent", n(3), n(0)),
            ("body sent", n(3), n(0)),
            ("unknown product is 404", n(3), n(0)),
        ],
        server: &[("POST", "/cart", n(3)), ("PUT", "/echo", n(3)), ("DELETE", "/product/9", n(3))],
        ..E
    },
    Expect {
        script: "04_params_headers.js",
        iterations: n(4),
        requests: &[("{BASE}/echo", n(4), n(0))],
        checks: &[("user agent from options", n(4), n(0)), ("request id", n(4), n(0)), ("accept", n(4), n(0))],
        server: &[("GET", "/echo", n(4))],
        ..E
    },
    Expect {
        script: "05_tags_name.js",
        iterations: n(2),
        requests: &[("product", n(10), n(0))],
        checks: &[("product found", n(10), n(0))],
        thresholds: &[
            ("http_reqs{name:product}", "count==10", true),
            ("http_reqs{page:detail}", "count==10", true),
            ("http_req_duration{name:product}", "max<2000", true),
        ],
        server: &[
            ("GET", "/product/1", n(2)),
            ("GET", "/product/2", n(2)),
            ("GET", "/product/3", n(2)),
            ("GET", "/product/4", n(2)),
            ("GET", "/product/5", n(2)),
        ],
        ..E
    },
    Expect {
        script: "06_http_url.js",
        iterations: n(3),
        // Every interpolation of the template is a `${}`, the base URL's too.
        requests: &[("${}/product/${}", n(6), n(0))],
        checks: &[("id matches", n(6), n(0))],
        server: &[("GET", "/product/1", n(3)), ("GET", "/product/2", n(3))],
        ..E
    },
    Expect {
        script: "07_json_body.js",
        iterations: n(2),
        requests: &[("{BASE}/cart", n(2), n(0)), ("{BASE}/products", n(2), n(0))],
        checks: &[
            ("five products", n(2), n(0)),
            ("count via #", n(2), n(0)),
            ("third price", n(2), n(0)),
            ("created", n(2), n(0)),
            ("two lines", n(2), n(0)),
            ("ids", n(2), n(0)),
        ],
        server: &[("GET", "/products", n(2)), ("POST", "/cart", n(2))],
        ..E
    },
    Expect {
        script: "08_form_body.js",
        iterations: n(3),
        requests: &[("{BASE}/echo", n(3), n(0))],
        checks: &[("form content type", n(3), n(0)), ("fields decoded", n(3), n(0))],
        server: &[("POST", "/echo", n(3))],
        ..E
    },
    Expect {
        script: "09_login_redirect.js",
        iterations: n(3),
        // The 303's follow-up GET is a request of its own, named by its URL.
        requests: &[("{BASE}/login", n(6), n(3)), ("{BASE}/account", n(3), n(0))],
        checks: &[
            ("landed on the account", n(3), n(0)),
            ("logged in as the user", n(3), n(0)),
            ("wrong password refused", n(3), n(0)),
        ],
        server: &[("POST", "/login", n(6)), ("GET", "/account", n(3))],
        ..E
    },
    Expect {
        script: "10_redirects.js",
        iterations: n(2),
        requests: &[
            ("{BASE}/redirect/3", n(2), n(0)),
            ("{BASE}/redirect/2", n(4), n(0)),
            ("{BASE}/redirect/1", n(2), n(0)),
            ("{BASE}/redirect/0", n(2), n(0)),
        ],
        checks: &[("followed to the end", n(2), n(0)), ("not followed", n(2), n(0))],
        server: &[
            ("GET", "/redirect/3", n(2)),
            ("GET", "/redirect/2", n(4)),
            ("GET", "/redirect/1", n(2)),
            ("GET", "/redirect/0", n(2)),
        ],
        ..E
    },
    Expect {
        script: "11_cookie_jar.js",
        iterations: n(2),
        requests: &[("{BASE}/cookies/set?flavor=chocolate", n(2), n(0)), ("{BASE}/cookies", n(4), n(0))],
        checks: &[
            ("jar holds flavor", n(2), n(0)),
            ("server got flavor", n(2), n(0)),
            ("server got lang", n(2), n(0)),
            ("request cookie added", n(2), n(0)),
        ],
        server: &[("GET", "/cookies/set", n(2)), ("GET", "/cookies", n(4))],
        ..E
    },
    Expect {
        script: "12_cookie_reset.js",
        iterations: n(3),
        requests: &[
            ("{BASE}/cookies", n(6), n(0)),
            ("{BASE}/cookies/set?visit=0", n(1), n(0)),
            ("{BASE}/cookies/set?visit=1", n(1), n(0)),
            ("{BASE}/cookies/set?visit=2", n(1), n(0)),
        ],
        checks: &[("no cookie at the start", n(3), n(0)), ("own jar is empty", n(3), n(0))],
        server: &[("GET", "/cookies", n(6)), ("GET", "/cookies/set", n(3))],
        ..E
    },
    Expect {
        script: "13_expected_statuses.js",
        iterations: n(4),
        requests: &[
            ("{BASE}/product/1", n(4), n(0)),
            ("{BASE}/product/404", n(4), n(0)),
            ("{BASE}/status/503", n(4), n(4)),
            ("{BASE}/status/201", n(4), n(4)),
        ],
        checks: &[("missing is 404", n(4), n(0))],
        thresholds: &[("http_req_failed", "rate==0.5", true)],
        server: &[
            ("GET", "/product/1", n(4)),
            ("GET", "/product/404", n(4)),
            ("GET", "/status/503", n(4)),
            ("GET", "/status/201", n(4)),
        ],
        ..E
    },
    Expect {
        script: "14_response_callback.js",
        iterations: n(5),
        requests: &[("teapot", n(5), n(0)), ("error page", n(5), n(0)), ("moved", n(5), n(5))],
        thresholds: &[("http_req_failed", "rate<0.4", true), ("http_req_failed{expect:any}", "rate==0", true)],
        server: &[("GET", "/status/418", n(5)), ("GET", "/status/500", n(5)), ("GET", "/status/302", n(5))],
        ..E
    },
    Expect {
        script: "15_batch.js",
        iterations: n(2),
        requests: &[
            ("{BASE}/products", n(2), n(0)),
            ("{BASE}/product/1", n(2), n(0)),
            ("cart", n(2), n(0)),
            ("product", n(2), n(0)),
        ],
        checks: &[("list ok", n(2), n(0)), ("cart created", n(2), n(0)), ("second product", n(2), n(0))],
        server: &[
            ("GET", "/products", n(2)),
            ("GET", "/product/1", n(2)),
            ("POST", "/cart", n(2)),
            ("GET", "/product/2", n(2)),
        ],
        ..E
    },
    Expect {
        script: "16_batch_named.js",
        iterations: n(4),
        requests: &[("{BASE}/", n(4), n(0)), ("{BASE}/products", n(4), n(0)), ("{BASE}/product/3", n(4), n(0))],
        checks: &[("home ok", n(4), n(0)), ("list ok", n(4), n(0)), ("three costs 30", n(4), n(0))],
        server: &[("GET", "/", n(4)), ("GET", "/products", n(4)), ("GET", "/product/3", n(4))],
        ..E
    },
    Expect {
        script: "17_helpers_module.js",
        iterations: n(3),
        requests: &[("list", n(3), n(0)), ("view", n(6), n(0)), ("add to cart", n(3), n(0))],
        checks: &[("list ok", n(3), n(0)), ("view ok", n(6), n(0)), ("added", n(3), n(0))],
        server: &[
            ("GET", "/products", n(3)),
            ("GET", "/product/1", n(3)),
            ("GET", "/product/2", n(3)),
            ("POST", "/cart", n(3)),
        ],
        ..E
    },
    Expect {
        script: "18_groups_nested.js",
        iterations: n(3),
        requests: &[
            ("{BASE}/", n(3), n(0)),
            ("{BASE}/products", n(3), n(0)),
            ("{BASE}/product/4", n(3), n(0)),
            ("{BASE}/cart", n(3), n(0)),
        ],
        checks: &[("cart created", n(3), n(0))],
        // A group's tag is its own path: `::shop` does not take in `::shop::browse`.
        thresholds: &[
            ("http_reqs{group:::shop}", "count==3", true),
            ("http_reqs{group:::shop::browse}", "count==6", true),
            ("http_reqs{group:::shop::checkout}", "count==3", true),
            ("checks{group:::shop::checkout}", "rate==1", true),
        ],
        server: &[("GET", "/", n(3)), ("GET", "/products", n(3)), ("GET", "/product/4", n(3)), ("POST", "/cart", n(3))],
        ..E
    },
    Expect {
        script: "19_group_helpers.js",
        iterations: n(2),
        requests: &[("{BASE}/product/1", n(2), n(0)), ("{BASE}/product/5", n(2), n(0)), ("{BASE}/", n(4), n(0))],
        checks: &[("total is 60", n(2), n(0))],
        thresholds: &[("http_reqs{group:::product page}", "count==8", true)],
        server: &[("GET", "/product/1", n(2)), ("GET", "/product/5", n(2)), ("GET", "/", n(4))],
        ..E
    },
    Expect {
        script: "20_foreach_urls.js",
        iterations: n(2),
        requests: &[
            ("{BASE}/", n(2), n(0)),
            ("{BASE}/products", n(2), n(0)),
            ("{BASE}/product/1", n(2), n(0)),
            ("{BASE}/product/2", n(2), n(0)),
            ("{BASE}/?from=map", n(2), n(0)),
            ("{BASE}/products?from=map", n(2), n(0)),
            ("{BASE}/product/1?from=map", n(2), n(0)),
            ("{BASE}/product/2?from=map", n(2), n(0)),
        ],
        checks: &[("all pages 200", n(2), n(0)), ("page ok", n(8), n(0))],
        server: &[
            ("GET", "/", n(4)),
            ("GET", "/products", n(4)),
            ("GET", "/product/1", n(4)),
            ("GET", "/product/2", n(4)),
        ],
        ..E
    },
    Expect {
        script: "21_map_ids.js",
        iterations: n(2),
        requests: &[("{BASE}/products", n(2), n(0)), ("odd product", n(6), n(0))],
        checks: &[("has sale tag", n(6), n(0)), ("three odd products", n(2), n(0))],
        server: &[
            ("GET", "/products", n(2)),
            ("GET", "/product/1", n(2)),
            ("GET", "/product/3", n(2)),
            ("GET", "/product/5", n(2)),
        ],
        ..E
    },
    Expect {
        script: "22_setup_data.js",
        iterations: n(6),
        requests: &[("{BASE}/api/login", n(1), n(0)), ("{BASE}/api/me", n(6), n(0)), ("{BASE}/echo", n(1), n(0))],
        checks: &[("setup logged in", n(1), n(0)), ("me is admin", n(6), n(0)), ("teardown saw the token", n(1), n(0))],
        server: &[("POST", "/api/login", n(1)), ("GET", "/api/me", n(6)), ("POST", "/echo", n(1))],
        ..E
    },
    Expect {
        script: "23_setup_teardown_ids.js",
        iterations: n(4),
        requests: &[
            ("{BASE}/products", n(1), n(0)),
            ("{BASE}/product/1", n(2), n(0)),
            ("{BASE}/product/2", n(2), n(0)),
            ("{BASE}/echo?id=1", n(1), n(0)),
            ("{BASE}/echo?id=2", n(1), n(0)),
        ],
        checks: &[("product from setup", n(4), n(0))],
        server: &[
            ("GET", "/products", n(1)),
            ("GET", "/product/1", n(2)),
            ("GET", "/product/2", n(2)),
            ("DELETE", "/echo", n(2)),
        ],
        ..E
    },
    Expect {
        script: "24_shared_array_json.js",
        iterations: n(6),
        // VU 3 logs in as `cy`, whose password is wrong: 401.
        requests: &[("{BASE}/api/login", n(6), n(2))],
        checks: &[("logged in", n(4), n(2))],
        server: &[("POST", "/api/login", n(6))],
        ..E
    },
    Expect {
        script: "25_shared_array_csv.js",
        iterations: n(8),
        requests: &[("product", n(8), n(0))],
        // The CSV says 45 for product 4; the API says 40.
        checks: &[("name matches", n(8), n(0)), ("price matches", n(6), n(2))],
        server: &[
            ("GET", "/product/1", n(2)),
            ("GET", "/product/2", n(2)),
            ("GET", "/product/3", n(2)),
            ("GET", "/product/4", n(2)),
        ],
        ..E
    },
    Expect {
        script: "26_open_files.js",
        iterations: n(2),
        requests: &[("{BASE}/cart", n(2), n(0)), ("{BASE}/echo", n(2), n(0))],
        checks: &[("fixture lines", n(2), n(0)), ("note sent as is", n(2), n(0))],
        server: &[("POST", "/cart", n(2)), ("PUT", "/echo", n(2))],
        ..E
    },
    Expect {
        script: "27_counter.js",
        iterations: n(6),
        requests: &[("{BASE}/cart", n(6), n(0))],
        metrics: &[("items_bought", Metric::Counter(18.0)), ("cart_errors", Metric::Counter(0.0))],
        thresholds: &[("items_bought", "count==18", true), ("cart_errors", "count<1", true)],
        server: &[("POST", "/cart", n(6))],
        ..E
    },
    Expect {
        script: "28_gauge.js",
        exit: 99,
        iterations: n(3),
        requests: &[
            ("{BASE}/product/5", n(3), n(0)),
            ("{BASE}/product/1", n(3), n(0)),
            ("{BASE}/product/3", n(3), n(0)),
        ],
        metrics: &[("last_price", Metric::Gauge { value: 30.0, min: 10.0, max: 50.0 })],
        thresholds: &[("last_price", "value==30", true), ("last_price", "value>40", false)],
        server: &[("GET", "/product/5", n(3)), ("GET", "/product/1", n(3)), ("GET", "/product/3", n(3))],
        ..E
    },
    Expect {
        script: "29_rate.js",
        exit: 99,
        iterations: n(2),
        requests: &[("product", n(12), n(2))],
        metrics: &[("found", Metric::Rate { trues: 10, total: 12 })],
        thresholds: &[("found", "rate>0.5", true), ("found", "rate>0.9", false)],
        server: &[
            ("GET", "/product/1", n(2)),
            ("GET", "/product/2", n(2)),
            ("GET", "/product/3", n(2)),
            ("GET", "/product/4", n(2)),
            ("GET", "/product/5", n(2)),
            ("GET", "/product/6", n(2)),
        ],
        ..E
    },
    Expect {
        script: "30_trend.js",
        iterations: n(2),
        requests: &[("{BASE}/products", n(2), n(0)), ("product", n(10), n(0))],
        metrics: &[
            ("price", Metric::Trend { count: 10, min: Some(10.0), max: Some(50.0) }),
            ("product_waiting", Metric::Trend { count: 10, min: None, max: None }),
        ],
        thresholds: &[
            ("price", "min>=10", true),
            ("price", "max<=50", true),
            ("price", "avg==30", true),
            ("price", "p(90)<=50", true),
            ("product_waiting", "max<2000", true),
        ],
        server: &[
            ("GET", "/products", n(2)),
            ("GET", "/product/1", n(2)),
            ("GET", "/product/2", n(2)),
            ("GET", "/product/3", n(2)),
            ("GET", "/product/4", n(2)),
            ("GET", "/product/5", n(2)),
        ],
        ..E
    },
    Expect {
        script: "31_metric_tags.js",
        iterations: n(4),
        requests: &[("{BASE}/cart", n(4), n(0))],
        metrics: &[
            ("orders", Metric::Counter(4.0)),
            ("basket_size", Metric::Trend { count: 4, min: Some(1.0), max: Some(4.0) }),
        ],
        thresholds: &[
            ("orders{channel:web}", "count==2", true),
            ("orders{channel:app}", "count==2", true),
            ("basket_size{channel:app}", "max==4", true),
            ("basket_size{channel:app}", "min==2", true),
        ],
        server: &[("POST", "/cart", n(4))],
        ..E
    },
    Expect {
        script: "32_thresholds_pass.js",
        iterations: n(10),
        requests: &[("home", n(10), n(0)), ("{BASE}/products", n(10), n(0))],
        checks: &[("home ok", n(10), n(0)), ("list ok", n(10), n(0))],
        thresholds: &[
            ("http_reqs", "count==20", true),
            ("http_req_failed", "rate==0", true),
            ("http_req_duration", "p(95)<2000", true),
            ("http_req_duration", "max<3000", true),
            ("checks", "rate==1", true),
            ("iterations", "count==10", true),
            ("http_reqs{name:home}", "count==10", true),
        ],
        server: &[("GET", "/", n(10)), ("GET", "/products", n(10))],
        ..E
    },
    Expect {
        script: "33_thresholds_fail.js",
        exit: 99,
        iterations: n(4),
        requests: &[("{BASE}/products", n(4), n(0)), ("missing", n(4), n(4))],
        checks: &[("product exists", n(0), n(4))],
        thresholds: &[
            ("checks", "rate>0.9", false),
            ("http_req_failed", "rate<0.1", false),
            ("http_req_duration{name:missing}", "p(99)<3000", true),
        ],
        server: &[("GET", "/products", n(4)), ("GET", "/product/99", n(4))],
        ..E
    },
    Expect {
        script: "34_check_tags.js",
        exit: 99,
        iterations: n(3),
        requests: &[("{BASE}/products", n(3), n(0)), ("{BASE}/account", n(3), n(3))],
        checks: &[("catalog answers", n(3), n(0)), ("account needs a login", n(3), n(0)), ("account open", n(0), n(3))],
        thresholds: &[("checks{area:catalog}", "rate==1", true), ("checks{area:account}", "rate==1", false)],
        server: &[("GET", "/products", n(3)), ("GET", "/account", n(3))],
        ..E
    },
    Expect {
        script: "35_vu_iter_env.js",
        iterations: n(6),
        requests: &[("vu1", n(2), n(0)), ("vu2", n(2), n(0)), ("vu3", n(2), n(0))],
        checks: &[("query carries vu and iter", n(6), n(0))],
        server: &[("GET", "/echo", n(6))],
        ..E
    },
    Expect {
        script: "36_execution.js",
        iterations: n(6),
        requests: &[
            ("product-1", n(2), n(0)),
            ("product-2", n(1), n(0)),
            ("product-3", n(1), n(0)),
            ("product-4", n(1), n(0)),
            ("product-5", n(1), n(0)),
        ],
        checks: &[
            ("right product", n(6), n(0)),
            ("scenario name", n(6), n(0)),
            ("vu id in range", n(6), n(0)),
            ("vu iterations", n(6), n(0)),
        ],
        server: &[
            ("GET", "/product/1", n(2)),
            ("GET", "/product/2", n(1)),
            ("GET", "/product/3", n(1)),
            ("GET", "/product/4", n(1)),
            ("GET", "/product/5", n(1)),
        ],
        ..E
    },
    Expect {
        script: "37_encoding.js",
        iterations: n(2),
        requests: &[("{BASE}/echo", n(2), n(0))],
        checks: &[
            ("basic header", n(2), n(0)),
            ("decodes back", n(2), n(0)),
            ("url-safe", n(2), n(0)),
            ("url-safe round trip", n(2), n(0)),
        ],
        server: &[("GET", "/echo", n(2))],
        ..E
    },
    Expect {
        script: "38_crypto.js",
        iterations: n(2),
        requests: &[("{BASE}/echo", n(2), n(0))],
        checks: &[
            ("signature arrived", n(2), n(0)),
            ("sha256 of abc", n(2), n(0)),
            ("sha256 in base64", n(2), n(0)),
            ("md5 of abc", n(2), n(0)),
            ("known hmac", n(2), n(0)),
        ],
        server: &[("POST", "/echo", n(2))],
        ..E
    },
    Expect {
        script: "39_exception.js",
        iterations: n(5),
        requests: &[("product", n(5), n(0)), ("{BASE}/cart", n(3), n(0))],
        metrics: &[("carts_filled", Metric::Counter(3.0))],
        server: &[
            ("GET", "/product/1", n(1)),
            ("GET", "/product/2", n(1)),
            ("GET", "/product/3", n(1)),
            ("GET", "/product/4", n(1)),
            ("GET", "/product/5", n(1)),
            ("POST", "/cart", n(3)),
        ],
        ..E
    },
    Expect {
        script: "40_fail.js",
        iterations: n(4),
        requests: &[("status", n(4), n(2)), ("next page", n(2), n(0))],
        checks: &[("status is 200", n(2), n(2))],
        server: &[("GET", "/status/200", n(2)), ("GET", "/status/500", n(2)), ("GET", "/", n(2))],
        ..E
    },
    Expect {
        script: "41_sleep.js",
        iterations: n(4),
        requests: &[("{BASE}/", n(4), n(0)), ("{BASE}/products", n(4), n(0))],
        thresholds: &[("iteration_duration", "min>=300", true), ("http_req_duration", "max<300", true)],
        server: &[("GET", "/", n(4)), ("GET", "/products", n(4))],
        ..E
    },
    Expect {
        script: "42_timeout.js",
        iterations: n(2),
        // A request past its timeout has no response (status 0) and is failed; it did reach the server.
        requests: &[("slow", n(2), n(2)), ("quick", n(2), n(0))],
        checks: &[("timed out", n(2), n(0)), ("quick ok", n(2), n(0))],
        thresholds: &[("http_req_failed", "rate==0.5", true)],
        server: &[("GET", "/delay/1500", n(2)), ("GET", "/delay/10", n(2))],
        ..E
    },
    Expect {
        script: "43_scenarios_exec.js",
        iterations: n(9),
        requests: &[("{BASE}/products", n(6), n(0)), ("{BASE}/cart", n(3), n(0))],
        checks: &[("listed", n(6), n(0)), ("quantity from the scenario env", n(3), n(0))],
        thresholds: &[("http_reqs{flow:browse}", "count==6", true), ("http_reqs{scenario:buyers}", "count==3", true)],
        server: &[("GET", "/products", n(6)), ("POST", "/cart", n(3))],
        ..E
    },
    Expect {
        script: "44_shared_iterations.js",
        iterations: n(12),
        requests: &[
            ("{BASE}/product/1", n(3), n(0)),
            ("{BASE}/product/2", n(3), n(0)),
            ("{BASE}/product/3", n(3), n(0)),
            ("{BASE}/product/4", n(3), n(0)),
        ],
        checks: &[("found", n(12), n(0))],
        thresholds: &[("iterations", "count==12", true)],
        server: &[
            ("GET", "/product/1", n(3)),
            ("GET", "/product/2", n(3)),
            ("GET", "/product/3", n(3)),
            ("GET", "/product/4", n(3)),
        ],
        ..E
    },
    Expect {
        script: "45_per_vu_iterations.js",
        iterations: n(12),
        requests: &[("vu-1", n(4), n(0)), ("vu-2", n(4), n(0)), ("vu-3", n(4), n(0))],
        checks: &[("echo ok", n(12), n(0))],
        thresholds: &[("iterations{scenario:each}", "count==12", true)],
        server: &[("GET", "/echo", n(12))],
        ..E
    },
    Expect {
        script: "46_constant_vus.js",
        // 2 VUs × one iteration every ~0.5 s for 2 s: about 8 (k6 1.1.0: 8, three runs).
        iterations: b(6, 10),
        requests: &[("{BASE}/products", b(6, 10), n(0))],
        checks: &[("list ok", b(6, 10), n(0))],
        thresholds: &[("checks", "rate==1", true), ("http_reqs", "count>=4", true)],
        server: &[("GET", "/products", b(6, 10))],
        side_by_side: false,
        ..E
    },
    Expect {
        script: "47_ramping_vus.js",
        // About 1, 2, 3, 2, 1 VUs over 2 s, one iteration per ~0.3 s each (k6 1.1.0: 13, three runs).
        iterations: b(6, 20),
        requests: &[("{BASE}/", b(6, 20), n(0))],
        checks: &[("home ok", b(6, 20), n(0))],
        thresholds: &[("checks", "rate==1", true), ("http_req_failed", "rate==0", true)],
        server: &[("GET", "/", b(6, 20))],
        side_by_side: false,
        ..E
    },
    Expect {
        script: "48_constant_arrival_rate.js",
        // 10 a second for 2 s: k6 1.1.0 started 20 or 21 (one at each end).
        iterations: b(18, 22),
        requests: &[("{BASE}/product/1", b(18, 22), n(0))],
        checks: &[("found", b(18, 22), n(0))],
        thresholds: &[("iterations", "count>=15", true), ("checks", "rate==1", true)],
        server: &[("GET", "/product/1", b(18, 22))],
        side_by_side: false,
        ..E
    },
    Expect {
        script: "49_ramping_arrival_rate.js",
        // 5→10 a second over 1 s (about 7.5), then 10 a second for 1 s (k6 1.1.0: 17, three runs).
        iterations: b(13, 20),
        requests: &[("{BASE}/products", b(13, 20), n(0))],
        checks: &[("list ok", b(13, 20), n(0))],
        thresholds: &[("iterations", "count>=10", true), ("checks", "rate==1", true)],
        server: &[("GET", "/products", b(13, 20))],
        side_by_side: false,
        ..E
    },
    Expect {
        script: "50_response_fields.js",
        iterations: n(2),
        requests: &[("{BASE}/product/2?ref=corpus", n(2), n(0))],
        checks: &[
            ("status", n(2), n(0)),
            ("content type header", n(2), n(0)),
            ("body is a string", n(2), n(0)),
            ("final url", n(2), n(0)),
            ("timings", n(2), n(0)),
            ("request method", n(2), n(0)),
        ],
        server: &[("GET", "/product/2", n(2))],
        ..E
    },
    Expect {
        script: "51_abort.js",
        exit: 108,
        // k6 1.1.0 counts the aborted iteration in `iterations` (5 complete + 1).
        iterations: n(6),
        requests: &[("product", n(6), n(1))],
        server: &[
            ("GET", "/product/1", n(1)),
            ("GET", "/product/2", n(1)),
            ("GET", "/product/3", n(1)),
            ("GET", "/product/4", n(1)),
            ("GET", "/product/5", n(1)),
            ("GET", "/product/6", n(1)),
        ],
        ..E
    },
    Expect {
        script: "52_discard_bodies.js",
        iterations: n(2),
        requests: &[("{BASE}/products", n(2), n(0)), ("{BASE}/product/1", n(2), n(0))],
        checks: &[("body discarded", n(2), n(0)), ("body kept", n(2), n(0))],
        server: &[("GET", "/products", n(2)), ("GET", "/product/1", n(2))],
        ..E
    },
    Expect {
        script: "53_multipart.js",
        iterations: n(2),
        requests: &[("{BASE}/echo", n(2), n(0))],
        checks: &[("multipart", n(2), n(0)), ("file part", n(2), n(0)), ("field part", n(2), n(0))],
        server: &[("POST", "/echo", n(2))],
        ..E
    },
    Expect {
        script: "54_options_tags.js",
        iterations: n(3),
        requests: &[("{BASE}/", n(3), n(0)), ("{BASE}/products", n(3), n(0))],
        thresholds: &[("http_reqs{team:shop}", "count==6", true), ("http_reqs{team:shop,kind:api}", "count==3", true)],
        server: &[("GET", "/", n(3)), ("GET", "/products", n(3))],
        ..E
    },
    Expect {
        script: "55_env_options.js",
        iterations: n(6),
        requests: &[("list", n(6), n(0))],
        thresholds: &[("iterations", "count==6", true), ("http_reqs{name:list}", "count==6", true)],
        server: &[("GET", "/products", n(6))],
        ..E
    },
    Expect {
        script: "56_check_result_rate.js",
        exit: 99,
        iterations: n(4),
        requests: &[("product", n(4), n(1))],
        checks: &[("status 200", n(3), n(1)), ("has a price", n(3), n(1))],
        metrics: &[("journey_ok", Metric::Rate { trues: 3, total: 4 })],
        thresholds: &[("journey_ok", "rate>=0.75", true), ("journey_ok", "rate==1", false)],
        server: &[
            ("GET", "/product/3", n(1)),
            ("GET", "/product/4", n(1)),
            ("GET", "/product/5", n(1)),
            ("GET", "/product/6", n(1)),
        ],
        ..E
    },
    Expect {
        script: "57_shopper_journey.js",
        iterations: n(4),
        requests: &[
            ("home", n(4), n(0)),
            ("products", n(4), n(0)),
            // The 303's follow-up GET carries the request's tags, `name` included (k6 1.1.0).
            ("login", n(8), n(0)),
            ("cart", n(4), n(0)),
        ],
        checks: &[("logged in", n(4), n(0)), ("order placed", n(4), n(0))],
        metrics: &[("orders", Metric::Counter(4.0))],
        thresholds: &[
            ("checks", "rate==1", true),
            ("orders", "count==4", true),
            ("http_reqs{group:::login}", "count==8", true),
        ],
        server: &[
            ("GET", "/", n(4)),
            ("GET", "/products", n(4)),
            ("POST", "/login", n(4)),
            ("GET", "/account", n(4)),
            ("POST", "/cart", n(4)),
        ],
        ..E
    },
    Expect {
        script: "58_api_users.js",
        iterations: n(6),
        requests: &[("token", n(6), n(2)), ("me", n(4), n(0)), ("product", n(4), n(0))],
        checks: &[("token issued", n(4), n(2)), ("me matches", n(4), n(0))],
        metrics: &[("basket_value", Metric::Trend { count: 4, min: Some(40.0), max: Some(60.0) })],
        thresholds: &[("checks{step:token}", "rate>0.6", true), ("basket_value", "max==60", true)],
        server: &[
            ("POST", "/api/login", n(6)),
            ("GET", "/api/me", n(4)),
            ("GET", "/product/2", n(2)),
            ("GET", "/product/3", n(2)),
        ],
        ..E
    },
    Expect {
        script: "59_html.js",
        iterations: n(2),
        requests: &[("shop", n(2), n(0))],
        checks: &[
            ("title", n(2), n(0)),
            ("each and size", n(2), n(0)),
            ("map", n(2), n(0)),
            ("eq, first, last", n(2), n(0)),
            ("absent attribute", n(2), n(0)),
            ("val", n(2), n(0)),
            ("children", n(2), n(0)),
            ("html(selector)", n(2), n(0)),
            ("inner html", n(2), n(0)),
            ("malformed markup", n(2), n(0)),
            ("parseHTML", n(2), n(0)),
            ("invalid selector matches nothing", n(2), n(0)),
            // k6 counts a check whose function throws as failed, then the exception ends the iteration.
            ("find(null) throws", n(0), n(2)),
        ],
        metrics: &[("products_found", Metric::Counter(10.0))],
        thresholds: &[("products_found", "count==10", true)],
        server: &[("GET", "/shop", n(2))],
        ..E
    },
    Expect {
        script: "60_batch_limits.js",
        iterations: n(2),
        requests: &[("slow", n(12), n(0))],
        checks: &[("all answered", n(2), n(0)), ("two at a time", n(2), n(0))],
        server: &[("GET", "/delay/300", n(12))],
        ..E
    },
];
