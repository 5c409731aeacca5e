//! stampede-scenario: the scenario file model. It turns a TOML scenario file
//! into a validated, compiled [`Plan`] (the engine's input), or into a
//! [`ScenarioError`] that names the file, line, column and field, says what is
//! wrong and what would be valid. No input makes it panic.
//!
//! ```no_run
//! let plan = stampede_scenario::load("scenarios/smoke.toml".as_ref(), &Default::default())?;
//! # Ok::<(), stampede_scenario::ScenarioError>(())
//! ```
//!
//! The file format is documented field by field in `docs/scenarios.md`.
//!
//! # Layout
//!
//! - [`plan`]: the compiled `Plan` and its types (the contract with the engine),
//!   and how a custom metric sample reads from text or JSON. Owns no parsing.
//! - `compile`: the entry points ([`load`], [`parse_str`], [`parse_bytes`]),
//!   [`Overrides`], and the section-by-section compiler: defaults, limits,
//!   cross-references (flows, variables, data sets), interning of request and
//!   check names. Does not read TOML syntax itself.
//! - `walk`: reading the spanned TOML tree field by field (types, unknown
//!   fields, spans and dotted paths for errors).
//! - [`template`]: `{{ … }}` templates: parser, compiled parts, rendering.
//!   Knows nothing about TOML.
//! - [`threshold`]: threshold selectors and expressions (k6 syntax) and the
//!   metric catalogue: k6's built-in metrics and the custom metrics a file
//!   declares (`[metrics.NAME]`), with what a sample of each kind may hold.
//!   Evaluation belongs to the metrics crate.
//! - `tagging`: `group` and `tags` fields, k6's group paths, system tag
//!   names, interning of group paths and tag sets.
//! - `data`: reading CSV/JSON data files into rows.
//! - [`input`]: reading any file the user names with a size bound checked
//!   while reading (also used by the CLI for tokens and TLS files).
//! - `duration`: [`parse_duration`] (also used for `--duration`).
//! - `error`: [`ScenarioError`] and its rendering (location, help, caret snippet).
//! - `suggest`: "did you mean" for misspelt names.
//!
//! Not here: running anything (engine), splitting a plan across agents
//! (coordinator), evaluating thresholds (metrics).

pub mod budget;
mod compile;
mod data;
mod duration;
mod error;
pub mod input;
pub mod net;
pub mod plan;
pub mod suggest;
mod tagging;
pub mod template;
pub mod threshold;
mod walk;

pub use compile::{
    DEFAULT_BATCH_PER_HOST, DEFAULT_HOOK_TIMEOUT, DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_REDIRECTS, MAX_BATCH_PER_HOST,
    MAX_REDIRECTS,
};
pub use compile::{
    MAX_FILE_BYTES, MAX_ITERATIONS, MAX_RATE, MAX_RATE_PER_SECOND, MAX_VUS, MAX_WEIGHT, Overrides, SHOP_FLAGS,
    SHOP_PLACEHOLDER, load, parse_bytes, parse_str,
};
pub use duration::{MAX_DURATION, format_duration, parse_duration};
pub use error::ScenarioError;
pub use plan::*;

/// The kinds of `--out KIND=PATH` (and of `[outputs] out`); the report crate
/// describes each.
pub const OUTPUT_KINDS: &[&str] = &["summary", "json", "hlog", "csv", "html", "junit", "prometheus-rw"];
