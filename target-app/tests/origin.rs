//! The origin's catalog endpoints and headers.

mod common;

use http::StatusCode;

use common::Http;

#[tokio::test]
async fn catalog_endpoints() {
    let shop = common::small().await;
    let (base, http) = (shop.origin_url(), Http::new());

    let home = http.get(&format!("{base}/")).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.header("content-type").unwrap().starts_with("text/html"));
    let html = String::from_utf8_lossy(&home.body);
    assert_eq!(html.matches("<img src=\"/static/img/").count(), 12, "{html}");

    let page = http.get(&format!("{base}/api/products?category=3&sort=popularity&page=1")).await.json();
    let products = page["products"].as_array().unwrap();
    assert_eq!(products.len(), 24);
    assert!(products.iter().all(|p| p["category_id"] == 3));
    let pops: Vec<i64> = products.iter().map(|p| p["popularity"].as_i64().unwrap()).collect();
    assert!(pops.windows(2).all(|w| w[0] >= w[1]), "{pops:?}");
    let page2 = http.get(&format!("{base}/api/products?category=3&page=2")).await.json();
    assert_ne!(page2["products"][0]["id"], products[0]["id"]);
    let cheap = http.get(&format!("{base}/api/products?category=3&sort=price_asc")).await.json();
    let prices: Vec<i64> =
        cheap["products"].as_array().unwrap().iter().map(|p| p["price_cents"].as_i64().unwrap()).collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]));
    for bad in ["category=0", "category=x", "sort=name", "page=0", "page=100000"] {
        let r = http.get(&format!("{base}/api/products?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(r.json()["message"].is_string());
    }

    let p = http.get(&format!("{base}/api/products/17")).await;
    assert_eq!(p.header("cache-control"), Some("public, max-age=300"));
    let etag = p.header("etag").unwrap().to_owned();
    let doc = p.json();
    assert_eq!(doc["id"], 17);
    assert_eq!(doc["image"], "/static/img/17.jpg");
    let again = http.get_with(&format!("{base}/api/products/17"), &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert_eq!(http.get(&format!("{base}/api/products/999999")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(http.get(&format!("{base}/api/products/abc")).await.status, StatusCode::BAD_REQUEST);

    let word = doc["name"].as_str().unwrap().split(' ').nth(1).unwrap().to_lowercase();
    let found = http.get(&format!("{base}/api/search?q={word}")).await.json();
    let found = found["products"].as_array().unwrap();
    assert!(!found.is_empty());
    assert!(found.iter().all(|p| p["name"].as_str().unwrap().to_lowercase().contains(&word)));
    assert_eq!(http.get(&format!("{base}/api/search?q=")).await.status, StatusCode::BAD_REQUEST);

    let img = http.get(&format!("{base}/static/img/17.jpg")).await;
    assert_eq!(img.header("content-type"), Some("image/jpeg"));
    assert_eq!(img.header("cache-control"), Some("public, max-age=86400"));
    assert_eq!(http.get(&format!("{base}/static/img/17.jpg")).await.body, img.body);
    assert_eq!(http.get(&format!("{base}/static/img/2001.jpg")).await.status, StatusCode::NOT_FOUND);

    let health = http.get(&format!("{base}/healthz")).await;
    assert_eq!((health.status, &health.body[..]), (StatusCode::OK, &b"ok\n"[..]));
    assert_eq!(http.get(&format!("{base}/nope")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn search_without_indexes_finds_the_same_products() {
    let mut config = stampede_shop::ShopConfig::small();
    config.no_indexes = true;
    let shop = common::start(config).await;
    let indexed = common::small().await;
    let http = Http::new();
    let a = http.get(&format!("{}/api/search?q=wool", shop.origin_url())).await.json();
    let b = http.get(&format!("{}/api/search?q=wool", indexed.origin_url())).await.json();
    assert_eq!(a["products"], b["products"]);
    let a = http.get(&format!("{}/api/products?category=9", shop.origin_url())).await.json();
    let b = http.get(&format!("{}/api/products?category=9", indexed.origin_url())).await.json();
    assert_eq!(a["products"], b["products"]);
}

#[tokio::test]
async fn a_product_page_references_its_assets_which_are_cached_for_a_day() {
    let shop = common::small().await;
    let (base, http) = (shop.origin_url(), Http::new());
    let page = http.get(&format!("{base}/products/17")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(page.header("cache-control"), Some("public, max-age=300"));
    let html = String::from_utf8_lossy(&page.body).into_owned();
    let refs: Vec<&str> = html.split(['"']).filter(|s| s.starts_with("/static/")).collect();
    assert_eq!(
        refs,
        [
            "/static/app.css",
            "/static/app.js",
            "/static/img/17.jpg",
            "/static/img/18.jpg",
            "/static/img/19.jpg",
            "/static/img/20.jpg"
        ]
    );
    for asset in &refs {
        let r = http.get(&format!("{base}{asset}")).await;
        assert_eq!(r.status, StatusCode::OK, "{asset}");
        assert!(r.body.len() > 10 * 1024, "{asset}: {} bytes", r.body.len());
        let etag = r.header("etag").unwrap().to_owned();
        let again = http.get_with(&format!("{base}{asset}"), &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{asset}");
    }
    let css = http.get(&format!("{base}/static/app.css")).await;
    assert_eq!(css.header("cache-control"), Some("public, max-age=86400"));
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(http.get(&format!("{base}/static/app.exe")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(http.get(&format!("{base}/products/999999999")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_login_form_answers_303_to_the_account_with_a_session() {
    let shop = common::small().await;
    let (base, http) = (shop.origin_url(), Http::new());
    let form = "email=ann%40example.com&password=black+friday";
    let r = http.post(&format!("{base}/login"), &[], form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.header("location"), Some("/account"));
    let cookie = r.session_cookie().expect("the 303 sets the session cookie");
    let account = http.get_with(&format!("{base}/account"), &[("cookie", &cookie)]).await;
    assert_eq!(account.status, StatusCode::OK);
    assert_eq!(account.json()["email"], "ann@example.com");
    assert_eq!(account.header("cache-control"), Some("private, no-store"));
    // Logging in again in the same session keeps its cookie.
    let again = http.post(&format!("{base}/login"), &[("cookie", &cookie)], form).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(again.header("set-cookie").is_none());

    let short = http.post(&format!("{base}/login"), &[], "email=ann%40example.com&password=short").await;
    assert_eq!(short.status, StatusCode::UNAUTHORIZED);
    assert_eq!(short.json()["error"], "bad_credentials");
    assert_eq!(http.post(&format!("{base}/login"), &[], "nonsense").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(http.get(&format!("{base}/account")).await.status, StatusCode::UNAUTHORIZED);
}
