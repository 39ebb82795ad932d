//! The one error a served or client HTTP/1.1 connection ends with, classified for logging.

use std::error::Error as StdError;
use std::io;

/// Why an HTTP/1.1 connection ended with an error. It wraps hyper's error, which says what
/// happened (`is_parse`, `is_timeout`, `is_incomplete_message`, ...), and adds
/// [`is_benign`](ServeError::is_benign) so a gateway can log the everyday ends of connections
/// at debug level and the rest at warn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// hyper reported the connection failed.
    #[error("HTTP/1.1 connection failed: {}", Chain(.0))]
    Hyper(#[from] hyper::Error),
}

impl ServeError {
    /// The hyper error underneath, for the finer `is_*` questions.
    pub fn hyper(&self) -> &hyper::Error {
        match self {
            ServeError::Hyper(e) => e,
        }
    }

    /// `true` for the normal ways a connection ends that say nothing about a fault of ours or
    /// an attack: the peer closed or reset the connection (even mid-message), the header read
    /// timeout fired (which is also how an idle keep-alive connection is closed), the peer went
    /// away while a response was being written. Malformed requests (`is_parse`), errors from
    /// the service or its body (`is_user`) and any other I/O error are not benign.
    pub fn is_benign(&self) -> bool {
        is_benign_hyper_error(self.hyper())
    }
}

/// [`ServeError::is_benign`] for a bare hyper error (e.g. from a client connection driver).
pub fn is_benign_hyper_error(e: &hyper::Error) -> bool {
    e.is_incomplete_message()
        || e.is_timeout()
        || e.is_canceled()
        || e.is_closed()
        || e.is_body_write_aborted()
        || io_error_in_chain(e).is_some_and(|io| is_peer_gone(io.kind()))
}

/// The first `io::Error` in the error's source chain.
fn io_error_in_chain<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a io::Error> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cause {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            return Some(io);
        }
        cause = err.source();
    }
    None
}

/// Displays an error and its sources, `: `-separated: hyper's own message is often just the
/// kind ("http2 error", "connection error"), the useful part is underneath.
struct Chain<'a>(&'a (dyn StdError + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(err) = cause {
            write!(f, ": {err}")?;
            cause = err.source();
        }
        Ok(())
    }
}

/// I/O error kinds that mean the peer is gone rather than that something is wrong.
fn is_peer_gone(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
            | io::ErrorKind::NotConnected
    )
}
