//! Interop with real SOFARPC implementations nobody on this project wrote: npm `sofa-rpc-node`
//! (client and server, direct mode, no registry) and npm `sofa-bolt-node` (its codec), run from
//! `tests/peers/bolt/` (install them with `tests/peers/install.sh`).
//!
//! What it proves:
//! - a relay built only from the SDK's stream engine (a [`Server`] whose handler forwards each
//!   request with an upstream [`Client::call`], which gives it a fresh id and maps the reply
//!   back) carries the real client's calls to the real server: concurrent calls on one
//!   connection, a 1 MiB argument, heartbeats (answered by the relay engine), server errors
//!   and client timeouts exactly as the client sees them without the relay, Bolt v1, v2 and
//!   v2 with CRC;
//! - every frame the real client sends, and every reply the real server sends, decodes with
//!   our codec and re-encodes to exactly the bytes it came from;
//! - the real client reads the error replies our protocol builds.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use bytes::BytesMut;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use xprotocol::engine::{Client, EngineConfig, Server, ServerHandle};
use xprotocol::{Codec, Failure, Frame, Limits, Protocol, StreamKind};
use xprotocol_bolt::{Bolt, BoltFrame, BoltVersion, BOLT_V1, BOLT_V2, CODEC_HESSIAN2};
use xproxy_tests::peers::{PeerCommand, PeerOutput, PeerProcess};

const PEER: &str = "bolt";
const SERVICE: &str = "com.alipay.sofa.rpc.quickstart.HelloService";
const REQUEST_CLASS: &str = "com.alipay.sofa.rpc.core.request.SofaRequest";
const RESPONSE_CLASS: &str = "com.alipay.sofa.rpc.core.response.SofaResponse";
/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(40);
/// How long a peer server may take to print `READY <port>`.
const READY_LIMIT: Duration = Duration::from_secs(15);
/// How long one client or frames.js run may take.
const RUN_LIMIT: Duration = Duration::from_secs(25);
/// The idle time of the heartbeat scenario: heartbeats go out after 1 s idle, checked every
/// 250 ms, so this leaves room for at least one.
const HEARTBEAT_IDLE_MS: &str = "2500";

/// Runs a test body within [`TEST_LIMIT`].
async fn bounded(body: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    timeout(TEST_LIMIT, body).await.map_err(|_| anyhow!("test exceeded {TEST_LIMIT:?}"))?
}

// ---- peers ------------------------------------------------------------------------------

/// Starts `server.js` and returns it (killed on drop) with its address.
async fn start_server() -> Result<(PeerProcess, SocketAddr)> {
    let cmd = PeerCommand::node(PEER, "server.js")?
        .env("MAX_LIFETIME_MS", "60000")
        .lifetime(Duration::from_secs(60));
    let mut server = cmd.spawn()?;
    let (server, port) = tokio::task::spawn_blocking(move || {
        let port = server.wait_ready(READY_LIMIT);
        (server, port)
    })
    .await?;
    Ok((server, SocketAddr::from(([127, 0, 0, 1], port?))))
}

/// Runs a peer script to its end and returns its output.
async fn run(cmd: PeerCommand) -> Result<PeerOutput> {
    let cmd = cmd.env("HARD_LIMIT_MS", "30000").lifetime(RUN_LIMIT + Duration::from_secs(5));
    Ok(tokio::task::spawn_blocking(move || cmd.run(RUN_LIMIT)).await??)
}

/// The JSON result on the last stdout line.
fn result_json(output: &PeerOutput) -> Result<Value> {
    let line = output.last_line().ok_or_else(|| anyhow!("no output\n{output}"))?;
    serde_json::from_str(line).with_context(|| format!("last line is not JSON\n{output}"))
}

/// Runs `client.js` against `addr`; `bolt` is the `BOLT` format (`v1`, `v2`, `v2crc`).
async fn run_client(
    addr: SocketAddr,
    bolt: &str,
    scenario: &str,
    arg: Option<&str>,
) -> Result<(Value, PeerOutput)> {
    let cmd = PeerCommand::node(PEER, "client.js")?
        .arg(addr.to_string())
        .arg(scenario)
        .args(arg)
        .env("BOLT", bolt);
    let output = run(cmd).await?;
    let json = result_json(&output)?;
    ensure!(json["scenario"] == scenario, "not the result of {scenario}\n{output}");
    Ok((json, output))
}

/// Runs a client scenario that must pass (exit 0 with `"ok": true`).
async fn client_passes(
    addr: SocketAddr,
    bolt: &str,
    scenario: &str,
    arg: Option<&str>,
) -> Result<Value> {
    let (json, output) = run_client(addr, bolt, scenario, arg).await?;
    ensure!(output.status.success() && json["ok"] == true, "{scenario} ({bolt}) failed\n{output}");
    Ok(json)
}

/// The error the client reported, with each run of digits (elapsed times, addresses) replaced
/// by `#` so that runs against different addresses compare.
fn reported_error(json: &Value) -> Result<Value> {
    let error = json.get("error").ok_or_else(|| anyhow!("no error reported: {json}"))?;
    let mut blanked = String::new();
    for c in error["message"].as_str().unwrap_or_default().chars() {
        if !c.is_ascii_digit() {
            blanked.push(c);
        } else if !blanked.ends_with('#') {
            blanked.push('#');
        }
    }
    let mut error = error.clone();
    error["message"] = Value::String(blanked);
    Ok(error)
}

// ---- relays -----------------------------------------------------------------------------

fn relay_config() -> EngineConfig {
    EngineConfig {
        request_timeout: Duration::from_secs(5),
        drain_timeout: Duration::from_secs(1),
        ..EngineConfig::default()
    }
}

/// The relay under test, built only from the engine: a server whose handler forwards each
/// request over one upstream client connection to `backend`.
async fn start_relay(protocol: &'static Bolt, backend: SocketAddr) -> Result<ServerHandle> {
    let config = relay_config();
    let upstream = timeout(Duration::from_secs(5), Client::connect(protocol, backend, config))
        .await
        .context("connecting upstream timed out")??;
    let handler = move |request: BoltFrame| {
        let upstream = upstream.clone();
        async move { upstream.call(request).await.ok() }
    };
    Ok(Server::bind(protocol, "127.0.0.1:0", handler, config).await?.spawn())
}

/// A relay whose upstream cannot be reached: each request gets the protocol's error reply for
/// [`Failure::NoHealthyUpstream`] with `message`.
async fn start_failing_relay(
    protocol: &'static Bolt,
    message: &'static str,
) -> Result<ServerHandle> {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        listener.local_addr()?
    };
    let config = relay_config();
    let handler = move |request: BoltFrame| async move {
        match Client::connect(protocol, closed, config).await {
            Ok(upstream) => upstream.call(request).await.ok(),
            Err(_) => protocol.error_reply(&request, Failure::NoHealthyUpstream, message),
        }
    };
    Ok(Server::bind(protocol, "127.0.0.1:0", handler, config).await?.spawn())
}

async fn stop(relay: ServerHandle) -> Result<()> {
    timeout(Duration::from_secs(5), relay.shutdown()).await.context("relay shutdown hung")
}

// ---- the raw tap ------------------------------------------------------------------------

/// One frame seen by the tap.
#[derive(Debug)]
struct Seen {
    upward: bool,
    kind: StreamKind,
    frame: BoltFrame,
}

/// A TCP pass-through between the real client and the real server that decodes every frame in
/// both directions with our codec and checks it re-encodes to exactly its bytes; the raw bytes
/// are forwarded untouched, so the client's calls still succeed.
async fn start_tap(
    protocol: &'static Bolt,
    backend: SocketAddr,
) -> Result<(SocketAddr, Arc<Mutex<Vec<Seen>>>, Arc<Mutex<Vec<String>>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let problems = Arc::new(Mutex::new(Vec::new()));
    let (s, p) = (Arc::clone(&seen), Arc::clone(&problems));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(backend).await else {
                p.lock().unwrap().push("tap cannot reach the server".to_owned());
                return;
            };
            let (client_r, client_w) = client.into_split();
            let (server_r, server_w) = server.into_split();
            let (s1, p1, s2, p2) = (s.clone(), p.clone(), s.clone(), p.clone());
            tokio::spawn(pump(protocol, client_r, server_w, true, s1, p1));
            tokio::spawn(pump(protocol, server_r, client_w, false, s2, p2));
        }
    });
    Ok((addr, seen, problems))
}

/// Forwards `from` to `to` chunk by chunk, decoding a copy of the stream as it goes.
async fn pump(
    protocol: &'static Bolt,
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    upward: bool,
    seen: Arc<Mutex<Vec<Seen>>>,
    problems: Arc<Mutex<Vec<String>>>,
) {
    let mut codec = protocol.codec(Limits::DEFAULT);
    let mut decode_buf = BytesMut::new();
    let mut raw = BytesMut::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut broken = false;
    loop {
        let n = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let bytes = &chunk[..n];
        if to.write_all(bytes).await.is_err() {
            break;
        }
        if broken {
            continue;
        }
        decode_buf.extend_from_slice(bytes);
        raw.extend_from_slice(bytes);
        loop {
            let before = decode_buf.len();
            match codec.decode(&mut decode_buf) {
                Ok(Some(frame)) => {
                    let exact = raw.split_to(before - decode_buf.len());
                    let mut again = BytesMut::new();
                    if let Err(e) = codec.encode(&frame, &mut again) {
                        problems.lock().unwrap().push(format!("re-encode failed: {e}"));
                    } else if again != exact {
                        problems.lock().unwrap().push(format!(
                            "{} frame re-encodes differently:\n got  {}\n want {}",
                            if upward { "client" } else { "server" },
                            hex::encode(&again),
                            hex::encode(&exact)
                        ));
                    }
                    seen.lock().unwrap().push(Seen { upward, kind: frame.kind(), frame });
                }
                Ok(None) => break,
                Err(e) => {
                    problems.lock().unwrap().push(format!(
                        "decode error ({}): {e}; bytes {}",
                        if upward { "client" } else { "server" },
                        hex::encode(&raw[..raw.len().min(256)])
                    ));
                    broken = true;
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}

/// Runs the heartbeat scenario (calls, idle heartbeats, a call) in `bolt` format through a
/// tap and checks every frame seen.
async fn tap_client_frames(bolt: &str) -> Result<()> {
    let (protocol, ver1, with_crc): (&'static Bolt, Option<u8>, bool) = match bolt {
        "v1" => (&BOLT_V1, None, false),
        "v2" => (&BOLT_V2, Some(1), false),
        "v2crc" => (&BOLT_V2, Some(2), true),
        _ => bail!("unknown format {bolt}"),
    };
    let (_server, backend) = start_server().await?;
    let (tap, seen, problems) = start_tap(protocol, backend).await?;
    let json = client_passes(tap, bolt, "heartbeat", Some(HEARTBEAT_IDLE_MS)).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let problems = problems.lock().unwrap().clone();
    ensure!(problems.is_empty(), "{bolt}: {}", problems.join("\n"));
    let seen = seen.lock().unwrap();
    let count = |upward: bool, kind: StreamKind| {
        seen.iter().filter(|s| s.upward == upward && s.kind == kind).count()
    };
    ensure!(count(true, StreamKind::Request) >= 2, "{bolt}: requests missing: {seen:#?}");
    ensure!(count(false, StreamKind::Response) >= 2, "{bolt}: responses missing: {seen:#?}");
    let heartbeats = count(true, StreamKind::HeartbeatRequest);
    ensure!(
        // The client counts the heartbeats sent after its first call; the tap sees all.
        json["heartbeatsSent"].as_u64().is_some_and(|sent| sent > 0 && heartbeats as u64 >= sent),
        "{bolt}: tap saw {heartbeats} heartbeats, client reports {json}"
    );
    ensure!(count(false, StreamKind::HeartbeatResponse) > 0, "{bolt}: no heartbeat ack seen");

    for s in seen.iter() {
        let f = &s.frame;
        let version = if ver1.is_some() { BoltVersion::V2 } else { BoltVersion::V1 };
        ensure!(f.bolt_version() == version, "{bolt}: wrong version: {f:?}");
        if s.upward {
            // The client's own frames carry the format it was told to send.
            ensure!(f.ver1() == ver1, "{bolt}: ver1 {:?} in {f:?}", f.ver1());
            ensure!(f.crc().is_some() == with_crc, "{bolt}: CRC presence wrong in {f:?}");
        }
        match s.kind {
            StreamKind::Request => {
                ensure!(s.upward, "{bolt}: a request from the server: {f:?}");
                ensure!(f.service() == Some(SERVICE), "{bolt}: service {:?}", f.service());
                ensure!(f.version() == Some("1.0"), "{bolt}: version {:?}", f.version());
                // sofa-bolt-node writes only the `service` header for hessian2; the method
                // name travels in the SofaRequest body.
                let unique = format!("{SERVICE}:1.0");
                ensure!(f.header("service") == Some(unique.as_str()), "{bolt}: headers {f:?}");
                ensure!(contains(f.body(), b"sayHello"), "{bolt}: no method in the body");
                ensure!(f.codec() == CODEC_HESSIAN2, "{bolt}: codec {}", f.codec());
                ensure!(f.class_name() == Some(REQUEST_CLASS), "{bolt}: class {f:?}");
                ensure!(f.timeout().is_some_and(|t| t > 0), "{bolt}: no timeout in {f:?}");
            }
            StreamKind::Response => {
                ensure!(!s.upward, "{bolt}: a response from the client: {f:?}");
                ensure!(f.status_code() == Some(0), "{bolt}: status {:?}", f.status_code());
                ensure!(f.class_name() == Some(RESPONSE_CLASS), "{bolt}: class {f:?}");
            }
            StreamKind::HeartbeatRequest => ensure!(s.upward, "{bolt}: server heartbeat"),
            StreamKind::HeartbeatResponse => ensure!(!s.upward, "{bolt}: client ack"),
            other => bail!("{bolt}: unexpected {other:?} frame: {f:?}"),
        }
    }
    // Each reply answers a request of this connection, by id.
    let request_ids: Vec<_> =
        seen.iter().filter(|s| s.upward).map(|s| s.frame.request_id()).collect();
    for reply in seen.iter().filter(|s| !s.upward) {
        ensure!(request_ids.contains(&reply.frame.request_id()), "{bolt}: stray reply {reply:?}");
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---- tests ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_relay_carries_hello_concurrent_and_big_calls() -> Result<()> {
    bounded(async {
        let (_server, backend) = start_server().await?;
        let relay = start_relay(&BOLT_V1, backend).await?;
        let addr = relay.local_addr();

        let hello = client_passes(addr, "v1", "hello", None).await?;
        assert_eq!(hello["result"], "hello peter !");

        let concurrent = client_passes(addr, "v1", "concurrent", Some("200")).await?;
        assert_eq!((concurrent["n"].as_u64(), concurrent["good"].as_u64()), (Some(200), Some(200)));
        assert_eq!(concurrent["bad"], Value::Array(Vec::new()));

        let big = client_passes(addr, "v1", "big", None).await?;
        assert_eq!(big["size"], 1024 * 1024);
        assert_eq!(big["resultLength"], 1024 * 1024);
        stop(relay).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_engine_answers_the_clients_heartbeats() -> Result<()> {
    bounded(async {
        let (_server, backend) = start_server().await?;
        let relay = start_relay(&BOLT_V1, backend).await?;
        let json =
            client_passes(relay.local_addr(), "v1", "heartbeat", Some(HEARTBEAT_IDLE_MS)).await?;
        assert!(json["heartbeatsSent"].as_u64() > Some(0), "{json}");
        assert!(json["heartbeatAcks"].as_u64() > Some(0), "{json}");
        // The call after the idle period went through the same relay connection.
        assert_eq!(json["after"], "hello after !");
        stop(relay).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_and_timeouts_read_the_same_through_the_relay() -> Result<()> {
    bounded(async {
        let (_server, backend) = start_server().await?;
        let relay = start_relay(&BOLT_V1, backend).await?;
        for scenario in ["error", "timeout"] {
            let (direct, direct_out) = run_client(backend, "v1", scenario, None).await?;
            let (relayed, relayed_out) =
                run_client(relay.local_addr(), "v1", scenario, None).await?;
            assert_eq!(direct["ok"], true, "{direct_out}");
            assert_eq!(relayed["ok"], true, "{relayed_out}");
            assert_eq!(
                reported_error(&relayed)?,
                reported_error(&direct)?,
                "{scenario}: the client reports a different error through the relay\n\
                 direct: {direct_out}\nrelayed: {relayed_out}"
            );
        }
        stop(relay).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_relay_carries_v2_and_v2_crc_clients() -> Result<()> {
    bounded(async {
        let (_server, backend) = start_server().await?;
        let relay = start_relay(&BOLT_V2, backend).await?;
        for bolt in ["v2", "v2crc"] {
            let hello = client_passes(relay.local_addr(), bolt, "hello", None).await?;
            assert_eq!(hello["result"], "hello peter !", "{bolt}");
            let concurrent =
                client_passes(relay.local_addr(), bolt, "concurrent", Some("100")).await?;
            assert_eq!(concurrent["good"].as_u64(), Some(100), "{bolt}: {concurrent}");
        }
        stop(relay).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sofa_bolt_node_frames_cross_the_relays() -> Result<()> {
    bounded(async {
        let (_server, backend) = start_server().await?;
        let v1 = start_relay(&BOLT_V1, backend).await?;
        let v2 = start_relay(&BOLT_V2, backend).await?;
        for (variant, relay, want_protocol) in [
            ("v1", v1.local_addr(), "bolt"),
            ("v2", v2.local_addr(), "bolt2"),
            ("v2crc", v2.local_addr(), "bolt2"),
        ] {
            let cmd = PeerCommand::node(PEER, "frames.js")?.args([
                "send".to_owned(),
                relay.ip().to_string(),
                relay.port().to_string(),
                variant.to_owned(),
                "77".to_owned(),
            ]);
            let output = run(cmd).await?;
            let json = result_json(&output)?;
            assert!(output.status.success(), "{variant}\n{output}");
            assert_eq!(json["requestId"], 77, "{output}");
            assert_eq!(json["status"], 0, "{output}");
            assert_eq!(json["appResponse"], "hello peter !", "{output}");
            let protocol = &json["protocol"];
            assert_eq!(protocol["protocolType"], want_protocol, "{output}");
            assert_eq!(protocol["crcEnable"] == true, variant == "v2crc", "{output}");
        }
        stop(v1).await?;
        stop(v2).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_v1_client_frames_reencode_byte_exact() -> Result<()> {
    bounded(tap_client_frames("v1")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_v2_client_frames_reencode_byte_exact() -> Result<()> {
    bounded(tap_client_frames("v2")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_v2_crc_client_frames_reencode_byte_exact() -> Result<()> {
    bounded(tap_client_frames("v2crc")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_client_reads_the_relays_error_reply() -> Result<()> {
    const MESSAGE: &str = "relay: no healthy upstream for HelloService";
    bounded(async {
        let relay = start_failing_relay(&BOLT_V1, MESSAGE).await?;
        let (json, output) = run_client(relay.local_addr(), "v1", "error", None).await?;
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("RpcServerException"), "{output}");
        assert!(message.contains(MESSAGE), "{output}");
        stop(relay).await
    })
    .await
}
