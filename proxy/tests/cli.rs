//! The `xproxy` binary as an operator runs it: `validate`, `run` with SIGTERM draining, and
//! `demo` (the README's run command).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use xprotocol::engine::{Client, EngineConfig, Server};
use xprotocol::Frame;
use xprotocol_bolt::{BoltFrame, BoltVersion, ResponseStatus, BOLT_V1};

const XPROXY: &str = env!("CARGO_BIN_EXE_xproxy");

fn repo(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_accepts_the_shipped_examples() {
    for file in ["gateway.yaml", "minimal.yaml", "gateway.json"] {
        let out = Command::new(XPROXY)
            .args(["validate", "-c", &repo(&format!("examples/configs/{file}"))])
            .output()
            .unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stdout));
        assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"), "{file}");
    }
}

/// `echo` is an outside protocol: only a binary that links it (`examples/echo-gateway`, whose
/// own test validates this file) knows it; the stock binary keeps to the shipped protocols.
#[test]
fn validate_rejects_the_echo_gateway_config_as_an_unknown_protocol() {
    let config = repo("examples/configs/echo-gateway.yaml");
    let out = Command::new(XPROXY).args(["validate", "-c", &config]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("routes[0].protocol: unknown protocol `echo`"), "{text}");
}

#[test]
fn validate_names_the_field_and_line_of_every_error() {
    let mut file = tempfile("bad.yaml");
    let yaml = "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    protocols: [bolt, nope]\nclusters:\n  - name: c\n    endpoints: []\n";
    file.1.write_all(yaml.as_bytes()).unwrap();
    let out = Command::new(XPROXY).args(["validate", "-c", &file.0]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains(":4:") && text.contains("listeners[0].protocols[1]"), "{text}");
    assert!(text.contains("clusters[0].endpoints"), "{text}");
}

#[test]
fn demo_passes() {
    let out = Command::new(XPROXY).args(["demo", "--requests", "200"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for row in ["bolt ", "boltv2", "dubbo ", "tars ", "no route", "slow backend"] {
        assert!(text.contains(row), "no {row:?} row in {text}");
    }
}

#[tokio::test]
async fn run_drains_in_flight_requests_on_sigterm() {
    let backend = bolt_backend(Duration::from_millis(700)).await;
    let (mut child, port) = run_bolt_gateway(backend.local_addr(), "", Stdio::null());
    let client = connect_when_up(port).await;
    let frame = BoltFrame::request(BoltVersion::V1, 5)
        .header("service", "com.example.Any:1.0")
        .content(Bytes::from_static(b"drain me"))
        .build()
        .unwrap();
    let call = tokio::spawn(async move { client.call(frame).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let reply = tokio::time::timeout(Duration::from_secs(5), call).await.unwrap().unwrap().unwrap();
    assert_eq!((reply.status(), &reply.body()[..]), (Some(0), &b"drain me"[..]));
    let exited = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(exited.and_then(|s| s.code()), Some(0), "exits 0 after draining");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_ignores_sighup_and_serves_every_request_sent_during_the_drain() {
    let backend = bolt_backend(Duration::ZERO).await;
    let limits = "limits: { drain_timeout: 10s, drain_quiet: 500ms }\n";
    let (mut child, port) = run_bolt_gateway(backend.local_addr(), limits, Stdio::piped());
    let client = connect_when_up(port).await;
    // 3 s of calls at 200/s on one connection: SIGHUP at 0.5 s, SIGTERM at 1.5 s.
    let load = tokio::spawn(async move {
        let mut calls = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        for i in 0..600u32 {
            tick.tick().await;
            let body = Bytes::from(format!("call {i}"));
            let frame = BoltFrame::request(BoltVersion::V1, i + 1)
                .header("service", "com.example.Any:1.0")
                .content(body.clone())
                .build()
                .unwrap();
            let client = client.clone();
            calls.push(tokio::spawn(async move {
                let reply = client.call(frame).await;
                matches!(reply, Ok(r) if r.status() == Some(0) && r.body() == &body)
            }));
        }
        let mut good = 0;
        for call in calls {
            good += usize::from(call.await.unwrap_or(false));
        }
        good
    });
    let pid = child.id().to_string();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(child.try_wait().unwrap().is_none(), "SIGHUP ended the process");
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let good = tokio::time::timeout(Duration::from_secs(10), load).await.unwrap().unwrap();
    assert_eq!(good, 600, "every call answered, those sent during the drain included");
    let exited = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(exited.and_then(|s| s.code()), Some(0), "exits 0 once drained");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut log).unwrap();
    assert!(log.contains("SIGHUP ignored"), "{log}");
}

#[test]
fn run_drains_and_exits_on_admin_post_drain() {
    let (port, admin) = (free_port(), free_port());
    let yaml = format!(
        "listeners:\n  - name: main\n    address: 127.0.0.1:{port}\nclusters: []\nlimits: {{ drain_quiet: 200ms }}\nadmin: {{ address: \"127.0.0.1:{admin}\" }}\n"
    );
    let mut file = tempfile("drain.yaml");
    file.1.write_all(yaml.as_bytes()).unwrap();
    let mut child = Command::new(XPROXY)
        .args(["run", "-c", &file.0, "--log-level", "warn"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let ask = |request: &str| -> Option<String> {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", admin)).ok()?;
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let ready = "GET /ready HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    while !ask(ready).is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
        assert!(Instant::now() < deadline, "xproxy did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let drain = ask("POST /drain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").unwrap();
    assert!(drain.starts_with("HTTP/1.1 202"), "{drain}");
    let exited = wait_exit(&mut child, Duration::from_secs(10));
    assert_eq!(exited.and_then(|s| s.code()), Some(0), "drains and exits 0");
}

/// `xproxy run` (log level info) on a free port, routing every Bolt request to `backend`, with
/// `extra` YAML appended; its stdout goes to `stdout`.
fn run_bolt_gateway(
    backend: std::net::SocketAddr,
    extra: &str,
    stdout: Stdio,
) -> (std::process::Child, u16) {
    let port = free_port();
    let yaml = format!(
        "listeners:\n  - name: main\n    address: 127.0.0.1:{port}\nroutes:\n  - protocol: bolt\n    routes:\n      - action: {{ cluster: c }}\nclusters:\n  - name: c\n    endpoints:\n      - address: \"{backend}\"\nadmin: {{ address: null }}\n{extra}"
    );
    let mut file = tempfile(&format!("bolt-{port}.yaml"));
    file.1.write_all(yaml.as_bytes()).unwrap();
    let child = Command::new(XPROXY)
        .args(["run", "-c", &file.0, "--log-level", "info"])
        .stdin(Stdio::null())
        .stdout(stdout)
        .spawn()
        .unwrap();
    (child, port)
}

/// A Bolt backend echoing each request's content after `delay`.
async fn bolt_backend(delay: Duration) -> xprotocol::engine::ServerHandle {
    let handler = move |request: BoltFrame| async move {
        tokio::time::sleep(delay).await;
        let id = u32::try_from(request.request_id().0).ok()?;
        let reply = BoltFrame::response(BoltVersion::V1, id, ResponseStatus::Success);
        reply.content(request.body().clone()).build().ok()
    };
    Server::bind(&BOLT_V1, "127.0.0.1:0", handler, engine()).await.unwrap().spawn()
}

fn engine() -> EngineConfig {
    EngineConfig { heartbeat_interval: None, ..EngineConfig::default() }
}

/// A Bolt client of the xproxy listening on `port`, once it listens (10 s at most).
async fn connect_when_up(port: u16) -> Client<xprotocol_bolt::Bolt> {
    let address = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Client::connect(&BOLT_V1, address.as_str(), engine()).await {
            Ok(client) => return client,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("xproxy did not start: {e}"),
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    None
}

/// A file in a fresh temporary folder, removed with the process's temp folder.
fn tempfile(name: &str) -> (String, std::fs::File) {
    let dir = std::env::temp_dir().join(format!("xproxy-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let file = std::fs::File::create(&path).unwrap();
    (path.display().to_string(), file)
}
