//! The upstream side: an HTTP/1.1 client connection over an already-connected stream. The
//! gateway dials, pools and retires these itself; this only sets one up.

use std::error::Error as StdError;

use http_body::Body;
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinHandle;

/// Limits for an upstream HTTP/1.1 connection. `Default` gives the values below.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// hyper's read and write buffer bound; a response head larger than this fails the
    /// request with a parse error. At least [`MIN_BUF_SIZE`](crate::server::MIN_BUF_SIZE)
    /// (smaller values are raised to it). Default 400 KiB (hyper's own default).
    pub max_buf_size: usize,
    /// The most header fields in a response. Default 100 (hyper's default).
    pub max_headers: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings { max_buf_size: 400 * 1024, max_headers: 100 }
    }
}

/// The task driving a client connection: it ends when the connection closes (the peer
/// closed it, or every `SendRequest` was dropped), with hyper's error if it failed. Aborting
/// it closes the connection.
pub type ConnectionTask = JoinHandle<Result<(), hyper::Error>>;

/// Starts an HTTP/1.1 client connection on `io` (no bytes are exchanged yet) and spawns its
/// driver on the current tokio runtime, with upgrades enabled so a `101` response can be
/// taken over with `hyper::upgrade::on`. Send one request at a time on the returned
/// `SendRequest` (`ready().await` first); it is closed when the driver ends.
///
/// # Errors
/// hyper's error if the connection cannot be set up.
///
/// # Panics
/// Outside a tokio runtime (the driver is spawned).
pub async fn handshake<I, B>(
    io: I,
    settings: &ClientSettings,
) -> Result<(SendRequest<B>, ConnectionTask), hyper::Error>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let (sender, conn) = Builder::new()
        .max_buf_size(settings.max_buf_size.max(crate::server::MIN_BUF_SIZE))
        .max_headers(settings.max_headers)
        .handshake(TokioIo::new(io))
        .await?;
    let task = tokio::spawn(conn.with_upgrades());
    Ok((sender, task))
}
