//! End to end over HTTP: curl, h2load and the `websockets` client → xproxy (in process, the
//! same auto-detecting port as the RPC protocols) → nginx (HTTP/1.1 and cleartext HTTP/2) or
//! the `websockets` echo server; and the statuses the gateway answers with itself.
//!
//! Needs nginx (Debian `nginx-light`), curl, h2load (`nghttp2-client`) and Python with
//! `tests/peers/http/requirements.txt` (`tests/peers/install.sh`). A missing one fails the
//! test that needs it, naming the package.

mod common;

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use common::http::*;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(60);
/// `http.limits.max_body_bytes` of the error tests.
const BODY_LIMIT: u64 = 1 << 20;
/// `http.limits.header_read_timeout` of every test gateway.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);
/// No extra curl arguments.
const NO_ARGS: [&str; 0] = [];
/// The size of the uploads.
const UPLOAD_BYTES: usize = 2 << 20;

/// A route forwarding `/<name>/…` to `cluster` as `/…`, adding `x-route: <name>` to the
/// request and `x-served-by: xproxy` to the response.
fn forward(name: &str, cluster: &str, extra: &str) -> String {
    let mut yaml = format!(
        "        - name: {name}\n          match: {{path: {{prefix: \"/{name}/\"}}}}\n          \
         prefix_rewrite: \"/\"\n          action: {{cluster: {cluster}}}\n          \
         request_headers_to_add: {{x-route: {name}}}\n          \
         response_headers_to_add: {{x-served-by: xproxy}}\n"
    );
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        yaml.push_str(&format!("          {}\n", line.trim_start()));
    }
    yaml
}

/// The routes every test gateway has besides its forwarding ones: a redirect and a direct
/// response.
const FIXED_ROUTES: &str = r#"        - name: old
          match: {path: {exact: "/old"}}
          action: {redirect: {path: "/new", code: 301}}
        - name: direct
          match: {path: {exact: "/direct"}}
          action: {direct_response: {status: 403, body: "not for you", content_type: text/plain}}
"#;

/// A gateway config: one virtual host for every domain with `routes` (YAML list items),
/// `max_body_bytes`, a 1 s header read timeout, and `clusters` (from [`cluster`]).
fn config(max_body_bytes: u64, routes: &[String], clusters: &[String]) -> String {
    let mut yaml = HEAD.to_owned();
    yaml.push_str(&format!(
        "http:\n  limits: {{max_body_bytes: {max_body_bytes}, header_read_timeout: {}ms}}\n  \
         virtual_hosts:\n    - name: all\n      domains: [\"*\"]\n      routes:\n",
        HEADER_READ_TIMEOUT.as_millis()
    ));
    yaml.push_str(FIXED_ROUTES);
    for route in routes {
        yaml.push_str(route);
    }
    yaml.push_str("clusters:\n");
    for cluster in clusters {
        yaml.push_str(cluster);
    }
    yaml
}

/// Routes `/h1/…` to nginx over HTTP/1.1 and `/h2/…` to nginx over HTTP/2.
fn nginx_routes(nginx: &Nginx) -> (Vec<String>, Vec<String>) {
    let routes = vec![forward("h1", "nginx-h1", ""), forward("h2", "nginx-h2", "")];
    let clusters = vec![
        cluster("nginx-h1", &[nginx.h1], "http_protocol: http1"),
        cluster("nginx-h2", &[nginx.h2], "http_protocol: http2"),
    ];
    (routes, clusters)
}

// ---- HTTP/1.1 ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_requests_reach_nginx_intact() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let nginx = Nginx::start().await?;
        let (routes, clusters) = nginx_routes(&nginx);
        let gateway = gateway(&config(16 << 20, &routes, &clusters)).await?;
        let addr = port(&gateway)?;
        let files = tempfile::tempdir()?;

        // Two requests in one curl run share one downstream connection.
        let echo = url(addr, "/h1/echo");
        let two = run_tool(curl(["-v", &echo, &echo])?).await?;
        ensure!(two.status.success(), "{two}");
        ensure!(two.stderr.contains("Re-using existing connection"), "no reuse\n{two}");
        assert_eq!(two.stdout.lines().count(), 2, "{two}");
        let metrics = admin_get(&gateway, "/metrics").await?;
        let labels = [("listener", LISTENER), ("protocol", "http1")];
        let accepted = metric(&metrics, "xproxy_downstream_connections_total", &labels);
        assert_eq!(accepted, 1.0, "{metrics}");

        let want_big = std::fs::read(nginx.big_file())?;
        let chunked_body = upload_file(&files, "chunked.bin", UPLOAD_BYTES, 1)?;
        let expect_body = upload_file(&files, "expect.bin", UPLOAD_BYTES, 2)?;
        let (big, chunked, expect, headers) = tokio::try_join!(
            // A 4 MB static file, byte for byte.
            download(files.path().join("big.bin"), NO_ARGS, url(addr, "/h1/files/big.bin")),
            // A chunked upload lands on nginx's disk byte for byte.
            fetch([
                "-T".to_owned(),
                path_arg(&files, "chunked.bin"),
                "-H".to_owned(),
                "Transfer-Encoding: chunked".to_owned(),
                "-H".to_owned(),
                "Expect:".to_owned(),
                url(addr, "/h1/upload/chunked.bin"),
            ]),
            // So does one with a Content-Length after `Expect: 100-continue`.
            fetch([
                "-T".to_owned(),
                path_arg(&files, "expect.bin"),
                "-H".to_owned(),
                "Expect: 100-continue".to_owned(),
                url(addr, "/h1/upload/expect.bin"),
            ]),
            // Forwarding headers added, hop-by-hop ones (and those `Connection` names) dropped.
            fetch([
                "-H",
                "Connection: keep-alive, x-secret",
                "-H",
                "x-secret: 1",
                "-H",
                "X-Forwarded-For: 10.1.2.3",
                &echo,
            ]),
        )?;
        assert_eq!(big.status, 200, "{}", big.output);
        assert_eq!(big.header("x-served-by"), Some("xproxy"), "{}", big.output);
        let got = std::fs::read(files.path().join("big.bin"))?;
        assert_same_bytes("downloaded big.bin", &got, &want_big)?;

        assert_eq!(chunked.status, 201, "{}", chunked.output);
        let stored = std::fs::read(nginx.uploaded("chunked.bin"))?;
        assert_same_bytes("chunked upload on nginx's disk", &stored, &chunked_body)?;

        assert_eq!(expect.status, 201, "{}", expect.output);
        ensure!(expect.output.stdout.contains(" 100 Continue"), "no 100\n{}", expect.output);
        let stored = std::fs::read(nginx.uploaded("expect.bin"))?;
        assert_same_bytes("100-continue upload on nginx's disk", &stored, &expect_body)?;

        assert_eq!(headers.status, 200, "{}", headers.output);
        assert_eq!(headers.header("x-served-by"), Some("xproxy"), "{}", headers.output);
        let seen = Echo::parse(&headers.body)?;
        assert_eq!(seen.forwarded_for, "10.1.2.3, 127.0.0.1", "{}", headers.output);
        assert_eq!(seen.route, "h1", "{}", headers.output);
        assert_eq!(seen.host, "127.0.0.1", "{}", headers.output);
        assert_eq!(seen.protocol, "HTTP/1.1", "{}", headers.output);
        assert_eq!(seen.secret, "", "a header named by Connection was forwarded");

        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(requests_total(&metrics, "http1", "h1"), 6.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn http1_upstream_connections_are_reused() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let nginx = Nginx::start().await?;
        let (routes, clusters) = nginx_routes(&nginx);
        let gateway = gateway(&config(BODY_LIMIT, &routes, &clusters)).await?;
        let addr = port(&gateway)?;

        // Ten requests one after the other (one curl run, one downstream connection): each
        // response is read to its end before the next request, so one pooled upstream
        // connection carries them all.
        let echo = url(addr, "/h1/echo");
        let run = run_tool(curl(vec![echo.as_str(); 10])?).await?;
        ensure!(run.status.success(), "{run}");
        let seen: Vec<Echo> = run.stdout.lines().map(Echo::parse).collect::<Result<_>>()?;
        assert_eq!(seen.len(), 10, "{run}");
        let connections: Vec<u64> = seen.iter().map(|e| e.connection).collect();
        ensure!(
            connections.iter().all(|c| *c == connections[0]),
            "nginx saw the requests on connections {connections:?}: the upstream connection \
             was not reused"
        );
        let metrics = admin_get(&gateway, "/metrics").await?;
        let opened = [("cluster", "nginx-h1")];
        assert_eq!(metric(&metrics, "xproxy_upstream_connections_total", &opened), 1.0);
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_answers_errors_with_the_right_status() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let nginx = Nginx::start().await?;
        let (silent, silent_task) = silent_backend().await?;
        let closed = free_port()?;
        let (mut routes, mut clusters) = nginx_routes(&nginx);
        routes.push(forward("closed", "closed", ""));
        routes.push(forward("silent", "silent", "timeout: 300ms"));
        clusters.push(cluster("closed", &[closed], "connect_timeout: 500ms"));
        clusters.push(cluster("silent", &[silent], ""));
        let gateway = gateway(&config(BODY_LIMIT, &routes, &clusters)).await?;
        let addr = port(&gateway)?;
        let files = tempfile::tempdir()?;
        upload_file(&files, "big.bin", UPLOAD_BYTES, 3)?;
        let big = path_arg(&files, "big.bin");
        let big_header = format!("x-big: {}", "a".repeat(70 * 1024));
        let mut many_headers = Vec::new();
        for i in 0..150 {
            many_headers.extend(["-H".to_owned(), format!("x-h{i}: {i}")]);
        }
        many_headers.push(url(addr, "/h1/echo"));

        let (no_route, redirect, direct, nginx_503, closed_503) = tokio::try_join!(
            fetch([url(addr, "/nowhere")]),
            fetch([url(addr, "/old?q=1")]),
            fetch([url(addr, "/direct")]),
            fetch([url(addr, "/h1/fail")]),
            fetch([url(addr, "/closed/echo")]),
        )?;
        assert_eq!(no_route.status, 404, "{}", no_route.output);
        assert_eq!(redirect.status, 301, "{}", redirect.output);
        let location = redirect.header("location");
        assert_eq!(location, Some(url(addr, "/new?q=1").as_str()), "{}", redirect.output);
        assert_eq!(direct.status, 403, "{}", direct.output);
        assert_eq!(direct.body, "not for you", "{}", direct.output);
        assert_eq!(direct.header("content-type"), Some("text/plain"), "{}", direct.output);
        assert_eq!(nginx_503.status, 503, "{}", nginx_503.output);
        ensure!(nginx_503.body.contains("nginx"), "not nginx's 503\n{}", nginx_503.output);
        assert_eq!(closed_503.status, 503, "{}", closed_503.output);

        let upload = url(addr, "/h1/upload/a");
        let silent_start = Instant::now();
        let (too_slow, too_large) = tokio::try_join!(
            fetch([url(addr, "/silent/echo")]),
            // Content-Length over the limit with `Expect: 100-continue`: refused before the
            // body is sent.
            fetch(["-T", &big, "-H", "Expect: 100-continue", &upload]),
        )?;
        assert_eq!(too_slow.status, 504, "{}", too_slow.output);
        ensure!(silent_start.elapsed() < Duration::from_secs(3), "504 took too long");
        assert_eq!(too_large.status, 413, "{}", too_large.output);
        ensure!(!too_large.output.stdout.contains(" 100 "), "{}", too_large.output);
        ensure!(!nginx.uploaded("a").exists(), "the refused body reached nginx");

        let echo = url(addr, "/h1/echo");
        let (big_head, many) =
            tokio::try_join!(fetch(["-H", &big_header, &echo]), fetch(many_headers))?;
        assert_eq!(big_head.status, 431, "{}", big_head.output);
        assert_eq!(many.status, 431, "{}", many.output);

        let malformed =
            raw_exchange(addr, b"GET /h1/echo HTTP/1.1 extra\r\nHost: x\r\n\r\n").await?;
        ensure!(malformed.starts_with("HTTP/1.1 400"), "malformed request line: {malformed:?}");

        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(errors_total(&metrics, "http1", "silent", "timeout"), 1.0, "{metrics}");
        assert_eq!(errors_total(&metrics, "http1", "", "no_route"), 1.0, "{metrics}");
        silent_task.abort();
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn oversized_uploads_always_get_their_413() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let nginx = Nginx::start().await?;
        let (routes, clusters) = nginx_routes(&nginx);
        let gateway = gateway(&config(BODY_LIMIT, &routes, &clusters)).await?;
        let addr = port(&gateway)?;
        let files = tempfile::tempdir()?;
        upload_file(&files, "big.bin", UPLOAD_BYTES, 4)?;

        // Without `Expect`, the client is still sending when the gateway answers: a Content-
        // Length over the limit is answered at once, a chunked body once the limit is passed.
        // Either way the client must be able to finish sending and read the 413 (RFC 9112
        // §9.6: close in stages, reading and discarding what still comes), not find its
        // connection reset. First by hand, with a pause while the gateway answers.
        let length_head = format!(
            "PUT /h1/upload/b HTTP/1.1\r\nHost: x\r\nContent-Length: {UPLOAD_BYTES}\r\n\r\n"
        );
        let body = vec![b'a'; UPLOAD_BYTES];
        let (first, rest) = body.split_at(256 << 10);
        let with_length = upload_in_two_parts(addr, &length_head, first, rest).await?;
        let chunked_head =
            "PUT /h1/upload/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
        let (first, rest) = (chunks(BODY_LIMIT as usize + (256 << 10)), chunks(1 << 20));
        let rest = [rest, b"0\r\n\r\n".to_vec()].concat();
        let chunked = upload_in_two_parts(addr, chunked_head, &first, &rest).await?;
        for (what, (sent, answer)) in [("Content-Length", with_length), ("chunked", chunked)] {
            ensure!(
                sent.is_ok() && answer.starts_with("HTTP/1.1 413"),
                "{what}: sending the rest of the body: {sent:?}; answer {answer:?}"
            );
        }

        // Then with curl, which gives up on a failed send: ten tries of each, as it is a race.
        let big = path_arg(&files, "big.bin");
        let (with_length, chunked) = (url(addr, "/h1/upload/b"), url(addr, "/h1/upload/c"));
        let mut failures = Vec::new();
        for _ in 0..10 {
            let (a, b) = tokio::try_join!(
                run_tool(curl(["-i", "-T", &big, "-H", "Expect:", &with_length])?),
                run_tool(curl([
                    "-i",
                    "-T",
                    &big,
                    "-H",
                    "Transfer-Encoding: chunked",
                    "-H",
                    "Expect:",
                    &chunked,
                ])?),
            )?;
            for run in [a, b] {
                if final_status(&run) != Some(413) {
                    failures.push(run.to_string());
                }
            }
        }
        ensure!(
            failures.is_empty(),
            "{} of 20 got no 413:\n{}",
            failures.len(),
            failures.join("\n")
        );
        ensure!(!nginx.uploaded("b").exists() && !nginx.uploaded("c").exists());
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_killed_mid_response_truncates_only_that_response() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let (nginx, victim) = tokio::try_join!(Nginx::start(), Nginx::start())?;
        let (mut routes, mut clusters) = nginx_routes(&nginx);
        routes.push(forward("victim", "victim", ""));
        clusters.push(cluster("victim", &[victim.h1], "http_protocol: http1"));
        let gateway = gateway(&config(BODY_LIMIT, &routes, &clusters)).await?;
        let addr = port(&gateway)?;
        let files = tempfile::tempdir()?;
        let out = files.path().join("slow.bin");

        // 4 MB at 256 KB/s: still streaming when nginx dies.
        let download =
            curl(["-o".to_owned(), out.display().to_string(), url(addr, "/victim/slow/big.bin")])?;
        let client = download.lifetime(TOOL_LIMIT).spawn()?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&out).map_or(0, |m| m.len()) < 64 * 1024 {
            ensure!(Instant::now() < deadline, "no bytes came\n{}", client.captured());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        victim.kill().await?;
        let killed = Instant::now();
        let run = tokio::task::spawn_blocking(move || client.wait_exit(TOOL_LIMIT)).await??;
        let after_kill = killed.elapsed();
        let got = std::fs::metadata(&out)?.len();
        // curl: 18 = transfer closed with bytes remaining, 56 = receive failure.
        ensure!(!run.status.success(), "a truncated response looked complete ({got} bytes)\n{run}");
        ensure!(got < BIG_FILE_BYTES as u64, "{got} bytes\n{run}");
        ensure!(after_kill < Duration::from_secs(3), "the client hung {after_kill:?}\n{run}");

        // The gateway goes on serving: the live backend as before, the dead one refused.
        let (live, dead) =
            tokio::try_join!(fetch([url(addr, "/h1/echo")]), fetch([url(addr, "/victim/echo")]))?;
        assert_eq!(live.status, 200, "{}", live.output);
        assert_eq!(Echo::parse(&live.body)?.route, "h1", "{}", live.output);
        assert_eq!(dead.status, 503, "{}", dead.output);
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_header_sender_is_cut_off_while_others_are_served() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let nginx = Nginx::start().await?;
        let (routes, clusters) = nginx_routes(&nginx);
        let gateway = gateway(&config(BODY_LIMIT, &routes, &clusters)).await?;
        let addr = port(&gateway)?;

        let mut stream = TcpStream::connect(addr).await?;
        let started = Instant::now();
        stream.write_all(b"GET /h1/echo HTTP/1.1\r\nHost: x\r\n").await?;
        let (mut reader, mut writer) = stream.into_split();
        // One more header byte every 100 ms, never the end of the head.
        let drip = tokio::spawn(async move {
            for byte in b"X-Slow: ".iter().chain([b'a'; 200].iter()).cycle().take(200) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if writer.write_all(&[*byte]).await.is_err() {
                    return;
                }
            }
        });
        let closed = async {
            let mut raw = Vec::new();
            let _ = timeout(Duration::from_secs(10), reader.read_to_end(&mut raw)).await;
            (started.elapsed(), String::from_utf8_lossy(&raw).into_owned())
        };
        let normal = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            fetch([url(addr, "/h1/echo")]).await
        };
        let ((cut_after, answer), normal) = tokio::join!(closed, normal);
        drip.abort();
        let normal = normal?;
        assert_eq!(normal.status, 200, "{}", normal.output);
        ensure!(
            cut_after >= HEADER_READ_TIMEOUT - Duration::from_millis(100)
                && cut_after < HEADER_READ_TIMEOUT + Duration::from_millis(1000),
            "closed after {cut_after:?}, with {answer:?}"
        );
        ensure!(answer.is_empty() || answer.starts_with("HTTP/1.1 408"), "{answer:?}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

// ---- HTTP/2 -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_and_http1_cross_the_gateway_in_every_combination() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let nginx = Nginx::start().await?;
        let (routes, clusters) = nginx_routes(&nginx);
        let gateway = gateway(&config(BODY_LIMIT, &routes, &clusters)).await?;
        let addr = port(&gateway)?;
        let files = tempfile::tempdir()?;
        let h2 = "--http2-prior-knowledge";
        let (h1_echo, h2_echo) = (url(addr, "/h1/echo"), url(addr, "/h2/echo"));

        let (big, h2_h2, h1_h2, h2_h1) = tokio::try_join!(
            download(files.path().join("big.bin"), [h2], url(addr, "/h2/files/big.bin")),
            fetch([h2, &h2_echo]),
            fetch([&h2_echo]),
            fetch([h2, &h1_echo]),
        )?;
        assert_eq!(big.status, 200, "{}", big.output);
        ensure!(big.head.starts_with("HTTP/2 200"), "{}", big.output);
        let want = std::fs::read(nginx.big_file())?;
        let got = std::fs::read(files.path().join("big.bin"))?;
        assert_same_bytes("big.bin over HTTP/2 both ways", &got, &want)?;

        for (reply, downstream, upstream, route) in [
            (&h2_h2, "HTTP/2", "HTTP/2.0", "h2"),
            (&h1_h2, "HTTP/1.1", "HTTP/2.0", "h2"),
            (&h2_h1, "HTTP/2", "HTTP/1.1", "h1"),
        ] {
            assert_eq!(reply.status, 200, "{}", reply.output);
            ensure!(reply.head.starts_with(downstream), "{}", reply.output);
            assert_eq!(reply.header("x-served-by"), Some("xproxy"), "{}", reply.output);
            let seen = Echo::parse(&reply.body)?;
            assert_eq!(seen.protocol, upstream, "{}", reply.output);
            assert_eq!(seen.route, route, "{}", reply.output);
            assert_eq!(seen.forwarded_for, "127.0.0.1", "{}", reply.output);
            assert_eq!(seen.host, "127.0.0.1", "{}", reply.output);
        }
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn upstream_goaway_loses_no_request() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let nginx = Nginx::start().await?;
        let routes = vec![forward("recycling", "recycling", "")];
        let clusters = vec![cluster("recycling", &[nginx.h2_recycling], "http_protocol: http2")];
        let gateway = gateway(&config(BODY_LIMIT, &routes, &clusters)).await?;
        let addr = port(&gateway)?;

        // nginx ends each upstream connection with a graceful GOAWAY after 20 requests: the
        // streams it did not take are safe to send again on a new connection (RFC 9113
        // §6.8), and a GOAWAY is no sign of a failing endpoint.
        let started = Instant::now();
        let (load, output) =
            h2load(["-n", "300", "-c", "2", "-m", "10", &url(addr, "/recycling/echo")]).await?;
        let want =
            LoadSummary { total: 300, succeeded: 300, status_2xx: 300, ..Default::default() };
        assert_eq!(load, want, "({:?})\n{output}", started.elapsed());
        let after = fetch(["--http2-prior-knowledge", &url(addr, "/recycling/echo")]).await?;
        assert_eq!(after.status, 200, "{}", after.output);
        let metrics = admin_get(&gateway, "/metrics").await?;
        let opened =
            metric(&metrics, "xproxy_upstream_connections_total", &[("cluster", "recycling")]);
        ensure!(opened >= f64::from(300 / RECYCLE_AFTER), "{opened} upstream connections");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn h2load_through_the_gateway_gets_every_response() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let nginx = Nginx::start().await?;
        let (routes, clusters) = nginx_routes(&nginx);
        let gateway = gateway(&config(BODY_LIMIT, &routes, &clusters)).await?;
        let addr = port(&gateway)?;

        let started = Instant::now();
        let (h1, output) =
            h2load(["--h1", "-n", "1000", "-c", "10", &url(addr, "/h1/echo")]).await?;
        let want =
            LoadSummary { total: 1000, succeeded: 1000, status_2xx: 1000, ..Default::default() };
        assert_eq!(h1, want, "HTTP/1.1 ({:?})\n{output}", started.elapsed());

        // 2000 requests on one upstream HTTP/2 connection: nginx ends it with a GOAWAY after
        // 1000 (`keepalive_requests`), so this also crosses a connection change.
        let started = Instant::now();
        let (h2, output) =
            h2load(["-n", "2000", "-c", "4", "-m", "32", &url(addr, "/h2/echo")]).await?;
        let want =
            LoadSummary { total: 2000, succeeded: 2000, status_2xx: 2000, ..Default::default() };
        assert_eq!(h2, want, "HTTP/2 ({:?})\n{output}", started.elapsed());

        let metrics = admin_get(&gateway, "/metrics").await?;
        assert_eq!(requests_total(&metrics, "http2", "h2"), 2000.0, "{metrics}");
        assert_eq!(requests_total(&metrics, "http1", "h1"), 1000.0, "{metrics}");
        gateway.shutdown().await;
        Ok(())
    })
    .await
}

#[test]
fn h2load_summary_is_parsed() {
    let text = "finished in 1.2s\nrequests: 2000 total, 2000 started, 2000 done, 1999 \
                succeeded, 1 failed, 0 errored, 0 timeout\nstatus codes: 1999 2xx, 0 3xx, \
                0 4xx, 1 5xx\n";
    let summary = parse_load_summary(text).expect("a summary");
    let want = LoadSummary {
        total: 2000,
        succeeded: 1999,
        failed: 1,
        errored: 0,
        timeout: 0,
        status_2xx: 1999,
    };
    assert_eq!(summary, want);
    assert_eq!(parse_load_summary("requests: 1 total\n"), None);
}

// ---- WebSocket --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_messages_cross_the_gateway_both_ways() -> Result<()> {
    bounded(TEST_LIMIT, async {
        let server = ws_server().await?;
        let routes = vec![forward("ws", "ws", "")];
        let clusters = vec![cluster("ws", &[server.addr], "")];
        let gateway = gateway(&config(BODY_LIMIT, &routes, &clusters)).await?;
        let addr = port(&gateway)?;

        let run = run_ok(ws_client(&format!("ws://{addr}/ws/chat"), 5)?).await?;
        let greeting = &run.json["greeting"];
        assert_eq!(greeting["path"], "/chat", "{}", run.output);
        assert_eq!(greeting["x_forwarded_for"], "127.0.0.1", "{}", run.output);
        assert_eq!(greeting["x_route"], "ws", "{}", run.output);
        for field in ["text_echoed", "binary_echoed", "pushed"] {
            assert_eq!(run.json[field], 5, "{field}\n{}", run.output);
        }
        gateway.shutdown().await;
        Ok(())
    })
    .await
}
