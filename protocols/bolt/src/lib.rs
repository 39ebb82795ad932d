//! # xprotocol-bolt — SOFARPC Bolt v1 and v2 for the XProtocol SDK
//!
//! Two registered protocols: [`BOLT_V1`] (`"bolt"`, first byte 0x01) and [`BOLT_V2`]
//! (`"boltv2"`, first byte 0x02, with the optional CRC32 trailer). Their codec,
//! [`BoltCodec`], splits whole frames off the read buffer without copying or allocating;
//! [`BoltFrame`] answers routing questions (service, version, method, headers) by scanning
//! its own bytes (the method falls back to the `methodName` of a hessian2 `SofaRequest`
//! content, where sofa-rpc-node puts it), rewrites its request id in place (updating the
//! CRC, when there is one, from the four changed bytes), edits its header map on request (a new head, the content kept),
//! and is written back byte for byte.
//!
//! ```
//! use bytes::BytesMut;
//! use xprotocol::{Codec, Frame, Limits, Protocol, RequestId, StreamKind};
//! use xprotocol_bolt::{BoltFrame, BoltVersion, BOLT_V2};
//!
//! // Build a v2 request with a CRC, as a SOFARPC client would send it.
//! let request = BoltFrame::request(BoltVersion::V2, 7)
//!     .ver1(2)
//!     .crc(true)
//!     .timeout(3000)
//!     .class_name("com.alipay.sofa.rpc.core.request.SofaRequest")
//!     .header("service", "com.example.HelloService:1.0")
//!     .header("sofa_head_method_name", "sayHello")
//!     .content(&b"hessian2 body"[..])
//!     .build()?;
//!
//! let mut codec = BOLT_V2.codec(Limits::DEFAULT);
//! let mut wire = BytesMut::new();
//! codec.encode(&request, &mut wire)?;
//!
//! let mut frame = codec.decode(&mut wire)?.expect("a whole frame");
//! assert_eq!(frame.kind(), StreamKind::Request);
//! assert_eq!(frame.service(), Some("com.example.HelloService"));
//! assert_eq!(frame.version(), Some("1.0"));
//! assert_eq!(frame.method(), Some("sayHello"));
//! assert_eq!(frame.body().as_ref(), b"hessian2 body");
//!
//! // A proxy gives the upstream its own id: four bytes patched, the CRC updated.
//! frame.set_request_id(RequestId(42))?;
//! assert_eq!(frame.request_id(), RequestId(42));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

#[cfg(any(test, feature = "arbitrary"))]
pub mod arbitrary;
mod builder;
mod codec;
mod crc_patch;
mod frame;
mod header_edit;
pub mod header_map;
pub mod hessian;
pub mod layout;
mod protocol;
mod sofa_request;
mod status;

pub use builder::{BoltFrameBuilder, CODEC_HESSIAN2, CODEC_PROTOBUF, HEARTBEAT_TIMEOUT_MS};
pub use codec::BoltCodec;
pub use frame::{BoltFrame, HEADER_METHOD, HEADER_SERVICE, HEADER_TARGET_SERVICE};
pub use header_map::HeaderMap;
pub use layout::BoltVersion;
pub use protocol::{Bolt, BOLT_V1, BOLT_V2};
pub use status::{http_status, ResponseStatus};

#[cfg(test)]
mod tests;
