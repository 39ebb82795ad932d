use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use xprotocol::relay::Outcome;

use super::*;

const BOUND: Duration = Duration::from_secs(10);

struct Admin {
    address: SocketAddr,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    drain: CancellationToken,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start() -> Admin {
    let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("bind");
    let address = listener.local_addr().expect("address");
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let shutdown = CancellationToken::new();
    let drain = CancellationToken::new();
    let state = Arc::new(AdminState {
        metrics: Arc::clone(&metrics),
        ready: Arc::clone(&ready),
        drain: drain.clone(),
    });
    let task = tokio::spawn(serve(listener, state, shutdown.clone()));
    Admin { address, metrics, ready, drain, shutdown, task }
}

impl Admin {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(BOUND, self.task).await.expect("serve returns").expect("no panic");
    }
}

/// Sends `request` raw and reads the whole response (the request asks to close).
async fn exchange(address: SocketAddr, request: &str) -> (u16, String, String) {
    let run = async {
        let mut stream = TcpStream::connect(address).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.expect("read");
        String::from_utf8(response).expect("utf-8 response")
    };
    let response = tokio::time::timeout(BOUND, run).await.expect("response in time");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("status line: {head}"));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
}

#[tokio::test]
async fn metrics_endpoint_serves_recorded_series() {
    let admin = start().await;
    let handle = admin.metrics.requests("main", "bolt", "users", "users-v1");
    handle.record(&Outcome::Replied(200), Duration::from_millis(1));
    let (status, head, body) = exchange(admin.address, &get("/metrics")).await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/openmetrics-text"), "{head}");
    assert!(
        body.contains(
            "xproxy_requests_total{listener=\"main\",protocol=\"bolt\",route=\"users\",\
             cluster=\"users-v1\"} 1\n"
        ),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    admin.stop().await;
}

#[tokio::test]
async fn ready_follows_the_flag() {
    let admin = start().await;
    let (status, _, body) = exchange(admin.address, &get("/ready")).await;
    assert_eq!((status, body.as_str()), (503, "not ready\n"));
    admin.ready.store(true, Ordering::Release);
    let (status, _, body) = exchange(admin.address, &get("/ready")).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    admin.stop().await;
}

#[tokio::test]
async fn index_unknown_paths_and_other_methods() {
    let admin = start().await;
    let (status, _, body) = exchange(admin.address, &get("/")).await;
    assert_eq!(status, 200);
    assert!(body.contains("/metrics") && body.contains("/ready"), "{body}");
    let (status, _, _) = exchange(admin.address, &get("/config")).await;
    assert_eq!(status, 404);
    let post = "POST /ready HTTP/1.1\r\nHost: admin\r\nContent-Length: 2\r\n\
                Connection: close\r\n\r\nhi";
    let (status, head, _) = exchange(admin.address, post).await;
    assert_eq!(status, 405);
    assert!(head.contains("allow: get, head"), "{head}");
    let (status, _, body) =
        exchange(admin.address, "HEAD /ready HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n")
            .await;
    assert_eq!((status, body.as_str()), (503, ""), "HEAD answers like GET, without a body");
    admin.stop().await;
}

#[tokio::test]
async fn post_drain_starts_the_drain_and_nothing_else_does() {
    let admin = start().await;
    let (status, head, _) = exchange(admin.address, &get("/drain")).await;
    assert_eq!(status, 405, "GET must not drain");
    assert!(head.contains("allow: post"), "{head}");
    assert!(!admin.drain.is_cancelled());
    let post = "POST /drain HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n";
    let (status, _, body) = exchange(admin.address, post).await;
    assert_eq!((status, body.as_str()), (202, "draining\n"));
    assert!(admin.drain.is_cancelled());
    let (status, _, _) = exchange(admin.address, post).await;
    assert_eq!(status, 202, "asking again is harmless");
    admin.stop().await;
}

#[tokio::test]
async fn large_or_unbounded_bodies_are_refused() {
    let admin = start().await;
    let big = format!(
        "POST /metrics HTTP/1.1\r\nHost: admin\r\nContent-Length: {}\r\n\r\n",
        MAX_BODY_BYTES + 1
    );
    let (status, _, _) = exchange(admin.address, &big).await;
    assert_eq!(status, 413);
    let chunked = "POST /metrics HTTP/1.1\r\nHost: admin\r\nTransfer-Encoding: chunked\r\n\r\n";
    let (status, _, _) = exchange(admin.address, chunked).await;
    assert_eq!(status, 413);
    admin.stop().await;
}

#[tokio::test]
async fn keep_alive_serves_several_requests_and_shutdown_closes_it() {
    let admin = start().await;
    let mut stream = TcpStream::connect(admin.address).await.expect("connect");
    let mut buffer = vec![0u8; 4096];
    for _ in 0..2 {
        stream.write_all(b"GET /ready HTTP/1.1\r\nHost: admin\r\n\r\n").await.expect("write");
        let n = tokio::time::timeout(BOUND, stream.read(&mut buffer))
            .await
            .expect("reply in time")
            .expect("read");
        let reply = String::from_utf8_lossy(&buffer[..n]);
        assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    }
    // An idle keep-alive connection must not hold shutdown up.
    admin.shutdown.cancel();
    tokio::time::timeout(BOUND, admin.task).await.expect("serve returns").expect("no panic");
    let n = tokio::time::timeout(BOUND, stream.read(&mut buffer))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "the server closed the connection");
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let admin = start().await;
    let mut stream = TcpStream::connect(admin.address).await.expect("connect");
    stream.write_all(b"GET /ready HTTP/1.1\r\n").await.expect("write");
    let mut buffer = Vec::new();
    // The server closes (or resets) the connection after the header read timeout.
    let closed = tokio::time::timeout(HEADER_READ_TIMEOUT * 2, stream.read_to_end(&mut buffer))
        .await
        .is_ok();
    assert!(closed, "an incomplete request is cut off by the header read timeout");
    let reply = String::from_utf8_lossy(&buffer);
    assert!(!reply.starts_with("HTTP/1.1 2"), "no success reply to an incomplete request: {reply}");
    admin.stop().await;
}

#[tokio::test]
async fn oversized_header_blocks_are_refused() {
    let admin = start().await;
    // Exactly 16 KiB of an unfinished head: the server reads all of it before refusing, so
    // no unread bytes turn its close into a reset that could swallow the reply.
    let mut long = String::from("GET /ready HTTP/1.1\r\nHost: admin\r\nX-Filler: ");
    long.push_str(&"a".repeat(16 * 1024 - long.len()));
    let (status, _, _) = exchange(admin.address, &long).await;
    assert_eq!(status, 431, "a header block over 16 KiB");
    let many: String = (0..40).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /ready HTTP/1.1\r\nHost: admin\r\n{many}Connection: close\r\n\r\n");
    let (status, _, _) = exchange(admin.address, &many).await;
    assert_eq!(status, 431, "more than 32 headers");
    admin.stop().await;
}

/// With more idle connections open than the limit (silent ones and ones stuck mid-headers), a
/// fresh `/ready` is still answered at once: it evicts the oldest idle connection instead of
/// being refused or waiting for the header timeout to free a place.
#[tokio::test]
async fn a_fresh_probe_gets_through_many_idle_connections() {
    let admin = start().await;
    admin.ready.store(true, Ordering::Release);
    let mut idle = Vec::new();
    for i in 0..MAX_CONNECTIONS + 36 {
        let mut stream = TcpStream::connect(admin.address).await.expect("connect");
        if i % 2 == 1 {
            stream.write_all(b"GET /ready HTTP/1.1\r\n").await.expect("write");
        }
        idle.push(stream);
    }
    // Let the server accept them all before probing.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let (status, _, body) = exchange(admin.address, &get("/ready")).await;
    let elapsed = started.elapsed();
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert!(elapsed < HEADER_READ_TIMEOUT / 2, "/ready took {elapsed:?}");

    // The oldest idle connection was the one closed.
    let mut buffer = Vec::new();
    let first = idle.first_mut().expect("connections");
    let closed = tokio::time::timeout(BOUND, first.read_to_end(&mut buffer)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the oldest idle connection is closed");
    let text = admin.metrics.render();
    let evicted = text
        .lines()
        .find_map(|l| l.strip_prefix("xproxy_admin_connections_refused_total{reason=\"evicted\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(evicted >= 37.0, "36 idle ones over the limit plus the probe evicted: {text}");
    drop(idle);
    admin.stop().await;
}
