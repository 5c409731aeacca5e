//! `shop`: runs the bundled shop (origin + CDN edge) on loopback until Ctrl-C.
//!
//! Only parses flags and calls `stampede_shop::cli`; everything else is in the
//! library.

use clap::Parser;

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
struct Cli {
    #[command(flatten)]
    args: stampede_shop::cli::ShopArgs,
}

fn main() -> std::process::ExitCode {
    stampede_shop::cli::main_with(&Cli::parse().args)
}
