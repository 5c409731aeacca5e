//! stampede-report: what a run leaves behind for people and machines.
//!
//! Owns the end-of-test summary (one structure, rendered as text for the
//! terminal and written as JSON). It reads merged snapshots; it never touches
//! the load path.
//!
//! # Layout
//! - [`summary`]: the summary structure and its JSON schema.
//! - [`text`]: the terminal rendering, in the spirit of k6's.
//! - [`outputs`]: `--out KIND=PATH` destinations.

pub mod outputs;
pub mod summary;
pub mod text;

pub use summary::{RunInfo, Summary};
