//! The origin: the shop's HTTP API and pages, served by axum over the database.
//!
//! Owns routing, request parsing, response headers (Cache-Control, ETag, cookies), the in-process
//! product cache, the switches' effects on responses, and the origin's `/metrics`. SQL lives in
//! `db`, carts in `sessions`, receipts in `receipts`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ShopConfig;
use crate::catalog;
use crate::db::{self, CheckoutOutcome, OrderLine, PAGE_SIZE, Sort};
use crate::metrics::{Counter, Exposition, Histogram, Kind};
use crate::pg::{BouncerFigures, ServerFigures};
use crate::receipts::{Job, QueueMetrics, ReceiptQueue, money};
use crate::redis_store::Redis;
use crate::sessions::{AddError, SessionId, SessionStore};
use crate::store::Store;
use crate::ttl_cache::TtlCache;

const JSON: &str = "application/json";
const NO_STORE: &str = "no-store";
const PRIVATE: &str = "private, no-store";
/// Most of one product a single cart line may hold.
const MAX_QUANTITY: u32 = 10;
const FEATURED: u32 = 12;

/// A rendered product document, shared by every request that hits the product cache.
#[derive(Debug, Clone)]
struct ProductDoc {
    body: Bytes,
    etag: HeaderValue,
}

/// Shared state of the origin's handlers.
#[derive(Debug)]
pub struct Origin {
    db: Store,
    config: ShopConfig,
    /// Product documents: in Redis with `--redis`, else in this process.
    redis: Option<Redis>,
    products: TtlCache<ProductDoc>,
    /// Only used with `--cache-inventory`: stale stock levels, the mistake that switch shows.
    inventory: TtlCache<i64>,
    sessions: SessionStore,
    receipts: ReceiptQueue,
    metrics: OriginMetrics,
    product_cc: HeaderValue,
    image_cc: HeaderValue,
    inventory_cc: HeaderValue,
}

impl Origin {
    pub fn new(
        db: Store,
        config: ShopConfig,
        redis: Option<Redis>,
        sessions: SessionStore,
        receipts: ReceiptQueue,
        queue: Arc<QueueMetrics>,
    ) -> Self {
        let product_cc = cc_value(&format!("public, max-age={}", config.product_max_age.as_secs()));
        let image_cc = if config.cdn_misconfigured {
            HeaderValue::from_static("no-cache, private")
        } else {
            cc_value(&format!("public, max-age={}", config.image_max_age.as_secs()))
        };
        let inventory_cc = if config.cache_inventory {
            cc_value(&format!("public, max-age={}", config.product_cache_ttl.as_secs()))
        } else {
            HeaderValue::from_static(NO_STORE)
        };
        Self {
            products: TtlCache::new(config.product_cache_ttl, 100_000),
            inventory: TtlCache::new(config.product_cache_ttl, 100_000),
            db,
            redis,
            sessions,
            receipts,
            metrics: OriginMetrics::new(queue),
            product_cc,
            image_cc,
            inventory_cc,
            config,
        }
    }

    pub fn db(&self) -> &Store {
        &self.db
    }

    /// A cached product document (a Redis fault counts as a miss).
    async fn cached_product(&self, id: i64) -> Option<ProductDoc> {
        let Some(redis) = &self.redis else {
            return self.products.get(id);
        };
        let (etag, body) = redis.product(id).await.ok()??;
        Some(ProductDoc { body, etag: HeaderValue::from_maybe_shared(etag).ok()? })
    }

    async fn cache_product(&self, id: i64, doc: &ProductDoc) {
        match &self.redis {
            // A failed write is counted; the next request reads the database again.
            Some(redis) => drop(redis.put_product(id, doc.etag.as_bytes(), &doc.body).await),
            None => self.products.insert(id, doc.clone()),
        }
    }

    /// Stock from the inventory cache (`--cache-inventory`): Redis with `--redis`.
    async fn cached_stock(&self, id: i64) -> Option<i64> {
        match &self.redis {
            Some(redis) => redis.stock(id).await.ok()?,
            None => self.inventory.get(id),
        }
    }

    async fn cache_stock(&self, id: i64, stock: i64) {
        match &self.redis {
            Some(redis) => drop(redis.put_stock(id, stock).await),
            None => self.inventory.insert(id, stock),
        }
    }
}

fn cc_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(NO_STORE))
}

/// The origin's router.
pub fn router(origin: Arc<Origin>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/api/products", get(listing))
        .route("/api/products/{id}", get(product))
        .route("/api/search", get(search))
        .route("/api/inventory/{id}", get(inventory))
        .route("/api/cart/items", post(cart_add))
        .route("/api/cart", get(cart_get))
        .route("/api/checkout", post(checkout))
        .route("/api/orders/{id}", get(order))
        .route("/static/img/{file}", get(image))
        .route("/products/{id}", get(product_page))
        .route("/static/{file}", get(asset))
        .route("/login", post(login))
        .route("/account", get(account))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(origin.clone(), track))
        .with_state(origin)
}

type St = State<Arc<Origin>>;

// === responses ===

fn respond(status: StatusCode, content_type: &'static str, cc: HeaderValue, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, cc);
    r
}

fn json_response(status: StatusCode, cc: HeaderValue, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => respond(status, JSON, cc, body),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "could not encode the response"),
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, HeaderValue::from_static(NO_STORE), &json!({ "error": code, "message": message }))
}

fn db_error(_: db::DbError) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "database", "the database could not answer")
}

fn session_error(_: crate::redis_store::Unavailable) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "session_store", "the session store could not answer")
}

fn not_modified(cc: HeaderValue, etag: HeaderValue) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NOT_MODIFIED;
    r.headers_mut().insert(header::CACHE_CONTROL, cc);
    r.headers_mut().insert(header::ETAG, etag);
    r
}

/// True when an `If-None-Match` of the request lists `etag` (or `*`).
fn etag_matches(headers: &HeaderMap, etag: &[u8]) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().any(|v| {
        v.as_bytes().split(|b| *b == b',').any(|t| {
            let t = t.trim_ascii();
            let t = t.strip_prefix(b"W/").unwrap_or(t);
            t == etag || t == b"*"
        })
    })
}

fn parse_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|id| *id > 0)
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

// === catalog ===

#[derive(Debug, Serialize)]
struct Summary<'a> {
    id: i64,
    name: &'a str,
    category_id: i64,
    price_cents: i64,
    popularity: i64,
    url: String,
    image: String,
}

fn summaries(rows: &[db::ProductSummary]) -> Vec<Summary<'_>> {
    rows.iter()
        .map(|p| Summary {
            id: p.id,
            name: &p.name,
            category_id: p.category_id,
            price_cents: p.price_cents,
            popularity: p.popularity,
            url: format!("/api/products/{}", p.id),
            image: format!("/static/img/{}.jpg", p.id),
        })
        .collect()
}

async fn home(State(o): St) -> Response {
    let rows = match o.db.featured(FEATURED).await {
        Ok(rows) => rows,
        Err(e) => return db_error(e),
    };
    let mut html = String::with_capacity(4096);
    html.push_str(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Stampede Shop</title></head>\n\
         <body><h1>Stampede Shop</h1>\n<p>Black Friday deals on our most popular products.</p>\n<ul class=\"featured\">\n",
    );
    for p in &rows {
        let _ = writeln!(
            html,
            "<li><a href=\"/api/products/{id}\"><img src=\"/static/img/{id}.jpg\" alt=\"{name}\" width=\"200\" height=\"200\">{name}</a> {price}</li>",
            id = p.id,
            name = p.name,
            price = money(p.price_cents)
        );
    }
    html.push_str(
        "</ul>\n<form action=\"/api/search\"><input name=\"q\"><button>Search</button></form>\n</body></html>\n",
    );
    respond(StatusCode::OK, "text/html; charset=utf-8", HeaderValue::from_static("public, max-age=60"), html)
}

#[derive(Debug, Deserialize)]
struct ListingParams {
    category: Option<String>,
    sort: Option<String>,
    page: Option<String>,
}

async fn listing(State(o): St, Query(p): Query<ListingParams>) -> Response {
    let category = match p.category.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(c) if (1..=catalog::CATEGORIES.len() as i64).contains(&c) => Some(c),
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_category",
                    &format!("category must be a number from 1 to {}", catalog::CATEGORIES.len()),
                );
            }
        },
    };
    let sort = match p.sort.as_deref().filter(|s| !s.is_empty()) {
        None => Sort::Popularity,
        Some(s) => match Sort::parse(s) {
            Some(s) => s,
            None => {
                return error(StatusCode::BAD_REQUEST, "bad_sort", "sort must be popularity, price_asc or price_desc");
            }
        },
    };
    let page = match p.page.as_deref().filter(|s| !s.is_empty()) {
        None => 1,
        Some(raw) => match raw.parse::<u32>() {
            Ok(n) if (1..=db::MAX_PAGE).contains(&n) => n,
            _ => {
                return error(StatusCode::BAD_REQUEST, "bad_page", &format!("page must be from 1 to {}", db::MAX_PAGE));
            }
        },
    };
    let rows = match o.db.list_products(category, sort, page, PAGE_SIZE + 1).await {
        Ok(rows) => rows,
        Err(e) => return db_error(e),
    };
    let has_more = rows.len() > PAGE_SIZE as usize;
    let shown = &rows[..rows.len().min(PAGE_SIZE as usize)];
    json_response(
        StatusCode::OK,
        HeaderValue::from_static("public, max-age=30"),
        &json!({
            "category": category,
            "sort": sort.as_str(),
            "page": page,
            "page_size": PAGE_SIZE,
            "has_more": has_more,
            "products": summaries(shown),
        }),
    )
}

async fn product(State(o): St, Path(raw): Path<String>, headers: HeaderMap) -> Response {
    let Some(id) = parse_id(&raw) else {
        return error(StatusCode::BAD_REQUEST, "bad_id", "product ids are positive integers");
    };
    let doc = match o.cached_product(id).await {
        Some(doc) => {
            o.metrics.product_cache_hits.inc();
            doc
        }
        None => {
            o.metrics.product_cache_misses.inc();
            let found = match o.db.product(id).await {
                Ok(p) => p,
                Err(e) => return db_error(e),
            };
            let Some(p) = found else {
                return error(StatusCode::NOT_FOUND, "not_found", "no such product");
            };
            let body = serde_json::to_vec(&json!({
                "id": p.id,
                "name": p.name,
                "description": p.description,
                "category": { "id": p.category_id, "name": p.category },
                "price_cents": p.price_cents,
                "price": money(p.price_cents),
                "popularity": p.popularity,
                "image": format!("/static/img/{}.jpg", p.id),
                "inventory": format!("/api/inventory/{}", p.id),
            }))
            .unwrap_or_default();
            let etag = HeaderValue::from_str(&catalog::etag_of(&body)).unwrap_or(HeaderValue::from_static("\"0\""));
            let doc = ProductDoc { body: Bytes::from(body), etag };
            o.cache_product(id, &doc).await;
            doc
        }
    };
    if etag_matches(&headers, doc.etag.as_bytes()) {
        return not_modified(o.product_cc.clone(), doc.etag);
    }
    let mut r = respond(StatusCode::OK, JSON, o.product_cc.clone(), doc.body);
    r.headers_mut().insert(header::ETAG, doc.etag);
    r
}

#[derive(Debug, Deserialize)]
struct SearchParams {
    q: Option<String>,
}

async fn search(State(o): St, Query(p): Query<SearchParams>) -> Response {
    let q = p.q.unwrap_or_default();
    let q = q.trim().to_owned();
    if q.is_empty() || q.len() > 100 {
        return error(StatusCode::BAD_REQUEST, "bad_query", "q must be 1 to 100 characters");
    }
    let query = q.clone();
    let rows = match o.db.search(query).await {
        Ok(rows) => rows,
        Err(e) => return db_error(e),
    };
    json_response(
        StatusCode::OK,
        HeaderValue::from_static("public, max-age=60"),
        &json!({ "query": q, "products": summaries(&rows) }),
    )
}

async fn inventory(State(o): St, Path(raw): Path<String>) -> Response {
    let Some(id) = parse_id(&raw) else {
        return error(StatusCode::BAD_REQUEST, "bad_id", "product ids are positive integers");
    };
    let cached = if o.config.cache_inventory { o.cached_stock(id).await } else { None };
    let stock = match cached {
        Some(s) => {
            o.metrics.inventory_cache_hits.inc();
            s
        }
        None => match o.db.stock(id).await {
            Ok(Some(s)) => {
                if o.config.cache_inventory {
                    o.cache_stock(id, s).await;
                }
                s
            }
            Ok(None) => return error(StatusCode::NOT_FOUND, "not_found", "no such product"),
            Err(e) => return db_error(e),
        },
    };
    json_response(
        StatusCode::OK,
        o.inventory_cc.clone(),
        &json!({ "product_id": id, "stock": stock, "in_stock": stock > 0 }),
    )
}

// === cart and checkout ===

fn session_of(headers: &HeaderMap) -> Option<SessionId> {
    SessionId::from_cookies(headers.get_all(header::COOKIE).iter().map(HeaderValue::as_bytes))
}

#[derive(Debug, Deserialize)]
struct AddItem {
    product_id: i64,
    #[serde(default = "one")]
    quantity: u32,
}

fn one() -> u32 {
    1
}

async fn cart_add(State(o): St, headers: HeaderMap, body: Bytes) -> Response {
    let item: AddItem = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_body",
                &format!("expected {{\"product_id\": <id>, \"quantity\": 1..{MAX_QUANTITY}}}: {e}"),
            );
        }
    };
    if !(1..=MAX_QUANTITY).contains(&item.quantity) {
        return error(StatusCode::BAD_REQUEST, "bad_quantity", &format!("quantity must be from 1 to {MAX_QUANTITY}"));
    }
    let id = item.product_id;
    if id < 1 || id > o.db.products() {
        return error(StatusCode::NOT_FOUND, "not_found", "no such product");
    }
    let (sid, new) = match session_of(&headers) {
        Some(sid) => (sid, false),
        None => (SessionId::random(), true),
    };
    let cart = match o.sessions.add(sid, id, item.quantity).await {
        Ok(Ok(cart)) => cart,
        Ok(Err(AddError::CartFull)) => {
            return error(StatusCode::CONFLICT, "cart_full", "the cart cannot hold more lines");
        }
        Err(e) => return session_error(e),
    };
    let mut r = json_response(StatusCode::OK, HeaderValue::from_static(PRIVATE), &json!({ "items": cart }));
    if new && let Ok(v) = HeaderValue::from_str(&sid.set_cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn cart_get(State(o): St, headers: HeaderMap) -> Response {
    let lines = match session_of(&headers) {
        Some(sid) => match o.sessions.cart(sid).await {
            Ok(c) => c,
            Err(e) => return session_error(e),
        },
        None => Vec::new(),
    };
    let details = match o.db.names_and_prices(lines.iter().map(|l| l.product_id).collect()).await {
        Ok(d) => lines.iter().zip(d),
        Err(e) => return db_error(e),
    };
    let mut total = 0i64;
    let items: Vec<_> = details
        .into_iter()
        .map(|(l, p)| {
            let (name, price) = p.unwrap_or_default();
            total += price * i64::from(l.quantity);
            json!({ "product_id": l.product_id, "quantity": l.quantity, "name": name, "price_cents": price })
        })
        .collect();
    json_response(StatusCode::OK, HeaderValue::from_static(PRIVATE), &json!({ "items": items, "total_cents": total }))
}

async fn checkout(State(o): St, headers: HeaderMap) -> Response {
    let Some(sid) = session_of(&headers) else {
        return error(StatusCode::BAD_REQUEST, "no_session", "add an item to the cart first (no session cookie)");
    };
    let admitted = match o.sessions.admit_checkout(sid).await {
        Ok(a) => a,
        Err(e) => return session_error(e),
    };
    if let Err(retry) = admitted {
        o.metrics.rate_limited.inc();
        let secs = retry.as_secs() + u64::from(retry.subsec_nanos() > 0);
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many checkouts for this session");
        r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        return r;
    }
    let cart = match o.sessions.cart(sid).await {
        Ok(c) => c,
        Err(e) => return session_error(e),
    };
    if cart.is_empty() {
        return error(StatusCode::BAD_REQUEST, "empty_cart", "the cart is empty");
    }
    let lines: Vec<OrderLine> =
        cart.iter().map(|l| OrderLine { product_id: l.product_id, quantity: l.quantity }).collect();
    let session = sid.to_hex();
    let outcome = o.db.checkout(session.clone(), lines, unix_now()).await;
    match outcome {
        Ok(CheckoutOutcome::Placed { order_id, total_cents, lines }) => {
            o.metrics.orders.inc();
            // The order stands even if the cart cannot be emptied now.
            let _ = o.sessions.clear_ordered(sid, &cart).await;
            let body = json!({
                "order_id": order_id,
                "total_cents": total_cents,
                "items": &lines,
                "order": format!("/api/orders/{order_id}"),
            });
            o.receipts.push(Job { order_id, session, total_cents, lines });
            json_response(StatusCode::CREATED, HeaderValue::from_static(PRIVATE), &body)
        }
        Ok(CheckoutOutcome::OutOfStock { product_id, available }) => {
            o.metrics.out_of_stock.inc();
            json_response(
                StatusCode::CONFLICT,
                HeaderValue::from_static(PRIVATE),
                &json!({
                    "error": "out_of_stock",
                    "message": "not enough stock for a product in the cart",
                    "product_id": product_id,
                    "available": available,
                }),
            )
        }
        Ok(CheckoutOutcome::UnknownProduct { product_id }) => json_response(
            StatusCode::CONFLICT,
            HeaderValue::from_static(PRIVATE),
            &json!({ "error": "unknown_product", "message": "a product in the cart no longer exists", "product_id": product_id }),
        ),
        Err(e) => db_error(e),
    }
}

async fn order(State(o): St, Path(raw): Path<String>, headers: HeaderMap) -> Response {
    let (Some(id), Some(sid)) = (parse_id(&raw), session_of(&headers)) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such order for this session");
    };
    match o.db.order(id).await {
        Ok(Some(order)) if order.session == sid.to_hex() => json_response(
            StatusCode::OK,
            HeaderValue::from_static(PRIVATE),
            &json!({
                "order_id": order.id,
                "total_cents": order.total_cents,
                "created_at": order.created_at,
                "items": order.lines,
                "receipt_ready": order.receipt.is_some(),
                "receipt": order.receipt,
            }),
        ),
        Ok(_) => error(StatusCode::NOT_FOUND, "not_found", "no such order for this session"),
        Err(e) => db_error(e),
    }
}

// === static, health, metrics ===

async fn image(State(o): St, Path(file): Path<String>, headers: HeaderMap) -> Response {
    let id = file.strip_suffix(".jpg").and_then(parse_id).filter(|id| *id <= o.db.products());
    let Some(id) = id else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such image");
    };
    let etag =
        HeaderValue::from_str(&catalog::image_etag(o.config.seed, id)).unwrap_or(HeaderValue::from_static("\"0\""));
    if etag_matches(&headers, etag.as_bytes()) {
        return not_modified(o.image_cc.clone(), etag);
    }
    let mut r = respond(StatusCode::OK, "image/jpeg", o.image_cc.clone(), catalog::image(o.config.seed, id));
    r.headers_mut().insert(header::ETAG, etag);
    r
}

/// Related products shown on a product page (the next ids, wrapping inside the catalog).
const RELATED: i64 = 3;
const ASSET_CC: &str = "public, max-age=86400";

/// The product page a browser loads: HTML that references the stylesheet, the script, the
/// product's image and the images of related products, as a real shop page does, so a
/// rehearsal can load it the way a browser does (the page, then its assets in parallel).
async fn product_page(State(o): St, Path(raw): Path<String>) -> Response {
    let Some(id) = parse_id(&raw) else {
        return error(StatusCode::BAD_REQUEST, "bad_id", "product ids are positive integers");
    };
    let found = match o.db.product(id).await {
        Ok(p) => p,
        Err(e) => return db_error(e),
    };
    let Some(p) = found else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such product");
    };
    let products = o.db.products();
    let mut html = String::with_capacity(2048);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name} | Stampede Shop</title>\n\
         <link rel=\"stylesheet\" href=\"/static/app.css\">\n<script src=\"/static/app.js\" defer></script></head>\n\
         <body><h1>{name}</h1>\n<img src=\"/static/img/{id}.jpg\" alt=\"{name}\" width=\"600\" height=\"600\">\n\
         <p class=\"price\">{price}</p>\n<p>{description}</p>\n\
         <form method=\"post\" action=\"/api/cart/items\" data-product=\"{id}\"><button>Add to cart</button></form>\n\
         <h2>Customers also bought</h2>\n<ul class=\"related\">\n",
        name = p.name,
        price = money(p.price_cents),
        description = p.description,
    );
    for k in 1..=RELATED.min(products - 1) {
        let r = (id - 1 + k) % products + 1;
        let _ = writeln!(
            html,
            "<li><a href=\"/products/{r}\"><img src=\"/static/img/{r}.jpg\" width=\"150\" height=\"150\"></a></li>"
        );
    }
    html.push_str("</ul>\n</body></html>\n");
    respond(StatusCode::OK, "text/html; charset=utf-8", o.product_cc.clone(), html)
}

/// The site's stylesheet and script: fixed documents with a strong `ETag`, cached for a day.
async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((content_type, body)) = catalog::asset(&file) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such file");
    };
    let etag = HeaderValue::from_str(&catalog::etag_of(body)).unwrap_or(HeaderValue::from_static("\"0\""));
    let cc = HeaderValue::from_static(ASSET_CC);
    if etag_matches(&headers, etag.as_bytes()) {
        return not_modified(cc, etag);
    }
    let mut r = respond(StatusCode::OK, content_type, cc, Bytes::from_static(body));
    r.headers_mut().insert(header::ETAG, etag);
    r
}

/// Shortest password the shop accepts (any e-mail address with such a password logs in).
const MIN_PASSWORD: usize = 8;

/// A login form (`application/x-www-form-urlencoded`): `email` and `password`.
#[derive(Debug, Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

/// Logs the session in and answers `303 See Other` to `/account`, as a server-rendered login form
/// does (the browser follows with a `GET`); the session cookie is set on the 303.
async fn login(State(o): St, headers: HeaderMap, body: Bytes) -> Response {
    let form: LoginForm = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_form", &format!("expected email=…&password=…: {e}")),
    };
    let email = form.email.trim();
    if !email.contains('@') || email.len() > 254 || form.password.chars().count() < MIN_PASSWORD {
        return error(StatusCode::UNAUTHORIZED, "bad_credentials", "unknown e-mail address or wrong password");
    }
    let (sid, new) = match session_of(&headers) {
        Some(sid) => (sid, false),
        None => (SessionId::random(), true),
    };
    if let Err(e) = o.sessions.log_in(sid, email).await {
        return session_error(e);
    }
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    let h = r.headers_mut();
    h.insert(header::LOCATION, HeaderValue::from_static("/account"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(PRIVATE));
    if new && let Ok(v) = HeaderValue::from_str(&sid.set_cookie()) {
        h.insert(header::SET_COOKIE, v);
    }
    r
}

/// The logged-in customer: `{"email", "cart_lines"}`; 401 without a logged-in session.
async fn account(State(o): St, headers: HeaderMap) -> Response {
    let Some(sid) = session_of(&headers) else {
        return error(StatusCode::UNAUTHORIZED, "not_logged_in", "log in first: POST /login");
    };
    let email = match o.sessions.user(sid).await {
        Ok(Some(email)) => email,
        Ok(None) => return error(StatusCode::UNAUTHORIZED, "not_logged_in", "log in first: POST /login"),
        Err(e) => return session_error(e),
    };
    let lines = match o.sessions.cart(sid).await {
        Ok(c) => c.len(),
        Err(e) => return session_error(e),
    };
    json_response(StatusCode::OK, HeaderValue::from_static(PRIVATE), &json!({ "email": email, "cart_lines": lines }))
}

async fn healthz() -> Response {
    respond(StatusCode::OK, "text/plain; charset=utf-8", HeaderValue::from_static(NO_STORE), "ok\n")
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "no such page")
}

async fn metrics(State(o): St) -> Response {
    let figures = o.db.figures().await;
    let text = o.metrics.render(&o, &figures);
    respond(StatusCode::OK, crate::metrics::CONTENT_TYPE, HeaderValue::from_static(NO_STORE), text)
}

// === metrics ===

/// Route patterns as axum matches them, and their labels in the metrics, in the order of
/// [`OriginMetrics::requests`] (one more slot, `other`, follows them). `:id` rather than `{id}` in
/// labels: some Prometheus text parsers mishandle braces inside label values.
const ROUTES: [(&str, &str); 16] = [
    ("/", "/"),
    ("/api/products", "/api/products"),
    ("/api/products/{id}", "/api/products/:id"),
    ("/api/search", "/api/search"),
    ("/api/inventory/{id}", "/api/inventory/:id"),
    ("/api/cart/items", "/api/cart/items"),
    ("/api/cart", "/api/cart"),
    ("/api/checkout", "/api/checkout"),
    ("/api/orders/{id}", "/api/orders/:id"),
    ("/static/img/{file}", "/static/img/:id.jpg"),
    ("/products/{id}", "/products/:id"),
    ("/static/{file}", "/static/:file"),
    ("/login", "/login"),
    ("/account", "/account"),
    ("/healthz", "/healthz"),
    ("/metrics", "/metrics"),
];
/// The metrics slot of requests no route matched.
const OTHER_ROUTE: usize = ROUTES.len();

fn route_index(matched: Option<&str>) -> usize {
    matched.and_then(|m| ROUTES.iter().position(|(p, _)| *p == m)).unwrap_or(OTHER_ROUTE)
}

fn route_label(index: usize) -> &'static str {
    ROUTES.get(index).map_or("other", |(_, label)| label)
}

/// Status codes counted individually; anything else is counted under `other`.
const STATUSES: [u16; 11] = [200, 201, 304, 400, 404, 405, 409, 413, 429, 500, 503];

#[derive(Debug)]
struct OriginMetrics {
    /// Requests by route and status: `[route][status slot]`, the last slot is `other`.
    requests: Vec<[Counter; STATUSES.len() + 1]>,
    latency: Vec<Histogram>,
    product_cache_hits: Counter,
    product_cache_misses: Counter,
    inventory_cache_hits: Counter,
    orders: Counter,
    out_of_stock: Counter,
    rate_limited: Counter,
    queue: Arc<QueueMetrics>,
}

impl OriginMetrics {
    fn new(queue: Arc<QueueMetrics>) -> Self {
        Self {
            requests: (0..=OTHER_ROUTE).map(|_| std::array::from_fn(|_| Counter::default())).collect(),
            latency: (0..=OTHER_ROUTE).map(|_| Histogram::latency()).collect(),
            product_cache_hits: Counter::default(),
            product_cache_misses: Counter::default(),
            inventory_cache_hits: Counter::default(),
            orders: Counter::default(),
            out_of_stock: Counter::default(),
            rate_limited: Counter::default(),
            queue,
        }
    }

    fn record(&self, route: usize, status: StatusCode, elapsed: Duration) {
        let slot = STATUSES.iter().position(|s| *s == status.as_u16()).unwrap_or(STATUSES.len());
        self.requests[route][slot].inc();
        self.latency[route].observe(elapsed);
    }

    fn render(&self, o: &Origin, figures: &(Option<ServerFigures>, Option<BouncerFigures>)) -> String {
        let mut e = Exposition::new();
        let name = "shop_http_requests_total";
        e.family(name, Kind::Counter, "HTTP requests answered by the origin, by route and status.");
        let mut code = String::new();
        for (r, row) in self.requests.iter().enumerate() {
            for (s, c) in row.iter().enumerate() {
                let n = c.get();
                if n == 0 {
                    continue;
                }
                code.clear();
                match STATUSES.get(s) {
                    Some(st) => {
                        let _ = write!(code, "{st}");
                    }
                    None => code.push_str("other"),
                }
                e.sample(name, &[("route", route_label(r)), ("status", &code)], n);
            }
        }
        let name = "shop_http_request_duration_seconds";
        e.family(name, Kind::Histogram, "Time from request to response head at the origin, by route.");
        for (r, h) in self.latency.iter().enumerate() {
            if h.count() > 0 {
                e.histogram(name, &[("route", route_label(r))], h);
            }
        }
        let pool = o.db.pool_metrics();
        e.single("shop_db_pool_size", Kind::Gauge, "Connections in the database pool (--db-pool).", pool.size);
        e.single("shop_db_pool_in_use", Kind::Gauge, "Pooled connections running a query now.", pool.in_use.get());
        e.single(
            "shop_db_pool_waits_total",
            Kind::Counter,
            "Connection acquisitions that found the pool exhausted and had to wait.",
            pool.waits.get(),
        );
        e.family("shop_db_pool_wait_seconds", Kind::Histogram, "Time spent waiting for a pooled database connection.")
            .histogram("shop_db_pool_wait_seconds", &[], &pool.wait);
        render_database(&mut e, o.db.kind(), figures);
        if let Some(redis) = &o.redis {
            let m = redis.metrics();
            e.single("shop_redis_commands_total", Kind::Counter, "Commands sent to Redis.", m.commands.get());
            e.single(
                "shop_redis_errors_total",
                Kind::Counter,
                "Redis commands that failed (caches then read the database; sessions answer 503).",
                m.errors.get(),
            );
        }
        let name = "shop_cache_requests_total";
        e.family(name, Kind::Counter, "Lookups in the origin's in-process caches, by cache and result.")
            .sample(name, &[("cache", "product"), ("result", "hit")], self.product_cache_hits.get())
            .sample(name, &[("cache", "product"), ("result", "miss")], self.product_cache_misses.get())
            .sample(name, &[("cache", "inventory"), ("result", "hit")], self.inventory_cache_hits.get());
        e.single(
            "shop_product_cache_entries",
            Kind::Gauge,
            "Product documents in the in-process cache.",
            o.products.len(),
        );
        e.single("shop_orders_total", Kind::Counter, "Orders placed.", self.orders.get());
        e.single(
            "shop_checkout_out_of_stock_total",
            Kind::Counter,
            "Checkouts refused with 409 because stock ran out.",
            self.out_of_stock.get(),
        );
        e.single(
            "shop_checkout_rate_limited_total",
            Kind::Counter,
            "Checkouts refused with 429 by the per-session rate limit.",
            self.rate_limited.get(),
        );
        e.single(
            "shop_receipt_queue_depth",
            Kind::Gauge,
            "Receipts waiting in the background queue.",
            self.queue.depth.get(),
        );
        e.single(
            "shop_receipts_rendered_total",
            Kind::Counter,
            "Receipts rendered by the background worker.",
            self.queue.rendered.get(),
        );
        e.single(
            "shop_receipts_failed_total",
            Kind::Counter,
            "Receipts that could not be rendered or stored.",
            self.queue.failed.get(),
        );
        if let Some(n) = o.sessions.live() {
            e.single("shop_sessions", Kind::Gauge, "Live sessions.", n);
        }
        e.single("shop_products", Kind::Gauge, "Products in the catalog.", o.db.products());
        e.finish()
    }
}

/// PostgreSQL's figures (from `pg_stat_activity` and `pg_stat_database`) and PgBouncer's
/// (`SHOW POOLS`), next to the pool's, so a rehearsal shows the cause next to the symptom.
fn render_database(e: &mut Exposition, kind: &str, figures: &(Option<ServerFigures>, Option<BouncerFigures>)) {
    e.family("shop_db_info", Kind::Gauge, "The shop's database: sqlite or postgres.").sample(
        "shop_db_info",
        &[("database", kind)],
        1,
    );
    if let Some(f) = &figures.0 {
        let name = "shop_pg_connections";
        e.family(name, Kind::Gauge, "Client connections of the shop's database at PostgreSQL, by state.")
            .sample(name, &[("state", "active")], f.active)
            .sample(name, &[("state", "idle")], f.idle)
            .sample(name, &[("state", "idle_in_transaction")], f.idle_in_transaction);
        e.single(
            "shop_pg_lock_waits",
            Kind::Gauge,
            "PostgreSQL backends waiting for a lock (a row another transaction holds).",
            f.lock_waits,
        );
        e.single("shop_pg_max_connections", Kind::Gauge, "PostgreSQL's max_connections.", f.max_connections);
        e.single("shop_pg_commits_total", Kind::Counter, "Transactions committed in the database.", f.commits);
        e.single("shop_pg_rollbacks_total", Kind::Counter, "Transactions rolled back in the database.", f.rollbacks);
        e.single("shop_pg_deadlocks_total", Kind::Counter, "Deadlocks PostgreSQL detected.", f.deadlocks);
    }
    if let Some(f) = &figures.1 {
        let name = "shop_pgbouncer_clients";
        e.family(name, Kind::Gauge, "PgBouncer client connections (SHOW POOLS): active, or waiting for a server.")
            .sample(name, &[("state", "active")], f.cl_active)
            .sample(name, &[("state", "waiting")], f.cl_waiting);
        let name = "shop_pgbouncer_servers";
        e.family(name, Kind::Gauge, "PgBouncer's connections to PostgreSQL (SHOW POOLS), by state.")
            .sample(name, &[("state", "active")], f.sv_active)
            .sample(name, &[("state", "idle")], f.sv_idle)
            .sample(name, &[("state", "used")], f.sv_used);
        e.single(
            "shop_pgbouncer_max_wait_seconds",
            Kind::Gauge,
            "How long the oldest waiting PgBouncer client has waited (SHOW POOLS maxwait).",
            f.max_wait.as_secs_f64(),
        );
    }
}

/// Records every request's route, status and latency; adds `--origin-delay-ms` to the API.
async fn track(State(o): St, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = route_index(req.extensions().get::<MatchedPath>().map(MatchedPath::as_str));
    if !o.config.origin_delay.is_zero() && route < 10 {
        tokio::time::sleep(o.config.origin_delay).await;
    }
    let resp = next.run(req).await;
    o.metrics.record(route, resp.status(), started.elapsed());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_lists() {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"a\", W/\"b\""));
        assert!(etag_matches(&h, b"\"b\""));
        assert!(!etag_matches(&h, b"\"c\""));
    }
}
