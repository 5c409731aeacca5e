//! stampede-proto: the coordinator/agent protocol (`proto/stampede.proto`).
//!
//! # Layout
//! - [`v1`]: the generated messages, client and server (tonic + prost, compiled
//!   by protox at build time, so no system `protoc` is needed).
//! - [`convert`]: snapshots to and from their wire form (histograms as
//!   HdrHistogram V2, sent without DEFLATE, read with or without), so both
//!   ends agree on one encoding.

#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod v1 {
    tonic::include_proto!("stampede.v1");
}

pub mod convert;

/// The protocol version this build speaks (`Hello.protocol_version`).
pub const PROTOCOL_VERSION: u32 = v1::ProtocolVersion::ProtocolVersion as u32;

/// The largest message either end sends or accepts, in bytes (64 MiB).
///
/// gRPC's default is 4 MB, which an `Assign` carrying the scenario's data
/// files outgrows easily. Both ends apply this one limit (the coordinator's
/// server and the agent's client, decoding and encoding), and the coordinator
/// refuses, before any load, an assignment that would not fit
/// ([`assignment_fits`]). HTTP/2 splits the message into frames, so the limit
/// bounds memory per message rather than what one frame carries.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// The encoded size of `assign` as sent (inside its `CoordinatorMessage`),
/// or the error to show when it is over [`MAX_MESSAGE_BYTES`].
pub fn assignment_fits(assign: &v1::Assign) -> Result<usize, TooLarge> {
    use prost::Message as _;
    let msg = v1::CoordinatorMessage { msg: Some(v1::coordinator_message::Msg::Assign(assign.clone())) };
    let bytes = msg.encoded_len();
    if bytes > MAX_MESSAGE_BYTES { Err(TooLarge { bytes, limit: MAX_MESSAGE_BYTES }) } else { Ok(bytes) }
}

/// An assignment over [`MAX_MESSAGE_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the assignment is {:.1} MiB (scenario + data files), over the {} MiB limit of one protocol message: \
     use smaller data files (or split the data set over several scenarios' files)",
    *bytes as f64 / (1 << 20) as f64,
    limit >> 20
)]
pub struct TooLarge {
    pub bytes: usize,
    pub limit: usize,
}
