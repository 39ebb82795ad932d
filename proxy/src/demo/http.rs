//! The HTTP half of `xproxy demo`: small HTTP/1.1 and HTTP/2 backends (the HTTP/2 one also
//! answers gRPC), routes for them, and HTTP/1.1, HTTP/2 and gRPC requests sent through the
//! same gateway port as the RPC protocols, including the failures a gateway answers itself.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, StreamExt};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use xprotocol_grpc::{Code, MessageDecoder};

use super::Row;
use crate::config::{ClusterConfig, Config, HttpConfig};
use crate::http::body::{self, ProxyBody};

/// The gRPC service the demo backend implements.
const GRPC_SERVICE: &str = "demo.Echo";
/// How long the backend holds `/demo.Echo/Slow` calls.
const SLOW_DELAY: Duration = Duration::from_millis(600);

/// The two HTTP backends, stopped when dropped.
pub struct Backends {
    /// The HTTP/1.1 backend.
    pub http1: SocketAddr,
    /// The HTTP/2 (and gRPC) backend.
    pub http2: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Backends {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Starts both backends on 127.0.0.1.
pub async fn start_backends() -> anyhow::Result<Backends> {
    let stop = CancellationToken::new();
    let http1 = spawn_backend(false, stop.clone()).await?;
    let http2 = spawn_backend(true, stop.clone()).await?;
    Ok(Backends { http1, http2, stop })
}

async fn spawn_backend(h2: bool, stop: CancellationToken) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = stop.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _)) = accepted else { continue };
            let stop = stop.clone();
            let service = hyper::service::service_fn(backend);
            tokio::spawn(async move {
                let _ = if h2 {
                    let settings = xprotocol_http2::ServerSettings::default();
                    xprotocol_http2::serve(stream, service, &settings, stop.cancelled_owned())
                        .await
                        .map_err(drop)
                } else {
                    let settings = xprotocol_http1::ServerSettings::default();
                    xprotocol_http1::serve(stream, service, &settings, stop.cancelled_owned())
                        .await
                        .map_err(drop)
                };
            });
        }
    });
    Ok(addr)
}

/// The backends' one handler: gRPC calls are echoed (after a delay for `Slow`); any other
/// request gets `hello <path>`.
async fn backend(request: Request<Incoming>) -> Result<Response<ProxyBody>, Infallible> {
    if !xprotocol_grpc::is_grpc(request.headers()) {
        let text = format!("hello {}", request.uri().path());
        return Ok(Response::new(body::full(text)));
    }
    let slow = request.uri().path().ends_with("/Slow");
    let Ok(collected) = request.into_body().collect().await else {
        return Ok(crate::http::reply::grpc_status(Code::Internal, "body"));
    };
    let mut buf = BytesMut::from(&collected.to_bytes()[..]);
    let Ok(Some(message)) = MessageDecoder::new(1 << 20).decode(&mut buf) else {
        return Ok(crate::http::reply::grpc_status(Code::Internal, "no message"));
    };
    if slow {
        tokio::time::sleep(SLOW_DELAY).await;
    }
    let mut data = BytesMut::new();
    if xprotocol_grpc::encode_message(&message.data, false, &mut data).is_err() {
        return Ok(crate::http::reply::grpc_status(Code::Internal, "too large"));
    }
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let frames =
        vec![Ok::<_, Infallible>(Frame::data(data.freeze())), Ok(Frame::trailers(trailers))];
    let mut response = Response::new(body::boxed(StreamBody::new(stream::iter(frames))));
    response.headers_mut().insert("content-type", HeaderValue::from_static("application/grpc"));
    Ok(response)
}

/// Adds the HTTP routes and clusters of the demo to `config`.
///
/// # Errors
/// Only if the built-in configuration no longer matches the schema (a bug the demo's test
/// catches).
pub fn configure(
    config: &mut Config,
    backends: &Backends,
    route_timeout: Duration,
) -> anyhow::Result<()> {
    let timeout = format!("{}ms", route_timeout.as_millis());
    let http = serde_json::json!({
        "virtual_hosts": [{
            "name": "demo",
            "domains": ["*"],
            "routes": [
                {"name": "grpc-echo", "match": {"grpc": {"service": {"exact": GRPC_SERVICE}}},
                 "action": {"cluster": "grpc-backend"}, "timeout": timeout},
                {"name": "http1-hello", "match": {"path": {"prefix": "/demo/h1/"}},
                 "action": {"cluster": "http1-backend"}, "timeout": timeout},
                {"name": "http2-hello", "match": {"path": {"prefix": "/demo/h2/"}},
                 "action": {"cluster": "http2-backend"}, "timeout": timeout}
            ]
        }]
    });
    config.http = serde_json::from_value::<HttpConfig>(http)?;
    for (name, address, protocol) in [
        ("http1-backend", backends.http1, "http1"),
        ("http2-backend", backends.http2, "http2"),
        ("grpc-backend", backends.http2, "http2"),
    ] {
        let json = serde_json::json!({
            "name": name,
            "endpoints": [{"address": address.to_string()}],
            "http_protocol": protocol,
        });
        config.clusters.push(serde_json::from_value::<ClusterConfig>(json)?);
    }
    Ok(())
}

/// What one demo request sends and expects.
#[derive(Clone, Copy)]
enum Call {
    /// `GET path`, expecting this status.
    Get(&'static str, StatusCode),
    /// A gRPC call of `path`, expecting this code (and the echo when OK).
    Grpc(&'static str, Code),
}

/// Every HTTP row of the demo.
pub async fn rows(
    gateway: SocketAddr,
    per_case: usize,
    failures: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Row>> {
    let cases = [
        ("http/1.1", false, per_case, Call::Get("/demo/h1/hello", StatusCode::OK)),
        ("http/2", true, per_case, Call::Get("/demo/h2/hello", StatusCode::OK)),
        ("grpc", true, per_case, Call::Grpc("/demo.Echo/Say", Code::Ok)),
        ("http/1.1: no route", false, failures, Call::Get("/nowhere", StatusCode::NOT_FOUND)),
        ("grpc: no route", true, failures, Call::Grpc("/demo.Unknown/Say", Code::Unimplemented)),
        ("grpc: deadline", true, failures, Call::Grpc("/demo.Echo/Slow", Code::DeadlineExceeded)),
    ];
    let mut rows = Vec::new();
    for (case, h2, n, call) in cases {
        rows.push(drive(case, gateway, h2, n, concurrency, call).await?);
    }
    Ok(rows)
}

/// A connection to the gateway that can send one request at a time (HTTP/1.1) or many.
#[derive(Clone)]
enum Conn {
    Http1(Arc<tokio::sync::Mutex<hyper::client::conn::http1::SendRequest<ProxyBody>>>),
    Http2(hyper::client::conn::http2::SendRequest<ProxyBody>),
}

impl Conn {
    async fn open(gateway: SocketAddr, h2: bool) -> anyhow::Result<Conn> {
        let stream = tokio::net::TcpStream::connect(gateway).await?;
        let _ = stream.set_nodelay(true);
        Ok(if h2 {
            let settings = xprotocol_http2::client::ClientSettings::default();
            let (sender, _driver) = xprotocol_http2::client::handshake(stream, &settings).await?;
            Conn::Http2(sender)
        } else {
            let settings = xprotocol_http1::client::ClientSettings::default();
            let (sender, _driver) = xprotocol_http1::client::handshake(stream, &settings).await?;
            Conn::Http1(Arc::new(tokio::sync::Mutex::new(sender)))
        })
    }

    async fn send(&self, request: Request<ProxyBody>) -> anyhow::Result<Response<Incoming>> {
        Ok(match self {
            Conn::Http1(sender) => {
                let mut sender = sender.lock().await;
                sender.ready().await?;
                sender.send_request(request).await?
            }
            Conn::Http2(sender) => {
                let mut sender = sender.clone();
                sender.ready().await?;
                sender.send_request(request).await?
            }
        })
    }
}

async fn drive(
    case: &str,
    gateway: SocketAddr,
    h2: bool,
    n: usize,
    concurrency: usize,
    call: Call,
) -> anyhow::Result<Row> {
    // HTTP/1.1 carries one request at a time per connection: open `concurrency` of them.
    let connections = if h2 { 1 } else { concurrency.clamp(1, 16) };
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::open(gateway, h2).await?);
    }
    let results: Vec<(bool, Duration)> = stream::iter(0..n)
        .map(|i| {
            let conn = conns[i % conns.len()].clone();
            async move {
                let started = Instant::now();
                let ok = one(&conn, gateway, call, i).await.unwrap_or(false);
                (ok, started.elapsed())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    Ok(Row {
        case: case.to_owned(),
        requests: n,
        ok: results.iter().filter(|(ok, _)| *ok).count(),
        latencies: results.into_iter().map(|(_, l)| l).collect(),
    })
}

/// Sends one request and checks its answer.
async fn one(conn: &Conn, gateway: SocketAddr, call: Call, i: usize) -> anyhow::Result<bool> {
    let authority = gateway.to_string();
    let (path, request) = match call {
        Call::Get(path, _) => {
            let uri = format!("http://{authority}{path}");
            (path, Request::get(uri).header("host", &authority).body(body::empty())?)
        }
        Call::Grpc(path, _) => {
            let mut message = BytesMut::new();
            xprotocol_grpc::encode_message(format!("hi {i}").as_bytes(), false, &mut message)?;
            let request = Request::post(format!("http://{authority}{path}"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .header("grpc-timeout", "200m")
                .body(body::boxed(Full::new(message.freeze())))?;
            (path, request)
        }
    };
    let mut request = request;
    if let Conn::Http1(_) = conn {
        // HTTP/1.1 carries the path alone and the authority in Host.
        *request.uri_mut() = path.parse()?;
    }
    let response = tokio::time::timeout(Duration::from_secs(5), conn.send(request)).await??;
    match call {
        Call::Get(path, want) => {
            let status = response.status();
            let text = response.into_body().collect().await?.to_bytes();
            Ok(status == want && (want != StatusCode::OK || text == format!("hello {path}")))
        }
        Call::Grpc(_, want) => {
            let head_status = grpc_status(response.headers());
            let collected = response.into_body().collect().await?;
            let trailers = collected.trailers().cloned();
            let code = head_status.or_else(|| trailers.as_ref().and_then(grpc_status));
            let echoed = {
                let mut buf = BytesMut::from(&collected.to_bytes()[..]);
                MessageDecoder::new(1 << 20).decode(&mut buf).ok().flatten().map(|m| m.data)
            };
            Ok(code == Some(want)
                && (want != Code::Ok || echoed == Some(Bytes::from(format!("hi {i}")))))
        }
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    Code::parse_header(headers.get("grpc-status")?.as_bytes()).ok()
}
