//! End to end on one port: the real Bolt, Dubbo and Tars clients at once against the same
//! xproxy listener, each reaching its own real server; all six protocols (with curl over
//! HTTP/1.1 and HTTP/2 to nginx, and grpcio) at the same time; and what the port does with
//! bytes no protocol recognises.
//!
//! Needs Node.js, Python with the peers' requirements, curl and nginx: `tests/peers/install.sh`.

mod common;

use std::time::{Duration, Instant};

use anyhow::Result;
use common::http::{fetch, Echo, Nginx};
use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use xproxy::config::{self, Format};
use xproxy::gateway::known_protocols;
use xproxy_tests::peers::PeerCommand;

/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(60);

/// A route table per protocol, each to its own cluster.
fn config(bolt: &Server, dubbo: &Server, tars: &Server) -> String {
    let mut yaml = HEAD.to_owned();
    yaml.push_str("routes:\n");
    for (protocol, service) in
        [("bolt", BOLT_SERVICE), ("dubbo", DUBBO_SERVICE), ("tars", TARS_SERVANT)]
    {
        yaml.push_str(&format!(
            "  - protocol: {protocol}\n    routes:\n      - name: {protocol}-route\n        \
             match: {{ service: {{ exact: \"{service}\" }} }}\n        \
             action: {{ cluster: {protocol} }}\n"
        ));
    }
    yaml.push_str("clusters:\n");
    yaml.push_str(&cluster("bolt", &[bolt.addr], ""));
    yaml.push_str(&cluster("dubbo", &[dubbo.addr], ""));
    yaml.push_str(&cluster("tars", &[tars.addr], ""));
    yaml
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_real_clients_share_one_port() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let (bolt, dubbo, tars) = tokio::try_join!(bolt_server(), dubbo_server(), tars_server())?;
        let gateway = gateway(&config(&bolt, &dubbo, &tars)).await?;
        let addr = port(&gateway)?;
        let dubbo_calls: Vec<Value> = (0..50)
            .map(|i| json!({"call": format!("c{i}"), "method": "sayHello", "args": ["d", i]}))
            .collect();
        let dubbo_calls = Value::Array(dubbo_calls).to_string();
        let (b, d, t) = tokio::try_join!(
            run_ok(bolt_client(addr, "concurrent", Some("100"))?),
            run(dubbo_client(addr, "batch", Some(&dubbo_calls))?),
            run_ok(tars_client(addr, "many", Some("100"))?),
        )?;
        assert_eq!(b.json["good"], 100, "{}", b.output);
        let dubbo_results = d.results();
        assert_eq!(dubbo_results.len(), 50, "{}", d.output);
        for (i, r) in dubbo_results.iter().enumerate() {
            assert_eq!(r["value"], format!("hello d {i}"), "{}", d.output);
        }
        assert_eq!(t.json["wrong"], 0, "{}", t.output);

        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(requests_total(&metrics, "bolt", "bolt-route"), 100.0, "{metrics}");
        assert_eq!(requests_total(&metrics, "dubbo", "dubbo-route"), 50.0, "{metrics}");
        assert_eq!(requests_total(&metrics, "tars", "tars-route"), 100.0, "{metrics}");
        for protocol in ["bolt", "dubbo", "tars"] {
            let labels = [("listener", LISTENER), ("protocol", protocol)];
            let accepted = metric(&metrics, "xproxy_downstream_connections_total", &labels);
            assert!(accepted >= 1.0, "{protocol}: {metrics}");
        }
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

/// gRPC to the grpcio server, `/h2/…` to nginx over HTTP/2, everything else to nginx over
/// HTTP/1.1.
const HTTP_ROUTES: &str = r#"http:
  virtual_hosts:
    - name: all
      domains: ["*"]
      routes:
        - name: grpc-route
          match: { grpc: {} }
          action: { cluster: grpc }
        - name: h2-route
          match: { path: { prefix: /h2/ } }
          prefix_rewrite: /
          action: { cluster: nginx-h2 }
        - name: h1-route
          match: { path: { prefix: / } }
          action: { cluster: nginx-h1 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn six_protocols_share_one_port_at_the_same_time() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let grpc = PeerCommand::python("grpc", "server.py")?.args(["0", "90"]);
        let (bolt, dubbo, tars, nginx, grpc) = tokio::try_join!(
            bolt_server(),
            dubbo_server(),
            tars_server(),
            Nginx::start(),
            start_server(grpc.env("IGNORE_STDIN", "1")),
        )?;
        let mut yaml = config(&bolt, &dubbo, &tars);
        yaml.push_str(&cluster("nginx-h1", &[nginx.h1], "http_protocol: http1"));
        yaml.push_str(&cluster("nginx-h2", &[nginx.h2], "http_protocol: http2"));
        yaml.push_str(&cluster("grpc", &[grpc.addr], ""));
        yaml.push_str(HTTP_ROUTES);
        let gateway = gateway(&yaml).await?;
        let addr = port(&gateway)?;
        let dubbo_calls: Vec<Value> = (0..20)
            .map(|i| json!({"call": format!("c{i}"), "method": "sayHello", "args": ["d", i]}))
            .collect();
        let dubbo_calls = Value::Array(dubbo_calls).to_string();
        let grpc_client = PeerCommand::python("grpc", "client.py")?
            .args([addr.to_string(), "unary".into(), "hi".into(), "--repeat".into(), "20".into()])
            .env("HARD_LIMIT", "30");
        let (h1, h2) = (format!("http://{addr}/echo"), format!("http://{addr}/h2/echo"));
        let (b, d, t, g, over_h1, over_h2) = tokio::try_join!(
            run_ok(bolt_client(addr, "concurrent", Some("50"))?),
            run(dubbo_client(addr, "batch", Some(&dubbo_calls))?),
            run_ok(tars_client(addr, "many", Some("50"))?),
            run(grpc_client),
            fetch([h1.as_str()]),
            fetch(["--http2-prior-knowledge", h2.as_str()]),
        )?;
        assert_eq!(b.json["good"], 50, "{}", b.output);
        assert_eq!(d.results().len(), 20, "{}", d.output);
        assert_eq!(t.json["wrong"], 0, "{}", t.output);
        assert_eq!(g.json["code"], "OK", "{}", g.output);
        assert_eq!(g.json["replies"].as_array().map(Vec::len), Some(20), "{}", g.output);
        assert_eq!(over_h1.status, 200, "{}", over_h1.output);
        assert_eq!(Echo::parse(&over_h1.body)?.protocol, "HTTP/1.1");
        assert_eq!(over_h2.status, 200, "{}", over_h2.output);
        assert_eq!(Echo::parse(&over_h2.body)?.protocol, "HTTP/2.0");

        let metrics = admin_get(&gateway, "/metrics").await?;
        for (protocol, route, want) in [
            ("bolt", "bolt-route", 50.0),
            ("dubbo", "dubbo-route", 20.0),
            ("tars", "tars-route", 50.0),
            ("grpc", "grpc-route", 20.0),
            ("http1", "h1-route", 1.0),
            ("http2", "h2-route", 1.0),
        ] {
            assert_eq!(requests_total(&metrics, protocol, route), want, "{protocol}\n{metrics}");
        }
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

/// Reads until end of file (or a reset), within `limit`; returns what was read.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the gateway kept the connection open for {limit:?}"))?;
    Ok(got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_closed_while_a_real_client_keeps_working() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let bolt = bolt_server().await?;
        let mut yaml = HEAD.to_owned();
        yaml.push_str(&format!(
            "routes:\n  - protocol: bolt\n    routes:\n      - name: bolt-route\n        \
             action: {{ cluster: bolt }}\nclusters:\n{}",
            cluster("bolt", &[bolt.addr], "")
        ));
        let gateway = gateway(&yaml).await?;
        let addr = port(&gateway)?;
        // A real client on its own connection, while the garbage arrives.
        let client = Running::spawn(bolt_client(addr, "concurrent", Some("50"))?)?;

        // Bytes no detector accepts (a TLS record header starts none of the protocols), and a
        // connection that never says anything (the sniff timeout is 1 s).
        let mut garbage = TcpStream::connect(addr).await?;
        let mut silent = TcpStream::connect(addr).await?;
        let mut noise: Vec<u8> = vec![0x16, 0x03, 0x01, 0x02, 0x00];
        let mut x: u32 = 12345;
        noise.extend((0..200).map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        }));
        let started = Instant::now();
        // The gateway may close before everything is written: a failed write is fine too.
        let _ = garbage.write_all(&noise).await;
        let answered = read_until_closed(&mut garbage, Duration::from_secs(3)).await?;
        assert!(answered.is_empty(), "the gateway answered garbage with {answered:?}");
        // Recognised as nobody's at once, without waiting for the sniff timeout.
        let garbage_closed = started.elapsed();
        assert!(garbage_closed < Duration::from_millis(900), "closed after {garbage_closed:?}");
        let answered = read_until_closed(&mut silent, Duration::from_secs(3)).await?;
        assert!(answered.is_empty(), "the gateway wrote {answered:?} to a silent connection");
        let closed_after = started.elapsed();
        assert!(closed_after >= Duration::from_millis(900), "closed after {closed_after:?}");

        let run = client.finish().await?;
        assert_eq!(run.json["good"], 50, "{}", run.output);
        let metrics = admin_get(&gateway, "/metrics").await?;
        let sniff = |reason| {
            metric(
                &metrics,
                "xproxy_sniff_failures_total",
                &[("listener", LISTENER), ("reason", reason)],
            )
        };
        assert_eq!(sniff("unrecognized"), 1.0, "{metrics}");
        assert_eq!(sniff("timeout"), 1.0, "{metrics}");
        assert_eq!(requests_total(&metrics, "bolt", "bolt-route"), 50.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

/// A listener and the admin endpoint both on port 0 get two different free ports when bound,
/// so they cannot clash.
#[test]
fn port_zero_listener_and_admin_validate() {
    let yaml = format!("{HEAD}routes: []\nclusters: []\n");
    let config = config::parse(&yaml, Format::Yaml).expect("the config parses");
    let report = config::validate(&config, Some(&yaml), &known_protocols());
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}
