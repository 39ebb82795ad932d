//! Serving one detected HTTP/1.1 connection with hyper.

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::ServeError;

/// The smallest read buffer hyper accepts (`max_buf_size` panics below it).
pub const MIN_BUF_SIZE: usize = 8192;

/// Limits and timeouts for a served HTTP/1.1 connection. `Default` gives the values below;
/// every field is public so a gateway fills it from its configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// The most bytes of request line plus headers; larger heads are answered
    /// `431 Request Header Fields Too Large` and the connection is closed. Also bounds chunked
    /// trailers. hyper's read buffer is sized to this but never below [`MIN_BUF_SIZE`] (a
    /// smaller limit is still enforced, through hyper's `max_header_size`). Default 64 KiB.
    pub max_header_bytes: usize,
    /// The most header fields in a request; more are answered `431` and the connection is
    /// closed. Default 100 (hyper's own default, with headers parsed on the stack).
    pub max_headers: usize,
    /// How long a client may take to send a whole request head, counted from when hyper
    /// starts waiting for it: a client that trickles its headers (slowloris) is closed when it
    /// runs out, with no response. hyper starts the same clock when a keep-alive connection
    /// goes idle after a response, so this is also the idle keep-alive timeout (hyper has no
    /// separate one). `None` disables both (not recommended on a public port). Default 10 s.
    pub header_read_timeout: Option<Duration>,
    /// Whether a connection may carry more than one request. With `false`, hyper answers
    /// with `connection: close` and closes after the first response. Default `true`.
    pub keep_alive: bool,
    /// Whether a client that shuts down its write half after the request still gets its
    /// response (otherwise hyper treats the EOF as the connection's end). Default `false`.
    pub half_close: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            header_read_timeout: Some(Duration::from_secs(10)),
            keep_alive: true,
            half_close: false,
        }
    }
}

impl ServerSettings {
    /// The hyper builder these settings describe (with tokio's timer, which the timeouts need).
    fn builder(&self) -> hyper::server::conn::http1::Builder {
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .max_buf_size(self.max_header_bytes.max(MIN_BUF_SIZE))
            .max_header_size(self.max_header_bytes)
            .max_headers(self.max_headers)
            .header_read_timeout(self.header_read_timeout)
            .keep_alive(self.keep_alive)
            .half_close(self.half_close);
        builder
    }
}

/// Serves HTTP/1.1 requests on `io` with `service` until the connection ends.
///
/// Upgrades are enabled: when the service answers `101 Switching Protocols` to a request it
/// took `hyper::upgrade::on` of (WebSocket), hyper hands the connection to that upgrade and
/// this function returns `Ok(())`; the upgraded stream then lives wherever the service sent it.
///
/// When `shutdown` completes (a `CancellationToken`'s `cancelled_owned()`, or any future that
/// decides when this connection should go) hyper shuts down gracefully: an idle connection closes at
/// once; a request in flight is finished and its response sent with keep-alive disabled, then
/// the connection closes. This function returns when the connection has ended. Dropping the
/// future closes the connection at once, so bound the drain with a timeout around the call.
///
/// # Errors
/// A [`ServeError`] when hyper reports one: a malformed request (after it answered `400` or
/// `431`), the header read timeout, the peer closing mid-request, an I/O error, or an error
/// from the service or a response body. A client that closes an idle connection is `Ok(())`.
pub async fn serve<I, S, B>(
    io: I,
    service: S,
    settings: &ServerSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let builder = settings.builder();
    let conn = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        biased;
        result = conn.as_mut() => return result.map_err(ServeError::from),
        () = shutdown => {}
    }
    tracing::debug!("http1: graceful shutdown of a connection");
    conn.as_mut().graceful_shutdown();
    conn.await.map_err(ServeError::from)
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
