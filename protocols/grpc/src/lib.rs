//! gRPC for the XProtocol SDK: the parts of gRPC the gateway needs on top of HTTP/2.
//!
//! gRPC is HTTP/2 with a content type (`application/grpc`), a path naming the method
//! (`/package.Service/Method`), length-prefixed messages in the body, an optional deadline
//! (`grpc-timeout`) and a status in the trailers (`grpc-status`, `grpc-message`); see gRPC's
//! `PROTOCOL-HTTP2.md`. The HTTP/2 connection itself (hyper, in the proxy) is not this crate's
//! concern, so it has no detector or codec of its own and does not depend on any HTTP stack:
//! it works on `http`'s types and on `bytes` buffers, sans-IO.
//!
//! - [`status`]: [`Code`], and the mappings from gateway failures, HTTP statuses and stream
//!   resets to codes, and from codes to HTTP-like classes for metrics.
//! - [`timeout`]: reading and writing `grpc-timeout`.
//! - [`message`]: the percent-encoding of `grpc-message`.
//! - [`framing`]: cutting length-prefixed messages out of a body, with a size limit checked
//!   before buffering.
//! - [`response`]: recognising a call, routing by its path, reading its deadline and final
//!   status, and writing the error responses a gRPC server would.
//!
//! ```
//! use std::time::Duration;
//! use bytes::BytesMut;
//! use xprotocol_grpc::{encode_message, trailers_only, Code, MessageDecoder};
//!
//! let mut body = BytesMut::new();
//! encode_message(b"hello", false, &mut body)?;
//! let message = MessageDecoder::new(4 << 20).decode(&mut body)?.expect("a whole message");
//! assert_eq!(message.data, "hello");
//!
//! let response = trailers_only(Code::from_failure(xprotocol::Failure::NoRoute), "no route");
//! assert_eq!(response.headers()["grpc-status"], "12");
//! assert_eq!(xprotocol_grpc::format_timeout(Duration::from_millis(1500)), "1500m");
//! # Ok::<(), xprotocol_grpc::MessageError>(())
//! ```
#![warn(missing_docs)]

pub mod framing;
pub mod message;
pub mod response;
pub mod status;
pub mod timeout;

pub use framing::{encode_message, Message, MessageDecoder, MessageError};
pub use message::{percent_decode_message, percent_encode_message};
pub use response::{
    is_grpc, request_deadline, service_and_method, status_from_trailers, status_trailers,
    trailers_only,
};
pub use status::{Code, StatusError};
pub use timeout::{format_timeout, parse_timeout, timeout_header, TimeoutError};
