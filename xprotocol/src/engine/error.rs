//! The engine's errors: per call ([`CallError`]) and per served connection ([`EngineError`]).

use std::io;

use crate::{DecodeError, EncodeError};

/// Why a call (or a one-way send) failed. Cloneable so that one connection failure can be
/// handed to every call that was in flight on it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// No reply within the call's timeout. The request may still reach the peer and be
    /// executed; its late reply is dropped.
    #[error("no reply within the request timeout")]
    Timeout,
    /// The connection is closed, or closed before the reply came (peer closed, heartbeats
    /// missed, drain timeout passed). Whether the peer executed the request is unknown.
    #[error("connection closed")]
    Closed,
    /// The connection is draining (after [`Client::close`](super::Client::close) or the
    /// peer's go-away): it takes no new calls. Retry on another connection; the request was
    /// not sent.
    #[error("connection is draining and takes no new calls")]
    Draining,
    /// [`EngineConfig::max_in_flight`](super::EngineConfig::max_in_flight) calls are already
    /// in flight; the request was not sent.
    #[error("too many calls in flight on this connection")]
    Overloaded,
    /// The peer sent bytes that are not a valid frame; the connection was closed.
    #[error("decode error: {0}")]
    Decode(DecodeError),
    /// The request could not be encoded (or its id set); it was not sent.
    #[error("encode error: {0}")]
    Encode(EncodeError),
    /// The socket failed; the connection was closed.
    #[error("i/o error ({kind}): {message}")]
    Io {
        /// The error's kind.
        kind: io::ErrorKind,
        /// The error's text.
        message: String,
    },
}

impl From<EncodeError> for CallError {
    fn from(e: EncodeError) -> Self {
        CallError::Encode(e)
    }
}

impl From<&io::Error> for CallError {
    fn from(e: &io::Error) -> Self {
        CallError::Io { kind: e.kind(), message: e.to_string() }
    }
}

/// Why a connection ended abnormally.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The peer sent bytes that are not a valid frame; the connection was closed.
    #[error("decode error: {0}")]
    Decode(#[from] DecodeError),
    /// A frame could not be written.
    #[error("encode error: {0}")]
    Encode(#[from] EncodeError),
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// A frame's first bytes arrived but the rest did not within
    /// [`EngineConfig::frame_timeout`](super::EngineConfig::frame_timeout) (a peer stalling
    /// mid-frame); the connection was closed.
    #[error("frame not completed within {0:?}")]
    FrameTimeout(std::time::Duration),
    /// The protocol owns its connections (HTTP): it is served by its own server, not by the
    /// frame engine.
    #[error("protocol {0:?} serves its own connections and has no frame relay")]
    OwnsConnection(&'static str),
}
