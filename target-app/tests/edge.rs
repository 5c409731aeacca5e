//! The CDN edge: storage rules, Age, collapsing, revalidation, and the misconfigured-images switch.

mod common;

use std::time::Duration;

use http::StatusCode;
use stampede_shop::ShopConfig;

use common::{Http, cart_with};

#[tokio::test]
async fn image_is_a_miss_then_a_hit_with_age() {
    let shop = common::small().await;
    let (edge, http) = (shop.edge_url(), Http::new());
    let url = format!("{edge}/static/img/42.jpg");
    let first = http.get(&url).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(first.header("cache-status"), Some("stampede-edge; fwd=miss; stored"));
    assert_eq!(first.header("cache-control"), Some("public, max-age=86400"));
    assert!(first.header("etag").is_some());
    assert!((20 * 1024..=60 * 1024).contains(&first.body.len()));

    let second = http.get(&url).await;
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(second.header("cache-status"), Some("stampede-edge; hit"));
    let age: u64 = second.header("age").expect("a hit has Age").parse().unwrap();
    assert!(age < 5);
    assert_eq!(second.body, first.body);
    assert_eq!(shop.edge_stats().origin_fetches, 1);

    // A browser revalidating against the edge gets a 304 from cache.
    let etag = first.header("etag").unwrap();
    let third = http.get_with(&url, &[("if-none-match", etag)]).await;
    assert_eq!(third.status, StatusCode::NOT_MODIFIED);
    assert_eq!(third.header("x-cache"), Some("HIT"));
    assert_eq!(shop.edge_stats().origin_fetches, 1);
}

#[tokio::test]
async fn private_and_no_store_responses_are_never_stored() {
    let shop = common::small().await;
    let (edge, http) = (shop.edge_url(), Http::new());
    let cookie = cart_with(&http, &edge, 10, 1).await;
    for _ in 0..3 {
        // `private, no-store`
        let cart = http.get_with(&format!("{edge}/api/cart"), &[("cookie", &cookie)]).await;
        assert_eq!(cart.status, StatusCode::OK);
        assert_eq!(cart.header("x-cache"), Some("MISS"));
        assert_eq!(cart.header("cache-status"), Some("stampede-edge; fwd=miss"));
        // `no-store`
        let inv = http.get(&format!("{edge}/api/inventory/10")).await;
        assert_eq!(inv.header("cache-status"), Some("stampede-edge; fwd=miss"));
    }
    let stats = shop.edge_stats();
    assert_eq!(stats.stored, 0);
    assert_eq!(stats.hits, 0);
    // Another shopper's cart is never served from someone else's response.
    let other = http.get(&format!("{edge}/api/cart")).await.json();
    assert_eq!(other["items"].as_array().unwrap().len(), 0);
    // Health is proxied, never cached.
    for _ in 0..2 {
        let h = http.get(&format!("{edge}/healthz")).await;
        assert_eq!(h.status, StatusCode::OK);
        assert_eq!(h.header("cache-status"), Some("stampede-edge; fwd=bypass"));
    }
    assert_eq!(shop.edge_stats().stored, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_misses_make_one_origin_fetch() {
    let mut config = ShopConfig::small();
    // A slow origin, so that all hundred requests arrive while the first is still fetching.
    config.origin_delay = Duration::from_millis(300);
    let shop = common::start(config).await;
    let (edge, http) = (shop.edge_url(), Http::new());
    let url = format!("{edge}/api/products/123");
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move { http.get(&url).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["id"], 123);
        statuses.push(r.header("cache-status").unwrap().to_owned());
    }
    let stats = shop.edge_stats();
    assert_eq!(stats.origin_fetches, 1, "{stats:?}");
    assert_eq!(statuses.iter().filter(|s| s.ends_with("fwd=miss; stored")).count(), 1);
    assert_eq!(stats.collapsed + stats.hits, 99, "{stats:?}");
    assert!(stats.collapsed > 0, "the test did not exercise collapsing: {stats:?}");
}

#[tokio::test]
async fn stale_entries_are_revalidated_with_the_etag() {
    let mut config = ShopConfig::small();
    config.image_max_age = Duration::from_secs(1);
    let shop = common::start(config).await;
    let (edge, http) = (shop.edge_url(), Http::new());
    let url = format!("{edge}/static/img/7.jpg");
    let first = http.get(&url).await;
    assert_eq!(first.header("cache-control"), Some("public, max-age=1"));
    assert_eq!(http.get(&url).await.header("x-cache"), Some("HIT"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let revalidated = http.get(&url).await;
    assert_eq!(revalidated.status, StatusCode::OK);
    assert_eq!(revalidated.header("cache-status"), Some("stampede-edge; fwd=stale; fwd-status=304; stored"));
    assert_eq!(revalidated.body, first.body);
    let stats = shop.edge_stats();
    assert_eq!(stats.revalidated_not_modified, 1);
    assert_eq!(stats.origin_fetches, 2);
    // Fresh again after the 304.
    let again = http.get(&url).await;
    assert_eq!(again.header("x-cache"), Some("HIT"));
    assert_eq!(shop.edge_stats().origin_fetches, 2);
}

#[tokio::test]
async fn misconfigured_images_never_hit() {
    let mut config = ShopConfig::small();
    config.cdn_misconfigured = true;
    let shop = common::start(config).await;
    let (edge, http) = (shop.edge_url(), Http::new());
    let (mut hits, mut total) = (0, 0);
    for round in 0..3 {
        for id in 1..=20 {
            let r = http.get(&format!("{edge}/static/img/{id}.jpg")).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.header("cache-control"), Some("no-cache, private"), "round {round}");
            total += 1;
            if r.header("x-cache") == Some("HIT") {
                hits += 1;
            }
        }
    }
    assert_eq!(hits, 0);
    let stats = shop.edge_stats();
    assert_eq!(stats.origin_fetches, total);
    assert_eq!(stats.stored, 0);
}

#[tokio::test]
async fn post_is_forwarded_and_cacheable_pages_are_shared() {
    let shop = common::small().await;
    let (edge, http) = (shop.edge_url(), Http::new());
    let r = http.post(&format!("{edge}/api/cart/items"), &[], r#"{"product_id": 1}"#).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("cache-status"), Some("stampede-edge; fwd=method"));
    assert!(r.session_cookie().is_some());
    for path in ["/", "/api/products?category=3", "/api/search?q=wool", "/api/products/5"] {
        let a = http.get(&format!("{edge}{path}")).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert_eq!(a.header("x-cache"), Some("MISS"), "{path}");
        let b = http.get(&format!("{edge}{path}")).await;
        assert_eq!(b.header("x-cache"), Some("HIT"), "{path}");
    }
    // Request directives force a trip to the origin.
    let r = http.get_with(&format!("{edge}/api/products/5"), &[("cache-control", "no-cache")]).await;
    assert_eq!(r.header("cache-status"), Some("stampede-edge; fwd=request; stored"));
}

/// One `GET path` on a fresh connection from `from` (a loopback address).
async fn get_from(from: std::net::IpAddr, edge: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::new(from, 0)).unwrap();
    let mut s = socket.connect(edge).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn requests_are_counted_by_client_address() {
    let shop = common::small().await;
    let edge = shop.edge_addr;
    let (a, b) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
    for i in 0..3 {
        assert!(get_from(a, edge, &format!("/api/products/{}", i + 1)).await.starts_with("HTTP/1.1 200"));
    }
    assert!(get_from(b, edge, "/static/img/7.jpg").await.starts_with("HTTP/1.1 200"));
    // Its own /metrics is not a request it answers for a client.
    let metrics = get_from(a, edge, "/metrics").await;
    let line = |client: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("shop_edge_client_requests_total{{client=\"{client}\"}} ")))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
    };
    assert_eq!(line("127.0.0.1"), Some(3), "{metrics}");
    assert_eq!(line("127.0.0.2"), Some(1), "{metrics}");
    assert_eq!(line("other"), None, "{metrics}");
}

/// HTTP/2 with prior knowledge (a client's `http_version = "http2"` on plain
/// HTTP) is told from HTTP/1.1 by its first bytes, on the same port, and a
/// slow HTTP/1.1 client that sends its request a byte at a time is still
/// served as HTTP/1.1.
#[tokio::test]
async fn the_edge_speaks_http2_with_prior_knowledge_and_http1_on_the_same_port() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let shop = common::small().await;
    let tcp = tokio::net::TcpStream::connect(shop.edge_addr).await.unwrap();
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), hyper_util::rt::TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(conn);
    for path in ["/api/products/3", "/static/img/3.jpg"] {
        let req = http::Request::get(format!("http://{}{path}", shop.edge_addr))
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        let resp = send.send_request(req).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.version(), http::Version::HTTP_2);
    }

    let mut s = tokio::net::TcpStream::connect(shop.edge_addr).await.unwrap();
    for b in b"POST /api/cart HTTP/1.1\r\nHost: shop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" {
        s.write_all(&[*b]).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    assert!(out.starts_with(b"HTTP/1.1 "), "{}", String::from_utf8_lossy(&out));
}
