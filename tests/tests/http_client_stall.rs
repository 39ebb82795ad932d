//! A caller that stalls or abandons its HTTP upload is the caller's fault, not the upstream's:
//! it is answered `408 Request Timeout` (or, once it has hung up, nothing), recorded as a
//! `bad_request`, never as an upstream `timeout` or `upstream_reset`, and never reported to
//! the endpoint's passive health (which would eject a healthy backend).
//!
//! The upstream is a minimal in-process HTTP/1.1 server that answers `200 ok` once it has the
//! whole request body, so the only thing that can make a request fail here is the caller.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use xproxy::config::OutlierConfig;

/// Every test ends within this, whatever happens.
const TEST_LIMIT: Duration = Duration::from_secs(30);
/// The route's timeout: how long the gateway waits for a response head.
const ROUTE_TIMEOUT: Duration = Duration::from_millis(400);
/// The head of an upload that declares 1000 bytes.
const HEAD_1000: &[u8] = b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n";

/// An HTTP/1.1 server that reads each request whole (head, then `Content-Length` bytes) and
/// answers `200 ok`; a request whose body never completes is never answered.
async fn patient_upstream() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream));
        }
    });
    Ok(address)
}

async fn serve(mut stream: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // Wait for a whole head.
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        if stream.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// One virtual host sending everything to the patient upstream with [`ROUTE_TIMEOUT`].
fn config(upstream: SocketAddr) -> String {
    format!(
        "{HEAD}http:\n  limits: {{header_read_timeout: 5s}}\n  virtual_hosts:\n    - name: all\n      \
         domains: [\"*\"]\n      routes:\n        - name: up\n          \
         match: {{path: {{prefix: \"/\"}}}}\n          action: {{cluster: up}}\n          \
         timeout: {}ms\nclusters:\n{}",
        ROUTE_TIMEOUT.as_millis(),
        cluster("up", &[upstream], "http_protocol: http1"),
    )
}

/// A whole upload of 1000 bytes on a fresh connection; the response text.
async fn whole_upload(gateway: SocketAddr) -> Result<String> {
    let mut stream = TcpStream::connect(gateway).await?;
    let request = [HEAD_1000, &[b'x'; 1000][..]].concat();
    let request =
        String::from_utf8(request)?.replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await??;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_answered_408_and_not_counted_against_the_upstream() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let upstream = patient_upstream().await?;
        let gateway = gateway(&config(upstream)).await?;
        let addr = port(&gateway)?;

        // Content-Length 1000, then 10 bytes, then nothing (the connection stays open).
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(HEAD_1000).await?;
        stream.write_all(&[b'y'; 10]).await?;
        let started = Instant::now();
        let mut raw = Vec::new();
        timeout(Duration::from_secs(5), stream.read_to_end(&mut raw)).await??;
        let answer = String::from_utf8_lossy(&raw);
        let waited = started.elapsed();
        ensure!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
        ensure!(answer.to_ascii_lowercase().contains("connection: close"), "{answer:?}");
        ensure!(waited >= ROUTE_TIMEOUT - Duration::from_millis(50), "answered after {waited:?}");

        let metrics = admin_get(&gateway, "/metrics").await?;
        let errors = |class| errors_total(&metrics, "http1", "up", class);
        ensure!(errors("timeout") == 0.0, "counted as an upstream timeout:\n{metrics}");
        ensure!(errors("bad_request") == 1.0, "not counted as the caller's:\n{metrics}");
        ensure!(requests_total(&metrics, "http1", "up") == 1.0, "{metrics}");

        // The upstream is as healthy as before.
        let answer = whole_upload(addr).await?;
        ensure!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_hanging_up_mid_upload_do_not_eject_the_endpoint() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let upstream = patient_upstream().await?;
        let gateway = gateway(&config(upstream)).await?;
        let addr = port(&gateway)?;

        // More abandoned uploads than it takes failures in a row to eject an endpoint.
        for _ in 0..=OutlierConfig::default().consecutive_failures {
            let mut stream = TcpStream::connect(addr).await?;
            stream.write_all(HEAD_1000).await?;
            stream.write_all(&[b'y'; 10]).await?;
            // Long enough for the gateway to be streaming the body upstream.
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(stream);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;

        // The only endpoint still takes requests, and was never ejected.
        let answer = whole_upload(addr).await?;
        ensure!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
        let metrics = admin_get(&gateway, "/metrics").await?;
        let ejections = metric(&metrics, "xproxy_upstream_ejections_total", &[]);
        ensure!(ejections == 0.0, "the endpoint was ejected:\n{metrics}");
        let errors = |class| errors_total(&metrics, "http1", "up", class);
        ensure!(errors("upstream_reset") == 0.0, "counted as upstream resets:\n{metrics}");
        ensure!(errors("timeout") == 0.0, "counted as upstream timeouts:\n{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_http2_upload_gets_408_on_its_stream_only() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let upstream = patient_upstream().await?;
        let gateway = gateway(&config(upstream)).await?;
        let addr = port(&gateway)?;

        let (client, connection) = h2::client::handshake(TcpStream::connect(addr).await?).await?;
        tokio::spawn(connection);
        let mut client = client.ready().await?;
        let stalled =
            ::http::Request::post("http://x/upload").header("content-length", "1000").body(())?;
        let (response, mut body) = client.send_request(stalled, false)?;
        body.send_data(bytes::Bytes::from_static(&[b'y'; 10]), false)?;
        let response = timeout(Duration::from_secs(5), response).await??;
        ensure!(response.status() == 408, "{response:?}");

        // The same connection still serves a whole upload.
        let mut client = client.ready().await?;
        let whole =
            ::http::Request::post("http://x/upload").header("content-length", "1000").body(())?;
        let (response, mut body) = client.send_request(whole, false)?;
        body.send_data(bytes::Bytes::from_static(&[b'x'; 1000]), true)?;
        let response = timeout(Duration::from_secs(5), response).await??;
        ensure!(response.status() == 200, "{response:?}");

        let metrics = admin_get(&gateway, "/metrics").await?;
        let errors = |class| errors_total(&metrics, "http2", "up", class);
        ensure!(errors("timeout") == 0.0, "counted as an upstream timeout:\n{metrics}");
        ensure!(errors("bad_request") == 1.0, "not counted as the caller's:\n{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}
