//! Cart, checkout, inventory and the background receipt queue.

mod common;

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use stampede_shop::ShopConfig;
use tokio::sync::Barrier;

use common::{Http, cart_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_checkouts_never_oversell() {
    let shop = common::small().await;
    let base = shop.origin_url();
    let http = Http::new();
    const ITEM: i64 = 77;
    assert!(shop.set_stock(ITEM, 100).await.unwrap());

    // 1,000 shoppers, each with one unit in the cart (sessions made 100 at a time)...
    let mut cookies = Vec::with_capacity(1000);
    for _ in 0..10 {
        let batch: Vec<_> = (0..100)
            .map(|_| {
                let (http, base) = (http.clone(), base.clone());
                tokio::spawn(async move { cart_with(&http, &base, ITEM, 1).await })
            })
            .collect();
        for t in batch {
            cookies.push(t.await.unwrap());
        }
    }
    // ...check out at the same moment.
    let barrier = Arc::new(Barrier::new(cookies.len()));
    let tasks: Vec<_> = cookies
        .into_iter()
        .map(|cookie| {
            let (http, base, barrier) = (http.clone(), base.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                http.post(&format!("{base}/api/checkout"), &[("cookie", &cookie)], "").await
            })
        })
        .collect();
    let (mut created, mut conflicts) = (0, 0);
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                let body = r.json();
                assert_eq!(body["error"], "out_of_stock", "{body}");
                assert_eq!(body["product_id"], ITEM);
                assert_eq!(r.header("content-type"), Some("application/json"));
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    assert_eq!((created, conflicts), (100, 900));
    assert_eq!(shop.stock(ITEM).await.unwrap(), Some(0));
    assert_eq!(shop.order_count().await.unwrap(), 100);
    let inv = http.get(&format!("{base}/api/inventory/{ITEM}")).await.json();
    assert_eq!(inv["stock"], 0);
    assert_eq!(inv["in_stock"], false);
}

#[tokio::test]
async fn checkout_places_an_order_and_renders_the_receipt_in_the_background() {
    let shop = common::small().await;
    let base = shop.origin_url();
    let http = Http::new();
    shop.set_stock(5, 10).await.unwrap();
    let cookie = cart_with(&http, &base, 5, 3).await;
    // A second item in the same session keeps the same cookie.
    let r = http.post(&format!("{base}/api/cart/items"), &[("cookie", &cookie)], r#"{"product_id": 6}"#).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("set-cookie").is_none());
    let cart = http.get_with(&format!("{base}/api/cart"), &[("cookie", &cookie)]).await;
    assert_eq!(cart.header("cache-control"), Some("private, no-store"));
    let cart = cart.json();
    assert_eq!(cart["items"].as_array().unwrap().len(), 2);
    assert!(cart["total_cents"].as_i64().unwrap() > 0);

    let r = http.post(&format!("{base}/api/checkout"), &[("cookie", &cookie)], "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let order = r.json();
    assert_eq!(order["total_cents"], cart["total_cents"]);
    assert_eq!(shop.stock(5).await.unwrap(), Some(7));

    let url = format!("{base}{}", order["order"].as_str().unwrap());
    let mut ready = false;
    for _ in 0..200 {
        let o = http.get_with(&url, &[("cookie", &cookie)]).await.json();
        if o["receipt_ready"] == true {
            assert!(o["receipt"].as_str().unwrap().contains("TOTAL"));
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ready, "the receipt was never rendered");
    // Another session cannot read it.
    let other = cart_with(&http, &base, 1, 1).await;
    assert_eq!(http.get_with(&url, &[("cookie", &other)]).await.status, StatusCode::NOT_FOUND);
    // The cart is empty after the order.
    let cart = http.get_with(&format!("{base}/api/cart"), &[("cookie", &cookie)]).await.json();
    assert_eq!(cart["items"].as_array().unwrap().len(), 0);
    let empty = http.post(&format!("{base}/api/checkout"), &[("cookie", &cookie)], "").await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    shop.stop().await.unwrap();
}

#[tokio::test]
async fn checkout_is_rate_limited_per_session() {
    let mut config = ShopConfig::small();
    config.checkout_limit = 2;
    let shop = common::start(config).await;
    let base = shop.origin_url();
    let http = Http::new();
    let cookie = cart_with(&http, &base, 9, 1).await;
    let url = format!("{base}/api/checkout");
    let headers = [("cookie", cookie.as_str())];
    let checkout = || http.post(&url, &headers, "");
    assert_eq!(checkout().await.status, StatusCode::CREATED);
    assert_eq!(checkout().await.status, StatusCode::BAD_REQUEST); // empty cart, still an attempt
    let limited = checkout().await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(limited.json()["error"], "rate_limited");
    // Another session is not limited.
    let other = cart_with(&http, &base, 9, 1).await;
    let r = http.post(&format!("{base}/api/checkout"), &[("cookie", &other)], "").await;
    assert_eq!(r.status, StatusCode::CREATED);
}

#[tokio::test]
async fn cached_inventory_says_in_stock_while_checkout_fails() {
    let mut config = ShopConfig::small();
    config.cache_inventory = true;
    let shop = common::start(config).await;
    let base = shop.origin_url();
    let http = Http::new();
    shop.set_stock(3, 1).await.unwrap();
    let inv = http.get(&format!("{base}/api/inventory/3")).await;
    assert_eq!(inv.json()["in_stock"], true);
    let first = cart_with(&http, &base, 3, 1).await;
    assert_eq!(http.post(&format!("{base}/api/checkout"), &[("cookie", &first)], "").await.status, StatusCode::CREATED);
    // Sold out, but the page still says in stock...
    let inv = http.get(&format!("{base}/api/inventory/3")).await;
    assert_eq!(inv.json()["in_stock"], true);
    assert!(inv.header("cache-control").unwrap().starts_with("public"));
    // ...and the next shopper's checkout fails.
    let second = cart_with(&http, &base, 3, 1).await;
    let r = http.post(&format!("{base}/api/checkout"), &[("cookie", &second)], "").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.json()["available"], 0);
}

#[tokio::test]
async fn inventory_is_live_by_default() {
    let shop = common::small().await;
    let base = shop.origin_url();
    let http = Http::new();
    shop.set_stock(4, 5).await.unwrap();
    let r = http.get(&format!("{base}/api/inventory/4")).await;
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.json()["stock"], 5);
    shop.set_stock(4, 0).await.unwrap();
    assert_eq!(http.get(&format!("{base}/api/inventory/4")).await.json()["in_stock"], false);
}

#[tokio::test]
async fn bad_cart_requests_get_json_errors() {
    let shop = common::small().await;
    let base = shop.origin_url();
    let http = Http::new();
    let r = http.post(&format!("{base}/api/cart/items"), &[], "not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json()["error"], "bad_body");
    let r = http.post(&format!("{base}/api/cart/items"), &[], r#"{"product_id": 999999}"#).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = http.post(&format!("{base}/api/cart/items"), &[], r#"{"product_id": 1, "quantity": 0}"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = http.post(&format!("{base}/api/checkout"), &[], "").await;
    assert_eq!(r.json()["error"], "no_session");
}
