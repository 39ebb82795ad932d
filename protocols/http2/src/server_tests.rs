//! What hyper actually does under [`ServerSettings`], established on real sockets with
//! hyper's client (through [`handshake`]) and with the h2 crate's client where the exact
//! frames matter (reset reasons, GOAWAY).

use std::convert::Infallible;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;
use crate::client::{handshake, ClientSettings};

const LIMIT: Duration = Duration::from_secs(5);

type BoxError = Box<dyn StdError + Send + Sync>;
type Body = BoxBody<Bytes, BoxError>;

/// Serves the first connection accepted on a fresh 127.0.0.1 port with `handler`.
async fn serve_at<F, Fut, E>(
    settings: ServerSettings,
    shutdown: CancellationToken,
    handler: F,
) -> (std::net::SocketAddr, JoinHandle<Result<(), ServeError>>)
where
    F: Fn(Request<Incoming>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Body>, E>> + Send + 'static,
    E: Into<BoxError>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (io, _) = listener.accept().await.unwrap();
        serve(io, service_fn(handler), &settings, shutdown.cancelled_owned()).await
    });
    (addr, server)
}

/// [`serve_at`], and a client socket connected to it.
async fn serve_one<F, Fut, E>(
    settings: ServerSettings,
    shutdown: CancellationToken,
    handler: F,
) -> (TcpStream, JoinHandle<Result<(), ServeError>>)
where
    F: Fn(Request<Incoming>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Response<Body>, E>> + Send + 'static,
    E: Into<BoxError>,
{
    let (addr, server) = serve_at(settings, shutdown, handler).await;
    (TcpStream::connect(addr).await.unwrap(), server)
}

fn full(text: &'static str) -> Body {
    Full::new(Bytes::from_static(text.as_bytes())).map_err(|e: Infallible| match e {}).boxed()
}

/// A response body that sends `first`, then fails with `error`.
fn failing_body(first: &'static str, error: BoxError) -> Body {
    let (mut tx, body) = Channel::<Bytes, BoxError>::new(1);
    tokio::spawn(async move {
        let _ = tx.send_data(Bytes::from_static(first.as_bytes())).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        tx.abort(error);
    });
    body.boxed()
}

async fn result(server: JoinHandle<Result<(), ServeError>>) -> Result<(), ServeError> {
    timeout(LIMIT, server).await.unwrap().unwrap()
}

/// An h2-crate client on `io`, its connection driven in the background.
async fn h2_client(io: TcpStream) -> h2::client::SendRequest<Bytes> {
    let (sender, conn) = timeout(LIMIT, h2::client::handshake(io)).await.unwrap().unwrap();
    tokio::spawn(conn);
    sender
}

/// Sends a GET on `sender` and returns the response head and body (stream errors raw).
async fn h2_get(
    sender: &mut h2::client::SendRequest<Bytes>,
) -> Result<http::Response<h2::RecvStream>, h2::Error> {
    let req = Request::get("http://x/").body(()).unwrap();
    let (resp, _) = sender.clone().ready().await?.send_request(req, true)?;
    timeout(LIMIT, resp).await.unwrap()
}

#[tokio::test]
async fn many_concurrent_streams_share_one_connection() {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (now.clone(), peak.clone());
    let (io, _server) =
        serve_one(ServerSettings::default(), CancellationToken::new(), move |req| {
            let (n, p) = (n.clone(), p.clone());
            async move {
                p.fetch_max(n.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
                n.fetch_sub(1, Ordering::SeqCst);
                let path = req.uri().path().to_owned();
                Ok::<_, Infallible>(Response::new(Full::from(path).map_err(|e| match e {}).boxed()))
            }
        })
        .await;
    let (sender, _conn) =
        handshake::<_, Empty<Bytes>>(io, &ClientSettings::default()).await.unwrap();
    let started = Instant::now();
    let requests = (0..100).map(|i| {
        let mut sender = sender.clone();
        tokio::spawn(async move {
            let req = Request::get(format!("http://x/{i}")).body(Empty::new()).unwrap();
            let resp = sender.send_request(req).await.unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body, format!("/{i}"));
        })
    });
    for r in requests.collect::<Vec<_>>() {
        timeout(LIMIT, r).await.unwrap().unwrap();
    }
    // 100 requests of 200 ms each: one after another would take 20 s.
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(peak.load(Ordering::SeqCst), 100);
}

#[tokio::test]
async fn response_trailers_reach_the_client() {
    let (io, _server) =
        serve_one(ServerSettings::default(), CancellationToken::new(), |_req| async {
            let (mut tx, body) = Channel::<Bytes, BoxError>::new(2);
            tokio::spawn(async move {
                tx.send_data(Bytes::from_static(b"payload")).await.unwrap();
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", "0".parse().unwrap());
                trailers.insert("grpc-message", "ok".parse().unwrap());
                tx.send_trailers(trailers).await.unwrap();
            });
            Ok::<_, Infallible>(Response::new(body.boxed()))
        })
        .await;
    let (mut sender, _conn) =
        handshake::<_, Empty<Bytes>>(io, &ClientSettings::default()).await.unwrap();
    let resp =
        sender.send_request(Request::get("http://x/").body(Empty::new()).unwrap()).await.unwrap();
    let collected = timeout(LIMIT, resp.into_body().collect()).await.unwrap().unwrap();
    let trailers = collected.trailers().cloned().expect("trailers arrive");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["grpc-message"], "ok");
    assert_eq!(collected.to_bytes(), "payload");
}

#[tokio::test]
async fn max_concurrent_streams_is_announced_and_never_exceeded() {
    let settings = ServerSettings { max_concurrent_streams: Some(2), ..ServerSettings::default() };
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (n, p) = (now.clone(), peak.clone());
    let (io, _server) = serve_one(settings, CancellationToken::new(), move |_req| {
        let (n, p) = (n.clone(), p.clone());
        async move {
            p.fetch_max(n.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            n.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, Infallible>(Response::new(full("ok")))
        }
    })
    .await;
    let (mut sender, _conn) =
        handshake::<_, Empty<Bytes>>(io, &ClientSettings::default()).await.unwrap();
    // One request first, so the server's SETTINGS have been applied.
    sender.send_request(Request::get("http://x/").body(Empty::new()).unwrap()).await.unwrap();
    let requests: Vec<_> = (0..6)
        .map(|_| {
            let mut sender = sender.clone();
            tokio::spawn(async move {
                let req = Request::get("http://x/").body(Empty::new()).unwrap();
                sender.send_request(req).await.map(|r| r.status())
            })
        })
        .collect();
    for r in requests {
        assert_eq!(timeout(LIMIT, r).await.unwrap().unwrap().unwrap(), 200);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2, "the client queued the rest");
}

/// An error in the source chain of a body error, as a proxy would wrap an upstream's reset.
#[derive(Debug, thiserror::Error)]
#[error("upstream body failed")]
struct UpstreamFailed(#[source] h2::Error);

#[tokio::test]
async fn a_body_error_resets_the_stream_with_the_h2_reason_in_its_source_chain() {
    let cases: Vec<(fn() -> BoxError, h2::Reason)> = vec![
        (|| h2::Error::from(h2::Reason::REFUSED_STREAM).into(), h2::Reason::REFUSED_STREAM),
        (|| UpstreamFailed(h2::Error::from(h2::Reason::CANCEL)).into(), h2::Reason::CANCEL),
        (|| std::io::Error::other("no reason").into(), h2::Reason::INTERNAL_ERROR),
    ];
    for (error, expected) in cases {
        let (io, server) = serve_one(
            ServerSettings::default(),
            CancellationToken::new(),
            move |_req| async move {
                Ok::<_, Infallible>(Response::new(failing_body("partial", error())))
            },
        )
        .await;
        let mut sender = h2_client(io).await;
        let resp = h2_get(&mut sender).await.unwrap();
        assert_eq!(resp.status(), 200);
        let mut body = resp.into_body();
        let first = timeout(LIMIT, body.data()).await.unwrap().unwrap().unwrap();
        assert_eq!(first, "partial");
        let err = timeout(LIMIT, body.data()).await.unwrap().unwrap().unwrap_err();
        assert!(err.is_reset() && err.is_remote(), "{err:?}");
        assert_eq!(err.reason(), Some(expected), "{err:?}");
        // Only the stream: the connection still serves.
        assert_eq!(h2_get(&mut sender).await.unwrap().status(), 200);
        drop((sender, body));
        assert!(result(server).await.is_ok());
    }
}

#[tokio::test]
async fn a_service_error_resets_the_stream_with_the_h2_reason_in_its_source_chain() {
    let (io, _server) =
        serve_one(ServerSettings::default(), CancellationToken::new(), |_req| async {
            Err::<Response<Body>, _>(h2::Error::from(h2::Reason::REFUSED_STREAM))
        })
        .await;
    let mut sender = h2_client(io).await;
    let err = h2_get(&mut sender).await.unwrap_err();
    assert!(err.is_reset() && err.is_remote(), "{err:?}");
    assert_eq!(err.reason(), Some(h2::Reason::REFUSED_STREAM));
}

#[tokio::test]
async fn graceful_shutdown_sends_goaway_and_finishes_the_streams_in_flight() {
    let shutdown = CancellationToken::new();
    let (started_tx, mut started_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (io, server) = serve_one(ServerSettings::default(), shutdown.clone(), move |_req| {
        let started = started_tx.clone();
        async move {
            let _ = started.send(()).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            Ok::<_, Infallible>(Response::new(full("finished")))
        }
    })
    .await;
    let (sender, conn) = timeout(LIMIT, h2::client::handshake(io)).await.unwrap().unwrap();
    let conn = tokio::spawn(conn);
    let req = Request::get("http://x/").body(()).unwrap();
    let (resp, _) = sender.clone().ready().await.unwrap().send_request(req, true).unwrap();
    timeout(LIMIT, started_rx.recv()).await.unwrap().unwrap();
    shutdown.cancel();
    let resp = timeout(LIMIT, resp).await.unwrap().unwrap();
    let mut body = resp.into_body();
    assert_eq!(timeout(LIMIT, body.data()).await.unwrap().unwrap().unwrap(), "finished");
    // The client's connection ends cleanly (GOAWAY NO_ERROR), and so does the server's.
    assert!(timeout(LIMIT, conn).await.unwrap().unwrap().is_ok());
    assert!(result(server).await.is_ok());
    // No new stream is accepted after the GOAWAY.
    let again = sender.ready().await;
    assert!(again.is_err(), "a GOAWAY'd connection takes no new request");
}

#[tokio::test]
async fn a_peer_that_never_answers_pings_is_closed_by_the_keep_alive() {
    let settings = ServerSettings {
        keep_alive_interval: Some(Duration::from_millis(100)),
        keep_alive_timeout: Duration::from_millis(100),
        ..ServerSettings::default()
    };
    let (mut client, server) = serve_one(settings, CancellationToken::new(), |_req| async {
        Ok::<_, Infallible>(Response::new(full("")))
    })
    .await;
    // A preface and an empty SETTINGS, then silence (the socket is still read, so the
    // server's writes never block).
    client.write_all(crate::PREFACE).await.unwrap();
    client.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let started = Instant::now();
    let mut sink = Vec::new();
    timeout(LIMIT, client.read_to_end(&mut sink)).await.unwrap().unwrap();
    let err = result(server).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert!(err.hyper().is_timeout() && err.is_benign(), "{err}");
}

#[tokio::test]
async fn how_connections_end_is_classified_for_logging() {
    // Connect and close without a byte.
    let (client, server) =
        serve_one(ServerSettings::default(), CancellationToken::new(), |_req| async {
            Ok::<_, Infallible>(Response::new(full("")))
        })
        .await;
    drop(client);
    match result(server).await {
        Ok(()) => {}
        Err(e) => assert!(e.is_benign(), "closing before the preface: {e} / {:?}", e.h2()),
    }
    // HTTP/1.1 sent to the HTTP/2 server: a protocol error, not benign.
    let (mut client, server) =
        serve_one(ServerSettings::default(), CancellationToken::new(), |_req| async {
            Ok::<_, Infallible>(Response::new(full("")))
        })
        .await;
    client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let err = result(server).await.unwrap_err();
    assert!(!err.is_benign(), "{err} / {:?}", err.h2());
    assert_eq!(err.h2().and_then(h2::Error::reason), Some(h2::Reason::PROTOCOL_ERROR), "{err}");
    assert!(err.to_string().contains("protocol error"), "the display shows the cause: {err}");
    // A client that resets its TCP connection (RST, not FIN) with a stream open.
    let (addr, server) =
        serve_at(ServerSettings::default(), CancellationToken::new(), |_req| async {
            tokio::time::sleep(LIMIT).await;
            Ok::<_, Infallible>(Response::new(full("")))
        })
        .await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_zero_linger().unwrap();
    let io = socket.connect(addr).await.unwrap();
    let (sender, conn) = timeout(LIMIT, h2::client::handshake(io)).await.unwrap().unwrap();
    let conn = tokio::spawn(conn);
    let req = Request::get("http://x/").body(()).unwrap();
    let _pending = sender.ready().await.unwrap().send_request(req, true).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    conn.abort(); // drops the socket: with zero linger, the kernel sends RST
    match result(server).await {
        Ok(()) => {}
        Err(e) => assert!(e.is_benign(), "a peer reset: {e} / {:?}", e.h2()),
    }
}

/// Frames of an HTTP/2 byte stream as `(type, stream id, payload)`.
fn frames(mut bytes: &[u8]) -> Vec<(u8, u32, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 9 {
        let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        let id = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
        let Some(payload) = bytes.get(9..9 + len) else { break };
        out.push((bytes[3], id, payload.to_vec()));
        bytes = &bytes[9 + len..];
    }
    out
}

#[tokio::test]
async fn a_rapid_reset_flood_is_answered_with_goaway_enhance_your_calm() {
    let settings =
        ServerSettings { max_pending_accept_reset_streams: 5, ..ServerSettings::default() };
    let (mut client, server) = serve_one(settings, CancellationToken::new(), |_req| async {
        tokio::time::sleep(LIMIT).await;
        Ok::<_, Infallible>(Response::new(full("")))
    })
    .await;
    // Preface, empty SETTINGS, then 200 streams each opened (HEADERS: GET http /, HPACK
    // static-table indexes only) and at once reset (RST_STREAM CANCEL), in one write.
    let mut flood = crate::PREFACE.to_vec();
    flood.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    for i in 0..200u32 {
        let id = (2 * i + 1).to_be_bytes();
        flood.extend_from_slice(&[0, 0, 3, 1, 0x5, id[0], id[1], id[2], id[3], 0x82, 0x86, 0x84]);
        flood.extend_from_slice(&[0, 0, 4, 3, 0, id[0], id[1], id[2], id[3], 0, 0, 0, 0x8]);
    }
    let _ = client.write_all(&flood).await;
    let mut received = Vec::new();
    let _ = timeout(LIMIT, client.read_to_end(&mut received)).await.unwrap();
    let goaway = frames(&received).into_iter().find(|f| f.0 == 7).expect("a GOAWAY");
    let code = u32::from_be_bytes([goaway.2[4], goaway.2[5], goaway.2[6], goaway.2[7]]);
    assert_eq!(h2::Reason::from(code), h2::Reason::ENHANCE_YOUR_CALM);
    let err = result(server).await.unwrap_err();
    assert_eq!(err.h2().and_then(h2::Error::reason), Some(h2::Reason::ENHANCE_YOUR_CALM));
    assert!(!err.is_benign(), "{err}");
}
