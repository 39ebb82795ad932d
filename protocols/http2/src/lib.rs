//! # xprotocol-http2 — HTTP/2 (prior knowledge) on the XProtocol gateway's shared port
//!
//! HTTP/2 owns its connections: the SDK's frame engine does not see them. This crate gives
//! the gateway three things:
//!
//! - [`Http2`], a [`ConnectionProtocol`](xprotocol::ConnectionProtocol) registered as
//!   `"http2"`, which recognises the client [`PREFACE`];
//! - [`serve`], which serves a detected connection with hyper under [`ServerSettings`]
//!   (stream limits, flow control, keep-alive PINGs, rapid-reset protection, graceful
//!   shutdown with GOAWAY; a response body's error becomes that stream's RST_STREAM);
//! - [`client::handshake`], which opens an upstream HTTP/2 connection for the gateway's own
//!   pool.
//!
//! ```
//! use xprotocol::{ConnectionProtocol, DetectResult};
//! use xprotocol_http2::{Http2, PREFACE};
//!
//! assert_eq!(Http2.detect(&PREFACE[..10]), DetectResult::NeedMore);
//! assert_eq!(Http2.detect(PREFACE), DetectResult::Match);
//! assert_eq!(Http2.detect(b"GET / HTTP/1.1"), DetectResult::NoMatch);
//! ```
#![warn(missing_docs)]

pub mod client;
mod detect;
mod error;
pub mod server;

pub use detect::{Http2, PREFACE};
pub use error::{is_benign_hyper_error, ServeError};
pub use server::{serve, ServerSettings};
