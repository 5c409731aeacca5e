//! The bundled shop: a real origin with an embedded database, and a caching CDN edge in front.
//!
//! Stampede's default scenarios rehearse Black Friday against this shop, so it behaves like a
//! small real one: a seeded SQLite catalog behind a connection pool, sessions and carts, a checkout
//! that never oversells, a background receipt queue, and an edge that caches by the origin's
//! `Cache-Control` and says what it did (`Cache-Status`, `X-Cache`, `Age`). Switches in
//! [`ShopConfig`] reproduce classic peak-day mistakes (a missing index, images the CDN cannot keep,
//! stock read from a stale cache, a small pool) so a rehearsal can find them.
//!
//! It does not generate load, and it only ever listens where it is told (loopback by default).
//!
//! # Layout
//!
//! - [`config`]: [`ShopConfig`], every knob and switch, with defaults.
//! - [`store`]: [`store::Store`], the database the origin calls: SQLite or PostgreSQL.
//! - [`db`]: SQLite schema, seeding, the `--no-indexes` switch and every SQL statement (including
//!   the atomic checkout).
//! - [`pg`]: the same for PostgreSQL (`--database`, directly or through PgBouncer), and the
//!   server's and PgBouncer's figures for `/metrics`.
//! - [`pool`]: the measured connection pool both use (`--db-pool`).
//! - [`redis_store`]: Redis (`--redis`): product documents, sessions, rate-limit counters (and
//!   stock, with `--cache-inventory`).
//! - [`catalog`]: the deterministic generated catalog: names, prices, popularity, stock, images.
//! - [`origin`]: the HTTP API and pages (axum), response headers, the in-process product cache,
//!   the effects of the switches, and the origin's Prometheus `/metrics`.
//! - [`sessions`]: the `sid` cookie, carts and the per-session checkout rate limit.
//! - [`receipts`]: the background queue that renders order receipts off the request path.
//! - [`ttl_cache`]: the small sharded TTL cache the origin uses.
//! - [`edge`]: the caching reverse proxy: storage rules, request collapsing, ETag revalidation,
//!   `Cache-Status`, and its own `/metrics` (including origin fetches, the hit-ratio truth).
//! - [`cache_control`]: `Cache-Control` parsing for the edge.
//! - `serve`: the accept loop and per-connection tasks of both servers (HTTP/1.1, or HTTP/2 told
//!   by its preface), small per idle keep-alive connection, with graceful shutdown.
//! - [`metrics`]: counters, gauges, histograms and the Prometheus text writer.
//! - this file: [`run`], [`start`] and [`ShopHandle`], which wire the parts together and shut
//!   them down.

pub mod cache_control;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod edge;
pub mod metrics;
pub mod origin;
pub mod pg;
pub mod pool;
pub mod receipts;
pub mod redis_store;
mod serve;
pub mod sessions;
pub mod store;
pub mod ttl_cache;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

pub use config::ShopConfig;
pub use db::{DbError, OpenReport};
pub use edge::EdgeStats;

/// Errors from starting or running the shop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShopError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the database failed")]
    Db(#[from] DbError),
    #[error("Redis failed")]
    Redis(#[from] redis_store::RedisError),
    #[error("the {server} server failed")]
    Serve {
        server: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl ShopError {
    /// True when the user can fix it by changing a flag (a bad value, a busy port, an unwritable
    /// database path).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::Bind { .. }
                | Self::Redis(_)
                | Self::Db(
                    DbError::Open { .. }
                        | DbError::TempDir(_)
                        | DbError::PgUrl { .. }
                        | DbError::PgConnect { .. }
                        | DbError::NotSeeded { .. }
                )
        )
    }
}

/// Binds a listener, with the address in the error.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ShopError> {
    TcpListener::bind(addr).await.map_err(|source| ShopError::Bind { addr, source })
}

/// Binds `addr` so that other processes may bind it too (SO_REUSEPORT: the
/// kernel spreads new connections over them), with a backlog for a crowd
/// arriving at once.
pub fn bind_shared(addr: SocketAddr) -> Result<TcpListener, ShopError> {
    let err = |source| ShopError::Bind { addr, source };
    let socket =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4() } else { tokio::net::TcpSocket::new_v6() }.map_err(err)?;
    socket.set_reuseaddr(true).map_err(err)?;
    #[cfg(unix)]
    socket.set_reuseport(true).map_err(err)?;
    socket.bind(addr).map_err(err)?;
    socket.listen(4096).map_err(err)
}

/// Serves only a CDN edge (its own cache and metrics) in front of `origin`
/// until `shutdown` resolves: one of the processes of `shop --edges N`.
pub async fn serve_edge(
    listener: TcpListener,
    origin: SocketAddr,
    cache_bytes: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ShopError> {
    let edge = Arc::new(edge::Edge::new(origin, cache_bytes, Arc::new(edge::EdgeMetrics::default())));
    // The client's address, for the edge's requests by client.
    serve::serve(listener, edge::router(edge), true, shutdown)
        .await
        .map_err(|source| ShopError::Serve { server: "edge", source })
}

/// Raises the soft open-files limit to the hard limit (each keep-alive connection is a file).
/// Returns the new soft limit.
pub fn raise_nofile_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

/// An opened shop: database seeded, state built, not yet serving.
#[derive(Debug, Clone)]
pub struct Shop {
    config: ShopConfig,
    db: store::Store,
    redis: Option<redis_store::Redis>,
    report: OpenReport,
    edge_metrics: Arc<edge::EdgeMetrics>,
}

impl Shop {
    /// Opens the database (seeding it on first use) and validates the configuration.
    pub async fn open(config: ShopConfig) -> Result<Self, ShopError> {
        config.validate().map_err(ShopError::Config)?;
        let (db, report) = store::Store::open(&config).await?;
        let redis = match &config.redis {
            Some(url) => Some(
                redis_store::Redis::open(
                    url,
                    config.product_cache_ttl,
                    config.session_idle_ttl,
                    sessions::RateLimit { limit: config.checkout_limit, window: config.checkout_window },
                    config.database_wait,
                )
                .await?,
            ),
            None => None,
        };
        Ok(Self { config, db, redis, report, edge_metrics: Arc::new(edge::EdgeMetrics::default()) })
    }

    /// What opening the database found or did (path, seeding time).
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    pub fn database(&self) -> &store::Store {
        &self.db
    }

    pub fn edge_stats(&self) -> EdgeStats {
        self.edge_metrics.stats()
    }

    /// Serves the origin and the edge until `shutdown` resolves, then stops accepting, lets
    /// in-flight requests finish (bounded by the grace period), drains the receipt queue and
    /// returns.
    pub async fn serve(
        self,
        origin_listener: TcpListener,
        edge_listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ShopError> {
        self.serve_parts(origin_listener, Some(edge_listener), shutdown).await
    }

    /// Serves only the origin (one of the processes of `shop --origins N`), as [`Shop::serve`].
    pub async fn serve_origin(
        self,
        origin_listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ShopError> {
        self.serve_parts(origin_listener, None, shutdown).await
    }

    async fn serve_parts(
        self,
        origin_listener: TcpListener,
        edge_listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ShopError> {
        let mut origin_addr =
            origin_listener.local_addr().map_err(|source| ShopError::Serve { server: "origin", source })?;
        if origin_addr.ip().is_unspecified() {
            origin_addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        };

        // Sessions in this process (swept here), or in Redis (which expires them itself).
        let session_store = match &self.redis {
            Some(r) => sessions::SessionStore::Redis(r.clone()),
            None => sessions::SessionStore::Memory(Arc::new(sessions::Sessions::new(
                self.config.session_idle_ttl,
                sessions::RateLimit { limit: self.config.checkout_limit, window: self.config.checkout_window },
            ))),
        };
        let sweeper = match &session_store {
            sessions::SessionStore::Memory(s) => Some(tokio::spawn(sweep_sessions(s.clone(), stopped()))),
            sessions::SessionStore::Redis(_) => None,
        };
        let queue_metrics = Arc::new(receipts::QueueMetrics::default());
        let (queue, worker) = receipts::ReceiptQueue::new(self.db.clone(), queue_metrics.clone());
        let origin = Arc::new(origin::Origin::new(
            self.db.clone(),
            self.config.clone(),
            self.redis.clone(),
            session_store,
            queue,
            queue_metrics,
        ));

        let worker = tokio::spawn(worker.run(stopped()));
        let origin_server = tokio::spawn(serve::serve(origin_listener, origin::router(origin), false, stopped()));
        // The client's address, for the edge's requests by client.
        let edge_server = edge_listener.map(|listener| {
            let edge = Arc::new(edge::Edge::new(origin_addr, self.config.edge_cache_bytes, self.edge_metrics.clone()));
            tokio::spawn(serve::serve(listener, edge::router(edge), true, stopped()))
        });

        shutdown.await;
        let _ = stop_tx.send(true);
        let grace = self.config.shutdown_grace;
        let mut result = Ok(());
        let servers = edge_server.map(|e| ("edge", e)).into_iter().chain([("origin", origin_server)]);
        for (server, task) in servers {
            let abort = task.abort_handle();
            match tokio::time::timeout(grace, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(source))) => result = Err(ShopError::Serve { server, source }),
                Ok(Err(_)) => {}
                // Connections that would not finish in time are cut.
                Err(_) => abort.abort(),
            }
        }
        let _ = tokio::time::timeout(grace, worker).await;
        if let Some(sweeper) = sweeper {
            sweeper.abort();
        }
        result
    }
}

async fn sweep_sessions(sessions: Arc<sessions::Sessions>, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = tick.tick() => sessions.sweep(),
            () = &mut stop => return,
        }
    }
}

/// Opens the shop and serves it on the given listeners until `shutdown` resolves.
pub async fn run(
    config: ShopConfig,
    origin_listener: TcpListener,
    edge_listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ShopError> {
    Shop::open(config).await?.serve(origin_listener, edge_listener, shutdown).await
}

/// Binds `config.origin_listen` and `config.edge_listen`, opens the shop and serves it in a
/// background task. The shop is ready (seeded and listening) when this returns.
pub async fn start(config: ShopConfig) -> Result<ShopHandle, ShopError> {
    let origin_listener = bind(config.origin_listen).await?;
    let edge_listener = bind(config.edge_listen).await?;
    let local = |l: &TcpListener, server| l.local_addr().map_err(|source| ShopError::Serve { server, source });
    let origin_addr = local(&origin_listener, "origin")?;
    let edge_addr = local(&edge_listener, "edge")?;
    let shop = Shop::open(config).await?;
    let (tx, rx) = oneshot::channel::<()>();
    let join = tokio::spawn(shop.clone().serve(origin_listener, edge_listener, async move {
        // A dropped handle stops the shop too.
        let _ = rx.await;
    }));
    Ok(ShopHandle { origin_addr, edge_addr, shutdown: Some(tx), join, shop })
}

/// A running shop started by [`start`]. Dropping it stops the shop.
#[derive(Debug)]
pub struct ShopHandle {
    pub origin_addr: SocketAddr,
    pub edge_addr: SocketAddr,
    /// Fires the shutdown; `None` once fired.
    shutdown: Option<oneshot::Sender<()>>,
    join: JoinHandle<Result<(), ShopError>>,
    shop: Shop,
}

impl ShopHandle {
    /// `http://ADDR` of the origin.
    pub fn origin_url(&self) -> String {
        format!("http://{}", self.origin_addr)
    }

    /// `http://ADDR` of the edge.
    pub fn edge_url(&self) -> String {
        format!("http://{}", self.edge_addr)
    }

    pub fn shop(&self) -> &Shop {
        &self.shop
    }

    /// The edge's counters, read directly (the same numbers as its `/metrics`).
    pub fn edge_stats(&self) -> EdgeStats {
        self.shop.edge_stats()
    }

    /// Sets the stock of a product (for tests and rehearsal set-up). False if no such product.
    pub async fn set_stock(&self, product_id: i64, stock: i64) -> Result<bool, ShopError> {
        Ok(self.shop.db.set_stock(product_id, stock).await?)
    }

    /// The live stock of a product.
    pub async fn stock(&self, product_id: i64) -> Result<Option<i64>, ShopError> {
        Ok(self.shop.db.stock(product_id).await?)
    }

    /// The number of orders placed so far.
    pub async fn order_count(&self) -> Result<i64, ShopError> {
        Ok(self.shop.db.order_count().await?)
    }

    /// Fires the shutdown without waiting.
    pub fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Waits for the shop to stop (after [`ShopHandle::shutdown`]).
    pub async fn join(mut self) -> Result<(), ShopError> {
        match (&mut self.join).await {
            Ok(r) => r,
            Err(e) => Err(ShopError::Serve { server: "shop", source: std::io::Error::other(e) }),
        }
    }

    /// Shuts down and waits.
    pub async fn stop(mut self) -> Result<(), ShopError> {
        self.shutdown();
        self.join().await
    }
}
