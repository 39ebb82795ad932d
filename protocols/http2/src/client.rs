//! The upstream side: an HTTP/2 client connection over an already-connected stream. One
//! connection multiplexes many requests; the gateway pools and retires these itself.

use std::error::Error as StdError;
use std::time::Duration;

use http_body::Body;
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;

/// Flow control, limits and keep-alive for an upstream HTTP/2 connection. `Default` gives
/// the values below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// SETTINGS_INITIAL_WINDOW_SIZE: response body bytes the upstream may send on a stream
    /// before we read them. Default 2 MiB (hyper's client default).
    pub initial_stream_window_size: u32,
    /// The connection-level receive window. Default 5 MiB (hyper's client default).
    pub initial_connection_window_size: u32,
    /// Grow the windows from measured bandwidth-delay instead (overrides the two above).
    /// Default `false`.
    pub adaptive_window: bool,
    /// SETTINGS_MAX_FRAME_SIZE we accept. Default 16 KiB.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we accept in responses. Default 16 KiB.
    pub max_header_list_size: u32,
    /// How many streams we open before the server's SETTINGS arrive; after that its
    /// SETTINGS_MAX_CONCURRENT_STREAMS rules, and requests beyond it wait in hyper for a
    /// free stream. Default 100 (hyper's default).
    pub initial_max_send_streams: usize,
    /// Send a PING this often to detect a dead upstream. `None` disables. Default 30 s.
    pub keep_alive_interval: Option<Duration>,
    /// Close the connection when a PING is not acknowledged within this. Default 20 s.
    pub keep_alive_timeout: Duration,
    /// PING also while no request is open (keeps pooled idle connections honest).
    /// Default `true`.
    pub keep_alive_while_idle: bool,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            initial_stream_window_size: 2 * 1024 * 1024,
            initial_connection_window_size: 5 * 1024 * 1024,
            adaptive_window: false,
            max_frame_size: 16 * 1024,
            max_header_list_size: 16 * 1024,
            initial_max_send_streams: 100,
            keep_alive_interval: Some(Duration::from_secs(30)),
            keep_alive_timeout: Duration::from_secs(20),
            keep_alive_while_idle: true,
        }
    }
}

/// The task driving a client connection: it ends when the connection closes (the peer
/// closed it or sent GOAWAY and the streams finished, or every `SendRequest` was dropped),
/// with hyper's error if it failed. Aborting it closes the connection.
pub type ConnectionTask = JoinHandle<Result<(), hyper::Error>>;

/// Performs the HTTP/2 client handshake on `io` (writes the preface and SETTINGS) and spawns
/// the connection driver on the current tokio runtime. The returned `SendRequest` is cheap
/// to clone and multiplexes requests; `is_closed()` tells when to drop it from a pool.
///
/// `B` must be `Unpin` because hyper's HTTP/2 client connection future requires it; a
/// `BoxBody` (or `Incoming`, forwarding a downstream body) is.
///
/// # Errors
/// hyper's error if the handshake fails.
///
/// # Panics
/// Outside a tokio runtime (the driver is spawned).
pub async fn handshake<I, B>(
    io: I,
    settings: &ClientSettings,
) -> Result<(SendRequest<B>, ConnectionTask), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .initial_stream_window_size(settings.initial_stream_window_size)
        .initial_connection_window_size(settings.initial_connection_window_size)
        .adaptive_window(settings.adaptive_window)
        .max_frame_size(settings.max_frame_size)
        .max_header_list_size(settings.max_header_list_size)
        .initial_max_send_streams(settings.initial_max_send_streams)
        .keep_alive_interval(settings.keep_alive_interval)
        .keep_alive_timeout(settings.keep_alive_timeout)
        .keep_alive_while_idle(settings.keep_alive_while_idle);
    let (sender, conn) = builder.handshake(TokioIo::new(io)).await?;
    let task = tokio::spawn(conn);
    Ok((sender, task))
}
