//! Serving one detected HTTP/2 connection with hyper (h2 underneath).

use std::error::Error as StdError;
use std::future::Future;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use hyper::body::Incoming;
use hyper::service::Service;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::ServeError;

/// Limits, flow control and keep-alive for a served HTTP/2 connection. `Default` gives the
/// values below; every field is public so a gateway fills it from its configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSettings {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: how many requests a client may have open at once;
    /// a stream beyond it is refused (RST_STREAM `REFUSED_STREAM`). `None` leaves it
    /// unlimited (not advised). Default 1024.
    pub max_concurrent_streams: Option<u32>,
    /// SETTINGS_INITIAL_WINDOW_SIZE: bytes of request body a client may send on one stream
    /// before the service reads them. Default 1 MiB (hyper's default).
    pub initial_stream_window_size: u32,
    /// The connection-level window: request body bytes in flight across all streams.
    /// Default 1 MiB (hyper's default).
    pub initial_connection_window_size: u32,
    /// Let hyper grow both windows from measured bandwidth-delay (BDP pings). When `true`,
    /// the two window sizes above are ignored (hyper starts at 64 KiB and adapts).
    /// Default `false`.
    pub adaptive_window: bool,
    /// SETTINGS_MAX_FRAME_SIZE: the largest frame payload the client may send, 16 KiB to
    /// 16 MiB − 1. Default 16 KiB (the protocol's default).
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE: the largest decoded header list of a request; larger
    /// requests are refused. Default 16 KiB (hyper's default).
    pub max_header_list_size: u32,
    /// Send a PING this often (whether or not streams are open) to detect a dead peer.
    /// `None` disables. Default 60 s.
    pub keep_alive_interval: Option<Duration>,
    /// Close the connection when a keep-alive PING is not acknowledged within this.
    /// Default 20 s (hyper's default).
    pub keep_alive_timeout: Duration,
    /// Rapid-reset protection (CVE-2023-44487): how many streams the client may open and
    /// reset before the service accepted them, at once, before the connection is closed with
    /// GOAWAY `ENHANCE_YOUR_CALM`. Default 20 (h2's default).
    pub max_pending_accept_reset_streams: usize,
    /// Protection against a client that makes the server reset streams (RUSTSEC-2024-0003):
    /// how many locally reset streams are allowed before GOAWAY. Default 1024 (hyper's).
    pub max_local_error_reset_streams: usize,
    /// Bytes hyper buffers per stream when sending response bodies. Default 400 KiB
    /// (hyper's default).
    pub max_send_buf_size: usize,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): allow extended CONNECT, which carries
    /// WebSocket over HTTP/2. Default `false`.
    pub enable_connect_protocol: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_concurrent_streams: Some(1024),
            initial_stream_window_size: 1024 * 1024,
            initial_connection_window_size: 1024 * 1024,
            adaptive_window: false,
            max_frame_size: 16 * 1024,
            max_header_list_size: 16 * 1024,
            keep_alive_interval: Some(Duration::from_secs(60)),
            keep_alive_timeout: Duration::from_secs(20),
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 1024,
            max_send_buf_size: 400 * 1024,
            enable_connect_protocol: false,
        }
    }
}

impl ServerSettings {
    /// The hyper builder these settings describe (tokio executor for the per-stream tasks,
    /// tokio timer for the keep-alive).
    fn builder(&self) -> hyper::server::conn::http2::Builder<TokioExecutor> {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.max_concurrent_streams)
            .initial_stream_window_size(self.initial_stream_window_size)
            .initial_connection_window_size(self.initial_connection_window_size)
            // After the window sizes: enabling it overrides them.
            .adaptive_window(self.adaptive_window)
            .max_frame_size(self.max_frame_size)
            .max_header_list_size(self.max_header_list_size)
            .keep_alive_interval(self.keep_alive_interval)
            .keep_alive_timeout(self.keep_alive_timeout)
            .max_pending_accept_reset_streams(self.max_pending_accept_reset_streams)
            .max_local_error_reset_streams(self.max_local_error_reset_streams)
            .max_send_buf_size(self.max_send_buf_size);
        if self.enable_connect_protocol {
            builder.enable_connect_protocol();
        }
        builder
    }
}

/// Serves HTTP/2 on `io` (which starts with the client preface: pass the sniffed bytes
/// along) with `service`, one tokio task per stream, until the connection ends.
///
/// When a response body yields an error, hyper resets that stream only: with the reason of
/// the first `h2::Error` in the error's source chain (so a proxy can pass an upstream's
/// `RST_STREAM` reason through, or send `h2::Error::from(h2::Reason::CANCEL)`), else
/// `INTERNAL_ERROR`. An error returned by the service itself is mapped the same way.
///
/// When `shutdown` completes (a `CancellationToken`'s `cancelled_owned()`, or any future that
/// decides when this connection should go) hyper shuts down gracefully: it sends GOAWAY (no new streams),
/// lets the open streams finish, then closes. This function returns when the connection has
/// ended. Dropping the future closes the connection at once, so bound the drain with a
/// timeout around the call.
///
/// # Errors
/// A [`ServeError`] when hyper reports one: a protocol error, an unanswered keep-alive PING,
/// an I/O error. See [`ServeError::is_benign`].
pub async fn serve<I, S, B>(
    io: I,
    service: S,
    settings: &ServerSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<Incoming>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let builder = settings.builder();
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        biased;
        result = conn.as_mut() => return result.map_err(ServeError::from),
        () = shutdown => {}
    }
    tracing::debug!("http2: graceful shutdown of a connection");
    conn.as_mut().graceful_shutdown();
    conn.await.map_err(ServeError::from)
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
