//! End to end: a listener's connection limits under a flood of silent connections.
//!
//! An operator trial held 3,200 connections open without sending a byte; because a connection
//! still being sniffed held one of `max_connections` permits, every new Bolt and HTTP client got
//! a bare FIN until the sniff timeout freed them. Here a few hundred silent connections (well
//! over the sniff budget and over `max_connections`) are held open while real clients, an SDK
//! Bolt client and raw HTTP/1.1 requests, keep connecting on new connections and must all be
//! served; `/metrics` must show the evictions, the sniffing gauge within its budget, and a
//! recognised connection beyond `max_connections` refused and counted.
//!
//! Needs no external peer: the Bolt backend is the SDK's engine server, the HTTP answer a
//! direct response.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{anyhow, ensure, Context, Result};
use bytes::Bytes;
use common::http::raw_exchange;
use common::{admin_get, bounded, gateway, metric, port, LISTENER};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use xprotocol::engine::{Client, EngineConfig, Server, ServerHandle};
use xprotocol::Frame;
use xprotocol_bolt::{Bolt, BoltFrame, BoltVersion, ResponseStatus, BOLT_V1};

/// Every test ends within this.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// Connections still being sniffed that the listener keeps at once.
const SNIFF_BUDGET: usize = 32;
/// Recognised connections the listener serves at once.
const MAX_CONNECTIONS: usize = 8;
/// Silent connections in each wave of the flood: over both limits, few enough for any machine.
const FLOOD: usize = 300;
/// Real clients (each a new connection) served after each wave.
const CLIENTS: u32 = 10;

fn engine() -> EngineConfig {
    EngineConfig { heartbeat_interval: None, ..EngineConfig::default() }
}

/// A Bolt backend echoing each request's content.
async fn echo_backend() -> Result<ServerHandle> {
    let handler = |request: BoltFrame| async move {
        let id = u32::try_from(request.request_id().0).ok()?;
        let body = request.body().clone();
        BoltFrame::response(BoltVersion::V1, id, ResponseStatus::Success).content(body).build().ok()
    };
    Ok(Server::bind(&BOLT_V1, "127.0.0.1:0", handler, engine()).await?.spawn())
}

/// One listener with a small sniff budget and `max_connections`, a long sniff timeout (so the
/// flood is not cleared by timeouts while the test runs), Bolt routed to `backend`, and an
/// HTTP direct response.
fn config(backend: SocketAddr) -> String {
    format!(
        r#"
listeners:
  - name: {LISTENER}
    address: 127.0.0.1:0
    sniff: {{ timeout: 30s, max_pending: {SNIFF_BUDGET} }}
    backlog: 1024
limits:
  max_connections: {MAX_CONNECTIONS}
admin:
  address: 127.0.0.1:0
routes:
  - protocol: bolt
    routes:
      - action: {{ cluster: echo }}
        timeout: 5s
clusters:
  - name: echo
    endpoints:
      - address: "{backend}"
http:
  virtual_hosts:
    - name: all
      domains: ["*"]
      routes:
        - name: direct
          match: {{ path: {{ prefix: "/" }} }}
          action: {{ direct_response: {{ status: 200, body: "served", content_type: text/plain }} }}
"#
    )
}

/// Opens `n` connections that never send a byte, and keeps them.
async fn silent_connections(address: SocketAddr, n: usize) -> Result<Vec<TcpStream>> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        let connect = TcpStream::connect(address);
        let stream = tokio::time::timeout(Duration::from_secs(5), connect)
            .await
            .map_err(|_| anyhow!("connect {} of the flood took over 5 s", held.len()))??;
        held.push(stream);
    }
    Ok(held)
}

/// One Bolt call on a new connection, answered by the backend through the gateway.
async fn bolt_call(address: SocketAddr, id: u32) -> Result<()> {
    let client: Client<Bolt> = Client::connect(&BOLT_V1, address, engine()).await?;
    let body = format!("call {id}");
    let request = BoltFrame::request(BoltVersion::V1, id)
        .header("service", "com.example.HelloService:1.0")
        .content(Bytes::from(body.clone()))
        .build()?;
    let reply = tokio::time::timeout(Duration::from_secs(5), client.call(request))
        .await
        .map_err(|_| anyhow!("Bolt call {id} took over 5 s"))??;
    ensure!(reply.status() == Some(0), "Bolt call {id}: status {:?}", reply.status());
    ensure!(reply.body()[..] == *body.as_bytes(), "Bolt call {id}: body {:?}", reply.body());
    Ok(())
}

/// One HTTP/1.1 request on a new connection, answered by the gateway's direct response.
async fn http_get(address: SocketAddr, i: u32) -> Result<()> {
    let request = format!("GET /probe/{i} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    let reply = raw_exchange(address, request.as_bytes()).await?;
    ensure!(reply.starts_with("HTTP/1.1 200"), "HTTP request {i}: {reply:?}");
    ensure!(reply.ends_with("served"), "HTTP request {i}: {reply:?}");
    Ok(())
}

/// Real clients, each on a new connection, one after the other.
async fn real_clients(address: SocketAddr, round: u32) -> Result<()> {
    for i in 0..CLIENTS {
        let id = round * 100 + i;
        bolt_call(address, id).await.with_context(|| format!("round {round}"))?;
        http_get(address, id).await.with_context(|| format!("round {round}"))?;
    }
    Ok(())
}

#[tokio::test]
async fn silent_connections_cannot_lock_out_real_clients() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let backend = echo_backend().await?;
        let gw = gateway(&config(backend.local_addr())).await?;
        let address = port(&gw)?;

        let mut flood = silent_connections(address, FLOOD).await?;
        real_clients(address, 1).await?;
        // A second wave, with the first still held open.
        flood.extend(silent_connections(address, FLOOD).await?);
        real_clients(address, 2).await?;

        let text = admin_get(&gw, "/metrics").await?;
        let listener = [("listener", LISTENER)];
        let evicted = metric(
            &text,
            "xproxy_downstream_connections_refused_total",
            &[("listener", LISTENER), ("reason", "sniff_evicted")],
        );
        // Every silent connection beyond the budget made room by evicting an older one.
        let floor = (2 * FLOOD - SNIFF_BUDGET) as f64;
        ensure!(evicted >= floor, "{evicted} evictions, expected at least {floor}\n{text}");
        let sniffing = metric(&text, "xproxy_downstream_connections_sniffing", &listener);
        ensure!(sniffing <= SNIFF_BUDGET as f64, "{sniffing} sniffing over the budget\n{text}");
        let served = metric(
            &text,
            "xproxy_downstream_connections_total",
            &[("listener", LISTENER), ("protocol", "bolt")],
        );
        ensure!(served >= f64::from(2 * CLIENTS), "{served} Bolt connections\n{text}");

        // The oldest silent connection was closed by the gateway.
        let mut byte = [0u8; 1];
        let oldest = flood.first_mut().ok_or_else(|| anyhow!("no flood"))?;
        let read = tokio::time::timeout(Duration::from_secs(5), oldest.read(&mut byte)).await;
        ensure!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "the oldest silent connection is open");
        drop(flood);
        gw.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test]
async fn recognised_connections_beyond_max_connections_are_refused_and_counted() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let backend = echo_backend().await?;
        let gw = gateway(&config(backend.local_addr())).await?;
        let address = port(&gw)?;
        // Hold every permit with a Bolt client that has made a call (so it is recognised).
        let mut clients = Vec::new();
        for id in 0..MAX_CONNECTIONS as u32 {
            let client: Client<Bolt> = Client::connect(&BOLT_V1, address, engine()).await?;
            let request = BoltFrame::request(BoltVersion::V1, id)
                .header("service", "com.example.HelloService:1.0")
                .build()?;
            tokio::time::timeout(Duration::from_secs(5), client.call(request))
                .await
                .map_err(|_| anyhow!("call {id} took over 5 s"))??;
            clients.push(client);
        }
        ensure!(bolt_call(address, 99).await.is_err(), "a ninth connection is served");
        let text = admin_get(&gw, "/metrics").await?;
        let refused = metric(
            &text,
            "xproxy_downstream_connections_refused_total",
            &[("listener", LISTENER), ("reason", "max_connections")],
        );
        ensure!(refused == 1.0, "{refused} refusals\n{text}");
        // A permit given back is taken by the next connection.
        drop(clients.pop());
        let retried = async {
            loop {
                if bolt_call(address, 100).await.is_ok() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), retried)
            .await
            .map_err(|_| anyhow!("no permit came back after a client left"))?;
        drop(clients);
        gw.shutdown().await;
        Ok(())
    })
    .await
}
