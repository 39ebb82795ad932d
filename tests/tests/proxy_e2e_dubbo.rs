//! End to end over Dubbo: the real PyPI `dubbo-ssl-python` consumer → xproxy (in process, one
//! auto-detecting port) → the hessian.js provider of `tests/peers/dubbo/`, and the error
//! replies the gateway makes as the real consumer reports them. Status 100 (overload), which
//! dubbo-ssl-python cannot read, is checked with our own engine client.
//!
//! Needs Node.js, Python with `tests/peers/dubbo/requirements.txt`, and the peers installed:
//! `tests/peers/install.sh`.

mod common;

use std::time::Duration;

use anyhow::{anyhow, Result};
use bytes::BytesMut;
use common::*;
use serde_json::{json, Value};
use xprotocol::engine::{Client, EngineConfig};
use xprotocol::Codec;
use xprotocol::Frame;
use xprotocol_dubbo::hessian2::Writer;
use xprotocol_dubbo::{Dubbo, DubboCodec, DubboFrame, RequestBuilder};

/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// One route sending the DemoService to one cluster.
fn config(server: &Server, route_extra: &str, cluster_extra: &str) -> String {
    let mut yaml = HEAD.to_owned();
    yaml.push_str(&format!(
        "routes:\n  - protocol: dubbo\n    routes:\n      - name: dubbo-demo\n        \
         match: {{ service: {{ exact: \"{DUBBO_SERVICE}\" }}, version: {{ exact: \"1.0.0\" }} }}\n        \
         action: {{ cluster: dubbo }}\n"
    ));
    for line in route_extra.lines().filter(|l| !l.trim().is_empty()) {
        yaml.push_str(&format!("        {}\n", line.trim_start()));
    }
    yaml.push_str("clusters:\n");
    yaml.push_str(&cluster("dubbo", &[server.addr], cluster_extra));
    yaml
}

/// The `batch` scenario's argument: `(call name, method, args)` each with a 10 s timeout.
fn batch(list: &[(String, &str, Value)]) -> String {
    let calls: Vec<Value> = list
        .iter()
        .map(|(call, method, args)| {
            json!({"call": call, "method": method, "args": args, "timeout": 10})
        })
        .collect();
    Value::Array(calls).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_consumer_calls_real_provider_through_the_gateway() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = dubbo_server().await?;
        let gateway = gateway(&config(&server, "", "")).await?;
        let addr = port(&gateway)?;
        let list: Vec<_> = (0..100)
            .map(|i| (format!("c{i}"), "sayHello", json!([format!("caller-{i}"), i])))
            .collect();
        let calls = run(dubbo_client(addr, "calls", None)?);
        let concurrent = run(dubbo_client(addr, "batch", Some(&batch(&list)))?);
        let (calls, concurrent) = tokio::try_join!(calls, concurrent)?;

        let out = &calls.output;
        assert_eq!(calls.call("sayHello")["value"], "hello world 42", "{out}");
        assert_eq!(calls.call("echo-str")["value"], "héllo ✓", "{out}");
        assert_eq!(calls.call("echo-long")["value"], 1u64 << 40, "{out}");
        assert_eq!(calls.call("echo-list")["value"], json!([1, 2, 3]), "{out}");
        assert_eq!(calls.call("echo-big")["value"], 20000, "{out}");
        // The attachment crossed the gateway both ways.
        assert_eq!(calls.call("attachment")["value"], "t-123", "{out}");
        let boom = calls.call("boom");
        assert_eq!(boom["error"], "DubboResponseException", "{out}");
        assert!(boom["message"].as_str().unwrap_or_default().contains("boom"), "{out}");
        assert_eq!(calls.results().len(), 11, "{out}");
        assert!(calls.results().iter().filter(|r| r["call"] != "boom").all(|r| r["ok"] == true));

        let results = concurrent.results();
        assert_eq!(results.len(), 100, "{}", concurrent.output);
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r["value"], format!("hello caller-{i} {i}"), "{}", concurrent.output);
        }

        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(requests_total(&metrics, "dubbo", "dubbo-demo"), 111.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_reaches_the_consumer_as_status_60() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = dubbo_server().await?;
        // The route wants another version than the consumer's 1.0.0.
        let yaml = config(&server, "", "").replace("exact: \"1.0.0\"", "exact: \"2.0.0\"");
        let gateway = gateway(&yaml).await?;
        let list = [("hello".to_owned(), "sayHello", json!(["x", 1]))];
        let run = run(dubbo_client(port(&gateway)?, "batch", Some(&batch(&list)))?).await?;
        let hello = run.call("hello");
        assert_eq!(hello["ok"], false, "{}", run.output);
        // Status 60 (service not found), which dubbo-ssl-python raises with the body's text.
        assert_eq!(hello["error"], "DubboResponseException", "{}", run.output);
        assert_eq!(hello["message"].as_str().map(str::trim), Some("no route matches the request"));
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "dubbo", "", "no_route"), 1.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_provider_gets_the_gateways_timeout_reply() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = dubbo_server().await?;
        let gateway = gateway(&config(&server, "timeout: 500ms", "")).await?;
        let mut list = vec![("slow".to_owned(), "sleep", json!([2000]))];
        list.extend((0..3).map(|i| (format!("quick{i}"), "sayHello", json!(["q", i]))));
        let run = run(dubbo_client(port(&gateway)?, "batch", Some(&batch(&list)))?).await?;
        let slow = run.call("slow");
        // Status 31 (server timeout) with our message; the consumer's own timeout is 10 s.
        assert_eq!(slow["error"], "DubboResponseException", "{}", run.output);
        assert_eq!(slow["message"].as_str().map(str::trim), Some("upstream dubbo timed out"));
        for i in 0..3 {
            let quick = run.call(&format!("quick{i}"));
            assert_eq!(quick["value"], format!("hello q {i}"), "{}", run.output);
        }
        assert!(run.elapsed < Duration::from_secs(8), "took {:?}", run.elapsed);
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "dubbo", "dubbo-demo", "timeout"), 1.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

/// A `sleep(ms)` request to the DemoService, as a Dubbo 2.x consumer writes it.
fn sleep_request(id: u64, ms: i32) -> Result<DubboFrame> {
    let mut args = BytesMut::new();
    Writer::new(&mut args).int(ms);
    let attachments = [
        ("path", DUBBO_SERVICE),
        ("interface", DUBBO_SERVICE),
        ("version", "1.0.0"),
        ("group", "g1"),
    ];
    let builder = RequestBuilder {
        id,
        version: "1.0.0",
        parameter_types: "I",
        arguments: &args,
        attachments: &attachments,
        ..RequestBuilder::new(DUBBO_SERVICE, "sleep")
    };
    builder.build().map_err(|e| anyhow!("building the request: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_circuit_breaker_get_status_100() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = dubbo_server().await?;
        let breaker = "circuit_breaker: { max_requests: 1 }";
        let gateway = gateway(&config(&server, "", breaker)).await?;
        let config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
        let client = Client::connect(&Dubbo, port(&gateway)?, config).await?;
        // Five calls at once on one connection; each waits 1.5 s at the provider.
        let mut calls = Vec::new();
        for i in 0..5 {
            let (client, request) = (client.clone(), sleep_request(i, 1500)?);
            calls.push(tokio::spawn(async move { client.call(request).await }));
        }
        let mut replies = Vec::new();
        for call in calls {
            replies.push(call.await??);
        }
        let statuses: Vec<_> = replies.iter().map(|r| r.status()).collect();
        assert_eq!(statuses.iter().filter(|s| **s == Some(20)).count(), 1, "{statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == Some(100)).count(), 4, "{statuses:?}");
        for reply in replies.iter().filter(|r| r.status() == Some(100)) {
            let body = String::from_utf8_lossy(reply.body());
            assert!(body.contains("overloaded"), "{body:?}");
        }
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "dubbo", "dubbo-demo", "overloaded"), 4.0, "{metrics}");
        client.close().await;
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

/// A two-way hessian2 request whose body is not hessian2: a string that claims five bytes and
/// holds two. The header is what any consumer writes; only the body is wrong.
fn unreadable_request(id: u64) -> Result<DubboFrame> {
    let body = b"\x05ab";
    let mut wire = Vec::with_capacity(16 + body.len());
    wire.extend_from_slice(&[0xda, 0xbb, 0x80 | 0x40 | 2, 0]);
    wire.extend_from_slice(&id.to_be_bytes());
    wire.extend_from_slice(&u32::try_from(body.len())?.to_be_bytes());
    wire.extend_from_slice(body);
    // The codec decodes as the gateway does: the body stays unread until routing.
    let mut codec = DubboCodec::new(xprotocol::Limits::DEFAULT);
    codec
        .decode(&mut BytesMut::from(&wire[..]))
        .map_err(|e| anyhow!("the header is valid, only the body is not: {e}"))?
        .ok_or_else(|| anyhow!("the frame is whole"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_body_gets_status_40_and_spares_its_neighbours() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = dubbo_server().await?;
        let gateway = gateway(&config(&server, "", "")).await?;
        let config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
        let client = Client::connect(&Dubbo, port(&gateway)?, config).await?;
        // Decoding keeps the body unread; routing finds it unreadable and must not forward it.
        let bad = unreadable_request(7)?;
        assert!(bad.routing_error().is_some(), "the test request must be unreadable");
        let (bad, good) = tokio::join!(client.call(bad), client.call(sleep_request(8, 0)?));
        let bad = bad?;
        assert_eq!(bad.status(), Some(40), "{:?}", String::from_utf8_lossy(bad.body()));
        let body = String::from_utf8_lossy(bad.body());
        assert!(body.contains("unreadable request"), "{body:?}");
        // The well-formed call on the same connection is served as usual.
        assert_eq!(good?.status(), Some(20));
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "dubbo", "", "bad_request"), 1.0, "{metrics}");
        client.close().await;
        gateway.shutdown().await;
        Ok(())
    })
    .await
}
