//! End to end over gRPC: the real PyPI `grpcio` client → xproxy (in process, the shared
//! auto-detecting port) → the real `grpcio` server: every call kind, metadata and statuses
//! passed through, and the failures the gateway answers itself as trailers-only responses
//! with the right `grpc-status` (deadline, no upstream, no route, message too large), plus a
//! retry of UNAVAILABLE onto a healthy endpoint.
//!
//! Needs Python with `tests/peers/grpc/requirements.txt`: `tests/peers/install.sh`.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Result;
use common::*;
use serde_json::json;
use xproxy_tests::peers::PeerCommand;

/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// The gRPC service of `tests/peers/grpc/server.py`.
const SERVICE: &str = "xproxy.test.Echo";

/// `tests/peers/grpc/server.py` on a free port, optionally failing every unary call.
async fn grpc_server(fail_with: Option<&str>) -> Result<Server> {
    let mut cmd = PeerCommand::python("grpc", "server.py")?.args(["0", "90"]);
    cmd = cmd.env("IGNORE_STDIN", "1");
    if let Some(code) = fail_with {
        cmd = cmd.env("FAIL_WITH", code);
    }
    start_server(cmd).await
}

/// `python3 client.py HOST:PORT KIND [ARGS…] [OPTIONS…]`.
fn grpc_client(gateway: SocketAddr, kind: &str, args: &[&str]) -> Result<PeerCommand> {
    Ok(PeerCommand::python("grpc", "client.py")?
        .args([gateway.to_string(), kind.to_owned()])
        .args(args.iter().copied())
        .env("HARD_LIMIT", "30"))
}

/// A gateway whose one HTTP route sends the Echo service to `endpoints` (grpc match), with
/// extra route lines (`timeout: …`, `retry: …`) and HTTP limits.
fn config(endpoints: &[SocketAddr], route_extra: &str, limits: &str) -> String {
    let mut yaml = HEAD.to_owned();
    yaml.push_str(&format!(
        "http:\n  limits: {{ {limits} }}\n  virtual_hosts:\n    - name: grpc\n      \
         domains: [\"*\"]\n      routes:\n        - name: echo\n          \
         match: {{ grpc: {{ service: {{ exact: \"{SERVICE}\" }} }} }}\n          \
         action: {{ cluster: echo }}\n"
    ));
    for line in route_extra.lines().filter(|l| !l.trim().is_empty()) {
        yaml.push_str(&format!("          {}\n", line.trim_start()));
    }
    yaml.push_str("clusters:\n");
    yaml.push_str(&cluster("echo", endpoints, ""));
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_kind_passes_through_with_metadata_and_statuses() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = grpc_server(None).await?;
        let gateway = gateway(&config(&[server.addr], "", "")).await?;
        let addr = port(&gateway)?;
        let (unary, server_stream, client_stream) = tokio::try_join!(
            run(grpc_client(addr, "unary", &["hello", "--metadata", "x-echo=abc"])?),
            run(grpc_client(addr, "server_stream", &["5"])?),
            run(grpc_client(addr, "client_stream", &["a", "bb", "ccc"])?),
        )?;
        assert_eq!(unary.json["code"], "OK", "{}", unary.output);
        assert_eq!(unary.json["replies"], json!(["hello"]), "{}", unary.output);
        assert_eq!(unary.json["metadata"]["x-echo"], "abc", "{}", unary.output);
        assert_eq!(server_stream.json["replies"], json!(["0", "1", "2", "3", "4"]));
        assert_eq!(client_stream.json["replies"], json!(["abbccc"]), "{}", client_stream.output);

        let (bidi, failed, big) = tokio::try_join!(
            run(grpc_client(addr, "bidi", &["x", "y", "z"])?),
            run(grpc_client(addr, "unary", &["fail:NOT_FOUND:caf\u{e9} 100%"])?),
            run(grpc_client(addr, "unary", &["--size", "1000000", "--repeat", "3"])?),
        )?;
        assert_eq!(bidi.json["code"], "OK", "{}", bidi.output);
        assert_eq!(bidi.json["replies"], json!(["x", "y", "z"]), "{}", bidi.output);
        assert_eq!(failed.json["code"], "NOT_FOUND", "{}", failed.output);
        assert_eq!(failed.json["details"], "caf\u{e9} 100%", "{}", failed.output);
        assert_eq!(
            big.json["replies"],
            json!(["<1000000 bytes>", "<1000000 bytes>", "<1000000 bytes>"]),
            "{}",
            big.output
        );

        let metrics = admin_get(&gateway, "/metrics").await?;
        assert!(requests_total(&metrics, "grpc", "echo") >= 8.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_are_enforced_by_the_caller_and_by_the_route() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = grpc_server(None).await?;
        let gateway = gateway(&config(&[server.addr], "timeout: 400ms", "")).await?;
        let addr = port(&gateway)?;
        let (by_caller, by_route, in_time) = tokio::try_join!(
            // The caller's grpc-timeout (300 ms) is shorter than the route's.
            run(grpc_client(addr, "slow", &["2000", "--timeout", "0.3"])?),
            // No deadline from the caller: the route's 400 ms ends it, answered by the gateway.
            run(grpc_client(addr, "slow", &["2000"])?),
            run(grpc_client(addr, "slow", &["50"])?),
        )?;
        assert_eq!(by_caller.json["code"], "DEADLINE_EXCEEDED", "{}", by_caller.output);
        assert_eq!(by_route.json["code"], "DEADLINE_EXCEEDED", "{}", by_route.output);
        assert_eq!(by_route.json["details"], "upstream timeout", "{}", by_route.output);
        let elapsed = by_route.json["elapsed_ms"].as_f64().unwrap_or(f64::MAX);
        assert!((350.0..1500.0).contains(&elapsed), "ended after {elapsed} ms");
        assert_eq!(in_time.json["code"], "OK", "{}", in_time.output);
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_answers_unavailable_unimplemented_and_resource_exhausted() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = grpc_server(None).await?;
        // A port nobody listens on: every connect is refused.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let yaml = config(&[server.addr], "", "max_grpc_message_bytes: 65536")
            .replace("clusters:\n", &format!("clusters:\n{}", cluster("nowhere", &[closed], "")))
            .replace(
                "      routes:\n",
                "      routes:\n        - name: down\n          \
                 match: { grpc: { service: { exact: \"xproxy.test.Down\" } } }\n          \
                 action: { cluster: nowhere }\n",
            );
        let gateway = gateway(&yaml).await?;
        let addr = port(&gateway)?;
        let (down, unrouted, too_big) = tokio::try_join!(
            run(grpc_client(addr, "unary", &["--path", "/xproxy.test.Down/Unary"])?),
            run(grpc_client(addr, "unary", &["--path", "/xproxy.test.Other/Unary"])?),
            run(grpc_client(addr, "unary", &["--size", "100000"])?),
        )?;
        assert_eq!(down.json["code"], "UNAVAILABLE", "{}", down.output);
        assert_eq!(unrouted.json["code"], "UNIMPLEMENTED", "{}", unrouted.output);
        assert_eq!(too_big.json["code"], "RESOURCE_EXHAUSTED", "{}", too_big.output);
        // Within the limit the same route works.
        let fine = run(grpc_client(addr, "unary", &["--size", "60000"])?).await?;
        assert_eq!(fine.json["code"], "OK", "{}", fine.output);
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_is_retried_on_another_endpoint() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let (failing, healthy) =
            tokio::try_join!(grpc_server(Some("UNAVAILABLE")), grpc_server(None))?;
        let retry = "retry: { max_retries: 1, retry_on: [unavailable] }";
        let gateway = gateway(&config(&[failing.addr, healthy.addr], retry, "")).await?;
        let addr = port(&gateway)?;
        let run = run(grpc_client(addr, "unary", &["again", "--repeat", "10"])?).await?;
        assert_eq!(run.json["code"], "OK", "{}", run.output);
        assert_eq!(run.json["replies"].as_array().map(Vec::len), Some(10), "{}", run.output);
        let metrics = admin_get(&gateway, "/metrics").await?;
        let retries = metric(
            &metrics,
            "xproxy_request_retries_total",
            &[("protocol", "grpc"), ("route", "echo")],
        );
        assert!(retries >= 1.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}
