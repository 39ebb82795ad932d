//! The example gateway binary as its team would run it: it validates a configuration that
//! routes `echo` (which the stock `xproxy` rejects, see `proxy/tests/cli.rs`), proxies echo
//! calls to an echo backend, and drains and exits 0 on SIGTERM.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use echo_protocol::{Echo, EchoFrame};
use xprotocol::engine::{Client, EngineConfig, Server};
use xprotocol::Frame;

const GATEWAY: &str = env!("CARGO_BIN_EXE_echo-gateway");

#[test]
fn validate_accepts_the_echo_example_config() {
    let config = format!("{}/../configs/echo-gateway.yaml", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(GATEWAY).args(["validate", "-c", &config]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(": ok"), "{text}");
}

#[tokio::test]
async fn run_proxies_echo_calls_and_exits_0_on_sigterm() {
    let handler = |request: EchoFrame| async move {
        let id = u32::try_from(request.request_id().0).ok()?;
        let mut body = b"echo: ".to_vec();
        body.extend_from_slice(request.body());
        Some(EchoFrame::new(false, 0, id, Some(200), Bytes::from(body)))
    };
    let backend = Server::bind(&Echo, "127.0.0.1:0", handler, engine()).await.unwrap().spawn();
    let port = free_port();
    let yaml = format!(
        "listeners:\n  - name: main\n    address: 127.0.0.1:{port}\nroutes:\n  - protocol: echo\n    routes:\n      - action: {{ cluster: c }}\nclusters:\n  - name: c\n    endpoints:\n      - address: \"{}\"\nadmin: {{ address: null }}\n",
        backend.local_addr()
    );
    let path =
        std::env::temp_dir().join(format!("echo-gateway-{}-{port}.yaml", std::process::id()));
    std::fs::File::create(&path).unwrap().write_all(yaml.as_bytes()).unwrap();
    let mut child = Command::new(GATEWAY)
        .args(["run", "-c", &path.display().to_string(), "--log-level", "warn"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();

    let client = connect_when_up(port).await;
    for i in 1..=3u32 {
        let reply = client.call(EchoFrame::request(i, format!("call {i}"))).await.unwrap();
        assert_eq!(reply.status(), Some(200));
        assert_eq!(&reply.body()[..], format!("echo: call {i}").as_bytes());
    }

    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = std::fs::remove_file(&path);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "drains and exits 0");
}

fn engine() -> EngineConfig {
    EngineConfig { heartbeat_interval: None, ..EngineConfig::default() }
}

/// An echo client of the gateway listening on `port`, once it listens (10 s at most).
async fn connect_when_up(port: u16) -> Client<Echo> {
    let address = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Client::connect(&Echo, address.as_str(), engine()).await {
            Ok(client) => return client,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("echo-gateway did not start: {e}"),
        }
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
