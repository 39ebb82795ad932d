//! End to end over Tars: the real npm `@tars/rpc` client (the package's example proxy) → xproxy
//! (in process, one auto-detecting port) → the real `@tars/rpc` servant, and the error replies
//! the gateway makes as the real client reports them.
//!
//! Needs Node.js and the peers installed: `tests/peers/install.sh`.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::*;
use serde_json::{json, Value};

/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// One route sending the servant to one cluster.
fn config(server: &Server, servant: &str, route_extra: &str, cluster_extra: &str) -> String {
    let mut yaml = HEAD.to_owned();
    yaml.push_str(&format!(
        "routes:\n  - protocol: tars\n    routes:\n      - name: tars-demo\n        \
         match: {{ service: {{ exact: \"{servant}\" }} }}\n        action: {{ cluster: tars }}\n"
    ));
    for line in route_extra.lines().filter(|l| !l.trim().is_empty()) {
        yaml.push_str(&format!("        {}\n", line.trim_start()));
    }
    yaml.push_str("clusters:\n");
    yaml.push_str(&cluster("tars", &[server.addr], cluster_extra));
    yaml
}

/// The `batch` scenario's argument: `getUsrName(name)` for each name, 10 s client timeout.
fn batch(names: &[&str]) -> String {
    json!({"timeout": 10_000, "names": names}).to_string()
}

/// The result of a successful `getUsrName(name)`.
fn usr(name: &str) -> Value {
    json!({"ok": true, "ret": 100002, "v1": format!("OUT_{name}_1"), "v2": format!("OUT_{name}_2")})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_client_calls_real_servant_through_the_gateway() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = tars_server().await?;
        let gateway = gateway(&config(&server, TARS_SERVANT, "", "")).await?;
        let addr = port(&gateway)?;
        let (plain, many, context) = tokio::try_join!(
            run(tars_client(addr, "getUsrName", Some("gw"))?),
            run(tars_client(addr, "many", Some("100"))?),
            run(tars_client(addr, "context", None)?),
        )?;
        let (getall, oneway, tup) = tokio::try_join!(
            run(tars_client(addr, "getall", None)?),
            run(tars_client(addr, "oneway", None)?),
            run(tars_client(addr, "tup", Some("tupper"))?),
        )?;
        assert_eq!(plain.json, usr("gw"), "{}", plain.output);
        assert_eq!(many.json, json!({"ok": true, "calls": 100, "wrong": 0}), "{}", many.output);
        // A call with a request context (the client does not report the reply's context).
        assert_eq!(context.json["v1"], "OUT_ctx_1", "{}", context.output);
        let want = json!({"ok": true, "ret": 10000, "id": 42, "level": 100});
        assert_eq!(getall.json, want, "{}", getall.output);
        // A one-way call is forwarded and the connection serves the next call.
        assert_eq!(oneway.json["after"], usr("after"), "{}", oneway.output);
        // TUP (iVersion 2) from @tars/stream on a raw socket; the id comes back unchanged.
        assert_eq!(tup.json["v1"], "OUT_tupper_1", "{}", tup.output);
        assert_eq!(tup.json["id"], 123456, "{}", tup.output);

        let metrics = admin_get(&gateway, "/metrics").await?;
        // getUsrName 1 + many 100 + context 1 + getall 1 + oneway (test() + getUsrName) 2 + tup 1.
        assert_eq!(requests_total(&metrics, "tars", "tars-demo"), 106.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_reaches_the_client_as_code_minus_4() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = tars_server().await?;
        let gateway = gateway(&config(&server, "Other.App.Obj", "", "")).await?;
        let run = run(tars_client(port(&gateway)?, "getUsrName", None)?).await?;
        // TARSSERVERNOSERVANTERR, with our message.
        let want = json!({"ok": false, "code": -4, "message": "no route matches the request"});
        assert_eq!(run.json, want, "{}", run.output);
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "tars", "", "no_route"), 1.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_servant_gets_the_gateways_timeout_reply() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = tars_server().await?;
        let gateway = gateway(&config(&server, TARS_SERVANT, "timeout: 500ms", "")).await?;
        let names = ["slow:2000", "a", "b", "c"];
        let run = run(tars_client(port(&gateway)?, "batch", Some(&batch(&names)))?).await?;
        let slow = run.result(0);
        // TARSINVOKETIMEOUT (-7) from the gateway, well before the client's own 10 s.
        assert_eq!(slow["code"], -7, "{}", run.output);
        assert_eq!(slow["message"], "upstream tars timed out", "{}", run.output);
        let elapsed = slow["elapsedMs"].as_u64().unwrap_or(u64::MAX);
        assert!((450..1500).contains(&elapsed), "answered after {elapsed} ms\n{}", run.output);
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(run.result(i + 1)["v1"], format!("OUT_{name}_1"), "{}", run.output);
        }
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "tars", "tars-demo", "timeout"), 1.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_circuit_breaker_get_code_minus_9() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = tars_server().await?;
        let breaker = "circuit_breaker: { max_requests: 1 }";
        let gateway = gateway(&config(&server, TARS_SERVANT, "", breaker)).await?;
        let names = ["slow:1500"; 5];
        let run = run(tars_client(port(&gateway)?, "batch", Some(&batch(&names)))?).await?;
        let results = run.results();
        assert_eq!(results.len(), 5, "{}", run.output);
        assert_eq!(results.iter().filter(|r| r["ok"] == true).count(), 1, "{}", run.output);
        for r in results.iter().filter(|r| r["ok"] == false) {
            // TARSSERVEROVERLOAD, with our message, at once.
            assert_eq!(r["code"], -9, "{}", run.output);
            let message = r["message"].as_str().unwrap_or_default();
            assert!(message.contains("overloaded"), "{}", run.output);
            assert!(r["elapsedMs"].as_u64() < Some(1000), "{}", run.output);
        }
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "tars", "tars-demo", "overloaded"), 4.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}
