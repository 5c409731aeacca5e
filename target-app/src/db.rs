//! The embedded SQLite database: schema, seeding, the index switch, the connection pool and every
//! query the origin runs.
//!
//! Owns SQL and nothing above it: no HTTP, no caching. All work runs on tokio's blocking pool
//! through [`Database::run`], which first waits (measured, [`crate::pool`]) for a free pooled connection, so the
//! async worker threads never execute SQL. Writes additionally take a process-wide write gate so
//! that concurrent checkouts queue in memory instead of spinning on `SQLITE_BUSY`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::pool::Pool;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

/// Products per listing page.
pub const PAGE_SIZE: u32 = 24;
/// Deepest listing page served (OFFSET paging gets linear past this).
pub const MAX_PAGE: u32 = 500;
/// Rows returned by a search.
pub const SEARCH_LIMIT: u32 = 20;

/// The indexes that `--no-indexes` removes.
const INDEXES: &[(&str, &str)] = &[
    ("idx_products_category_popularity", "products(category_id, popularity)"),
    ("idx_products_category_price", "products(category_id, price_cents)"),
    ("idx_products_popularity", "products(popularity)"),
];

/// Errors from the database layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    #[error("cannot open the database at {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create a temporary database directory")]
    TempDir(#[source] std::io::Error),
    #[error("database query failed")]
    Sql(#[from] rusqlite::Error),
    #[error("a database task panicked or was cancelled")]
    Task,
    #[error("{url} is not a PostgreSQL connection URL (expected postgres://USER@HOST:PORT/DATABASE)")]
    PgUrl {
        url: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("cannot connect to PostgreSQL at {url}")]
    PgConnect {
        url: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error("the database at {url} has no catalog yet (the first origin seeds it)")]
    NotSeeded { url: String },
    #[error("PostgreSQL query failed")]
    Pg(#[from] tokio_postgres::Error),
}

/// How a listing is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Popularity,
    PriceAsc,
    PriceDesc,
}

impl Sort {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "popularity" => Some(Self::Popularity),
            "price_asc" | "price" => Some(Self::PriceAsc),
            "price_desc" => Some(Self::PriceDesc),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Popularity => "popularity",
            Self::PriceAsc => "price_asc",
            Self::PriceDesc => "price_desc",
        }
    }
    pub(crate) fn order_by(self) -> &'static str {
        // The rowid tie-break matches the implicit last column of each index, so no temp B-tree.
        match self {
            Self::Popularity => "popularity DESC, id DESC",
            Self::PriceAsc => "price_cents ASC, id ASC",
            Self::PriceDesc => "price_cents DESC, id DESC",
        }
    }
}

/// One row of the catalog as listings and search return it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProductSummary {
    pub id: i64,
    pub name: String,
    pub category_id: i64,
    pub price_cents: i64,
    pub popularity: i64,
}

/// A full product, as the product page shows it.
#[derive(Debug, Clone)]
pub struct Product {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub category_id: i64,
    pub category: String,
    pub price_cents: i64,
    pub popularity: i64,
}

/// One line of a checkout.
#[derive(Debug, Clone, Copy)]
pub struct OrderLine {
    pub product_id: i64,
    pub quantity: u32,
}

/// What a checkout transaction decided.
#[derive(Debug)]
pub enum CheckoutOutcome {
    Placed { order_id: i64, total_cents: i64, lines: Vec<PlacedLine> },
    OutOfStock { product_id: i64, available: i64 },
    UnknownProduct { product_id: i64 },
}

/// A line of a placed order, with the name and price at the time of purchase.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlacedLine {
    pub product_id: i64,
    pub name: String,
    pub quantity: u32,
    pub price_cents: i64,
}

/// A stored order.
#[derive(Debug, Clone)]
pub struct Order {
    pub id: i64,
    pub session: String,
    pub total_cents: i64,
    pub created_at: i64,
    pub receipt: Option<String>,
    pub lines: Vec<PlacedLine>,
}

pub use crate::pool::PoolMetrics;

/// The shop's database: a fixed pool of connections to one SQLite file.
#[derive(Debug, Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: Pool<Connection>,
    /// Serialises write transactions in-process so that writers queue instead of busy-looping.
    write_gate: Arc<Mutex<()>>,
    products: i64,
    no_indexes: bool,
    path: PathBuf,
    /// Keeps the temporary directory (and so the database file) alive until the last clone drops.
    _temp: Option<tempfile::TempDir>,
}

/// What [`Database::open`] needs to know.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub path: Option<PathBuf>,
    pub products: u32,
    pub pool: usize,
    pub no_indexes: bool,
    pub seed: u64,
}

/// What opening found or did, for the start-up message.
#[derive(Debug, Clone)]
pub struct OpenReport {
    /// The database file, or the PostgreSQL URL (without its password).
    pub location: String,
    /// `Some(duration)` when the catalog was seeded now, `None` when it was already there.
    pub seeded_in: Option<Duration>,
    pub products: i64,
}

impl Database {
    /// Opens (creating and seeding on first use) the database. Blocking: call from a blocking
    /// context or through `spawn_blocking`.
    pub fn open_blocking(opts: &DbOptions) -> Result<(Self, OpenReport), DbError> {
        let (path, temp) = match &opts.path {
            Some(p) => (p.clone(), None),
            None => {
                let dir = tempfile::Builder::new().prefix("stampede-shop-").tempdir().map_err(DbError::TempDir)?;
                (dir.path().join("shop.db"), Some(dir))
            }
        };
        let open_err = |source| DbError::Open { path: path.clone(), source };
        let mut first = open_connection(&path).map_err(open_err)?;
        // A read-only file opens fine; fail now, with the path, rather than at the first write.
        first
            .execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            .map_err(open_err)?;
        let existing: Option<i64> = first
            .query_row("SELECT value FROM meta WHERE key = 'products'", [], |r| r.get::<_, String>(0))
            .optional()?
            .and_then(|v| v.parse().ok());
        let started = Instant::now();
        let products = match existing {
            Some(n) => n,
            None => {
                seed(&mut first, opts.products, opts.seed)?;
                i64::from(opts.products)
            }
        };
        apply_index_switch(&first, opts.no_indexes)?;
        first.execute_batch("ANALYZE")?;
        // Seeding time includes building the indexes: that is what a user waits for.
        let seeded_in = existing.is_none().then(|| started.elapsed());

        let pool = opts.pool.max(1);
        let mut conns = Vec::with_capacity(pool);
        conns.push(first);
        for _ in 1..pool {
            conns.push(open_connection(&path).map_err(open_err)?);
        }
        let report = OpenReport { location: path.display().to_string(), seeded_in, products };
        let inner = Inner {
            pool: Pool::new(conns),
            write_gate: Arc::new(Mutex::new(())),
            products,
            no_indexes: opts.no_indexes,
            path,
            _temp: temp,
        };
        Ok((Self { inner: Arc::new(inner) }, report))
    }

    /// Opens the database on the blocking pool.
    pub async fn open(opts: DbOptions) -> Result<(Self, OpenReport), DbError> {
        tokio::task::spawn_blocking(move || Self::open_blocking(&opts)).await.map_err(|_| DbError::Task)?
    }

    pub fn products(&self) -> i64 {
        self.inner.products
    }
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
    pub fn pool_metrics(&self) -> &PoolMetrics {
        self.inner.pool.metrics()
    }

    /// Runs `f` with a pooled connection on the blocking pool, after waiting for a free one.
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Ctx) -> Result<T, DbError> + Send + 'static,
    {
        let inner = &self.inner;
        let mut lease = inner.pool.get().await.ok_or(DbError::Task)?;
        let mut conn = lease.take().ok_or(DbError::Task)?;
        let ctx = Ctx { write_gate: inner.write_gate.clone(), no_indexes: inner.no_indexes };
        let joined = tokio::task::spawn_blocking(move || {
            let r = f(&mut conn, &ctx);
            (conn, r)
        })
        .await;
        match joined {
            Ok((conn, r)) => {
                lease.put(conn);
                r
            }
            // The connection went down with the task: the lease shrinks the pool for good.
            Err(_) => Err(DbError::Task),
        }
    }

    /// `EXPLAIN QUERY PLAN` of the listing query (by category, sorted by popularity).
    pub async fn explain_listing(&self) -> Result<Vec<String>, DbError> {
        self.run(|c, _| explain(c, &listing_sql(true, Sort::Popularity), params![1, 24, 0])).await
    }

    /// `EXPLAIN QUERY PLAN` of the search query.
    pub async fn explain_search(&self) -> Result<Vec<String>, DbError> {
        self.run(|c, ctx| {
            if ctx.no_indexes {
                explain(c, SEARCH_SCAN_SQL, params!["%wool%", SEARCH_LIMIT])
            } else {
                explain(c, SEARCH_FTS_SQL, params!["\"wool\"*", SEARCH_LIMIT])
            }
        })
        .await
    }
}

/// What a query closure may need besides its connection.
#[derive(Debug)]
pub struct Ctx {
    write_gate: Arc<Mutex<()>>,
    pub no_indexes: bool,
}

impl Ctx {
    fn write_lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write_gate.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn open_connection(path: &Path) -> Result<Connection, rusqlite::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -32000;
         PRAGMA mmap_size = 268435456;",
    )?;
    conn.set_prepared_statement_cache_capacity(32);
    Ok(conn)
}

fn explain(c: &Connection, sql: &str, p: impl rusqlite::Params) -> Result<Vec<String>, DbError> {
    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = stmt.query_map(p, |r| r.get::<_, String>(3))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

// === schema and seeding ===

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS categories (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES categories(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    popularity INTEGER NOT NULL,
    stock INTEGER NOT NULL CHECK (stock >= 0)
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY,
    session TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    receipt TEXT
);
CREATE TABLE IF NOT EXISTS order_items (
    order_id INTEGER NOT NULL REFERENCES orders(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    price_cents INTEGER NOT NULL,
    name TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_order_items_order ON order_items(order_id);
";

fn seed(conn: &mut Connection, products: u32, seed: u64) -> Result<(), DbError> {
    let tx = conn.transaction()?;
    tx.execute_batch(SCHEMA)?;
    {
        let mut cat = tx.prepare("INSERT INTO categories (id, name) VALUES (?1, ?2)")?;
        for (i, name) in crate::catalog::CATEGORIES.iter().enumerate() {
            cat.execute(params![i as i64 + 1, name])?;
        }
        let mut ins = tx.prepare(
            "INSERT INTO products (id, category_id, name, description, price_cents, popularity, stock)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut generator = crate::catalog::Generator::new(seed);
        for id in 1..=i64::from(products) {
            let p = generator.product(id);
            ins.execute(params![id, p.category_id, p.name, p.description, p.price_cents, p.popularity, p.stock])?;
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('products', ?1), ('seed', ?2)",
        params![products.to_string(), seed.to_string()],
    )?;
    tx.commit()?;
    Ok(())
}

fn apply_index_switch(conn: &Connection, no_indexes: bool) -> Result<(), DbError> {
    if no_indexes {
        for (name, _) in INDEXES {
            conn.execute_batch(&format!("DROP INDEX IF EXISTS {name}"))?;
        }
        conn.execute_batch("DROP TABLE IF EXISTS products_fts")?;
        return Ok(());
    }
    for (name, on) in INDEXES {
        conn.execute_batch(&format!("CREATE INDEX IF NOT EXISTS {name} ON {on}"))?;
    }
    let has_fts: bool =
        conn.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE name = 'products_fts'", [], |r| r.get(0))?;
    if !has_fts {
        conn.execute_batch(
            "CREATE VIRTUAL TABLE products_fts USING fts5(name, content='products', content_rowid='id');
             INSERT INTO products_fts(products_fts) VALUES ('rebuild');",
        )?;
    }
    Ok(())
}

// === queries ===

fn listing_sql(by_category: bool, sort: Sort) -> String {
    let filter = if by_category { "WHERE category_id = ?1" } else { "WHERE ?1 IS NULL" };
    format!(
        "SELECT id, name, category_id, price_cents, popularity FROM products {filter}
         ORDER BY {} LIMIT ?2 OFFSET ?3",
        sort.order_by()
    )
}

const SEARCH_FTS_SQL: &str = "SELECT p.id, p.name, p.category_id, p.price_cents, p.popularity
     FROM products_fts JOIN products p ON p.id = products_fts.rowid
     WHERE products_fts MATCH ?1 ORDER BY p.popularity DESC, p.id DESC LIMIT ?2";

const SEARCH_SCAN_SQL: &str = "SELECT id, name, category_id, price_cents, popularity
     FROM products WHERE name LIKE ?1 ESCAPE '\\' ORDER BY popularity DESC, id DESC LIMIT ?2";

fn summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<ProductSummary> {
    Ok(ProductSummary {
        id: r.get(0)?,
        name: r.get(1)?,
        category_id: r.get(2)?,
        price_cents: r.get(3)?,
        popularity: r.get(4)?,
    })
}

/// Listing page `page` (1-based) of `category` (or of the whole catalog), `limit` rows.
pub fn list_products(
    c: &Connection,
    category: Option<i64>,
    sort: Sort,
    page: u32,
    limit: u32,
) -> Result<Vec<ProductSummary>, DbError> {
    let sql = listing_sql(category.is_some(), sort);
    let offset = i64::from(page.saturating_sub(1)) * i64::from(PAGE_SIZE);
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![category, limit, offset], summary)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The words of a search (letters and digits only, at most four).
pub(crate) fn search_words(q: &str) -> Vec<&str> {
    q.split(|ch: char| !ch.is_alphanumeric()).filter(|w| !w.is_empty()).take(4).collect()
}

/// Products whose name matches every word of `q` (word prefixes; substring without indexes).
pub fn search(c: &Connection, ctx: &Ctx, q: &str) -> Result<Vec<ProductSummary>, DbError> {
    let words = search_words(q);
    if words.is_empty() {
        return Ok(Vec::new());
    }
    if ctx.no_indexes {
        let mut pattern = String::from("%");
        pattern.push_str(&words.join(" "));
        pattern.push('%');
        let mut stmt = c.prepare_cached(SEARCH_SCAN_SQL)?;
        let rows = stmt.query_map(params![pattern, SEARCH_LIMIT], summary)?;
        return Ok(rows.collect::<Result<_, _>>()?);
    }
    let fts: Vec<String> = words.iter().map(|w| format!("\"{w}\"*")).collect();
    let mut stmt = c.prepare_cached(SEARCH_FTS_SQL)?;
    let rows = stmt.query_map(params![fts.join(" "), SEARCH_LIMIT], summary)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn product(c: &Connection, id: i64) -> Result<Option<Product>, DbError> {
    let mut stmt = c.prepare_cached(
        "SELECT p.id, p.name, p.description, p.category_id, c.name, p.price_cents, p.popularity
         FROM products p JOIN categories c ON c.id = p.category_id WHERE p.id = ?1",
    )?;
    Ok(stmt
        .query_row([id], |r| {
            Ok(Product {
                id: r.get(0)?,
                name: r.get(1)?,
                description: r.get(2)?,
                category_id: r.get(3)?,
                category: r.get(4)?,
                price_cents: r.get(5)?,
                popularity: r.get(6)?,
            })
        })
        .optional()?)
}

pub fn stock(c: &Connection, id: i64) -> Result<Option<i64>, DbError> {
    let mut stmt = c.prepare_cached("SELECT stock FROM products WHERE id = ?1")?;
    Ok(stmt.query_row([id], |r| r.get(0)).optional()?)
}

pub fn set_stock(c: &Connection, ctx: &Ctx, id: i64, stock: i64) -> Result<bool, DbError> {
    let _gate = ctx.write_lock();
    Ok(c.execute("UPDATE products SET stock = ?2 WHERE id = ?1", params![id, stock])? == 1)
}

/// Decrements the stock of every line and creates the order, in one immediate transaction:
/// either every line had enough stock and the order exists, or nothing changed.
pub fn checkout(
    c: &mut Connection,
    ctx: &Ctx,
    session: &str,
    lines: &[OrderLine],
    now_unix: i64,
) -> Result<CheckoutOutcome, DbError> {
    let _gate = ctx.write_lock();
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut placed = Vec::with_capacity(lines.len());
    let mut total = 0i64;
    for line in lines {
        let taken: Option<(i64, String)> = tx
            .prepare_cached(
                "UPDATE products SET stock = stock - ?2 WHERE id = ?1 AND stock >= ?2
                 RETURNING price_cents, name",
            )?
            .query_row(params![line.product_id, line.quantity], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((price, name)) = taken else {
            // Dropping `tx` rolls back the lines already taken.
            return Ok(match stock(&tx, line.product_id)? {
                Some(available) => CheckoutOutcome::OutOfStock { product_id: line.product_id, available },
                None => CheckoutOutcome::UnknownProduct { product_id: line.product_id },
            });
        };
        total += price * i64::from(line.quantity);
        placed.push(PlacedLine { product_id: line.product_id, name, quantity: line.quantity, price_cents: price });
    }
    tx.prepare_cached("INSERT INTO orders (session, total_cents, created_at) VALUES (?1, ?2, ?3)")?
        .execute(params![session, total, now_unix])?;
    let order_id = tx.last_insert_rowid();
    {
        let mut item = tx.prepare_cached(
            "INSERT INTO order_items (order_id, product_id, quantity, price_cents, name) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for l in &placed {
            item.execute(params![order_id, l.product_id, l.quantity, l.price_cents, l.name])?;
        }
    }
    tx.commit()?;
    Ok(CheckoutOutcome::Placed { order_id, total_cents: total, lines: placed })
}

pub fn store_receipt(c: &Connection, ctx: &Ctx, order_id: i64, receipt: &str) -> Result<(), DbError> {
    let _gate = ctx.write_lock();
    c.prepare_cached("UPDATE orders SET receipt = ?2 WHERE id = ?1")?.execute(params![order_id, receipt])?;
    Ok(())
}

pub fn order(c: &Connection, id: i64) -> Result<Option<Order>, DbError> {
    let head = c
        .prepare_cached("SELECT id, session, total_cents, created_at, receipt FROM orders WHERE id = ?1")?
        .query_row([id], |r| {
            Ok(Order {
                id: r.get(0)?,
                session: r.get(1)?,
                total_cents: r.get(2)?,
                created_at: r.get(3)?,
                receipt: r.get(4)?,
                lines: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut order) = head else {
        return Ok(None);
    };
    let mut stmt =
        c.prepare_cached("SELECT product_id, name, quantity, price_cents FROM order_items WHERE order_id = ?1")?;
    let lines = stmt.query_map([id], |r| {
        Ok(PlacedLine { product_id: r.get(0)?, name: r.get(1)?, quantity: r.get(2)?, price_cents: r.get(3)? })
    })?;
    order.lines = lines.collect::<Result<_, _>>()?;
    Ok(Some(order))
}

pub fn order_count(c: &Connection) -> Result<i64, DbError> {
    Ok(c.query_row("SELECT count(*) FROM orders", [], |r| r.get(0))?)
}
