//! End to end: how fast the gateway recovers from a short backend outage, under steady load.
//!
//! One backend per cluster (the hardest case: with nowhere else to send requests, an ejected
//! endpoint means failed requests), in process and on 127.0.0.1, so that the test can kill it
//! and bring it back on the same port, or freeze it:
//!
//! - killed and restarted 200 ms later: errors must stop within 0.5 s of the restart (a fixed
//!   5 s ejection used to fail everything for 5 s);
//! - frozen (accepts nothing new and answers nothing, as a SIGSTOPped process; requests time
//!   out and new connections time out once its small accept backlog is full) and then
//!   resumed: no error once it is back, after a short settle window.
//!
//! Bolt (the RPC relay path) and HTTP/1.1 (the HTTP path) are each tested. The load is a
//! steady few hundred requests per second; every request's end time and outcome is recorded
//! and the assertions count errors in windows with wide margins, since the machine is shared.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use common::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use xprotocol::engine::{serve_connection, Client, EngineConfig};
use xprotocol::Frame;
use xprotocol_bolt::{Bolt, BoltFrame, BoltVersion, ResponseStatus, BOLT_V1};

/// Every test ends within this, whatever happens.
const TEST_LIMIT: Duration = Duration::from_secs(40);
/// Time between two requests of the load (a little over 300 requests/s).
const LOAD_INTERVAL: Duration = Duration::from_millis(3);
/// The gap between killing a backend and starting it again.
const RESTART_GAP: Duration = Duration::from_millis(200);
/// After a restart, errors must have stopped within this.
const RECOVERY_BUDGET: Duration = Duration::from_millis(500);
/// How long a backend stays frozen.
const FREEZE: Duration = Duration::from_millis(2500);
/// The gateway's route timeout: a request to a frozen backend fails after this.
const ROUTE_TIMEOUT: Duration = Duration::from_millis(400);
/// After a freeze, requests sent this long after the backend resumed must all succeed.
const FREEZE_SETTLE: Duration = Duration::from_millis(100);
/// Requests sent before the resume may still fail up to a route timeout later (one whose
/// connect was lost in the frozen backend's full backlog, say); past this margin on top,
/// none may.
const FREEZE_MARGIN: Duration = Duration::from_millis(300);
/// The accept backlog of the test backends: small, so that a frozen backend soon stops
/// completing connects, as a stopped process with a full backlog does.
const BACKLOG: u32 = 8;

static BOLT: Bolt = BOLT_V1;

const SOFA_REQUEST: &str = "com.alipay.sofa.rpc.core.request.SofaRequest";
const SOFA_RESPONSE: &str = "com.alipay.sofa.rpc.core.response.SofaResponse";
const SERVICE: &str = "com.example.Recovery";

// ---- backends that can be killed, restarted and frozen ------------------------------------

/// Which backend to run.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Bolt,
    Http1,
}

/// A backend on a fixed 127.0.0.1 port. `freeze` closes its gate: it accepts nothing new and
/// answers nothing until the gate opens again. `kill` drops its listener and every connection
/// at once, as a killed process would.
struct Backend {
    kind: Kind,
    addr: SocketAddr,
    gate: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Backend {
    async fn start(kind: Kind, addr: SocketAddr) -> Result<Backend> {
        let (gate, _) = watch::channel(true);
        let mut backend = Backend { kind, addr, gate, task: None };
        backend.restart().await?;
        Ok(backend)
    }

    /// Listens again on the same port (after [`kill`](Backend::kill)).
    async fn restart(&mut self) -> Result<()> {
        let socket = TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(self.addr)?;
        let listener = socket.listen(BACKLOG)?;
        self.addr = listener.local_addr()?;
        let gate = self.gate.subscribe();
        self.task = Some(tokio::spawn(accept_loop(self.kind, listener, gate)));
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            // The accept loop owns every connection task: aborting it closes them all.
            task.abort();
        }
    }

    fn freeze(&self, frozen: bool) {
        self.gate.send_replace(!frozen);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits while the gate is closed.
async fn open(gate: &mut watch::Receiver<bool>) {
    let _ = gate.wait_for(|open| *open).await;
}

async fn accept_loop(kind: Kind, listener: TcpListener, mut gate: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        open(&mut gate).await;
        let Ok((stream, _)) = listener.accept().await else { continue };
        let gate = gate.clone();
        match kind {
            Kind::Bolt => connections.spawn(serve_bolt(stream, gate)),
            Kind::Http1 => connections.spawn(serve_http1(stream, gate)),
        };
        while connections.try_join_next().is_some() {}
    }
}

async fn serve_bolt(stream: TcpStream, gate: watch::Receiver<bool>) {
    let reply = BoltFrame::response(BoltVersion::V1, 1, ResponseStatus::Success)
        .class_name(SOFA_RESPONSE)
        .content(Bytes::from_static(b"ok"))
        .build()
        .expect("a fixed reply encodes");
    let handler = move |_request: BoltFrame| {
        let (reply, mut gate) = (reply.clone(), gate.clone());
        async move {
            open(&mut gate).await;
            Some(reply)
        }
    };
    let config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
    let shutdown = CancellationToken::new();
    let _ = serve_connection(&BOLT, stream, Arc::new(handler), config, shutdown).await;
}

/// A keep-alive HTTP/1.1 server answering every request (without a body) with `200 ok`.
async fn serve_http1(stream: TcpStream, mut gate: watch::Receiver<bool>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        open(&mut gate).await;
        match read_head(&mut read).await {
            Ok(Some(_)) => {}
            _ => return,
        }
        open(&mut gate).await;
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Reads a message head up to its blank line; returns its lines, or `None` at end of stream.
async fn read_head<R: tokio::io::AsyncBufRead + Unpin>(
    read: &mut R,
) -> Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await? == 0 {
            return if lines.is_empty() { Ok(None) } else { bail!("head cut short") };
        }
        let line = line.trim_end().to_owned();
        if line.is_empty() {
            return Ok(Some(lines));
        }
        lines.push(line);
    }
}

/// A free port on 127.0.0.1.
fn free_addr() -> Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

// ---- the gateway -------------------------------------------------------------------------

/// A gateway forwarding Bolt `SERVICE` and every HTTP request to one-endpoint clusters of
/// `backend`; the route timeout bounds requests to a frozen backend.
async fn start_gateway(kind: Kind, backend: SocketAddr) -> Result<xproxy::gateway::Gateway> {
    let mut yaml = HEAD.to_owned();
    match kind {
        Kind::Bolt => yaml.push_str(&format!(
            "routes:\n  - protocol: bolt\n    routes:\n      - name: recovery\n        \
             match: {{ service: {{ exact: \"{SERVICE}\" }} }}\n        \
             action: {{ cluster: backend }}\n        timeout: {}ms\n",
            ROUTE_TIMEOUT.as_millis()
        )),
        Kind::Http1 => yaml.push_str(&format!(
            "http:\n  virtual_hosts:\n    - name: all\n      domains: [\"*\"]\n      routes:\n        \
             - name: recovery\n          match: {{path: {{prefix: \"/\"}}}}\n          \
             action: {{cluster: backend}}\n          timeout: {}ms\n",
            ROUTE_TIMEOUT.as_millis()
        )),
    }
    yaml.push_str("clusters:\n");
    yaml.push_str(&cluster("backend", &[backend], "connect_timeout: 250ms\nhttp_protocol: http1"));
    gateway(&yaml).await
}

// ---- the load ----------------------------------------------------------------------------

/// One finished request: when it was sent and when it ended (since the load started), and
/// whether it succeeded.
#[derive(Clone, Copy, Debug)]
struct Done {
    sent: Duration,
    at: Duration,
    ok: bool,
}

/// A steady load through the gateway, recording every request.
struct Load {
    start: Instant,
    done: Arc<Mutex<Vec<Done>>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Load {
    /// Starts one request every [`LOAD_INTERVAL`], each on its own task.
    async fn start(kind: Kind, gateway: SocketAddr) -> Result<Load> {
        let start = Instant::now();
        let done = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let sender = Sender::new(kind, gateway).await?;
        let (d, s) = (Arc::clone(&done), stop.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(LOAD_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut requests = JoinSet::new();
            loop {
                tokio::select! {
                    () = s.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let (sender, d) = (sender.clone(), Arc::clone(&d));
                requests.spawn(async move {
                    let sent = start.elapsed();
                    let ok = sender.send().await;
                    let done = Done { sent, at: start.elapsed(), ok };
                    d.lock().expect("no panic holds it").push(done);
                });
                while requests.try_join_next().is_some() {}
            }
            while requests.join_next().await.is_some() {}
        });
        Ok(Load { start, done, stop, task })
    }

    /// Time since the load started.
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Stops sending, waits for the requests in flight, and returns every request.
    async fn finish(self) -> Result<Vec<Done>> {
        self.stop.cancel();
        self.task.await?;
        let done = self.done.lock().expect("no panic holds it").clone();
        Ok(done)
    }
}

/// How a request is sent: a Bolt call on a shared multiplexed connection, or an HTTP/1.1
/// GET on a fresh connection (so that one stuck request holds up no other).
#[derive(Clone)]
enum Sender {
    Bolt(Client<Bolt>, BoltFrame),
    Http1(SocketAddr),
}

/// What a request may take at the client before it counts as failed.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

impl Sender {
    async fn new(kind: Kind, gateway: SocketAddr) -> Result<Sender> {
        Ok(match kind {
            Kind::Bolt => {
                let config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
                let client = Client::connect(&BOLT, gateway, config).await?;
                let request = BoltFrame::request(BoltVersion::V1, 1)
                    .timeout(2000)
                    .class_name(SOFA_REQUEST)
                    .header("service", &format!("{SERVICE}:1.0"))
                    .header("sofa_head_method_name", "hello")
                    .content(Bytes::from_static(b"hi"))
                    .build()?;
                Sender::Bolt(client, request)
            }
            Kind::Http1 => Sender::Http1(gateway),
        })
    }

    /// Sends one request; `true` if it got a successful reply.
    async fn send(&self) -> bool {
        match self {
            Sender::Bolt(client, request) => {
                let reply = client.call_with_timeout(request.clone(), CLIENT_TIMEOUT).await;
                reply.is_ok_and(|r| r.status() == Some(0))
            }
            Sender::Http1(gateway) => {
                let got = tokio::time::timeout(CLIENT_TIMEOUT, http_get(*gateway)).await;
                matches!(got, Ok(Ok(200)))
            }
        }
    }
}

/// A GET through the gateway on a new connection; the reply's status.
async fn http_get(gateway: SocketAddr) -> Result<u16> {
    let mut stream = TcpStream::connect(gateway).await?;
    let request = "GET /r HTTP/1.1\r\nHost: recovery\r\nConnection: close\r\n\r\n";
    stream.write_all(request.as_bytes()).await?;
    let mut read = BufReader::new(stream);
    let head = read_head(&mut read).await?.context("no reply")?;
    let status = head
        .first()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .context("no status line")?;
    let mut body = Vec::new();
    read.read_to_end(&mut body).await?;
    Ok(status)
}

// ---- the scenarios -------------------------------------------------------------------------

/// Errors among `done` that ended in `[from, to)`.
fn errors_between(done: &[Done], from: Duration, to: Duration) -> usize {
    done.iter().filter(|d| !d.ok && d.at >= from && d.at < to).count()
}

/// Errors among `done` that were sent at or after `from`.
fn errors_of_sent_after(done: &[Done], from: Duration) -> usize {
    done.iter().filter(|d| !d.ok && d.sent >= from).count()
}

/// A timeline of errors per 100 ms, for assertion messages.
fn timeline(done: &[Done]) -> String {
    let last = done.iter().map(|d| d.at).max().unwrap_or_default();
    let slots = (last.as_millis() / 100 + 1) as usize;
    let mut errors = vec![0usize; slots];
    let mut total = vec![0usize; slots];
    for d in done {
        let slot = (d.at.as_millis() / 100) as usize;
        total[slot] += 1;
        if !d.ok {
            errors[slot] += 1;
        }
    }
    let cells: Vec<String> = errors.iter().zip(&total).map(|(e, t)| format!("{e}/{t}")).collect();
    format!("errors/requests per 100 ms: {}", cells.join(" "))
}

/// Steady load; the backend is killed, and restarted [`RESTART_GAP`] later on the same port.
async fn kill_and_restart(kind: Kind) -> Result<()> {
    let mut backend = Backend::start(kind, free_addr()?).await?;
    let gateway = start_gateway(kind, backend.addr).await?;
    let load = Load::start(kind, port(&gateway)?).await?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    backend.kill();
    let killed = load.now();
    tokio::time::sleep(RESTART_GAP).await;
    backend.restart().await?;
    let restarted = load.now();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let end = load.now();
    let done = load.finish().await?;
    let metrics = admin_get(&gateway, "/metrics").await?;
    gateway.shutdown().await;

    // The outage was seen by outlier detection, and the only endpoint out meant panic mode.
    let cluster = [("cluster", "backend")];
    let ejections = metric(&metrics, "xproxy_upstream_ejections_total", &cluster);
    let panics = metric(&metrics, "xproxy_upstream_panics_total", &cluster);
    assert!(ejections >= 1.0 && panics >= 1.0, "ejections {ejections}, panics {panics}");

    let recovered = restarted + RECOVERY_BUDGET;
    let before = errors_between(&done, Duration::ZERO, killed);
    let during = errors_between(&done, killed, recovered);
    let after = errors_between(&done, recovered, end + CLIENT_TIMEOUT);
    let served_after = done.iter().filter(|d| d.ok && d.at >= recovered).count();
    let report = format!(
        "{kind:?}: killed at {killed:?}, restarted at {restarted:?}; errors before {before}, \
         in the outage and recovery budget {during}, after {after}\n{}",
        timeline(&done)
    );
    assert_eq!(before, 0, "{report}");
    assert!(during > 0, "the outage must be felt, or the test proves nothing\n{report}");
    assert_eq!(after, 0, "errors went on past the recovery budget\n{report}");
    assert!(served_after > 100, "the load must go on after the restart\n{report}");
    Ok(())
}

/// Steady load; the backend freezes for [`FREEZE`] and then resumes.
async fn freeze_and_resume(kind: Kind) -> Result<()> {
    let backend = Backend::start(kind, free_addr()?).await?;
    let gateway = start_gateway(kind, backend.addr).await?;
    let load = Load::start(kind, port(&gateway)?).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    backend.freeze(true);
    let frozen = load.now();
    tokio::time::sleep(FREEZE).await;
    backend.freeze(false);
    let resumed = load.now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let end = load.now();
    let done = load.finish().await?;
    gateway.shutdown().await;

    let settled = resumed + FREEZE_SETTLE;
    let quiet = resumed + ROUTE_TIMEOUT + FREEZE_MARGIN;
    let before = errors_between(&done, Duration::ZERO, frozen);
    let during = errors_between(&done, frozen, quiet);
    let sent_after = errors_of_sent_after(&done, settled);
    let after = errors_between(&done, quiet, end + CLIENT_TIMEOUT);
    let served_after = done.iter().filter(|d| d.ok && d.at >= settled).count();
    let report = format!(
        "{kind:?}: frozen at {frozen:?}, resumed at {resumed:?}; errors before {before}, \
         while frozen {during}, of requests sent after it resumed {sent_after}, ending later \
         {after}\n{}",
        timeline(&done)
    );
    assert_eq!(before, 0, "{report}");
    assert!(during > 0, "requests to a frozen backend must time out\n{report}");
    assert_eq!(sent_after, 0, "requests sent after the backend resumed failed\n{report}");
    assert_eq!(after, 0, "errors went on after the backend resumed\n{report}");
    assert!(served_after > 100, "the load must go on after the freeze\n{report}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolt_backend_restarted_at_once_is_back_within_half_a_second() -> Result<()> {
    bounded(TEST_LIMIT, kill_and_restart(Kind::Bolt)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_backend_restarted_at_once_is_back_within_half_a_second() -> Result<()> {
    bounded(TEST_LIMIT, kill_and_restart(Kind::Http1)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolt_backend_frozen_then_resumed_fails_nothing_after() -> Result<()> {
    bounded(TEST_LIMIT, freeze_and_resume(Kind::Bolt)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_backend_frozen_then_resumed_fails_nothing_after() -> Result<()> {
    bounded(TEST_LIMIT, freeze_and_resume(Kind::Http1)).await
}
