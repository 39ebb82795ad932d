//! # xprotocol-http1 — HTTP/1.1 on the XProtocol gateway's shared port
//!
//! HTTP/1.1 owns its connections: the SDK's frame engine does not see them. This crate gives
//! the gateway three things:
//!
//! - [`Http1`], a [`ConnectionProtocol`](xprotocol::ConnectionProtocol) registered as
//!   `"http1"`, which recognises a request line's start (a [`METHODS`] member, a space and a
//!   request-target start) within [`MAX_DETECT_BYTES`], so HTTP shares a port with Bolt, Dubbo,
//!   Tars and HTTP/2 without ambiguity;
//! - [`serve`], which serves a detected connection with hyper under [`ServerSettings`]
//!   (header limits answered with `431`, a slowloris and idle timeout, upgrades for WebSocket,
//!   graceful shutdown);
//! - [`client::handshake`], which opens an upstream HTTP/1.1 connection for the gateway's
//!   own pool.
//!
//! ```
//! use xprotocol::{ConnectionProtocol, DetectResult};
//! use xprotocol_http1::Http1;
//!
//! assert_eq!(Http1.detect(b"GET /"), DetectResult::Match);
//! assert_eq!(Http1.detect(b"POS"), DetectResult::NeedMore);
//! assert_eq!(Http1.detect(b"PRI * HTTP/2.0"), DetectResult::NoMatch);
//! ```
#![warn(missing_docs)]

pub mod client;
mod detect;
mod error;
pub mod server;

pub use detect::{detect_request_line, Http1, MAX_DETECT_BYTES, METHODS};
pub use error::{is_benign_hyper_error, ServeError};
pub use server::{serve, ServerSettings};
