//! The one error a served HTTP/2 connection ends with, classified for logging.

use std::error::Error as StdError;
use std::io;

/// Why an HTTP/2 connection ended with an error. It wraps hyper's error (whose source chain
/// holds the `h2::Error`, with its GOAWAY reason, when there is one) and adds
/// [`is_benign`](ServeError::is_benign) so a gateway can log the everyday ends of
/// connections at debug level and the rest at warn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// hyper reported the connection failed.
    #[error("HTTP/2 connection failed: {}", Chain(.0))]
    Hyper(#[from] hyper::Error),
}

impl ServeError {
    /// The hyper error underneath.
    pub fn hyper(&self) -> &hyper::Error {
        match self {
            ServeError::Hyper(e) => e,
        }
    }

    /// The `h2::Error` in the source chain, if any: its `reason()` is the GOAWAY code, its
    /// `is_remote()` says who sent it.
    pub fn h2(&self) -> Option<&h2::Error> {
        find_in_chain::<h2::Error>(self.hyper())
    }

    /// `true` for the normal ways a connection ends: the peer closed or reset the socket, a
    /// GOAWAY with `NO_ERROR` either way, the keep-alive PING went unanswered (a dead peer).
    /// Protocol errors (a GOAWAY with another reason, e.g. `ENHANCE_YOUR_CALM` after too many
    /// resets, or `PROTOCOL_ERROR`) and other I/O errors are not.
    pub fn is_benign(&self) -> bool {
        is_benign_hyper_error(self.hyper())
    }
}

/// [`ServeError::is_benign`] for a bare hyper error (e.g. from a client connection driver).
pub fn is_benign_hyper_error(e: &hyper::Error) -> bool {
    if e.is_timeout() || e.is_canceled() || e.is_closed() {
        return true;
    }
    if let Some(h2) = find_in_chain::<h2::Error>(e) {
        if h2.is_go_away() && h2.reason() == Some(h2::Reason::NO_ERROR) {
            return true;
        }
        if let Some(io) = h2.get_io() {
            return is_peer_gone(io.kind());
        }
    }
    find_in_chain::<io::Error>(e).is_some_and(|io| is_peer_gone(io.kind()))
}

/// The first error of type `E` in the source chain of `e` (`e` included).
fn find_in_chain<'a, E: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut cause: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cause {
        if let Some(found) = err.downcast_ref::<E>() {
            return Some(found);
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
