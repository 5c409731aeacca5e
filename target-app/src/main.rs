//! `shop`: runs the bundled shop (origin + CDN edge) on loopback until Ctrl-C.
//!
//! Only parses flags and calls `stampede_shop::cli`; everything else is in the
//! library.

use clap::Parser;

/// The bundled Stampede shop: an origin and a caching CDN edge on loopback.
#[derive(Debug, Parser)]
#[command(name = "shop", version, about, long_about = stampede_shop::cli::LONG_ABOUT)]
struct Cli {
    #[command(flatten)]
    args: stampede_shop::cli::ShopArgs,
}

fn main() -> std::process::ExitCode {
    stampede_shop::cli::main_with(&Cli::parse().args)
}
