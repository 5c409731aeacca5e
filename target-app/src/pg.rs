//! The PostgreSQL database (`--database postgres://…`): the same schema, seeding, index switch,
//! measured pool and queries as the embedded SQLite one, on a real server (directly or through
//! PgBouncer), plus the server's own figures for `/metrics`.
//!
//! Every statement goes out with [`Client::query_typed`]: parameters with their types, the unnamed
//! statement, one round trip. No named prepared statements, so the same code runs through
//! PgBouncer in transaction pooling mode (where a named statement prepared on one server
//! connection may be executed on another).

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::SinkExt as _;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, GenericClient, NoTls, SimpleQueryMessage};

use crate::db::{
    CheckoutOutcome, DbError, OpenReport, Order, OrderLine, PlacedLine, Product, ProductSummary, SEARCH_LIMIT, Sort,
    search_words,
};
use crate::pool::{Pool, PoolMetrics};

/// Key of the transaction-scoped advisory lock that serialises seeding (several origins may start
/// at once against one database).
const SEED_LOCK: i64 = 0x5354_414d_5045_4445;

/// The indexes that `--no-indexes` removes: the same three as SQLite (with the id tie-break the
/// queries order by, which SQLite's rowid gives implicitly) and the search index.
const INDEXES: &[(&str, &str)] = &[
    ("idx_products_category_popularity", "products (category_id, popularity, id)"),
    ("idx_products_category_price", "products (category_id, price_cents, id)"),
    ("idx_products_popularity", "products (popularity, id)"),
    ("idx_products_name_search", "products USING gin (to_tsvector('simple', name))"),
];

const SCHEMA: &str = "
CREATE TABLE categories (id BIGINT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE products (
    id BIGINT NOT NULL,
    category_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents BIGINT NOT NULL,
    popularity BIGINT NOT NULL,
    stock BIGINT NOT NULL CHECK (stock >= 0)
);
CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    session TEXT NOT NULL,
    total_cents BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    receipt TEXT
);
CREATE TABLE order_items (
    order_id BIGINT NOT NULL REFERENCES orders(id),
    product_id BIGINT NOT NULL,
    quantity BIGINT NOT NULL,
    price_cents BIGINT NOT NULL,
    name TEXT NOT NULL
);
CREATE INDEX idx_order_items_order ON order_items (order_id);
";

/// What [`PgDatabase::open`] needs to know.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user@host:port/dbname` (a server, or PgBouncer in front of one).
    pub url: String,
    pub products: u32,
    pub pool: usize,
    pub no_indexes: bool,
    pub seed: u64,
    /// False for the extra `--origins` processes: the first one seeded and set the indexes.
    pub prepare: bool,
    /// PgBouncer's admin console (`postgres://…/pgbouncer`), for `SHOW POOLS` in `/metrics`.
    pub pgbouncer_admin: Option<String>,
    /// How long to keep trying the first connection (a server still starting); zero: fail at once.
    pub wait: Duration,
}

/// A pool of connections to PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgDatabase {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool<Client>,
    config: tokio_postgres::Config,
    products: i64,
    no_indexes: bool,
    /// The server's figures, on a connection outside the pool so they show while the pool is
    /// exhausted.
    monitor: Monitor,
    /// PgBouncer's admin console, with `--pgbouncer-admin`.
    bouncer: Option<Monitor>,
}

/// A connection for reading figures: connected on first use, dropped after a fault or a timeout.
#[derive(Debug)]
struct Monitor {
    config: tokio_postgres::Config,
    slot: tokio::sync::Mutex<Option<Client>>,
}

impl Monitor {
    fn new(config: tokio_postgres::Config) -> Self {
        Self { config, slot: tokio::sync::Mutex::new(None) }
    }

    /// `read` on this connection within a second; `None` (and the connection dropped) if it
    /// could not.
    async fn read<T>(&self, read: impl AsyncFnOnce(&Client) -> Result<T, tokio_postgres::Error>) -> Option<T> {
        let mut slot = self.slot.lock().await;
        let attempt = async {
            if slot.as_ref().is_some_and(Client::is_closed) {
                *slot = None;
            }
            let c: &Client = match &mut *slot {
                Some(c) => c,
                empty @ None => empty.insert(connect(&self.config).await?),
            };
            read(c).await
        };
        match tokio::time::timeout(Duration::from_secs(1), attempt).await {
            Ok(Ok(v)) => Some(v),
            _ => {
                *slot = None;
                None
            }
        }
    }
}

/// The server's figures for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ServerFigures {
    /// Client backends of this database by state: active, idle, idle in transaction.
    pub active: i64,
    pub idle: i64,
    pub idle_in_transaction: i64,
    /// Backends waiting for a lock (a row another transaction holds).
    pub lock_waits: i64,
    pub max_connections: i64,
    pub commits: i64,
    pub rollbacks: i64,
    pub deadlocks: i64,
}

/// PgBouncer's `SHOW POOLS`, summed over the pools of the shop's database.
#[derive(Debug, Clone, Default)]
pub struct BouncerFigures {
    pub cl_active: i64,
    pub cl_waiting: i64,
    pub sv_active: i64,
    pub sv_idle: i64,
    pub sv_used: i64,
    /// Age of the oldest waiting client.
    pub max_wait: Duration,
}

fn parse_url(url: &str) -> Result<tokio_postgres::Config, DbError> {
    let mut config: tokio_postgres::Config =
        url.parse().map_err(|source| DbError::PgUrl { url: redact(url), source })?;
    config.connect_timeout(Duration::from_secs(10));
    config.application_name("stampede-shop");
    Ok(config)
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn connect(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    // The connection task ends when the client drops or the server goes away; the next use of
    // a closed client reconnects.
    tokio::spawn(connection);
    Ok(client)
}

/// Connects, trying again every half second for up to `wait` while the server is not there yet.
async fn connect_within(
    config: &tokio_postgres::Config,
    shown: &str,
    wait: Duration,
) -> Result<Client, tokio_postgres::Error> {
    let started = Instant::now();
    let mut told = false;
    loop {
        // Through PgBouncer a connection may open while PostgreSQL is still down: a first
        // statement tells.
        let ready = async {
            let c = connect(config).await?;
            c.simple_query("SELECT 1").await?;
            Ok::<_, tokio_postgres::Error>(c)
        };
        match ready.await {
            Ok(c) => return Ok(c),
            Err(e) if started.elapsed() < wait => {
                if !told {
                    eprintln!("shop: waiting up to {} s for PostgreSQL at {shown} ({e})", wait.as_secs());
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

fn int8(v: &i64) -> (&(dyn ToSql + Sync), Type) {
    (v, Type::INT8)
}
fn text(v: &String) -> (&(dyn ToSql + Sync), Type) {
    (v, Type::TEXT)
}

impl PgDatabase {
    /// Connects the pool, and (with `prepare`) creates and seeds the catalog on first use and
    /// applies the index switch.
    pub async fn open(opts: &PgOptions) -> Result<(Self, OpenReport), DbError> {
        let config = parse_url(&opts.url)?;
        let shown = redact(&opts.url);
        let connect_err = |source| DbError::PgConnect { url: shown.clone(), source };
        let mut first = connect_within(&config, &shown, opts.wait).await.map_err(connect_err)?;
        let started = Instant::now();
        let (products, seeded) = if opts.prepare {
            prepare(&mut first, opts).await?
        } else {
            let n = seeded_products(&first).await?.ok_or_else(|| DbError::NotSeeded { url: shown.clone() })?;
            (n, false)
        };
        let seeded_in = seeded.then(|| started.elapsed());
        let pool_size = opts.pool.max(1);
        let mut conns = Vec::with_capacity(pool_size);
        conns.push(first);
        for _ in 1..pool_size {
            conns.push(connect(&config).await.map_err(connect_err)?);
        }
        let bouncer = match &opts.pgbouncer_admin {
            Some(url) => Some(Monitor::new(parse_url(url)?)),
            None => None,
        };
        let report = OpenReport { location: shown, seeded_in, products };
        let inner = Inner {
            monitor: Monitor::new(config.clone()),
            pool: Pool::new(conns),
            config,
            products,
            no_indexes: opts.no_indexes,
            bouncer,
        };
        Ok((Self { inner: Arc::new(inner) }, report))
    }

    pub fn products(&self) -> i64 {
        self.inner.products
    }
    pub fn no_indexes(&self) -> bool {
        self.inner.no_indexes
    }
    pub fn pool_metrics(&self) -> &PoolMetrics {
        self.inner.pool.metrics()
    }

    /// Runs `f` with a pooled client, after waiting (measured) for a free one; a client whose
    /// connection closed (the server restarted, PgBouncer dropped it) is replaced first.
    async fn with<T>(
        &self,
        f: impl AsyncFnOnce(&mut Client) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, DbError> {
        let mut lease = self.inner.pool.get().await.ok_or(DbError::Task)?;
        if lease.conn().is_closed() {
            let fresh = connect(&self.inner.config).await?;
            *lease.conn() = fresh;
        }
        Ok(f(lease.conn()).await?)
    }

    pub async fn list_products(
        &self,
        category: Option<i64>,
        sort: Sort,
        page: u32,
        limit: u32,
    ) -> Result<Vec<ProductSummary>, DbError> {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(crate::db::PAGE_SIZE);
        let limit = i64::from(limit);
        self.with(async |c| {
            let rows = match category {
                Some(cat) => {
                    c.query_typed(&listing_sql(true, sort), &[int8(&cat), int8(&limit), int8(&offset)]).await?
                }
                None => c.query_typed(&listing_sql(false, sort), &[int8(&limit), int8(&offset)]).await?,
            };
            Ok(rows.iter().map(summary).collect())
        })
        .await
    }

    pub async fn search(&self, q: &str) -> Result<Vec<ProductSummary>, DbError> {
        let words = search_words(q);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let limit = i64::from(SEARCH_LIMIT);
        let (sql, arg) = if self.inner.no_indexes {
            (SEARCH_SCAN_SQL, format!("%{}%", words.join(" ")))
        } else {
            let terms: Vec<String> = words.iter().map(|w| format!("{w}:*")).collect();
            (SEARCH_INDEX_SQL, terms.join(" & "))
        };
        self.with(async |c| Ok(c.query_typed(sql, &[text(&arg), int8(&limit)]).await?.iter().map(summary).collect()))
            .await
    }

    pub async fn product(&self, id: i64) -> Result<Option<Product>, DbError> {
        self.with(async |c| {
            let row = c
                .query_typed(
                    "SELECT p.id, p.name, p.description, p.category_id, c.name, p.price_cents, p.popularity
                     FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = $1",
                    &[int8(&id)],
                )
                .await?;
            Ok(row.first().map(|r| Product {
                id: r.get(0),
                name: r.get(1),
                description: r.get(2),
                category_id: r.get(3),
                category: r.get(4),
                price_cents: r.get(5),
                popularity: r.get(6),
            }))
        })
        .await
    }

    /// Name and price of each product (`None` for an unknown id), in the order asked.
    pub async fn names_and_prices(&self, ids: &[i64]) -> Result<Vec<Option<(String, i64)>>, DbError> {
        let ids = ids.to_vec();
        self.with(async |c| {
            let rows = c
                .query_typed(
                    "SELECT id, name, price_cents FROM products WHERE id = ANY($1)",
                    &[(&ids as &(dyn ToSql + Sync), Type::INT8_ARRAY)],
                )
                .await?;
            Ok(ids
                .iter()
                .map(|id| rows.iter().find(|r| r.get::<_, i64>(0) == *id).map(|r| (r.get(1), r.get(2))))
                .collect())
        })
        .await
    }

    pub async fn stock(&self, id: i64) -> Result<Option<i64>, DbError> {
        self.with(async |c| stock(c, id).await).await
    }

    pub async fn set_stock(&self, id: i64, stock: i64) -> Result<bool, DbError> {
        self.with(async |c| {
            Ok(c.query_typed("UPDATE products SET stock = $2 WHERE id = $1 RETURNING id", &[int8(&id), int8(&stock)])
                .await?
                .len()
                == 1)
        })
        .await
    }

    /// Takes the stock of every line and creates the order in one transaction: either every line
    /// had enough stock and the order exists, or nothing changed. `stock >= quantity` is checked
    /// by the `UPDATE` itself under the row lock, so concurrent checkouts never oversell; lines
    /// are taken in product order so that two checkouts cannot deadlock.
    pub async fn checkout(
        &self,
        session: &str,
        lines: &[OrderLine],
        now_unix: i64,
    ) -> Result<CheckoutOutcome, DbError> {
        let mut sorted = lines.to_vec();
        sorted.sort_by_key(|l| l.product_id);
        let session = session.to_owned();
        self.with(async |c| {
            let tx = c.transaction().await?;
            let mut placed = Vec::with_capacity(sorted.len());
            let mut total = 0i64;
            for line in &sorted {
                let quantity = i64::from(line.quantity);
                let taken = tx
                    .query_typed(
                        "UPDATE products SET stock = stock - $2 WHERE id = $1 AND stock >= $2
                         RETURNING price_cents, name",
                        &[int8(&line.product_id), int8(&quantity)],
                    )
                    .await?;
                let Some(row) = taken.first() else {
                    let outcome = match stock(&tx, line.product_id).await? {
                        Some(available) => CheckoutOutcome::OutOfStock { product_id: line.product_id, available },
                        None => CheckoutOutcome::UnknownProduct { product_id: line.product_id },
                    };
                    tx.rollback().await?;
                    return Ok(outcome);
                };
                let price: i64 = row.get(0);
                total += price * quantity;
                placed.push(PlacedLine {
                    product_id: line.product_id,
                    name: row.get(1),
                    quantity: line.quantity,
                    price_cents: price,
                });
            }
            let now = now_unix;
            let order_id: i64 = tx
                .query_typed(
                    "INSERT INTO orders (session, total_cents, created_at) VALUES ($1, $2, $3) RETURNING id",
                    &[text(&session), int8(&total), int8(&now)],
                )
                .await?
                .first()
                .map(|r| r.get(0))
                .unwrap_or_default();
            for l in &placed {
                let quantity = i64::from(l.quantity);
                tx.query_typed(
                    "INSERT INTO order_items (order_id, product_id, quantity, price_cents, name)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[int8(&order_id), int8(&l.product_id), int8(&quantity), int8(&l.price_cents), text(&l.name)],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(CheckoutOutcome::Placed { order_id, total_cents: total, lines: placed })
        })
        .await
    }

    pub async fn store_receipt(&self, order_id: i64, receipt: String) -> Result<(), DbError> {
        self.with(async |c| {
            c.query_typed("UPDATE orders SET receipt = $2 WHERE id = $1", &[int8(&order_id), text(&receipt)]).await?;
            Ok(())
        })
        .await
    }

    pub async fn order(&self, id: i64) -> Result<Option<Order>, DbError> {
        self.with(async |c| {
            let head = c
                .query_typed(
                    "SELECT id, session, total_cents, created_at, receipt FROM orders WHERE id = $1",
                    &[int8(&id)],
                )
                .await?;
            let Some(r) = head.first() else {
                return Ok(None);
            };
            let lines = c
                .query_typed(
                    "SELECT product_id, name, quantity, price_cents FROM order_items WHERE order_id = $1",
                    &[int8(&id)],
                )
                .await?;
            Ok(Some(Order {
                id: r.get(0),
                session: r.get(1),
                total_cents: r.get(2),
                created_at: r.get(3),
                receipt: r.get(4),
                lines: lines
                    .iter()
                    .map(|l| PlacedLine {
                        product_id: l.get(0),
                        name: l.get(1),
                        quantity: u32::try_from(l.get::<_, i64>(2)).unwrap_or(u32::MAX),
                        price_cents: l.get(3),
                    })
                    .collect(),
            }))
        })
        .await
    }

    pub async fn order_count(&self) -> Result<i64, DbError> {
        self.with(async |c| {
            Ok(c.query_typed("SELECT count(*) FROM orders", &[]).await?.first().map(|r| r.get(0)).unwrap_or_default())
        })
        .await
    }

    /// `EXPLAIN ANALYZE` of the listing query (by category, sorted by popularity): the plan and
    /// the times PostgreSQL measured.
    pub async fn explain_listing(&self, category: i64) -> Result<Vec<String>, DbError> {
        let (limit, offset) = (i64::from(crate::db::PAGE_SIZE) + 1, 0i64);
        let sql = format!("EXPLAIN (ANALYZE, BUFFERS) {}", listing_sql(true, Sort::Popularity));
        self.with(async |c| {
            let rows = c.query_typed(&sql, &[int8(&category), int8(&limit), int8(&offset)]).await?;
            Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
        .await
    }

    /// The server's figures (and PgBouncer's, with an admin URL), each `None` when it could not
    /// be read within a second.
    pub async fn figures(&self) -> (Option<ServerFigures>, Option<BouncerFigures>) {
        let server = self.inner.monitor.read(server_figures);
        let bouncer = async {
            match &self.inner.bouncer {
                Some(admin) => admin.read(bouncer_figures).await,
                None => None,
            }
        };
        let (server, bouncer) = tokio::join!(server, bouncer);
        (server.flatten(), bouncer)
    }
}

async fn server_figures(c: &Client) -> Result<Option<ServerFigures>, tokio_postgres::Error> {
    let rows = c
        .query_typed(
            "SELECT count(*) FILTER (WHERE state = 'active'),
                    count(*) FILTER (WHERE state = 'idle'),
                    count(*) FILTER (WHERE state LIKE 'idle in transaction%'),
                    count(*) FILTER (WHERE wait_event_type = 'Lock'),
                    current_setting('max_connections')::bigint,
                    (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
                    (SELECT xact_rollback FROM pg_stat_database WHERE datname = current_database()),
                    (SELECT deadlocks FROM pg_stat_database WHERE datname = current_database())
             FROM pg_stat_activity
             WHERE datname = current_database() AND backend_type = 'client backend'
               AND pid <> pg_backend_pid()",
            &[],
        )
        .await?;
    Ok(rows.first().map(|r| ServerFigures {
        active: r.get(0),
        idle: r.get(1),
        idle_in_transaction: r.get(2),
        lock_waits: r.get(3),
        max_connections: r.get(4),
        commits: r.get::<_, Option<i64>>(5).unwrap_or_default(),
        rollbacks: r.get::<_, Option<i64>>(6).unwrap_or_default(),
        deadlocks: r.get::<_, Option<i64>>(7).unwrap_or_default(),
    }))
}

/// `SHOW POOLS` summed over the pools of every database but the admin console's own.
async fn bouncer_figures(c: &Client) -> Result<BouncerFigures, tokio_postgres::Error> {
    // The admin console speaks only the simple query protocol.
    let messages = c.simple_query("SHOW POOLS").await?;
    let mut f = BouncerFigures::default();
    let num = |r: &tokio_postgres::SimpleQueryRow, col: &str| -> i64 {
        r.try_get(col).ok().flatten().and_then(|v: &str| v.parse().ok()).unwrap_or(0)
    };
    for m in &messages {
        let SimpleQueryMessage::Row(r) = m else { continue };
        if r.try_get("database").ok().flatten() == Some("pgbouncer") {
            continue;
        }
        f.cl_active += num(r, "cl_active");
        f.cl_waiting += num(r, "cl_waiting");
        f.sv_active += num(r, "sv_active");
        f.sv_idle += num(r, "sv_idle");
        f.sv_used += num(r, "sv_used");
        let wait = Duration::from_secs(num(r, "maxwait").max(0) as u64)
            + Duration::from_micros(num(r, "maxwait_us").max(0) as u64);
        f.max_wait = f.max_wait.max(wait);
    }
    Ok(f)
}

async fn stock(c: &impl GenericClient, id: i64) -> Result<Option<i64>, tokio_postgres::Error> {
    let rows = c.query_typed("SELECT stock FROM products WHERE id = $1", &[int8(&id)]).await?;
    Ok(rows.first().map(|r| r.get(0)))
}

async fn seeded_products(c: &impl GenericClient) -> Result<Option<i64>, DbError> {
    let exists = c.query_typed("SELECT to_regclass('meta') IS NOT NULL", &[]).await?;
    if !exists.first().is_some_and(|r| r.get::<_, bool>(0)) {
        return Ok(None);
    }
    let rows = c.query_typed("SELECT value FROM meta WHERE key = 'products'", &[]).await?;
    Ok(rows.first().and_then(|r| r.get::<_, String>(0).parse().ok()))
}

/// Creates and seeds the catalog if this database has none, and applies the index switch, in one
/// transaction under an advisory lock. Returns the products and whether they were seeded now.
async fn prepare(c: &mut Client, opts: &PgOptions) -> Result<(i64, bool), DbError> {
    let tx = c.transaction().await?;
    tx.query_typed("SELECT pg_advisory_xact_lock($1)", &[int8(&SEED_LOCK)]).await?;
    let existing = seeded_products(&tx).await?;
    let seeded = existing.is_none();
    let products = match existing {
        Some(n) => n,
        None => {
            tx.batch_execute(SCHEMA).await?;
            tx.batch_execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)").await?;
            let mut categories = String::from("INSERT INTO categories (id, name) VALUES ");
            for (i, name) in crate::catalog::CATEGORIES.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(categories, "{sep}({}, '{}')", i + 1, name.replace('\'', "''"));
            }
            tx.batch_execute(&categories).await?;
            copy_products(&tx, opts.products, opts.seed).await?;
            tx.batch_execute("ALTER TABLE products ADD PRIMARY KEY (id)").await?;
            let (n, seed) = (opts.products.to_string(), opts.seed.to_string());
            tx.query_typed(
                "INSERT INTO meta (key, value) VALUES ('products', $1), ('seed', $2)",
                &[text(&n), text(&seed)],
            )
            .await?;
            i64::from(opts.products)
        }
    };
    let mut changed = seeded;
    for (name, on) in INDEXES {
        let present = tx
            .query_typed("SELECT to_regclass($1) IS NOT NULL", &[text(&(*name).to_owned())])
            .await?
            .first()
            .is_some_and(|r| r.get::<_, bool>(0));
        if opts.no_indexes && present {
            tx.batch_execute(&format!("DROP INDEX {name}")).await?;
            changed = true;
        } else if !opts.no_indexes && !present {
            tx.batch_execute(&format!("CREATE INDEX {name} ON {on}")).await?;
            changed = true;
        }
    }
    if changed {
        tx.batch_execute("ANALYZE products").await?;
    }
    tx.commit().await?;
    Ok((products, seeded))
}

/// Streams the generated catalog with `COPY … FROM STDIN` (text format) in 1 MiB chunks.
async fn copy_products(tx: &tokio_postgres::Transaction<'_>, products: u32, seed: u64) -> Result<(), DbError> {
    let sink = tx
        .copy_in::<_, Bytes>(
            "COPY products (id, category_id, name, description, price_cents, popularity, stock) FROM STDIN",
        )
        .await?;
    futures_util::pin_mut!(sink);
    let mut generator = crate::catalog::Generator::new(seed);
    let mut buf = String::with_capacity(1 << 20);
    for id in 1..=i64::from(products) {
        let p = generator.product(id);
        // Generated names and descriptions hold no tab, newline or backslash.
        let _ = writeln!(
            buf,
            "{id}\t{}\t{}\t{}\t{}\t{}\t{}",
            p.category_id, p.name, p.description, p.price_cents, p.popularity, p.stock
        );
        if buf.len() >= (1 << 20) - 512 {
            sink.send(Bytes::from(std::mem::replace(&mut buf, String::with_capacity(1 << 20)))).await?;
        }
    }
    if !buf.is_empty() {
        sink.send(Bytes::from(buf)).await?;
    }
    sink.finish().await?;
    Ok(())
}

fn listing_sql(by_category: bool, sort: Sort) -> String {
    if by_category {
        format!(
            "SELECT id, name, category_id, price_cents, popularity FROM products WHERE category_id = $1
             ORDER BY {} LIMIT $2 OFFSET $3",
            sort.order_by()
        )
    } else {
        format!(
            "SELECT id, name, category_id, price_cents, popularity FROM products ORDER BY {} LIMIT $1 OFFSET $2",
            sort.order_by()
        )
    }
}

const SEARCH_INDEX_SQL: &str = "SELECT id, name, category_id, price_cents, popularity FROM products
     WHERE to_tsvector('simple', name) @@ to_tsquery('simple', $1) ORDER BY popularity DESC, id DESC LIMIT $2";

const SEARCH_SCAN_SQL: &str = "SELECT id, name, category_id, price_cents, popularity FROM products
     WHERE name ILIKE $1 ORDER BY popularity DESC, id DESC LIMIT $2";

fn summary(r: &tokio_postgres::Row) -> ProductSummary {
    ProductSummary { id: r.get(0), name: r.get(1), category_id: r.get(2), price_cents: r.get(3), popularity: r.get(4) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(redact("postgres://shop:secret@127.0.0.1:5432/shop"), "postgres://shop:***@127.0.0.1:5432/shop");
        assert_eq!(redact("postgres://shop@127.0.0.1:5432/shop"), "postgres://shop@127.0.0.1:5432/shop");
        assert_eq!(redact("host=127.0.0.1 user=shop"), "host=127.0.0.1 user=shop");
    }
}
