//! Helpers shared by the shop's integration tests: a loopback HTTP client and shop start-up.
#![allow(dead_code)]

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use stampede_shop::{ShopConfig, ShopHandle};

/// A response read in full.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
    /// The `sid=…` pair of a `Set-Cookie`, ready for a `Cookie` header.
    pub fn session_cookie(&self) -> Option<String> {
        self.header("set-cookie").map(|c| c.split(';').next().unwrap_or_default().to_owned())
    }
}

/// A pooled HTTP/1 client for loopback.
#[derive(Debug, Clone)]
pub struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Http {
    pub fn new() -> Self {
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(2048).build_http();
        Self { client }
    }

    pub async fn send(&self, method: Method, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
        assert!(url.starts_with("http://127.0.0.1:"), "tests only talk to loopback: {url}");
        let mut req = Request::builder().method(method).uri(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default().to_owned()))).unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
            .await
            .expect("request timed out")
            .expect("request failed");
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        Resp { status: parts.status, headers: parts.headers, body }
    }

    pub async fn get(&self, url: &str) -> Resp {
        self.send(Method::GET, url, &[], None).await
    }

    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Resp {
        self.send(Method::GET, url, headers, None).await
    }

    pub async fn post(&self, url: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        self.send(Method::POST, url, headers, Some(body)).await
    }
}

/// Starts a shop on loopback with `config` (ports chosen by the OS).
pub async fn start(config: ShopConfig) -> ShopHandle {
    stampede_shop::start(config).await.expect("shop starts")
}

/// Starts the small test shop (2,000 products).
pub async fn small() -> ShopHandle {
    start(ShopConfig::small()).await
}

/// Adds one product to a new session's cart and returns the session cookie.
pub async fn cart_with(http: &Http, base: &str, product_id: i64, quantity: u32) -> String {
    let body = format!("{{\"product_id\": {product_id}, \"quantity\": {quantity}}}");
    let r = http.post(&format!("{base}/api/cart/items"), &[], &body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.session_cookie().expect("a new session gets a cookie")
}
