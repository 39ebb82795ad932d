//! `xproxy demo`: the gateway on a built-in configuration, small backends for every shipped
//! protocol (RPC in this module, HTTP/1.1, HTTP/2 and gRPC in [`http`]), and requests of every
//! protocol sent through the one gateway port.
//!
//! Besides ordinary calls it exercises the failure paths a gateway exists for: a request no
//! route matches and a backend too slow for its route's timeout must come back as error
//! replies in the caller's own protocol, with the right status. It prints one row per case
//! and succeeds only if every request got the answer it should.

mod http;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use xprotocol::engine::{Client, EngineConfig, Server, ServerHandle};
use xprotocol::{EncodeError, Frame, Protocol};
use xprotocol_bolt::{BoltFrame, BoltVersion, ResponseStatus, BOLT_V1, BOLT_V2};
use xprotocol_dubbo::{Dubbo, DubboFrame, RequestBuilder, Status};
use xprotocol_tars::{RequestPacket, ResponsePacket, Tars, TarsFrame};

use crate::config::{
    AdminConfig, ClusterConfig, Config, EndpointConfig, ListenerConfig, RouteActionConfig,
    RouteConfig, RouteMatchConfig, RouteTableConfig, StringMatch,
};
use crate::gateway::Gateway;

const SOFA_REQUEST: &str = "com.alipay.sofa.rpc.core.request.SofaRequest";
const SOFA_RESPONSE: &str = "com.alipay.sofa.rpc.core.response.SofaResponse";
const HELLO: &str = "com.example.HelloService";
const TARS_SERVANT: &str = "Demo.HelloServer.HelloObj";
/// Requests whose body starts with this are held by the backends longer than the route allows.
const SLOW: &[u8] = b"slow";
const BACKEND_DELAY: Duration = Duration::from_millis(600);
const ROUTE_TIMEOUT: Duration = Duration::from_millis(250);

/// One row of the report.
struct Row {
    case: String,
    requests: usize,
    ok: usize,
    latencies: Vec<Duration>,
}

impl Row {
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted.get(index).copied().unwrap_or_default()
    }
}

/// Runs the demo; `Ok(true)` when every request got the answer it should.
///
/// # Errors
/// A backend or the gateway could not start.
pub async fn run(requests: u64, concurrency: usize) -> anyhow::Result<bool> {
    let backend_config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
    let bolt = Server::bind(&BOLT_V1, "127.0.0.1:0", bolt_backend, backend_config).await?.spawn();
    let boltv2 = Server::bind(&BOLT_V2, "127.0.0.1:0", bolt_backend, backend_config).await?.spawn();
    let dubbo = Server::bind(&Dubbo, "127.0.0.1:0", dubbo_backend, backend_config).await?.spawn();
    let tars = Server::bind(&Tars, "127.0.0.1:0", tars_backend, backend_config).await?.spawn();
    let backends = [("bolt", &bolt), ("boltv2", &boltv2), ("dubbo", &dubbo), ("tars", &tars)];

    let http_backends = http::start_backends().await?;
    let mut config = demo_config(&backends);
    http::configure(&mut config, &http_backends, ROUTE_TIMEOUT)?;
    let gateway = Gateway::start(&config).await?;
    let port = gateway.listener_address("demo").ok_or_else(|| anyhow::anyhow!("no listener"))?;
    println!("xproxy demo: gateway on {port}, one port for every protocol");
    if let Some(admin) = gateway.admin_address() {
        println!("xproxy demo: metrics on http://{admin}/metrics");
    }

    let per_case = (requests / 4).max(1) as usize;
    let failures = (per_case / 10).clamp(1, 50);
    let mut rows = Vec::new();
    rows.push(
        drive(
            "bolt",
            &BOLT_V1,
            port,
            per_case,
            concurrency,
            |i| bolt_request(BoltVersion::V1, HELLO, i),
            bolt_ok,
        )
        .await?,
    );
    rows.push(
        drive(
            "boltv2 (crc)",
            &BOLT_V2,
            port,
            per_case,
            concurrency,
            |i| bolt_request(BoltVersion::V2, HELLO, i),
            bolt_ok,
        )
        .await?,
    );
    rows.push(
        drive(
            "dubbo",
            &Dubbo,
            port,
            per_case,
            concurrency,
            |i| dubbo_request(HELLO, i, "hi"),
            dubbo_ok,
        )
        .await?,
    );
    rows.push(
        drive(
            "tars",
            &Tars,
            port,
            per_case,
            concurrency,
            |i| tars_request(TARS_SERVANT, i, "hi"),
            tars_ok,
        )
        .await?,
    );
    rows.push(
        drive(
            "bolt: no route",
            &BOLT_V1,
            port,
            failures,
            concurrency,
            |i| bolt_request(BoltVersion::V1, "com.example.Unknown", i),
            |f, _| f.status() == Some(u32::from(ResponseStatus::NoProcessor.as_u16())),
        )
        .await?,
    );
    rows.push(
        drive(
            "tars: no route",
            &Tars,
            port,
            failures,
            concurrency,
            |i| tars_request("Demo.Unknown.Obj", i, "hi"),
            |f, _| f.status() == Some(tars_code(xprotocol::Failure::NoRoute)),
        )
        .await?,
    );
    rows.push(
        drive(
            "dubbo: slow backend",
            &Dubbo,
            port,
            failures,
            concurrency,
            |i| dubbo_request(HELLO, i, "slow"),
            |f, _| f.status() == Some(u32::from(Status::ServerTimeout.code())),
        )
        .await?,
    );

    rows.extend(http::rows(port, per_case, failures, concurrency).await?);

    print_table(&rows);
    let all_ok = rows.iter().all(|r| r.ok == r.requests);
    gateway.shutdown().await;
    for backend in [bolt, boltv2, dubbo, tars] {
        backend.shutdown().await;
    }
    drop(http_backends);
    println!(
        "xproxy demo: {}",
        if all_ok { "all requests answered as expected" } else { "FAILED" }
    );
    Ok(all_ok)
}

/// Sends `n` requests of one protocol through the gateway, `concurrency` at a time over one
/// multiplexed connection, checking each reply.
async fn drive<P: Protocol>(
    case: &str,
    protocol: &'static P,
    gateway: SocketAddr,
    n: usize,
    concurrency: usize,
    request: impl Fn(u32) -> Result<P::Frame, EncodeError>,
    check: impl Fn(&P::Frame, u32) -> bool,
) -> anyhow::Result<Row> {
    let config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
    let client = Client::connect(protocol, gateway, config).await?;
    let client = Arc::new(client);
    let results: Vec<(bool, Duration)> = stream::iter(0..n as u32)
        .map(|i| {
            let client = Arc::clone(&client);
            let frame = request(i);
            let check = &check;
            async move {
                let started = Instant::now();
                let ok = match frame {
                    Ok(frame) => {
                        let reply = client.call_with_timeout(frame, Duration::from_secs(5)).await;
                        reply.as_ref().is_ok_and(|r| check(r, i))
                    }
                    Err(_) => false,
                };
                (ok, started.elapsed())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    client.close().await;
    Ok(Row {
        case: case.to_owned(),
        requests: n,
        ok: results.iter().filter(|(ok, _)| *ok).count(),
        latencies: results.into_iter().map(|(_, l)| l).collect(),
    })
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "{:<22} {:>9} {:>7} {:>7} {:>10} {:>10}",
        "protocol", "requests", "ok", "failed", "p50", "p99"
    );
    for r in rows {
        println!(
            "{:<22} {:>9} {:>7} {:>7} {:>10} {:>10}",
            r.case,
            r.requests,
            r.ok,
            r.requests - r.ok,
            format!("{:.0?}", r.percentile(0.50)),
            format!("{:.0?}", r.percentile(0.99)),
        );
    }
    println!();
}

fn bolt_request(version: BoltVersion, service: &str, i: u32) -> Result<BoltFrame, EncodeError> {
    let builder = BoltFrame::request(version, i).timeout(3000).class_name(SOFA_REQUEST);
    let builder = if version == BoltVersion::V2 { builder.ver1(2).crc(true) } else { builder };
    builder
        .header("service", &format!("{service}:1.0"))
        .header("sofa_head_method_name", "sayHello")
        .content(Bytes::from(format!("hello {i}")))
        .build()
}

fn bolt_ok(reply: &BoltFrame, i: u32) -> bool {
    reply.status() == Some(0) && reply.body().as_ref() == format!("hello {i}").as_bytes()
}

async fn bolt_backend(request: BoltFrame) -> Option<BoltFrame> {
    if request.body().starts_with(SLOW) {
        tokio::time::sleep(BACKEND_DELAY).await;
    }
    let id = u32::try_from(request.request_id().0).ok()?;
    let builder = BoltFrame::response(request.bolt_version(), id, ResponseStatus::Success);
    let builder = if request.crc().is_some() { builder.ver1(2).crc(true) } else { builder };
    builder.class_name(SOFA_RESPONSE).content(request.body().clone()).build().ok()
}

fn dubbo_request(service: &str, i: u32, word: &str) -> Result<DubboFrame, EncodeError> {
    let mut args = bytes::BytesMut::new();
    xprotocol_dubbo::hessian2::Writer::new(&mut args).string(&format!("{word} {i}"));
    let attachments = [("path", service), ("interface", service), ("version", "1.0.0")];
    let builder = RequestBuilder {
        id: u64::from(i),
        version: "1.0.0",
        parameter_types: "Ljava/lang/String;",
        arguments: &args,
        attachments: &attachments,
        ..RequestBuilder::new(service, "sayHello")
    };
    builder.build()
}

fn dubbo_ok(reply: &DubboFrame, i: u32) -> bool {
    let mut want = bytes::BytesMut::new();
    xprotocol_dubbo::hessian2::Writer::new(&mut want).string(&format!("hi {i}"));
    reply.status() == Some(u32::from(Status::Ok.code())) && reply.body().ends_with(&want)
}

async fn dubbo_backend(request: DubboFrame) -> Option<DubboFrame> {
    if request.arguments().is_some_and(|a| a.windows(SLOW.len()).any(|w| w == SLOW)) {
        tokio::time::sleep(BACKEND_DELAY).await;
    }
    // Echo the first argument: the body after the five routing strings.
    let argument = request.arguments().map(Bytes::copy_from_slice).unwrap_or_default();
    DubboFrame::value_response(request.request_id().0, &argument).ok()
}

fn tars_request(servant: &str, i: u32, word: &str) -> Result<TarsFrame, EncodeError> {
    let buffer = format!("{word} {i}");
    let id = i32::try_from(i).unwrap_or(i32::MAX);
    let packet = RequestPacket::new(id, servant, "sayHello", buffer.as_bytes());
    packet.to_frame()
}

fn tars_ok(reply: &TarsFrame, i: u32) -> bool {
    reply.status() == Some(0) && reply.body().as_ref() == format!("hi {i}").as_bytes()
}

/// The status a Tars error reply carries for `failure` (iRet's bit pattern).
fn tars_code(failure: xprotocol::Failure) -> u32 {
    let request = tars_request(TARS_SERVANT, 1, "x").ok();
    let reply = request.and_then(|r| Tars.error_reply(&r, failure, ""));
    reply.and_then(|r| r.status()).unwrap_or_default()
}

async fn tars_backend(request: TarsFrame) -> Option<TarsFrame> {
    let id = i32::try_from(request.request_id().0).ok()?;
    ResponsePacket::new(id, request.body()).to_frame().ok()
}

/// One listener for every protocol, a cluster per backend, a route table per protocol that
/// sends `com.example.HelloService` to its cluster with a short timeout.
fn demo_config(backends: &[(&str, &ServerHandle)]) -> Config {
    let mut config = Config {
        listeners: vec![ListenerConfig {
            name: "demo".into(),
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            protocols: None,
            sniff: Default::default(),
            fallback_cluster: None,
            backlog: crate::listener::DEFAULT_BACKLOG,
        }],
        admin: AdminConfig { address: Some(SocketAddr::from(([127, 0, 0, 1], 0))) },
        ..Config::default()
    };
    for (protocol, backend) in backends {
        let cluster = format!("{protocol}-backend");
        config.clusters.push(ClusterConfig {
            name: cluster.clone(),
            endpoints: vec![EndpointConfig {
                address: backend.local_addr(),
                weight: 1,
                metadata: BTreeMap::new(),
            }],
            ..default_cluster()
        });
        config.routes.push(RouteTableConfig {
            protocol: (*protocol).to_owned(),
            routes: vec![RouteConfig {
                name: Some(format!("{protocol}-hello")),
                matches: RouteMatchConfig {
                    service: Some(StringMatch::Exact(
                        if *protocol == "tars" { TARS_SERVANT } else { HELLO }.into(),
                    )),
                    ..RouteMatchConfig::default()
                },
                action: RouteActionConfig::Cluster(cluster),
                timeout: ROUTE_TIMEOUT,
                retry: None,
                request_headers_to_add: BTreeMap::new(),
                request_headers_to_remove: Vec::new(),
                metadata_match: BTreeMap::new(),
            }],
        });
    }
    config
}

/// A cluster with every default a configuration file would get.
fn default_cluster() -> ClusterConfig {
    let json = serde_json::json!({"name": "x", "endpoints": [{"address": "127.0.0.1:1"}]});
    serde_json::from_value(json).expect("a cluster with only name and endpoints is valid")
}
