//! End to end: the gateway drains under load. A real client sends calls at a fixed rate on
//! one connection through xproxy to a real server; halfway through, the gateway starts to
//! shut down (what SIGTERM and admin `POST /drain` do). Every call must be answered: the
//! calls sent after the drain began are still served, the connection closes only once quiet,
//! and new connections are refused at once. A call still in flight when the drain timeout
//! ends gets the protocol's error reply, not a silent close.
//!
//! Needs Node.js, Python with `tests/peers/dubbo/requirements.txt`, and the peers installed:
//! `tests/peers/install.sh`.

mod common;

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use common::*;
use serde_json::json;
use tokio::net::TcpStream;

/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// Calls per run and the gap between them: 3 s of load at 50 calls/s.
const PACE: &str = "150 20";
/// How long after the first paced call the drain begins.
const DRAIN_AFTER: Duration = Duration::from_millis(1200);

/// One listener, `protocol`'s `service` routed to `server`, a drain timeout of `drain`.
fn config(protocol: &str, service: &str, server: &Server, drain: &str) -> String {
    let mut yaml = HEAD.to_owned();
    yaml.push_str(&format!(
        "limits:\n  drain_timeout: {drain}\n  drain_quiet: 500ms\n\
         routes:\n  - protocol: {protocol}\n    routes:\n      - name: {protocol}-route\n        \
         match: {{ service: {{ exact: \"{service}\" }} }}\n        \
         action: {{ cluster: {protocol} }}\n        timeout: 10s\n"
    ));
    yaml.push_str("clusters:\n");
    yaml.push_str(&cluster(protocol, &[server.addr], ""));
    yaml
}

/// Runs the paced `client` against `gateway`, drains the gateway once the calls are under way,
/// and checks that every call succeeded, that the drain refused new connections while the
/// open one was still served, and that the gateway stopped once the connection went quiet.
async fn drain_under_load(gateway: xproxy::gateway::Gateway, client: Running) -> Result<()> {
    let addr = port(&gateway)?;
    client.invoking().await?;
    tokio::time::sleep(DRAIN_AFTER).await;
    let started = Instant::now();
    let drained = tokio::spawn(gateway.shutdown());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = TcpStream::connect(addr).await;
    ensure!(refused.is_err(), "a new connection was accepted during the drain");
    let run = client.finish().await?;
    ensure!(run.json["ok"] == true, "calls failed during the drain\n{}", run.output);
    ensure!(run.json["good"] == 150, "{}", run.output);
    tokio::time::timeout(Duration::from_secs(8), drained).await??;
    // The load ran about 1.8 s into the drain; the gateway waited for it, not for the
    // whole 10 s drain timeout.
    let took = started.elapsed();
    ensure!(took > Duration::from_millis(1500), "stopped after {took:?}, under load");
    ensure!(took < Duration::from_secs(6), "stopped after {took:?}");
    Ok(())
}

#[tokio::test]
async fn bolt_calls_sent_during_the_drain_are_all_answered() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = bolt_server().await?;
        let gateway = gateway(&config("bolt", BOLT_SERVICE, &server, "10s")).await?;
        let client = Running::spawn(bolt_client(port(&gateway)?, "paced", Some(PACE))?)?;
        drain_under_load(gateway, client).await
    })
    .await
}

#[tokio::test]
async fn dubbo_calls_sent_during_the_drain_are_all_answered() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = dubbo_server().await?;
        let gateway = gateway(&config("dubbo", DUBBO_SERVICE, &server, "10s")).await?;
        let client = Running::spawn(dubbo_client(port(&gateway)?, "paced", Some(PACE))?)?;
        drain_under_load(gateway, client).await
    })
    .await
}

#[tokio::test]
async fn tars_calls_sent_during_the_drain_are_all_answered() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = tars_server().await?;
        let gateway = gateway(&config("tars", TARS_SERVANT, &server, "10s")).await?;
        let client = Running::spawn(tars_client(port(&gateway)?, "paced", Some(PACE))?)?;
        drain_under_load(gateway, client).await
    })
    .await
}

#[tokio::test]
async fn a_call_outlasting_the_drain_timeout_gets_an_error_reply() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = bolt_server().await?;
        let gateway = gateway(&config("bolt", BOLT_SERVICE, &server, "1s")).await?;
        let slow = json!([{"method": "sleep", "args": [5000], "timeout": 10_000}]).to_string();
        let client = Running::spawn(bolt_client(port(&gateway)?, "calls", Some(&slow))?)?;
        client.invoking().await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        gateway.shutdown().await;
        let run = client.finish().await?;
        let result = run.result(0);
        ensure!(result["ok"] == false, "{}", run.output);
        // The gateway's error reply: a server-side timeout status with its message, long
        // before the 5 s call or the client's 10 s timeout would end.
        let elapsed = result["elapsedMs"].as_u64().unwrap_or(u64::MAX);
        ensure!(elapsed < 3000, "answered after {elapsed} ms\n{}", run.output);
        let error = result["error"].to_string();
        ensure!(error.contains("drain timeout"), "not the gateway's reply: {error}");
        Ok(())
    })
    .await
}
