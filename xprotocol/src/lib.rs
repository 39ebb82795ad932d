//! # xprotocol — the XProtocol SDK
//!
//! An RPC wire protocol is a small crate: a sans-IO [`Codec`] producing [`Frame`]s, a
//! three-way [`detect`](Protocol::detect) of its first bytes, and a few answers (where is the
//! request id, what is a heartbeat, what does an error reply look like). Implement
//! [`Protocol`], register it with [`register_protocol!`], and the SDK gives the rest:
//!
//! - [`registry`]: every linked protocol, found by name or detected from a byte prefix;
//! - [`relay`]: the gateway data path (route, forward with retries, answer in the caller's
//!   protocol), run per protocol through [`AnyProtocol::serve_relay`];
//! - [`engine`]: a tokio client that keeps many requests in flight on one connection and a
//!   server loop that answers out of order, with heartbeats and graceful close;
//! - `testkit` (feature `testkit`): round-trip property tests, every-split streaming tests,
//!   cross-detection tests and a fuzz entry point, from one call.
//!
//! Codecs never perform I/O, never panic on input, and check every declared length against
//! [`Limits`] before allocating or waiting for the bytes.
#![warn(missing_docs)]

pub mod codec;
pub mod detect;
pub mod engine;
pub mod error;
pub mod frame;
pub mod limits;
pub mod owned;
pub mod protocol;
pub mod registry;
pub mod relay;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use codec::Codec;
pub use detect::DetectResult;
pub use error::{DecodeError, EncodeError};
pub use frame::{Frame, RequestId, StreamKind};
pub use limits::Limits;
pub use owned::{ConnectionProtocol, OwnsConnection};
pub use protocol::{AnyProtocol, Failure, PoolMode, Protocol, RequestIdGenerator};
pub use registry::{ProtocolSet, Registration};

/// Re-exported so that [`register_protocol!`] works without a direct `inventory` dependency.
#[doc(hidden)]
pub use inventory;
