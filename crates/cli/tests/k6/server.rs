//! The loopback shop the k6 corpus runs against (`crates/cli/tests/k6/corpus`):
//! deterministic routes on 127.0.0.1:0, every request counted by (method,
//! path) so a test can assert exactly what arrived. It runs on its own
//! runtime thread, so the tests stay synchronous, and stops when dropped.
//!
//! Routes (any other path is a 404):
//! - `GET /`: a small HTML page titled "Stampede shop".
//! - `GET /shop`: an HTML product list ([`SHOP_PAGE`]): five `li.product` with `data-id` 1 to 5, links,
//!   prices, a search form (hidden `csrf`, `q=shoes`, a checkbox, a textarea, a select), and the
//!   malformed markup real pages have (unclosed `<p>`, `<li>`, `<a>`; a stray `</div>`).
//! - `GET /products`: `[{"id":1,"name":"Product 1","price":10}, …]`, ids 1 to 5 (price = id × 10).
//! - `GET /product/{id}`: that product for ids 1 to 5 (plus `"tags":["new","sale"]`), else 404.
//! - `POST /login`: a form `user=…&pass=…`; with `pass=secret` a 303 to `/account` that sets the
//!   cookie `session=USER`, else 401.
//! - `GET /account`: 200 `{"user":USER}` when the `session` cookie is present, else 401.
//! - `POST /api/login`: JSON `{"user","pass"}`; with `"pass":"secret"` 200 `{"token":"tok-USER"}`, else 401.
//! - `GET /api/me`: 200 `{"user":USER}` with `Authorization: Bearer tok-USER`, else 401.
//! - `POST /cart`: a JSON body, answered 201 `{"cart": BODY}`; a body that is not JSON gets 400.
//! - `ANY /echo`: 200 `{"method","path","query","headers":{lower-case name: value},"body","form"}`
//!   (`form`: the decoded fields of an urlencoded body, else `null`).
//! - `ANY /status/{code}`: that status (200–599), body `status CODE`.
//! - `GET /redirect/{n}`: a 302 to `/redirect/{n-1}`; `/redirect/0` answers 200 `redirects done`.
//! - `GET /cookies/set?k=v&…`: 200, one `Set-Cookie: k=v; Path=/` per pair, the pairs as JSON.
//! - `GET /cookies`: 200 `{"cookies":{name: value}}` of the `Cookie` header received.
//! - `GET /delay/{ms}`: answers after `ms` milliseconds (at most 2000), `{"delay":ms}`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{Value, json};

/// Requests received, by (method, path without the query).
pub type Counts = BTreeMap<(String, String), u64>;

pub struct Server {
    pub addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    pub fn start() -> Server {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Mutex::new(Counts::new()));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let seen = counts.clone();
        runtime.spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    r = listener.accept() => match r { Ok(s) => s, Err(_) => continue },
                    _ = &mut rx => return,
                };
                let seen = seen.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(seen.clone(), req));
                    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        Server { addr, counts, shutdown: Some(tx), runtime: Some(runtime) }
    }

    /// `http://127.0.0.1:PORT`, the scripts' `__ENV.BASE`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Everything received so far.
    pub fn counts(&self) -> Counts {
        self.counts.lock().unwrap().clone()
    }

    /// Forgets what was received (between two runs against one server).
    pub fn reset(&self) {
        self.counts.lock().unwrap().clear();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

type Answer = Result<Response<Full<Bytes>>, Infallible>;

fn reply(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder().status(status).header("content-type", content_type).body(Full::new(body.into())).unwrap()
}

fn json_reply(status: u16, v: &Value) -> Response<Full<Bytes>> {
    reply(status, "application/json", v.to_string())
}

/// `application/x-www-form-urlencoded` (and query string) decoding.
pub fn decode_form(s: &str) -> Vec<(String, String)> {
    fn unescape(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                        Ok(v) => {
                            out.push(v);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (unescape(k), unescape(v)),
            None => (unescape(p), String::new()),
        })
        .collect()
}

fn cookies_of(req: &Request<Incoming>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for h in req.headers().get_all("cookie") {
        for pair in h.to_str().unwrap_or("").split(';') {
            if let Some((k, v)) = pair.trim().split_once('=') {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    out
}

/// `GET /shop`. The unclosed `<a>` of product 5 is reopened by the HTML
/// parser around what follows (the form and the footer), as browsers do.
pub const SHOP_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Stampede shop – products</title></head>
<body>
<nav><a href="/">Home</a> <a class="next" href="/shop?page=2">Next page</a></nav>
<ul id="products">
  <li class="product" data-id="1"><a href="/product/1">Product 1</a> <span class="price">10</span></li>
  <li class="product" data-id="2"><a href="/product/2">Product 2</a> <span class="price">20</span></li>
  <li class="product sale" data-id="3"><a href="/product/3">Product 3</a> <span class="price">30</span><p>Only today
  <li class="product" data-id="4"><a href="/product/4">Product 4</a> <span class="price">40</span>
  <li class="product" data-id="5"><a href="/product/5">Product 5 <span class="price">50</span></li>
</ul>
<form action="/search" method="get">
  <input type="hidden" name="csrf" value="tok-42"><input name="q" value="shoes">
  <input type="checkbox" name="instock"><textarea name="note">fast & "cheap"</textarea>
  <select name="sort"><option value="price">Price</option><option value="name" selected>Name</option></select>
</form>
<p class="footer">&copy; 2026 Stampede & co</div>
</body>
</html>
"#;

fn product(id: u64) -> Value {
    json!({ "id": id, "name": format!("Product {id}"), "price": id * 10 })
}

async fn handle(counts: Arc<Mutex<Counts>>, req: Request<Incoming>) -> Answer {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    *counts.lock().unwrap().entry((method.clone(), path.clone())).or_default() += 1;
    let cookies = cookies_of(&req);
    let mut headers = BTreeMap::new();
    for (k, v) in req.headers() {
        headers.insert(k.as_str().to_string(), Value::from(v.to_str().unwrap_or("").to_string()));
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let content_type = header("content-type");
    let authorization = header("authorization");
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let not_found = || Ok(json_reply(404, &json!({ "error": "not found" })));
    let answer = match (method.as_str(), segments.as_slice()) {
        ("GET", [""]) => reply(
            200,
            "text/html; charset=utf-8",
            "<html><head><title>Stampede shop</title></head><body><h1>Welcome</h1></body></html>",
        ),
        ("GET", ["shop"]) => reply(200, "text/html; charset=utf-8", SHOP_PAGE),
        ("GET", ["products"]) => json_reply(200, &Value::from((1..=5).map(product).collect::<Vec<_>>())),
        ("GET", ["product", id]) => match id.parse::<u64>() {
            Ok(id @ 1..=5) => {
                let mut p = product(id);
                p["tags"] = json!(["new", "sale"]);
                json_reply(200, &p)
            }
            _ => return not_found(),
        },
        ("POST", ["login"]) => {
            let form: BTreeMap<String, String> = decode_form(&body).into_iter().collect();
            match (form.get("user"), form.get("pass").map(String::as_str)) {
                (Some(user), Some("secret")) if !user.is_empty() => Response::builder()
                    .status(303)
                    .header("location", "/account")
                    .header("set-cookie", format!("session={user}; Path=/; HttpOnly"))
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
                _ => reply(401, "text/plain", "bad credentials"),
            }
        }
        ("GET", ["account"]) => match cookies.get("session") {
            Some(user) if !user.is_empty() => json_reply(200, &json!({ "user": user })),
            _ => json_reply(401, &json!({ "error": "log in first" })),
        },
        ("POST", ["api", "login"]) => {
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            match (v["user"].as_str(), v["pass"].as_str()) {
                (Some(user), Some("secret")) => json_reply(200, &json!({ "token": format!("tok-{user}") })),
                _ => json_reply(401, &json!({ "error": "bad credentials" })),
            }
        }
        ("GET", ["api", "me"]) => match authorization.strip_prefix("Bearer tok-") {
            Some(user) if !user.is_empty() => json_reply(200, &json!({ "user": user })),
            _ => json_reply(401, &json!({ "error": "no token" })),
        },
        ("POST", ["cart"]) => match serde_json::from_str::<Value>(&body) {
            Ok(v) => json_reply(201, &json!({ "cart": v })),
            Err(_) => json_reply(400, &json!({ "error": "not JSON" })),
        },
        (_, ["echo"]) => {
            let form = if content_type.starts_with("application/x-www-form-urlencoded") {
                let mut m = serde_json::Map::new();
                for (k, v) in decode_form(&body) {
                    m.insert(k, Value::from(v));
                }
                Value::Object(m)
            } else {
                Value::Null
            };
            json_reply(
                200,
                &json!({ "method": method, "path": path, "query": query, "headers": headers, "body": body, "form": form }),
            )
        }
        (_, ["status", code]) => match code.parse::<u16>() {
            Ok(code @ 200..=599) => reply(code, "text/plain", format!("status {code}")),
            _ => return not_found(),
        },
        ("GET", ["redirect", n]) => match n.parse::<u32>() {
            Ok(0) => reply(200, "text/plain", "redirects done"),
            Ok(n @ 1..=20) => Response::builder()
                .status(302)
                .header("location", format!("/redirect/{}", n - 1))
                .body(Full::new(Bytes::new()))
                .unwrap(),
            _ => return not_found(),
        },
        ("GET", ["cookies", "set"]) => {
            let pairs = decode_form(&query);
            let mut b = Response::builder().status(200).header("content-type", "application/json");
            let mut m = serde_json::Map::new();
            for (k, v) in pairs {
                b = b.header("set-cookie", format!("{k}={v}; Path=/"));
                m.insert(k, Value::from(v));
            }
            b.body(Full::new(Bytes::from(Value::Object(m).to_string()))).unwrap()
        }
        ("GET", ["cookies"]) => json_reply(200, &json!({ "cookies": cookies })),
        ("GET", ["delay", ms]) => match ms.parse::<u64>() {
            Ok(ms) => {
                let ms = ms.min(2000);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                json_reply(200, &json!({ "delay": ms }))
            }
            Err(_) => return not_found(),
        },
        _ => return not_found(),
    };
    Ok(answer)
}
