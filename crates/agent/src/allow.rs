//! The target allow-list: defined in the engine, which enforces it on the
//! destination of every connection; the agent also checks a plan's literal
//! hosts when it is assigned, to refuse it before any load.

pub use stampede_engine::allow::*;
