//! End to end with a backend dying under the gateway: two real servers behind one cluster, a
//! slow call in flight on each, and one server killed. The call on the killed server must come
//! back at once as the gateway's error reply in the caller's protocol (not hang until some
//! timeout), the call on the other server must still succeed, and later calls must all succeed
//! on the survivor (the route retries on connect failure).
//!
//! Needs Node.js, Python with `tests/peers/dubbo/requirements.txt`, and the peers installed:
//! `tests/peers/install.sh`.

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Result;
use common::*;
use serde_json::{json, Value};

/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// How long the in-flight calls take at the servers.
const SLOW_MS: u64 = 5000;
/// How long after the client starts its calls the first server is killed: time for the calls
/// to cross the gateway (and the gateway to connect upstream).
const KILL_AFTER: Duration = Duration::from_millis(700);
/// The same for dubbo-ssl-python, which sleeps 0.5 s after connecting before it writes.
const DUBBO_KILL_AFTER: Duration = Duration::from_millis(1500);

/// A route table for `protocol` sending `service` to a two-endpoint round-robin cluster, with
/// retries on connect failure only (a reset in-flight call is answered, not retried).
fn config(protocol: &str, service: &str, servers: [&Server; 2]) -> String {
    let mut yaml = HEAD.to_owned();
    yaml.push_str(&format!(
        "routes:\n  - protocol: {protocol}\n    routes:\n      - name: {protocol}-route\n        \
         match: {{ service: {{ exact: \"{service}\" }} }}\n        \
         action: {{ cluster: {protocol} }}\n        \
         retry: {{ max_retries: 1, retry_on: [connect_failure] }}\n"
    ));
    yaml.push_str("clusters:\n");
    yaml.push_str(&cluster(
        protocol,
        &[servers[0].addr, servers[1].addr],
        "connect_timeout: 500ms",
    ));
    yaml
}

/// Runs `client` (two slow calls, one per endpoint), kills `victim` once the calls are in
/// flight, and returns the client's run and the time from the kill to the client's exit.
async fn kill_mid_request(
    client: Running,
    victim: Server,
    after: Duration,
) -> Result<(ClientRun, Duration)> {
    client.invoking().await?;
    tokio::time::sleep(after).await;
    victim.kill().await?;
    let killed = Instant::now();
    let run = client.finish().await?;
    Ok((run, killed.elapsed()))
}

/// The failed and the successful call of a two-call run, in that order.
fn split(run: &ClientRun, ok: impl Fn(&Value) -> bool) -> (Value, Value) {
    let results = run.results();
    assert_eq!(results.len(), 2, "{}", run.output);
    let (good, bad): (Vec<&Value>, Vec<&Value>) = results.into_iter().partition(|r| ok(r));
    assert_eq!((good.len(), bad.len()), (1, 1), "one call per server\n{}", run.output);
    (bad[0].clone(), good[0].clone())
}

/// Asserts the failed call was answered soon after the kill (`after` its start), long before
/// its sleep ended.
fn assert_prompt(failed: &Value, run: &ClientRun, after: Duration) {
    let elapsed = failed["elapsedMs"].as_u64().unwrap_or(u64::MAX);
    let limit = after.as_millis() as u64 + 1500;
    assert!(elapsed < limit, "answered {elapsed} ms after the call\n{}", run.output);
}

/// Runs `later` several times, one after the other: with one server gone every call must
/// still succeed. (One at a time: see `concurrent_retries_avoid_the_refusing_endpoint`.)
async fn later_calls_succeed<F, Fut>(later: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<ClientRun>>,
{
    for _ in 0..3 {
        later().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bolt_backend_killed_mid_request() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let (a, b) = tokio::try_join!(bolt_server(), bolt_server())?;
        let gateway = gateway(&config("bolt", BOLT_SERVICE, [&a, &b])).await?;
        let addr = port(&gateway)?;
        let slow = json!({"method": "sleep", "args": [SLOW_MS], "timeout": 10_000});
        let calls = json!([slow, slow]).to_string();
        let client = Running::spawn(bolt_client(addr, "calls", Some(&calls))?)?;
        let (run, after_kill) = kill_mid_request(client, a, KILL_AFTER).await?;
        let (failed, survived) = split(&run, |r| r["ok"] == true);
        assert_eq!(survived["value"], "slept", "{}", run.output);
        // Bolt status 0x10 (connection closed), with our message.
        let message = failed["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("RpcServerException"), "{}", run.output);
        assert!(message.contains("upstream bolt"), "{}", run.output);
        assert_prompt(&failed, &run, KILL_AFTER);
        assert!(after_kill < Duration::from_millis(SLOW_MS), "{after_kill:?}");

        later_calls_succeed(|| async { run_ok(bolt_client(addr, "hello", None)?).await }).await?;
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(
            errors_total(&metrics, "bolt", "bolt-route", "upstream_reset"),
            1.0,
            "{metrics}"
        );
        assert_eq!(requests_total(&metrics, "bolt", "bolt-route"), 5.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tars_backend_killed_mid_request() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let (a, b) = tokio::try_join!(tars_server(), tars_server())?;
        let gateway = gateway(&config("tars", TARS_SERVANT, [&a, &b])).await?;
        let addr = port(&gateway)?;
        let slow = format!("slow:{SLOW_MS}");
        let calls = json!({"timeout": 10_000, "names": [slow, slow]}).to_string();
        let client = Running::spawn(tars_client(addr, "batch", Some(&calls))?)?;
        let (run, after_kill) = kill_mid_request(client, a, KILL_AFTER).await?;
        let (failed, survived) = split(&run, |r| r["ok"] == true);
        assert_eq!(survived["v1"], "OUT_slow_1", "{}", run.output);
        // TARSPROXYCONNECTERR (-8): the upstream connection was reset; our message.
        assert_eq!(failed["code"], -8, "{}", run.output);
        let message = failed["message"].as_str().unwrap_or_default();
        assert!(message.contains("upstream tars"), "{}", run.output);
        assert_prompt(&failed, &run, KILL_AFTER);
        assert!(after_kill < Duration::from_millis(SLOW_MS), "{after_kill:?}");

        later_calls_succeed(|| async {
            run_ok(tars_client(addr, "getUsrName", Some("later"))?).await
        })
        .await?;
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(
            errors_total(&metrics, "tars", "tars-route", "upstream_reset"),
            1.0,
            "{metrics}"
        );
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dubbo_backend_killed_mid_request() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let (a, b) = tokio::try_join!(dubbo_server(), dubbo_server())?;
        let gateway = gateway(&config("dubbo", DUBBO_SERVICE, [&a, &b])).await?;
        let addr = port(&gateway)?;
        let slow =
            |call| json!({"call": call, "method": "sleep", "args": [SLOW_MS], "timeout": 10});
        let calls = json!([slow("s1"), slow("s2")]).to_string();
        let client = Running::spawn(dubbo_client(addr, "batch", Some(&calls))?)?;
        let (run, after_kill) = kill_mid_request(client, a, DUBBO_KILL_AFTER).await?;
        let (failed, survived) = split(&run, |r| r["ok"] == true);
        assert_eq!(survived["value"], format!("slept {SLOW_MS}"), "{}", run.output);
        // Status 80 (server error), raised with our message.
        assert_eq!(failed["error"], "DubboResponseException", "{}", run.output);
        let message = failed["message"].as_str().unwrap_or_default();
        assert!(message.contains("upstream dubbo"), "{}", run.output);
        assert_prompt(&failed, &run, DUBBO_KILL_AFTER);
        assert!(after_kill < Duration::from_millis(SLOW_MS + 1000), "{after_kill:?}");

        let quick = json!([{"call": "q", "method": "sayHello", "args": ["q", 7]}]).to_string();
        later_calls_succeed(|| async {
            let run = common::run(dubbo_client(addr, "batch", Some(&quick))?).await?;
            assert_eq!(run.call("q")["value"], "hello q 7", "{}", run.output);
            Ok(run)
        })
        .await?;
        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(
            errors_total(&metrics, "dubbo", "dubbo-route", "upstream_reset"),
            1.0,
            "{metrics}"
        );
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_avoid_the_refusing_endpoint() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let (a, b) = tokio::try_join!(tars_server(), tars_server())?;
        let gateway = gateway(&config("tars", TARS_SERVANT, [&a, &b])).await?;
        let addr = port(&gateway)?;
        // The gateway has no connection to `a` yet; from now on connecting to it is refused.
        a.kill().await?;
        // Twenty calls at once, each allowed one retry on connect failure. Other requests
        // move the shared round-robin counter between a call's tries, so only a retry that
        // avoids the endpoint its first try used is sure to land on the live one; one that
        // did not would fail with TARSADAPTERNULL (-10) "connect to …: Connection refused".
        let names: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
        let calls = json!({"timeout": 5000, "names": names}).to_string();
        let run = run(tars_client(addr, "batch", Some(&calls))?).await?;
        let failed: Vec<_> = run.results().into_iter().filter(|r| r["ok"] != true).collect();
        assert!(failed.is_empty(), "{} calls failed: {failed:?}", failed.len());
        gateway.shutdown().await;
        Ok(())
    })
    .await
}
