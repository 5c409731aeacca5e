//! The `shop` command line, shared by the `shop` binary and `stampede shop`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

use crate::{Shop, ShopConfig, ShopError};

/// What `shop --help` (and `stampede shop --help`) says before the flags.
pub const LONG_ABOUT: &str = "\
The bundled Stampede shop: an origin with an embedded SQLite database and a caching CDN edge in front \
of it. Prints `origin: URL`, `edge: URL` and `ready` on stdout once both listen and the catalog is \
seeded; stops cleanly on Ctrl-C or SIGTERM.

Peak-day mistakes to rehearse: --no-indexes (listing and search become full table scans: p99 climbs \
with load and DB pool waits appear), --cdn-misconfigured (images sent with `Cache-Control: no-cache, \
private`: the edge's image hit ratio drops to 0 and every image hits the origin), --cache-inventory \
(stock read from a 5-minute stale cache: pages say in stock while checkouts fail with 409), --db-pool N \
(a small pool: waits show in shop_db_pool_wait_seconds).

The real stack instead of SQLite: --database postgres://… (directly or through PgBouncer), --redis \
redis://…, --origins N app processes; scenarios/stack/up.sh starts PostgreSQL, PgBouncer and Redis on \
loopback.";

/// The shop's flags ([`LONG_ABOUT`] says what it is).
#[derive(Debug, Clone, clap::Args)]
pub struct ShopArgs {
    /// Address of the origin (the shop's API, pages and images).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub origin_listen: SocketAddr,

    /// Address of the CDN edge (caching reverse proxy to the origin).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub edge_listen: SocketAddr,

    /// Products to seed on first start, over 50 categories.
    #[arg(long, value_name = "N", default_value_t = 200_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub products: u32,

    /// SQLite database file, created and seeded if new, reused if already seeded. Default: a
    /// temporary file removed on exit.
    #[arg(long, value_name = "PATH", conflicts_with = "database")]
    pub db: Option<PathBuf>,

    /// PostgreSQL instead of the embedded SQLite: postgres://USER@HOST:PORT/DATABASE, the server
    /// itself or PgBouncer in front of it. Seeded on first use (one transaction), reused after.
    /// scenarios/stack/up.sh starts PostgreSQL, PgBouncer and Redis on loopback.
    #[arg(long, value_name = "URL")]
    pub database: Option<String>,

    /// PgBouncer's admin console (postgres://USER@HOST:PORT/pgbouncer): its SHOW POOLS figures
    /// (clients waiting, servers in use) join the origin's /metrics.
    #[arg(long, value_name = "URL", requires = "database")]
    pub pgbouncer_admin: Option<String>,

    /// Redis for what belongs there: product documents (with their 5-minute time to live),
    /// sessions and checkout rate-limit counters, shared by every origin process:
    /// redis://HOST:PORT/. With --cache-inventory, stock levels too.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,

    /// Keep trying PostgreSQL and Redis for up to this long at start, while they are still
    /// starting (e.g. started together by Compose). Default: fail at once.
    #[arg(long, value_name = "SECS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub database_wait_secs: u64,

    /// Origin (app) processes sharing the origin's address (SO_REUSEPORT), each with its own pool
    /// of --db-pool connections: the app side opens origins × db-pool database connections.
    /// Needs --database and --redis (the processes share the catalog and the sessions).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub origins: u16,

    /// Connections in the database pool; requests wait (measured) when all are busy.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub db_pool: u16,

    /// Mistake: drop the listing and search indexes, so both become full table scans.
    #[arg(long)]
    pub no_indexes: bool,

    /// Mistake: send images with `Cache-Control: no-cache, private`, so the edge cannot cache them.
    #[arg(long)]
    pub cdn_misconfigured: bool,

    /// Mistake: serve stock levels from a stale cache (and let the edge cache them): products look
    /// in stock after they sold out, and checkouts fail with 409.
    #[arg(long)]
    pub cache_inventory: bool,

    /// Seed of the generated catalog and images (same seed, same shop).
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,

    /// Delay added to every origin page, API and image response, to rehearse a slow origin.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub origin_delay_ms: u64,

    /// Checkouts allowed per session per window before 429 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub checkout_limit: u32,

    /// Length of the checkout rate-limit window.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub checkout_window_secs: u64,

    /// Memory the edge cache may use.
    #[arg(long, value_name = "MB", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub edge_cache_mb: u64,

    /// Also stop when standard input closes (how a parent process that
    /// started the shop ties its life to its own, even if killed).
    #[arg(long)]
    pub stop_on_stdin_eof: bool,

    /// Runtime worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,

    /// Edge processes sharing the edge's address (SO_REUSEPORT), each with its own cache, as a CDN's
    /// servers: for more client connections than one process may open (about 16,000 each here).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub edges: u16,

    /// Serve only an origin on this address, shared with the other origin processes (how
    /// --origins starts them).
    #[arg(long, value_name = "ADDR", hide = true)]
    pub origin_only: Option<SocketAddr>,

    /// Serve only an edge in front of this origin (HOST:PORT), sharing --edge-listen with the
    /// other edge processes (how --edges starts them).
    #[arg(long, value_name = "ADDR", hide = true)]
    pub edge_only: Option<SocketAddr>,
}

impl ShopArgs {
    /// The library configuration these flags describe.
    pub fn config(&self) -> ShopConfig {
        ShopConfig {
            origin_listen: self.origin_listen,
            edge_listen: self.edge_listen,
            products: self.products,
            db_path: self.db.clone(),
            database: self.database.clone(),
            pgbouncer_admin: self.pgbouncer_admin.clone(),
            redis: self.redis.clone(),
            database_wait: Duration::from_secs(self.database_wait_secs),
            db_pool: usize::from(self.db_pool),
            no_indexes: self.no_indexes,
            cdn_misconfigured: self.cdn_misconfigured,
            cache_inventory: self.cache_inventory,
            seed: self.seed,
            origin_delay: Duration::from_millis(self.origin_delay_ms),
            checkout_limit: self.checkout_limit,
            checkout_window: Duration::from_secs(self.checkout_window_secs),
            edge_cache_bytes: usize::try_from(self.edge_cache_mb * 1024 * 1024).unwrap_or(usize::MAX),
            ..ShopConfig::default()
        }
    }
}

/// Runs the shop with these flags until Ctrl-C, SIGTERM (or stdin EOF).
pub fn run(args: &ShopArgs) -> anyhow::Result<()> {
    let nofile = crate::raise_nofile_limit();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(usize::from(n));
    }
    let rt = rt.enable_all().build().context("cannot start the async runtime")?;
    rt.block_on(async {
        let mut config = args.config();
        if let Some(addr) = args.origin_only {
            let origin = crate::bind_shared(addr)?;
            config.prepare_database = false;
            let shop = Shop::open(config).await.context("cannot open the shop")?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready")?;
            out.flush()?;
            drop(out);
            shop.serve_origin(origin, stop_signal(args.stop_on_stdin_eof)).await?;
            return Ok(());
        }
        if args.origins > 1 && (config.database.is_none() || config.redis.is_none()) {
            return Err(ShopError::Config(
                "--origins needs --database postgres://… and --redis redis://…: the origin processes share \
                 the catalog through PostgreSQL and the sessions through Redis"
                    .into(),
            )
            .into());
        }
        if let Some(origin) = args.edge_only {
            let edge = crate::bind_shared(config.edge_listen)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "ready")?;
            out.flush()?;
            drop(out);
            crate::serve_edge(edge, origin, config.edge_cache_bytes, stop_signal(args.stop_on_stdin_eof)).await?;
            return Ok(());
        }
        let origin = if args.origins > 1 {
            crate::bind_shared(config.origin_listen)?
        } else {
            crate::bind(config.origin_listen).await?
        };
        let edge = if args.edges > 1 {
            crate::bind_shared(config.edge_listen)?
        } else {
            crate::bind(config.edge_listen).await?
        };
        let (origin_addr, edge_addr) = (origin.local_addr()?, edge.local_addr()?);
        match (&config.database, &config.db_path) {
            (Some(url), _) => {
                eprintln!("shop: opening {} ({} products if new)…", crate::pg::redact(url), config.products);
            }
            (None, Some(p)) => eprintln!("shop: opening {} ({} products if new)…", p.display(), config.products),
            (None, None) => eprintln!("shop: seeding {} products into a temporary database…", config.products),
        }
        let shop = Shop::open(config).await.context("cannot open the shop")?;
        let report = shop.open_report();
        match report.seeded_in {
            Some(d) => {
                eprintln!("shop: seeded {} products in {:.2} s ({})", report.products, d.as_secs_f64(), report.location)
            }
            None => eprintln!("shop: reusing {} products in {}", report.products, report.location),
        }
        if let Some(n) = nofile {
            eprintln!("shop: open-files limit {n}");
        }
        // The other edge processes: on the same address, tied to this one by
        // their stdin (they stop when it closes, also if this one is killed).
        let _origins = start_origins(args, origin_addr).await?;
        let _edges = start_edges(args, origin_addr, edge_addr).await?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "origin: http://{origin_addr}")?;
        writeln!(out, "edge: http://{edge_addr}")?;
        writeln!(out, "ready")?;
        out.flush()?;
        drop(out);
        shop.serve(origin, edge, stop_signal(args.stop_on_stdin_eof)).await?;
        eprintln!("shop: stopped");
        Ok(())
    })
}

/// Starts `--edges` − 1 edge-only processes of this same program on
/// `edge_addr` and waits until each listens.
async fn start_edges(
    args: &ShopArgs,
    origin: SocketAddr,
    edge_addr: SocketAddr,
) -> anyhow::Result<Vec<tokio::process::Child>> {
    let mut children = Vec::new();
    if args.edges <= 1 {
        return Ok(children);
    }
    // How this program was started, up to its first flag (`stampede shop`, or `shop`).
    let exe = std::env::current_exe().context("finding this program to start the other edges")?;
    let prefix: Vec<std::ffi::OsString> =
        std::env::args_os().skip(1).take_while(|a| !a.to_string_lossy().starts_with('-')).collect();
    for i in 1..args.edges {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(&prefix)
            .arg("--edge-only")
            .arg(origin.to_string())
            .arg("--edge-listen")
            .arg(edge_addr.to_string())
            .arg("--edge-cache-mb")
            .arg(args.edge_cache_mb.to_string());
        if let Some(n) = args.threads {
            cmd.arg("--threads").arg(n.to_string());
        }
        children.push(start_ready(cmd, &format!("edge process {}", i + 1), Duration::from_secs(30)).await?);
    }
    eprintln!("shop: {} edge processes share {edge_addr}", args.edges);
    Ok(children)
}

/// Starts `--origins` − 1 origin-only processes of this same program, with this process's
/// flags, on `origin` and waits until each has connected its pool and listens.
async fn start_origins(args: &ShopArgs, origin: SocketAddr) -> anyhow::Result<Vec<tokio::process::Child>> {
    let mut children = Vec::new();
    if args.origins <= 1 {
        return Ok(children);
    }
    let exe = std::env::current_exe().context("finding this program to start the other origins")?;
    // Every flag of this process (the database, Redis, pool and switches), then the address to
    // share; a repeated flag would be an error.
    let own: Vec<std::ffi::OsString> =
        std::env::args_os().skip(1).filter(|a| a.to_str() != Some("--stop-on-stdin-eof")).collect();
    for i in 1..args.origins {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args(&own).arg("--origin-only").arg(origin.to_string());
        children.push(start_ready(cmd, &format!("origin process {}", i + 1), Duration::from_secs(120)).await?);
    }
    eprintln!(
        "shop: {} origin processes share {origin}, {} database connections each ({} in all)",
        args.origins,
        args.db_pool,
        u32::from(args.origins) * u32::from(args.db_pool)
    );
    Ok(children)
}

/// Spawns `cmd` tied to this process by its stdin (`--stop-on-stdin-eof`: it stops when the
/// pipe closes, also if this process is killed) and waits until it prints `ready`.
async fn start_ready(
    mut cmd: tokio::process::Command,
    what: &str,
    within: Duration,
) -> anyhow::Result<tokio::process::Child> {
    use tokio::io::AsyncBufReadExt;
    cmd.arg("--stop-on-stdin-eof")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().with_context(|| format!("starting {what}"))?;
    let stdout = child.stdout.take().with_context(|| format!("{what}: no stdout"))?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(within, async {
        while let Ok(Some(l)) = lines.next_line().await {
            if l.trim() == "ready" {
                return true;
            }
        }
        false
    })
    .await;
    if ready != Ok(true) {
        anyhow::bail!("{what} did not start (its error is above)");
    }
    Ok(child)
}

/// Resolves on Ctrl-C, or SIGTERM (how a parent process stops the shop).
async fn stop_signal(stdin_eof: bool) {
    if stdin_eof {
        tokio::select! {
            _ = stdin_closed() => return,
            _ = Box::pin(stop_signal(false)) => return,
        }
    }
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

/// Resolves when standard input reaches end of file (the parent went away).
async fn stdin_closed() {
    use tokio::io::AsyncReadExt;
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while let Ok(n) = stdin.read(&mut buf).await {
        if n == 0 {
            return;
        }
    }
}

/// The `shop` command: exit code 2 for mistakes a user can fix, 1 otherwise.
pub fn main_with(args: &ShopArgs) -> std::process::ExitCode {
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("shop: error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            let user = err.chain().any(|c| c.downcast_ref::<ShopError>().is_some_and(ShopError::is_user_error));
            std::process::ExitCode::from(if user { 2 } else { 1 })
        }
    }
}
