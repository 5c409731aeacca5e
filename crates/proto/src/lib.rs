//! stampede-proto: the coordinator/agent protocol (`proto/stampede.proto`).
//!
//! # Layout
//! - [`v1`]: the generated messages, client and server (tonic + prost, compiled
//!   by protox at build time, so no system `protoc` is needed).
//! - [`convert`]: snapshots to and from their wire form (histograms as
//!   HdrHistogram V2 + DEFLATE), so both ends agree on one encoding.

#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod v1 {
    tonic::include_proto!("stampede.v1");
}

pub mod convert;

/// The protocol version this build speaks (`Hello.protocol_version`).
pub const PROTOCOL_VERSION: u32 = v1::ProtocolVersion::ProtocolVersion as u32;
