//! Shared setup of the end-to-end gateway tests (`proxy_e2e_*.rs`): real peer servers and
//! clients from `tests/peers/`, an in-process xproxy between them on 127.0.0.1:0, and its
//! `/metrics` read over a raw HTTP/1.1 GET.
//!
//! Each test file uses part of this module; the rest is dead code in that file's binary.
#![allow(dead_code)]

pub mod http;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use xproxy::config::{self, Format};
use xproxy::gateway::{known_protocols, Gateway};
use xproxy_tests::peers::{PeerCommand, PeerOutput, PeerProcess};

/// The Bolt service of `tests/peers/bolt/server.js` (its unique name adds `:1.0`).
pub const BOLT_SERVICE: &str = "com.alipay.sofa.rpc.quickstart.HelloService";
/// The Dubbo service of `tests/peers/dubbo/provider.js`.
pub const DUBBO_SERVICE: &str = "com.example.DemoService";
/// The Tars servant of `tests/peers/tars/server.js`.
pub const TARS_SERVANT: &str = "TARS.NodeTarsServer.NodeTarsObj";
/// The name of the one listener of every test gateway.
pub const LISTENER: &str = "e2e";

/// How long a peer server may take to print `READY <port>`.
const READY_LIMIT: Duration = Duration::from_secs(20);
/// How long a peer server lives at most, whatever the test does.
const SERVER_LIFETIME: Duration = Duration::from_secs(90);
/// How long one client run may take.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// Runs a test body within `limit`.
pub async fn bounded(
    limit: Duration,
    body: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    timeout(limit, body).await.map_err(|_| anyhow!("test exceeded {limit:?}"))?
}

// ---- peer servers -----------------------------------------------------------------------

/// A real peer server, killed when dropped.
pub struct Server {
    /// The process.
    pub process: PeerProcess,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Server {
    /// Kills the process now (a backend dying under the gateway).
    pub async fn kill(self) -> Result<()> {
        let mut process = self.process;
        tokio::task::spawn_blocking(move || process.kill()).await?;
        Ok(())
    }
}

/// Starts a peer server that prints `READY <port>` once it listens on 127.0.0.1.
pub async fn start_server(cmd: PeerCommand) -> Result<Server> {
    let cmd = cmd.lifetime(SERVER_LIFETIME);
    let mut process = cmd.spawn()?;
    let (process, port) = tokio::task::spawn_blocking(move || {
        let port = process.wait_ready(READY_LIMIT);
        (process, port)
    })
    .await?;
    Ok(Server { process, addr: SocketAddr::from(([127, 0, 0, 1], port?)) })
}

/// `tests/peers/bolt/server.js` (sofa-rpc-node) on a free port.
pub async fn bolt_server() -> Result<Server> {
    start_server(PeerCommand::node("bolt", "server.js")?.env("MAX_LIFETIME_MS", "90000")).await
}

/// `tests/peers/dubbo/provider.js` (hessian.js) on a free port.
pub async fn dubbo_server() -> Result<Server> {
    // Its stdin is /dev/null here: tell it not to exit on end of stdin.
    let cmd = PeerCommand::node("dubbo", "provider.js")?.args(["0", "90000"]);
    start_server(cmd.env("IGNORE_STDIN", "1")).await
}

/// `tests/peers/tars/server.js` (@tars/rpc) on a free port.
pub async fn tars_server() -> Result<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    start_server(
        PeerCommand::node("tars", "server.js")?.args([port.to_string(), "90000".to_owned()]),
    )
    .await
}

// ---- peer clients -----------------------------------------------------------------------

/// A finished client run: its JSON result (last stdout line) and everything it printed.
pub struct ClientRun {
    /// The last stdout line, parsed.
    pub json: Value,
    /// The whole output, for assertion messages.
    pub output: PeerOutput,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

impl ClientRun {
    /// `results[i]` of a `calls` / `batch` run.
    pub fn result(&self, i: usize) -> &Value {
        &self.json["results"][i]
    }

    /// The entry of `results` whose `call` is `name` (Dubbo consumer), or `null`.
    pub fn call(&self, name: &str) -> &Value {
        self.results().into_iter().find(|r| r["call"] == name).unwrap_or(&Value::Null)
    }

    /// Every entry of `results`.
    pub fn results(&self) -> Vec<&Value> {
        self.json["results"].as_array().map(|a| a.iter().collect()).unwrap_or_default()
    }
}

/// `node client.js HOST:PORT SCENARIO [ARG]` of the Bolt peers (sofa-rpc-node, Bolt v1).
pub fn bolt_client(gateway: SocketAddr, scenario: &str, arg: Option<&str>) -> Result<PeerCommand> {
    Ok(PeerCommand::node("bolt", "client.js")?
        .arg(gateway.to_string())
        .arg(scenario)
        .args(arg)
        .env("HARD_LIMIT_MS", "30000"))
}

/// `python3 consumer.py HOST PORT SCENARIO [JSON]` of the Dubbo peers (dubbo-ssl-python).
pub fn dubbo_client(gateway: SocketAddr, scenario: &str, arg: Option<&str>) -> Result<PeerCommand> {
    Ok(PeerCommand::python("dubbo", "consumer.py")?
        .args([gateway.ip().to_string(), gateway.port().to_string(), scenario.to_owned()])
        .args(arg))
}

/// `node client.js HOST PORT SCENARIO [ARG]` of the Tars peers (@tars/rpc).
pub fn tars_client(gateway: SocketAddr, scenario: &str, arg: Option<&str>) -> Result<PeerCommand> {
    Ok(PeerCommand::node("tars", "client.js")?
        .args([gateway.ip().to_string(), gateway.port().to_string(), scenario.to_owned()])
        .args(arg))
}

/// Runs a client to its end (within [`RUN_LIMIT`]) and parses its last stdout line.
pub async fn run(cmd: PeerCommand) -> Result<ClientRun> {
    let cmd = cmd.lifetime(RUN_LIMIT + Duration::from_secs(5));
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || cmd.run(RUN_LIMIT)).await??;
    finish(output, started)
}

fn finish(output: PeerOutput, started: Instant) -> Result<ClientRun> {
    let elapsed = started.elapsed();
    let line = output.last_line().ok_or_else(|| anyhow!("no output\n{output}"))?;
    let json =
        serde_json::from_str(line).with_context(|| format!("last line is not JSON\n{output}"))?;
    Ok(ClientRun { json, output, elapsed })
}

/// Runs a client whose result must be `"ok": true`.
pub async fn run_ok(cmd: PeerCommand) -> Result<ClientRun> {
    let what = cmd.describe();
    let run = run(cmd).await?;
    ensure!(run.json["ok"] == true, "`{what}` did not succeed\n{}", run.output);
    Ok(run)
}

/// A client started in the background, to act while its calls are in flight.
pub struct Running {
    process: PeerProcess,
    started: Instant,
}

impl Running {
    /// Starts `cmd`.
    pub fn spawn(cmd: PeerCommand) -> Result<Running> {
        let process = cmd.lifetime(RUN_LIMIT + Duration::from_secs(5)).spawn()?;
        Ok(Running { process, started: Instant::now() })
    }

    /// Waits until the client printed its `{"event":"invoking"}` line (its calls are being
    /// written).
    pub async fn invoking(&self) -> Result<()> {
        let deadline = Instant::now() + READY_LIMIT;
        while !self.process.captured().stdout.contains("\"invoking\"") {
            if Instant::now() > deadline {
                bail!("the client did not start its calls\n{}", self.process.captured());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Waits for the client's exit and parses its result.
    pub async fn finish(self) -> Result<ClientRun> {
        let started = self.started;
        finish(self.finish_raw().await?, started)
    }

    /// Waits for the client's exit and returns everything it printed (for tools whose output
    /// is not one JSON line).
    pub async fn finish_raw(self) -> Result<PeerOutput> {
        let Running { process, .. } = self;
        Ok(tokio::task::spawn_blocking(move || process.wait_exit(RUN_LIMIT)).await??)
    }
}

// ---- the gateway ------------------------------------------------------------------------

/// Parses and validates `yaml` (any error fails the test) and starts the gateway.
pub async fn gateway(yaml: &str) -> Result<Gateway> {
    let config = config::parse(yaml, Format::Yaml).map_err(|e| anyhow!("config: {e}\n{yaml}"))?;
    let report = config::validate(&config, Some(yaml), &known_protocols());
    let errors = &report.errors;
    ensure!(errors.is_empty(), "config does not validate: {errors:?}\n{yaml}");
    Gateway::start(&config).await
}

/// The address of the gateway's one listener.
pub fn port(gateway: &Gateway) -> Result<SocketAddr> {
    gateway.listener_address(LISTENER).ok_or_else(|| anyhow!("no listener {LISTENER}"))
}

/// The head of a test config: one listener for every protocol on 127.0.0.1:0 and the admin
/// endpoint on another free port. Append `routes:` and `clusters:`.
pub const HEAD: &str = "
listeners:
  - name: e2e
    address: 127.0.0.1:0
    sniff: { timeout: 1s }
admin:
  address: 127.0.0.1:0
";

/// A cluster of `endpoints` named `name`, as a YAML list item under `clusters:`.
pub fn cluster(name: &str, endpoints: &[SocketAddr], extra: &str) -> String {
    let mut yaml = format!("  - name: {name}\n    endpoints:\n");
    for e in endpoints {
        yaml.push_str(&format!("      - address: {e}\n"));
    }
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        yaml.push_str(&format!("    {}\n", line.trim_start()));
    }
    yaml
}

/// GETs `path` from the admin endpoint with a hand-written HTTP/1.1 request and returns the
/// body of a 200 reply.
pub async fn admin_get(gateway: &Gateway, path: &str) -> Result<String> {
    let admin = gateway.admin_address().ok_or_else(|| anyhow!("admin endpoint off"))?;
    timeout(Duration::from_secs(5), async {
        let mut stream = TcpStream::connect(admin).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let text = String::from_utf8(raw)?;
        let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| anyhow!("no head: {text}"))?;
        ensure!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            return dechunk(body);
        }
        Ok(body.to_owned())
    })
    .await
    .map_err(|_| anyhow!("GET {path} took over 5 s"))?
}

fn dechunk(mut body: &str) -> Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").ok_or_else(|| anyhow!("bad chunk"))?;
        let size = usize::from_str_radix(size.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).ok_or_else(|| anyhow!("short chunk"))?);
        body = rest.get(size + 2..).unwrap_or_default();
    }
}

/// The value of the series `name` whose labels include every `labels` pair (the sum over
/// matching series), or 0 when none matches.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?.strip_prefix('{')?;
            let (set, value) = rest.split_once("} ")?;
            let matches = labels.iter().all(|(k, v)| set.contains(&format!("{k}=\"{v}\"")));
            matches.then(|| value.split_whitespace().next()?.parse::<f64>().ok()).flatten()
        })
        .sum()
}

/// `xproxy_requests_total` of `protocol` and `route` on the test listener.
pub fn requests_total(text: &str, protocol: &str, route: &str) -> f64 {
    let labels = [("listener", LISTENER), ("protocol", protocol), ("route", route)];
    metric(text, "xproxy_requests_total", &labels)
}

/// `xproxy_request_errors_total` of `protocol` and `route` and failure `class`.
pub fn errors_total(text: &str, protocol: &str, route: &str, class: &str) -> f64 {
    let labels =
        [("listener", LISTENER), ("protocol", protocol), ("route", route), ("class", class)];
    metric(text, "xproxy_request_errors_total", &labels)
}
