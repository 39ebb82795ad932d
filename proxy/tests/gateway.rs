//! The gateway in-process, in front of backends built from the SDK's engine: graceful drain,
//! unrecognised and oversized input, retries across endpoints, and metrics.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use xprotocol::engine::{Client, EngineConfig, Server, ServerHandle};
use xprotocol::Frame;
use xprotocol_bolt::{BoltFrame, BoltVersion, ResponseStatus, BOLT_V1};
use xproxy::config::{parse, Format};
use xproxy::gateway::Gateway;

const SERVICE: &str = "com.example.HelloService";

fn engine() -> EngineConfig {
    EngineConfig { heartbeat_interval: None, ..EngineConfig::default() }
}

/// A Bolt backend that echoes the content, after sleeping as many ms as a `sleep:N` body asks.
async fn backend() -> ServerHandle {
    let handler = |request: BoltFrame| async move {
        let body = request.body().clone();
        if let Some(ms) = body.strip_prefix(b"sleep:").and_then(|ms| std::str::from_utf8(ms).ok()) {
            tokio::time::sleep(Duration::from_millis(ms.parse().unwrap_or(0))).await;
        }
        let id = u32::try_from(request.request_id().0).ok()?;
        BoltFrame::response(BoltVersion::V1, id, ResponseStatus::Success).content(body).build().ok()
    };
    Server::bind(&BOLT_V1, "127.0.0.1:0", handler, engine()).await.unwrap().spawn()
}

async fn gateway(endpoints: &[SocketAddr], extra_route: &str) -> Gateway {
    let endpoints: String =
        endpoints.iter().map(|a| format!("      - address: \"{a}\"\n")).collect();
    let yaml = format!(
        r#"
listeners:
  - name: main
    address: 127.0.0.1:0
    sniff: {{ max_bytes: 32, timeout: 500ms }}
routes:
  - protocol: bolt
    routes:
      - match: {{ service: {{ exact: "{SERVICE}" }} }}
        action: {{ cluster: hello }}
        timeout: 3s
{extra_route}
clusters:
  - name: hello
    connect_timeout: 200ms
    endpoints:
{endpoints}
limits:
  max_frame_bytes: 65536
  frame_timeout: 300ms
  drain_timeout: 5s
admin:
  address: 127.0.0.1:0
"#
    );
    let config = parse(&yaml, Format::Yaml).unwrap();
    Gateway::start(&config).await.unwrap()
}

fn request(id: u32, body: &str) -> BoltFrame {
    BoltFrame::request(BoltVersion::V1, id)
        .header("service", &format!("{SERVICE}:1.0"))
        .content(Bytes::from(body.to_owned()))
        .build()
        .unwrap()
}

async fn client(gateway: &Gateway) -> Client<xprotocol_bolt::Bolt> {
    Client::connect(&BOLT_V1, gateway.listener_address("main").unwrap(), engine()).await.unwrap()
}

async fn metrics(gateway: &Gateway) -> String {
    let mut s = TcpStream::connect(gateway.admin_address().unwrap()).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

fn within<F: std::future::Future>(f: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(Duration::from_secs(10), f)
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_connections() {
    let backend = backend().await;
    let gw = gateway(&[backend.local_addr()], "").await;
    let address = gw.listener_address("main").unwrap();
    let c = client(&gw).await;
    let slow = tokio::spawn({
        let c = c.clone();
        async move { c.call(request(1, "sleep:300")).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    within(gw.shutdown()).await.unwrap();
    let reply = within(slow).await.unwrap().unwrap().unwrap();
    assert_eq!((reply.status(), &reply.body()[..]), (Some(0), &b"sleep:300"[..]));
    assert!(TcpStream::connect(address).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn unrecognised_bytes_are_closed_and_counted_while_others_carry_on() {
    let backend = backend().await;
    let gw = gateway(&[backend.local_addr()], "").await;
    let c = client(&gw).await;
    let mut garbage = TcpStream::connect(gw.listener_address("main").unwrap()).await.unwrap();
    garbage.write_all(b"\xffhello, is anyone there?\r\n").await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(within(garbage.read(&mut buf)).await.unwrap().unwrap_or(0), 0, "closed");
    let reply = within(c.call(request(2, "hi"))).await.unwrap().unwrap();
    assert_eq!(&reply.body()[..], b"hi");
    let text = metrics(&gw).await;
    assert!(
        text.lines().any(|l| l.starts_with("xproxy_sniff_failures_total")
            && l.contains("reason=\"unrecognized\"")
            && l.ends_with(" 1")),
        "{text}"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_frame_declared_over_the_limit_closes_only_its_connection() {
    let backend = backend().await;
    let gw = gateway(&[backend.local_addr()], "").await;
    let c = client(&gw).await;
    let mut bad = TcpStream::connect(gw.listener_address("main").unwrap()).await.unwrap();
    // A Bolt v1 request header declaring 1 MiB of content (over this gateway's 64 KiB limit,
    // within the 16 MiB the Bolt detector allows), and nothing after it.
    let mut header = vec![0x01, 0x01, 0x00, 0x01, 0x01, 0, 0, 0, 9, 0x01, 0, 0, 0x0b, 0xb8];
    header.extend_from_slice(&[0, 0, 0, 0, 0x00, 0x10, 0, 0]);
    bad.write_all(&header).await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(within(bad.read(&mut buf)).await.unwrap().unwrap_or(0), 0, "closed at once");
    assert_eq!(&within(c.call(request(3, "ok"))).await.unwrap().unwrap().body()[..], b"ok");
    assert!(metrics(&gw).await.contains("xproxy_decode_errors_total{"));
    gw.shutdown().await;
}

#[tokio::test]
async fn connect_failures_are_retried_on_another_endpoint() {
    let backend = backend().await;
    let dead = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let retry = format!(
        "      - match: {{ service: {{ exact: \"{SERVICE}.Retry\" }} }}\n        action: {{ cluster: hello }}\n        retry: {{ max_retries: 2, retry_on: [connect_failure] }}\n"
    );
    let gw = gateway(&[dead, backend.local_addr()], &retry).await;
    let c = client(&gw).await;
    for i in 0..6u32 {
        let frame = BoltFrame::request(BoltVersion::V1, i)
            .header("service", &format!("{SERVICE}.Retry:1.0"))
            .content(Bytes::from_static(b"again"))
            .build()
            .unwrap();
        let reply = within(c.call(frame)).await.unwrap().unwrap();
        assert_eq!(reply.status(), Some(0), "try {i} reached the live endpoint");
    }
    // Each try on the dead endpoint failed: after five in a row it is ejected, so plain
    // requests now all reach the live one.
    for i in 0..4u32 {
        let reply = within(c.call(request(10 + i, "x"))).await.unwrap().unwrap();
        assert_eq!(reply.status(), Some(0), "request {i} avoided the ejected endpoint");
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn without_retries_a_dead_endpoint_gives_a_connection_closed_reply() {
    let backend = backend().await;
    let dead = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let gw = gateway(&[dead, backend.local_addr()], "").await;
    let c = client(&gw).await;
    let mut statuses = Vec::new();
    for i in 0..2u32 {
        let reply = within(c.call(request(i, "x"))).await.unwrap().unwrap();
        statuses.push(reply.status());
    }
    statuses.sort();
    let closed = u32::from(ResponseStatus::ConnectionClosed.as_u16());
    assert_eq!(statuses, vec![Some(0), Some(closed)], "round robin met each endpoint once");
    gw.shutdown().await;
}

#[tokio::test]
async fn a_caller_stalling_mid_frame_is_closed_after_the_frame_timeout() {
    let backend = backend().await;
    let gw = gateway(&[backend.local_addr()], "").await;
    let c = client(&gw).await;
    let mut stalled = TcpStream::connect(gw.listener_address("main").unwrap()).await.unwrap();
    // A whole Bolt v1 request header (recognised) declaring 5 bytes of content, then nothing.
    let mut header = vec![0x01, 0x01, 0x00, 0x01, 0x01, 0, 0, 0, 9, 0x01, 0, 0, 0x0b, 0xb8];
    header.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 5]);
    stalled.write_all(&header).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    assert_eq!(within(stalled.read(&mut buf)).await.unwrap().unwrap_or(0), 0, "closed");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(&within(c.call(request(4, "fine"))).await.unwrap().unwrap().body()[..], b"fine");
    gw.shutdown().await;
}
