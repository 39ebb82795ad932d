//! HTTP/1.1 and HTTP/2 connections served from fuzzed bytes.
//!
//! The HTTP crates parse nothing themselves (hyper and h2 do), but what they configure and
//! wrap is a decoder as far as an attacker is concerned: a connection's bytes go in, and
//! whatever they are, serving must end with a response, an error or a close, never a panic
//! or a hang. Each input is one client's whole side of a connection, delivered in reads of a
//! size that varies with the input, then end of stream; what the server writes is dropped.
//! The clock is paused and advances only when every task waits, so a serve that would wait
//! for ever shows as the time limit passing at once, and is reported as a hang.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longer than any timeout the servers arm (paused time makes waiting it out free).
const HANG_LIMIT: Duration = Duration::from_secs(3600);

/// The most request body the service reads before answering 413.
const BODY_LIMIT: usize = 1024;

/// One client's bytes, then end of stream; writes are accepted and dropped.
struct Script {
    input: Bytes,
    chunk: usize,
}

impl Script {
    fn new(data: &[u8]) -> Self {
        // Reads of 1 to 97 bytes, set by the input's length: requests cut at every point.
        Script { input: Bytes::copy_from_slice(data), chunk: 1 + data.len() % 97 }
    }
}

impl AsyncRead for Script {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.input.len().min(self.chunk).min(buf.remaining());
        let piece = self.input.split_to(n);
        buf.put_slice(&piece);
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Script {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Reads the whole request body (at most [`BODY_LIMIT`]) and answers 200, or 413 when the
/// body is too long or fails.
async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let read = Limited::new(request.into_body(), BODY_LIMIT).collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
    if read.is_err() {
        *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
    }
    Ok(response)
}

/// Runs `serve` on a single-threaded runtime with the clock paused, and fails on a hang.
fn run_bounded<F: std::future::Future>(serve: F) -> F::Output {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build();
    let Ok(runtime) = runtime else { panic!("cannot build a runtime") };
    match runtime.block_on(async { tokio::time::timeout(HANG_LIMIT, serve).await }) {
        Ok(output) => output,
        Err(_) => panic!("serving the connection never ended"),
    }
}

/// An HTTP/1.1 connection as xproxy serves one, with small limits so that the 431 and
/// header-count paths are reached.
pub fn http1_serve(data: &[u8]) {
    let settings = xprotocol_http1::ServerSettings {
        max_header_bytes: 4096,
        max_headers: 16,
        ..xprotocol_http1::ServerSettings::default()
    };
    let served = run_bounded(xprotocol_http1::serve(
        Script::new(data),
        service_fn(answer),
        &settings,
        std::future::pending(),
    ));
    if let Err(error) = served {
        // The gateway sorts errors this way to choose its log level; it must hold for any.
        let _ = (error.is_benign(), error.to_string());
    }
}

/// An HTTP/2 prior-knowledge connection as xproxy serves one, with few concurrent streams.
pub fn http2_serve(data: &[u8]) {
    let settings = xprotocol_http2::ServerSettings {
        max_concurrent_streams: Some(8),
        ..xprotocol_http2::ServerSettings::default()
    };
    let served = run_bounded(xprotocol_http2::serve(
        Script::new(data),
        service_fn(answer),
        &settings,
        std::future::pending(),
    ));
    if let Err(error) = served {
        let _ = (error.is_benign(), error.to_string());
    }
}
