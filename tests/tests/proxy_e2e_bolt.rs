//! End to end over Bolt: the real npm `sofa-rpc-node` client → xproxy (in process, one
//! auto-detecting port) → the real `sofa-rpc-node` server, and the error replies the gateway
//! makes as the real client reports them.
//!
//! Needs Node.js and the peers installed: `tests/peers/install.sh`.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::*;
use serde_json::{json, Value};

/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// One route sending the HelloService, in Bolt v1 and v2, to one cluster of `endpoints`.
fn config(server: &Server, route_extra: &str, cluster_extra: &str) -> String {
    let mut yaml = HEAD.to_owned();
    yaml.push_str("routes:\n");
    for protocol in ["bolt", "boltv2"] {
        yaml.push_str(&format!(
            "  - protocol: {protocol}\n    routes:\n      - name: {protocol}-hello\n        \
             match: {{ service: {{ exact: \"{BOLT_SERVICE}\" }} }}\n        \
             action: {{ cluster: bolt }}\n"
        ));
        for line in route_extra.lines().filter(|l| !l.trim().is_empty()) {
            yaml.push_str(&format!("        {}\n", line.trim_start()));
        }
    }
    yaml.push_str("clusters:\n");
    yaml.push_str(&cluster("bolt", &[server.addr], cluster_extra));
    yaml
}

/// The `calls` scenario's argument: `method(args)` with a 10 s client timeout, each.
fn calls(list: &[(&str, Value)]) -> String {
    let calls: Vec<Value> = list
        .iter()
        .map(|(method, args)| json!({"method": method, "args": args, "timeout": 10_000}))
        .collect();
    Value::Array(calls).to_string()
}

/// The message of a failed call of a `calls` run.
fn error_message(result: &Value) -> &str {
    result["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_client_calls_real_server_through_the_gateway() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = bolt_server().await?;
        let gateway = gateway(&config(&server, "", "")).await?;
        let addr = port(&gateway)?;
        let hello = run_ok(bolt_client(addr, "hello", None)?);
        let concurrent = run_ok(bolt_client(addr, "concurrent", Some("100"))?);
        let big = run_ok(bolt_client(addr, "big", None)?);
        let heartbeat = run_ok(bolt_client(addr, "heartbeat", Some("2500"))?);
        let v2crc = run_ok(bolt_client(addr, "hello", None)?.env("BOLT", "v2crc"));
        let (hello, concurrent, big, heartbeat, v2crc) =
            tokio::try_join!(hello, concurrent, big, heartbeat, v2crc)?;
        assert_eq!(hello.json["result"], "hello peter !", "{}", hello.output);
        assert_eq!(concurrent.json["good"], 100, "{}", concurrent.output);
        assert_eq!(big.json["resultLength"], 1 << 20, "{}", big.output);
        // The gateway answered the client's heartbeats, and the call after the idle period
        // went over the same downstream connection.
        assert!(heartbeat.json["heartbeatAcks"].as_u64() > Some(0), "{}", heartbeat.output);
        assert_eq!(heartbeat.json["after"], "hello after !", "{}", heartbeat.output);
        assert_eq!(v2crc.json["result"], "hello peter !", "{}", v2crc.output);
        // A server-side exception comes back as the server wrote it.
        let error = run(bolt_client(addr, "error", None)?).await?;
        assert_eq!(error.json["ok"], true, "{}", error.output);

        let metrics = admin_get(&gateway, "/metrics").await?;
        // hello 1 + concurrent 100 + big 1 + heartbeat 2 + boom 1; heartbeats are not requests.
        assert_eq!(requests_total(&metrics, "bolt", "bolt-hello"), 105.0, "{metrics}");
        assert_eq!(requests_total(&metrics, "boltv2", "boltv2-hello"), 1.0, "{metrics}");
        assert_eq!(errors_total(&metrics, "bolt", "bolt-hello", "timeout"), 0.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_reaches_the_client_as_rpc_server_exception() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = bolt_server().await?;
        let mut yaml = HEAD.to_owned();
        yaml.push_str(
            "routes:\n  - protocol: bolt\n    routes:\n      - name: other\n        \
             match: { service: { exact: com.example.Other } }\n        action: { cluster: bolt }\n\
             clusters:\n",
        );
        yaml.push_str(&cluster("bolt", &[server.addr], ""));
        let gateway = gateway(&yaml).await?;
        let run = run(bolt_client(port(&gateway)?, "hello", None)?).await?;
        assert_eq!(run.json["ok"], false, "{}", run.output);
        let message = run.json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("RpcServerException"), "{}", run.output);
        assert!(message.contains("no route matches the request"), "{}", run.output);
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "bolt", "", "no_route"), 1.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_backend_gets_the_gateways_timeout_reply() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = bolt_server().await?;
        let gateway = gateway(&config(&server, "timeout: 500ms", "")).await?;
        let addr = port(&gateway)?;
        // One call slower than the route allows, three quick ones beside it on the same
        // connection; the client itself would wait 10 s.
        let list = [
            ("sleep", json!([2000])),
            ("sayHello", json!(["a"])),
            ("sayHello", json!(["b"])),
            ("sayHello", json!(["c"])),
        ];
        let run = run(bolt_client(addr, "calls", Some(&calls(&list)))?).await?;
        let slow = run.result(0);
        assert_eq!(slow["ok"], false, "{}", run.output);
        let message = error_message(slow);
        assert!(message.contains("RpcServerException"), "{}", run.output);
        assert!(message.contains("upstream bolt timed out"), "{}", run.output);
        let elapsed = slow["elapsedMs"].as_u64().unwrap_or(u64::MAX);
        assert!((450..1500).contains(&elapsed), "answered after {elapsed} ms\n{}", run.output);
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(run.result(i + 1)["value"], format!("hello {name} !"), "{}", run.output);
        }
        // The server's late reply to the abandoned call does not upset the gateway's upstream
        // connection: wait for it to arrive, then call again.
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let after = run_ok(bolt_client(addr, "hello", None)?).await?;
        assert_eq!(after.json["result"], "hello peter !");
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "bolt", "bolt-hello", "timeout"), 1.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_circuit_breaker_get_the_overload_reply() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = bolt_server().await?;
        let breaker = "circuit_breaker: { max_requests: 1 }";
        let gateway = gateway(&config(&server, "", breaker)).await?;
        let list: Vec<_> = (0..5).map(|_| ("sleep", json!([1500]))).collect();
        let run = run(bolt_client(port(&gateway)?, "calls", Some(&calls(&list)))?).await?;
        let results = run.results();
        assert_eq!(results.len(), 5, "{}", run.output);
        let slept = results.iter().filter(|r| r["value"] == "slept").count();
        assert_eq!(slept, 1, "one call holds the only permit\n{}", run.output);
        for r in results.iter().filter(|r| r["ok"] == false) {
            // Bolt status 0x04 (server thread pool busy), with our message.
            let message = error_message(r);
            assert!(message.contains("RpcServerException"), "{}", run.output);
            assert!(message.contains("overloaded"), "{}", run.output);
            assert!(r["elapsedMs"].as_u64() < Some(1000), "refused at once\n{}", run.output);
        }
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "bolt", "bolt-hello", "overloaded"), 4.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_counted() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = bolt_server().await?;
        let gateway = gateway(&config(&server, "", "")).await?;
        run_ok(bolt_client(port(&gateway)?, "hello", None)?).await?;
        let metrics = admin_get(&gateway, "/metrics").await?;
        let opened = metric(&metrics, "xproxy_upstream_connections_total", &[("cluster", "bolt")]);
        assert!(opened >= 1.0, "the gateway connected to the server once at least\n{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}
