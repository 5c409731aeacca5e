//! `shop`: runs the bundled shop (origin + CDN edge) on loopback until Ctrl-C.
//!
//! Only parses flags, builds the runtime and calls `stampede_shop`; everything else is in the
//! library.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use stampede_shop::{Shop, ShopConfig, ShopError};

/// The bundled Stampede shop: an origin with an embedded SQLite database and a caching CDN edge in
/// front of it. Prints `origin: URL`, `edge: URL` and `ready` on stdout once both listen and the
/// catalog is seeded; stops cleanly on Ctrl-C or SIGTERM.
///
/// Peak-day mistakes to rehearse: --no-indexes (listing and search become full table scans: p99
/// climbs with load and DB pool waits appear), --cdn-misconfigured (images sent with
/// `Cache-Control: no-cache, private`: the edge's image hit ratio drops to 0 and every image hits the
/// origin), --cache-inventory (stock read from a 5-minute stale cache: pages say in stock while
/// checkouts fail with 409), --db-pool N (a small pool: waits show in shop_db_pool_wait_seconds).
#[derive(Debug, Parser)]
#[command(name = "shop", version, about, long_about)]
struct Args {
    /// Address of the origin (the shop's API, pages and images).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    origin_listen: SocketAddr,

    /// Address of the CDN edge (caching reverse proxy to the origin).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    edge_listen: SocketAddr,

    /// Products to seed on first start, over 50 categories.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    products: u32,

    /// SQLite database file, created and seeded if new, reused if already seeded. Default: a
    /// temporary file removed on exit.
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,

    /// Connections in the database pool; requests wait (measured) when all are busy.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    db_pool: u16,

    /// Mistake: drop the listing and search indexes, so both become full table scans.
    #[arg(long)]
    no_indexes: bool,

    /// Mistake: send images with `Cache-Control: no-cache, private`, so the edge cannot cache them.
    #[arg(long)]
    cdn_misconfigured: bool,

    /// Mistake: serve stock levels from a stale cache (and let the edge cache them): products look
    /// in stock after they sold out, and checkouts fail with 409.
    #[arg(long)]
    cache_inventory: bool,

    /// Seed of the generated catalog and images (same seed, same shop).
    #[arg(long, value_name = "N", default_value_t = 42)]
    seed: u64,

    /// Delay added to every origin page, API and image response, to rehearse a slow origin.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    origin_delay_ms: u64,

    /// Checkouts allowed per session per window before 429 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    checkout_limit: u32,

    /// Length of the checkout rate-limit window.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    checkout_window_secs: u64,

    /// Memory the edge cache may use.
    #[arg(long, value_name = "MB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    edge_cache_mb: u64,

    /// Runtime worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
}

impl Args {
    fn config(&self) -> ShopConfig {
        let mut c = ShopConfig::default();
        c.origin_listen = self.origin_listen;
        c.edge_listen = self.edge_listen;
        c.products = self.products;
        c.db_path = self.db.clone();
        c.db_pool = usize::from(self.db_pool);
        c.no_indexes = self.no_indexes;
        c.cdn_misconfigured = self.cdn_misconfigured;
        c.cache_inventory = self.cache_inventory;
        c.seed = self.seed;
        c.origin_delay = Duration::from_millis(self.origin_delay_ms);
        c.checkout_limit = self.checkout_limit;
        c.checkout_window = Duration::from_secs(self.checkout_window_secs);
        c.edge_cache_bytes =
            usize::try_from(self.edge_cache_mb * 1024 * 1024).unwrap_or(usize::MAX);
        c
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("shop: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            let user = err.chain().any(|c| {
                c.downcast_ref::<ShopError>()
                    .is_some_and(ShopError::is_user_error)
            });
            ExitCode::from(if user { 2 } else { 1 })
        }
    }
}

fn run(args: &Args) -> anyhow::Result<()> {
    let nofile = stampede_shop::raise_nofile_limit();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(usize::from(n));
    }
    let rt = rt
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let config = args.config();
        let origin = stampede_shop::bind(config.origin_listen).await?;
        let edge = stampede_shop::bind(config.edge_listen).await?;
        let (origin_addr, edge_addr) = (origin.local_addr()?, edge.local_addr()?);
        match &config.db_path {
            Some(p) => eprintln!(
                "shop: opening {} ({} products if new)…",
                p.display(),
                config.products
            ),
            None => eprintln!(
                "shop: seeding {} products into a temporary database…",
                config.products
            ),
        }
        let shop = Shop::open(config).await.context("cannot open the shop")?;
        let report = shop.open_report();
        match report.seeded_in {
            Some(d) => eprintln!(
                "shop: seeded {} products in {:.2} s ({})",
                report.products,
                d.as_secs_f64(),
                report.path.display()
            ),
            None => eprintln!(
                "shop: reusing {} products in {}",
                report.products,
                report.path.display()
            ),
        }
        if let Some(n) = nofile {
            eprintln!("shop: open-files limit {n}");
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "origin: http://{origin_addr}")?;
        writeln!(out, "edge: http://{edge_addr}")?;
        writeln!(out, "ready")?;
        out.flush()?;
        drop(out);
        shop.serve(origin, edge, stop_signal()).await?;
        eprintln!("shop: stopped");
        Ok(())
    })
}

/// Resolves on Ctrl-C, or SIGTERM (how a parent process stops the shop).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
