//! What hyper actually does under [`ServerSettings`], established on real sockets.

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;
use crate::client::{handshake, ClientSettings};

const LIMIT: Duration = Duration::from_secs(5);

type Reply = Result<Response<Full<Bytes>>, Infallible>;

/// Serves one accepted connection with `handler`; returns the client socket and the result.
async fn serve_one<F, Fut>(
    settings: ServerSettings,
    shutdown: CancellationToken,
    handler: F,
) -> (TcpStream, JoinHandle<Result<(), ServeError>>)
where
    F: Fn(Request<Incoming>) -> Fut + Send + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (io, _) = listener.accept().await.unwrap();
        serve(io, service_fn(handler), &settings, shutdown.cancelled_owned()).await
    });
    (TcpStream::connect(addr).await.unwrap(), server)
}

async fn hello(req: Request<Incoming>) -> Reply {
    Ok(Response::new(Full::new(Bytes::from(format!("hello {}", req.uri().path())))))
}

/// Echoes the request body (reading it is what makes hyper send `100 Continue`).
async fn echo(req: Request<Incoming>) -> Reply {
    let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
    Ok(Response::new(Full::new(body)))
}

/// Everything the server sends until it closes the connection.
async fn read_to_close(client: &mut TcpStream) -> String {
    let mut out = Vec::new();
    timeout(LIMIT, client.read_to_end(&mut out)).await.unwrap().unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads until `needle` has arrived.
async fn read_until(client: &mut TcpStream, needle: &str) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(needle) {
        let n = timeout(LIMIT, client.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "closed before {needle:?}: {:?}", String::from_utf8_lossy(&out));
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn result(server: JoinHandle<Result<(), ServeError>>) -> Result<(), ServeError> {
    timeout(LIMIT, server).await.unwrap().unwrap()
}

#[tokio::test]
async fn serves_several_requests_on_one_connection_through_the_client_helper() {
    let (io, server) = serve_one(ServerSettings::default(), CancellationToken::new(), hello).await;
    let (mut sender, conn) =
        handshake::<_, Empty<Bytes>>(io, &ClientSettings::default()).await.unwrap();
    for path in ["/a", "/b"] {
        sender.ready().await.unwrap();
        let req = Request::get(path).header("host", "x").body(Empty::new()).unwrap();
        let resp = timeout(LIMIT, sender.send_request(req)).await.unwrap().unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("hello {path}"));
    }
    drop(sender);
    timeout(LIMIT, conn).await.unwrap().unwrap().unwrap();
    assert!(result(server).await.is_ok(), "a client closing an idle connection is a clean end");
}

#[tokio::test]
async fn a_request_head_over_max_header_bytes_is_answered_431_and_closed() {
    for limit in [1024, 8192] {
        let settings = ServerSettings { max_header_bytes: limit, ..ServerSettings::default() };
        let (mut client, server) = serve_one(settings, CancellationToken::new(), hello).await;
        let big = "a".repeat(limit + 100);
        let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
        // The server may close before reading everything: a failed write is fine.
        let _ = client.write_all(request.as_bytes()).await;
        let answer = read_to_close(&mut client).await;
        assert!(answer.starts_with("HTTP/1.1 431 "), "limit {limit}: {answer:?}");
        let err = result(server).await.unwrap_err();
        assert!(err.hyper().is_parse_too_large(), "{err}");
        assert!(!err.is_benign());
    }
    // Just under the limit is served.
    let settings = ServerSettings { max_header_bytes: 8192, ..ServerSettings::default() };
    let (mut client, _server) = serve_one(settings, CancellationToken::new(), hello).await;
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(7000));
    client.write_all(request.as_bytes()).await.unwrap();
    assert!(read_until(&mut client, "hello /").await.starts_with("HTTP/1.1 200 "));
}

#[tokio::test]
async fn more_headers_than_max_headers_is_answered_431_and_closed() {
    let settings = ServerSettings { max_headers: 8, ..ServerSettings::default() };
    let (mut client, server) = serve_one(settings, CancellationToken::new(), hello).await;
    let mut request = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    for i in 0..20 {
        request.push_str(&format!("X-H{i}: v\r\n"));
    }
    request.push_str("\r\n");
    let _ = client.write_all(request.as_bytes()).await;
    let answer = read_to_close(&mut client).await;
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer:?}");
    assert!(result(server).await.unwrap_err().hyper().is_parse_too_large());
}

#[tokio::test]
async fn expect_100_continue_is_answered_only_when_the_service_reads_the_body() {
    let (mut client, _server) =
        serve_one(ServerSettings::default(), CancellationToken::new(), echo).await;
    let head = "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
    client.write_all(head.as_bytes()).await.unwrap();
    let interim = read_until(&mut client, "\r\n\r\n").await;
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    client.write_all(b"hello").await.unwrap();
    let answer = read_until(&mut client, "\r\n\r\nhello").await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");

    // A service that answers without touching the body: no 100, the final answer at once.
    let (mut client, _server) =
        serve_one(ServerSettings::default(), CancellationToken::new(), hello).await;
    client.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until(&mut client, "hello /e").await;
    assert!(answer.starts_with("HTTP/1.1 200 "), "{answer:?}");
    assert!(!answer.contains("100 Continue"), "{answer:?}");
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_closed_without_a_response() {
    let settings = ServerSettings {
        header_read_timeout: Some(Duration::from_millis(300)),
        ..ServerSettings::default()
    };
    let (mut client, server) = serve_one(settings, CancellationToken::new(), hello).await;
    let started = Instant::now();
    client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buf = [0u8; 256];
    let received = loop {
        // One header line every 50 ms: progress, but never the end of the head.
        if client.write_all(b"X-Slow: yes\r\n").await.is_err() {
            break 0;
        }
        match timeout(Duration::from_millis(50), client.read(&mut buf)).await {
            Ok(Ok(n)) => break n,
            Ok(Err(_)) => break 0,
            Err(_) => assert!(started.elapsed() < LIMIT, "never closed"),
        }
    };
    let elapsed = started.elapsed();
    assert_eq!(received, 0, "hyper closes without answering: {:?}", &buf[..received]);
    assert!(
        elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    let err = result(server).await.unwrap_err();
    assert!(err.hyper().is_timeout(), "{err}");
    assert!(err.is_benign());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_read_timeout() {
    let settings = ServerSettings {
        header_read_timeout: Some(Duration::from_millis(300)),
        ..ServerSettings::default()
    };
    let (mut client, server) = serve_one(settings, CancellationToken::new(), hello).await;
    client.write_all(b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    read_until(&mut client, "hello /1").await;
    let idle_from = Instant::now();
    let rest = read_to_close(&mut client).await;
    let idle = idle_from.elapsed();
    assert_eq!(rest, "", "closed silently");
    assert!(idle >= Duration::from_millis(250) && idle < Duration::from_secs(2), "{idle:?}");
    let err = result(server).await.unwrap_err();
    assert!(err.hyper().is_timeout() && err.is_benign(), "{err}");
}

#[tokio::test]
async fn a_fresh_connection_that_sends_nothing_is_closed_after_the_header_read_timeout() {
    let settings = ServerSettings {
        header_read_timeout: Some(Duration::from_millis(200)),
        ..ServerSettings::default()
    };
    let (mut client, server) = serve_one(settings, CancellationToken::new(), hello).await;
    assert_eq!(read_to_close(&mut client).await, "");
    assert!(result(server).await.unwrap_err().hyper().is_timeout());
}

#[tokio::test]
async fn without_keep_alive_the_connection_closes_after_one_response() {
    let settings = ServerSettings { keep_alive: false, ..ServerSettings::default() };
    let (mut client, server) = serve_one(settings, CancellationToken::new(), hello).await;
    client.write_all(b"GET /only HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let answer = read_to_close(&mut client).await.to_ascii_lowercase();
    assert!(answer.contains("connection: close") && answer.ends_with("hello /only"), "{answer:?}");
    assert!(result(server).await.is_ok());
}

#[tokio::test]
async fn a_peer_closing_mid_request_is_a_benign_error() {
    let (mut client, server) =
        serve_one(ServerSettings::default(), CancellationToken::new(), hello).await;
    client.write_all(b"GET / HTTP/1.1\r\nHost:").await.unwrap();
    drop(client);
    let err = result(server).await.unwrap_err();
    assert!(err.hyper().is_incomplete_message() && err.is_benign(), "{err}");
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight_then_closes() {
    let shutdown = CancellationToken::new();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started_tx = std::sync::Mutex::new(Some(started_tx));
    let (mut client, server) =
        serve_one(ServerSettings::default(), shutdown.clone(), move |_req| {
            let started = started_tx.lock().unwrap().take();
            async move {
                if let Some(tx) = started {
                    let _ = tx.send(());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok(Response::new(Full::new(Bytes::from_static(b"finished"))))
            }
        })
        .await;
    client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    timeout(LIMIT, started_rx).await.unwrap().unwrap();
    shutdown.cancel();
    let answer = read_to_close(&mut client).await.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200 ") && answer.ends_with("finished"), "{answer:?}");
    assert!(answer.contains("connection: close"), "{answer:?}");
    assert!(result(server).await.is_ok());
}

#[tokio::test]
async fn graceful_shutdown_of_an_idle_connection_closes_it_at_once() {
    let shutdown = CancellationToken::new();
    let (mut client, server) = serve_one(ServerSettings::default(), shutdown.clone(), hello).await;
    client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    read_until(&mut client, "hello /").await;
    shutdown.cancel();
    assert_eq!(read_to_close(&mut client).await, "");
    assert!(result(server).await.is_ok());
}

#[tokio::test]
async fn an_upgrade_hands_both_connections_over_to_the_service() {
    let (io, server) =
        serve_one(ServerSettings::default(), CancellationToken::new(), |req| async move {
            // The server side: answer 101, then echo on the upgraded stream, upper-cased.
            tokio::spawn(async move {
                let upgraded = hyper::upgrade::on(req).await.unwrap();
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 64];
                let n = io.read(&mut buf).await.unwrap();
                io.write_all(&buf[..n].to_ascii_uppercase()).await.unwrap();
                io.shutdown().await.unwrap();
            });
            let resp = Response::builder()
                .status(101)
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .body(Full::default())
                .unwrap();
            Ok(resp)
        })
        .await;
    let (mut sender, _conn) =
        handshake::<_, Empty<Bytes>>(io, &ClientSettings::default()).await.unwrap();
    let req = Request::get("/ws")
        .header("host", "x")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .body(Empty::new())
        .unwrap();
    let resp = timeout(LIMIT, sender.send_request(req)).await.unwrap().unwrap();
    assert_eq!(resp.status(), 101);
    let upgraded = timeout(LIMIT, hyper::upgrade::on(resp)).await.unwrap().unwrap();
    let mut io = TokioIo::new(upgraded);
    io.write_all(b"ping frame").await.unwrap();
    let mut echoed = Vec::new();
    timeout(LIMIT, io.read_to_end(&mut echoed)).await.unwrap().unwrap();
    assert_eq!(echoed, b"PING FRAME");
    assert!(result(server).await.is_ok(), "serve returns once the upgrade is handed over");
}
