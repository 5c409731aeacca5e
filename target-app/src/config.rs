//! [`ShopConfig`]: every knob of the shop, with the defaults the `shop` binary uses.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::db::DbOptions;
use crate::pg::PgOptions;

/// How to run the shop. `ShopConfig::default()` is the documented default shop on loopback
/// ports chosen by the OS.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ShopConfig {
    /// Products seeded on first start (over 50 categories).
    pub products: u32,
    /// Database file; `None` means a temporary file removed on exit.
    pub db_path: Option<PathBuf>,
    /// PostgreSQL instead of SQLite: `postgres://USER@HOST:PORT/DATABASE` (or PgBouncer's).
    pub database: Option<String>,
    /// PgBouncer's admin console (`postgres://USER@HOST:PORT/pgbouncer`), for `SHOW POOLS` in
    /// `/metrics`.
    pub pgbouncer_admin: Option<String>,
    /// Redis for product documents, sessions and rate-limit counters (and stock, with
    /// `cache_inventory`): `redis://HOST:PORT/`.
    pub redis: Option<String>,
    /// How long to keep trying PostgreSQL and Redis at start (servers still starting).
    pub database_wait: Duration,
    /// False in the extra `--origins` processes: the first one seeded the database and set the
    /// indexes.
    pub prepare_database: bool,
    /// Connections in the database pool (`--db-pool`).
    pub db_pool: usize,
    /// Drop the listing indexes and the search index: listing and search become full scans.
    pub no_indexes: bool,
    /// Send images with `Cache-Control: no-cache, private`, so the edge cannot keep them.
    pub cdn_misconfigured: bool,
    /// Serve `/api/inventory/{id}` from a stale in-process cache (and let the edge cache it).
    pub cache_inventory: bool,
    /// Seed of the generated catalog and images.
    pub seed: u64,
    pub origin_listen: SocketAddr,
    pub edge_listen: SocketAddr,
    /// Lifetime of product documents (and, with `cache_inventory`, stock) in the origin's cache.
    pub product_cache_ttl: Duration,
    /// `max-age` the origin sends with product documents.
    pub product_max_age: Duration,
    /// `max-age` the origin sends with images (when not misconfigured).
    pub image_max_age: Duration,
    /// Checkouts allowed per session per `checkout_window` (then 429).
    pub checkout_limit: u32,
    pub checkout_window: Duration,
    /// Sessions idle for longer are forgotten.
    pub session_idle_ttl: Duration,
    /// Added to every origin API, page and image response (a slow origin).
    pub origin_delay: Duration,
    /// Bytes the edge may hold (bodies, headers and keys).
    pub edge_cache_bytes: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

impl Default for ShopConfig {
    fn default() -> Self {
        let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        Self {
            products: 200_000,
            db_path: None,
            database: None,
            pgbouncer_admin: None,
            redis: None,
            prepare_database: true,
            database_wait: Duration::ZERO,
            db_pool: 8,
            no_indexes: false,
            cdn_misconfigured: false,
            cache_inventory: false,
            seed: 42,
            origin_listen: loopback,
            edge_listen: loopback,
            product_cache_ttl: Duration::from_secs(300),
            product_max_age: Duration::from_secs(300),
            image_max_age: Duration::from_secs(86_400),
            checkout_limit: 5,
            checkout_window: Duration::from_secs(60),
            session_idle_ttl: Duration::from_secs(30 * 60),
            origin_delay: Duration::ZERO,
            edge_cache_bytes: 512 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl ShopConfig {
    /// A small shop for tests: 2,000 products, everything else default.
    pub fn small() -> Self {
        Self { products: 2_000, ..Self::default() }
    }

    /// Checks values that would make the shop misbehave, with what would be valid.
    pub fn validate(&self) -> Result<(), String> {
        if self.products == 0 {
            return Err("products must be at least 1".into());
        }
        if self.db_pool == 0 || self.db_pool > 1024 {
            return Err(format!("db pool size must be from 1 to 1024, not {}", self.db_pool));
        }
        if self.database.is_some() && self.db_path.is_some() {
            return Err("--db names a SQLite file and --database a PostgreSQL server: give one of them".into());
        }
        if self.pgbouncer_admin.is_some() && self.database.is_none() {
            return Err("--pgbouncer-admin needs --database (PgBouncer pools PostgreSQL connections)".into());
        }
        if self.checkout_limit == 0 {
            return Err("checkout limit must be at least 1".into());
        }
        if self.checkout_window.is_zero() {
            return Err("checkout window must be longer than zero".into());
        }
        Ok(())
    }

    pub(crate) fn pg_options(&self, url: &str) -> PgOptions {
        PgOptions {
            url: url.to_owned(),
            products: self.products,
            pool: self.db_pool,
            no_indexes: self.no_indexes,
            seed: self.seed,
            prepare: self.prepare_database,
            pgbouncer_admin: self.pgbouncer_admin.clone(),
            wait: self.database_wait,
        }
    }

    pub(crate) fn db_options(&self) -> DbOptions {
        DbOptions {
            path: self.db_path.clone(),
            products: self.products,
            pool: self.db_pool,
            no_indexes: self.no_indexes,
            seed: self.seed,
        }
    }
}
