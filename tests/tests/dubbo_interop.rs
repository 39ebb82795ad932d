//! Interop with real Dubbo implementations nobody on this project wrote:
//!
//! - consumer: PyPI `dubbo-ssl-python` 0.9.6 (`tests/peers/dubbo/consumer.py`), the Dubbo
//!   client that installs here (the golden vector comes from it);
//! - provider: `tests/peers/dubbo/provider.js`, a small Dubbo provider on npm `hessian.js`
//!   2.11.0 (the hessian2 library of the Node.js Dubbo/SOFA stacks), since no Dubbo provider
//!   installs from the reachable registries (the Java and Go ones need Maven or the Go proxy).
//!
//! What it proves:
//! - frames the real consumer sends and the provider's replies decode and re-encode byte-exact
//!   through a relay built on our codec, which rewrites every request id on the way up and
//!   back on the way down;
//! - the provider answers frames our builders and hessian2 writer produce (chunked strings,
//!   heartbeats, one-way calls, unknown services);
//! - the real consumer raises its error, with our message, for the error replies we build.
//!
//! Needs Node.js and Python with the peers installed:
//! `npm ci --prefix tests/peers/dubbo` and `pip install -r tests/peers/dubbo/requirements.txt`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::BytesMut;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::time::timeout;
use xprotocol::{Codec, Failure, Frame, Limits, Protocol, RequestId, StreamKind};
use xprotocol_dubbo::hessian2::{skip_all, Reader, StrValue, Writer};
use xprotocol_dubbo::{Dubbo, DubboCodec, DubboFrame, RequestBuilder};

const SERVICE: &str = "com.example.DemoService";
/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(120);
/// Added to request ids on the way up by the relay.
const ID_SHIFT: u64 = 1_000_000_007;

fn peer_dir() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/dubbo");
    let install = format!(
        "install them with `npm ci --prefix {0}` and `pip install -r {0}/requirements.txt` \
         (needs Node.js, Python 3 and the npm and PyPI registries)",
        dir.display()
    );
    if !dir.join("node_modules/hessian.js/package.json").exists() {
        bail!("the Dubbo provider peer (npm hessian.js) is not installed: {install}");
    }
    let python = std::process::Command::new("python3")
        .args(["-c", "import dubbo_ssl.client"])
        .output()
        .with_context(|| format!("python3 not found: {install}"))?;
    if !python.status.success() {
        bail!("the Dubbo consumer peer (PyPI dubbo-ssl-python) is not installed: {install}");
    }
    Ok(dir)
}

/// A spawned peer process, killed when dropped.
struct PeerProcess(Child);

impl Drop for PeerProcess {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

/// Starts the provider on a free port (60 s lifetime; it also exits when its stdin closes,
/// that is when the guard drops) and waits for its READY line.
async fn start_provider() -> Result<(PeerProcess, u16)> {
    let dir = peer_dir()?;
    let mut child = Command::new("node")
        .arg(dir.join("provider.js"))
        .args(["0", "60000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("spawning node provider.js")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let guard = PeerProcess(child);
    let mut lines = BufReader::new(stdout).lines();
    let line = timeout(Duration::from_secs(20), lines.next_line())
        .await
        .context("provider did not print READY in 20 s")??
        .ok_or_else(|| anyhow!("provider exited before READY"))?;
    let port = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(|| anyhow!("unexpected provider line {line:?}"))?;
    Ok((guard, port))
}

/// Runs `consumer.py 127.0.0.1 PORT SCENARIO` (bounded to 90 s) and returns its results.
async fn run_consumer(port: u16, scenario: &str) -> Result<HashMap<String, Value>> {
    let dir = peer_dir()?;
    let child = Command::new("python3")
        .arg(dir.join("consumer.py"))
        .args(["127.0.0.1", &port.to_string(), scenario])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("spawning python3 consumer.py")?;
    let out = timeout(Duration::from_secs(90), child.wait_with_output())
        .await
        .context("consumer.py did not finish in 90 s")??;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("consumer.py {scenario} failed ({}): {text}", out.status);
    }
    let json: Value =
        serde_json::from_str(text.trim()).with_context(|| format!("output {text}"))?;
    let results = json["results"].as_array().ok_or_else(|| anyhow!("no results in {json}"))?;
    Ok(results
        .iter()
        .map(|r| (r["call"].as_str().unwrap_or_default().to_owned(), r.clone()))
        .collect())
}

/// What the relay saw of one frame.
#[derive(Clone, Debug)]
struct Seen {
    kind: StreamKind,
    id: u64,
    service: Option<String>,
    method: Option<String>,
    version: Option<String>,
    group: Option<String>,
    dubbo_version: Option<String>,
    parameter_types: Option<String>,
    headers: Vec<(String, String)>,
}

#[derive(Default)]
struct RelayLog {
    frames: Vec<Seen>,
    mismatches: Vec<String>,
}

/// Copies frames from `from` to `to` through our codec: each frame must re-encode to the bytes
/// it came as; then its id is shifted by `shift` (wrapping) and it is written on.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    shift: u64,
    log: Arc<Mutex<RelayLog>>,
) -> Result<()> {
    let mut codec = Dubbo.codec(Limits::DEFAULT);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        if from.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        loop {
            let before = buf.clone();
            let Some(mut frame) = codec.decode(&mut buf).context("relay decode")? else {
                break;
            };
            let mut out = BytesMut::new();
            codec.encode(&frame, &mut out)?;
            let original = &before[..frame.wire_len()];
            let seen = Seen {
                kind: frame.kind(),
                id: frame.request_id().0,
                service: frame.service().map(str::to_owned),
                method: frame.method().map(str::to_owned),
                version: frame.version().map(str::to_owned),
                group: frame.group().map(str::to_owned),
                dubbo_version: frame.dubbo_version().map(str::to_owned),
                parameter_types: frame.parameter_types().map(str::to_owned),
                headers: {
                    let mut h = Vec::new();
                    frame.for_each_header(&mut |k, v| h.push((k.to_owned(), v.to_owned())));
                    h
                },
            };
            {
                let mut log = log.lock().unwrap();
                if &out[..] != original {
                    log.mismatches.push(format!("{:?} id {}", seen.kind, seen.id));
                }
                log.frames.push(seen);
            }
            frame.set_request_id(RequestId(frame.request_id().0.wrapping_add(shift)))?;
            out.clear();
            codec.encode(&frame, &mut out)?;
            to.write_all(&out).await?;
        }
    }
}

/// A one-connection relay in front of `upstream`: returns its port.
async fn start_relay(
    upstream: u16,
    up: Arc<Mutex<RelayLog>>,
    down: Arc<Mutex<RelayLog>>,
) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let (client, _) = listener.accept().await?;
        let server = TcpStream::connect(("127.0.0.1", upstream)).await?;
        let (client_r, client_w) = client.into_split();
        let (server_r, server_w) = server.into_split();
        let a = tokio::spawn(pump(client_r, server_w, ID_SHIFT, up));
        let b = tokio::spawn(pump(server_r, client_w, ID_SHIFT.wrapping_neg(), down));
        let _ = tokio::join!(a, b);
        anyhow::Ok(())
    });
    Ok(port)
}

fn result<'a>(results: &'a HashMap<String, Value>, call: &str) -> &'a Value {
    results.get(call).unwrap_or_else(|| panic!("no result for {call}: {results:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_frames_relay_byte_exact_to_the_provider() -> Result<()> {
    timeout(TEST_LIMIT, async {
        let (_provider, provider_port) = start_provider().await?;
        let up = Arc::new(Mutex::new(RelayLog::default()));
        let down = Arc::new(Mutex::new(RelayLog::default()));
        let relay = start_relay(provider_port, up.clone(), down.clone()).await?;
        let results = run_consumer(relay, "calls").await?;

        assert_eq!(result(&results, "sayHello")["value"], "hello world 42");
        assert_eq!(result(&results, "echo-str")["value"], "héllo ✓");
        assert_eq!(result(&results, "echo-int")["value"], -100000);
        assert_eq!(result(&results, "echo-long")["value"], 1u64 << 40);
        assert_eq!(result(&results, "echo-float")["value"], 2.5);
        assert_eq!(result(&results, "echo-bool")["value"], true);
        assert_eq!(result(&results, "echo-list")["value"], serde_json::json!([1, 2, 3]));
        assert_eq!(result(&results, "echo-strs")["value"], serde_json::json!(["a", "b"]));
        assert_eq!(result(&results, "echo-big")["value"], 20000);
        assert_eq!(result(&results, "attachment")["value"], "t-123");
        let boom = result(&results, "boom");
        assert_eq!(boom["error"], "DubboResponseException", "{boom}");
        assert!(boom["message"].as_str().unwrap_or_default().contains("boom"), "{boom}");

        let up = up.lock().unwrap();
        let down = down.lock().unwrap();
        assert!(up.mismatches.is_empty(), "requests not byte-exact: {:?}", up.mismatches);
        assert!(down.mismatches.is_empty(), "responses not byte-exact: {:?}", down.mismatches);
        let requests: Vec<_> = up.frames.iter().filter(|f| f.kind == StreamKind::Request).collect();
        assert_eq!(requests.len(), 11, "{requests:#?}");
        let hello = requests[0];
        assert_eq!(hello.service.as_deref(), Some(SERVICE));
        assert_eq!(hello.method.as_deref(), Some("sayHello"));
        assert_eq!(hello.version.as_deref(), Some("1.0.0"));
        assert_eq!(hello.group.as_deref(), Some("g1"));
        assert_eq!(hello.dubbo_version.as_deref(), Some("2.4.10"));
        assert_eq!(hello.parameter_types.as_deref(), Some("Ljava/lang/String;I"));
        assert!(hello.headers.contains(&("traceId".into(), "abc".into())), "{hello:?}");
        let responses = down.frames.iter().filter(|f| f.kind == StreamKind::Response).count();
        assert_eq!(responses, 11);
        // Replies came back with the shifted ids, and were shifted back on the way down.
        assert!(down.frames.iter().all(|f| f.id >= ID_SHIFT), "{:?}", down.frames);
        Ok(())
    })
    .await
    .context("test took too long")?
}

/// Sends `frames` to `port`, collects replies until `want` arrived (or 15 s), then waits
/// 300 ms for strays.
async fn exchange(port: u16, frames: &[DubboFrame], want: usize) -> Result<Vec<DubboFrame>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut codec = DubboCodec::new(Limits::DEFAULT);
    let mut out = BytesMut::new();
    for f in frames {
        codec.encode(f, &mut out)?;
    }
    stream.write_all(&out).await?;
    let mut replies = Vec::new();
    let mut buf = BytesMut::new();
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        while let Some(f) = codec.decode(&mut buf)? {
            replies.push(f);
        }
        if replies.len() >= want
            && deadline > tokio::time::Instant::now() + Duration::from_millis(300)
        {
            deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => return Ok(replies),
            Ok(r) => {
                r?;
            }
        }
    }
}

fn encoded(f: impl FnOnce(&mut Writer<'_>)) -> Vec<u8> {
    let mut buf = BytesMut::new();
    f(&mut Writer::new(&mut buf));
    buf.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_answers_frames_we_build() -> Result<()> {
    timeout(TEST_LIMIT, async {
        let (_provider, port) = start_provider().await?;
        let group = [("group", "g1"), ("traceId", "from-rust")];
        let hello_args = encoded(|w| {
            w.string("rust").int(7);
        });
        let big = "ü".repeat(40_000); // over one 32 768-unit chunk: sent as R chunk + S
        let big_args = encoded(|w| {
            w.string(&big);
        });
        let key_args = encoded(|w| {
            w.string("traceId");
        });
        let base = RequestBuilder {
            version: "1.0.0",
            attachments: &group,
            ..RequestBuilder::new(SERVICE, "sayHello")
        };
        let frames = vec![
            RequestBuilder {
                id: 11,
                parameter_types: "Ljava/lang/String;I",
                arguments: &hello_args,
                ..base.clone()
            }
            .build()?,
            RequestBuilder {
                id: 12,
                method: "echo",
                parameter_types: "Ljava/lang/String;",
                arguments: &big_args,
                ..base.clone()
            }
            .build()?,
            DubboFrame::heartbeat_request(13),
            RequestBuilder {
                id: 14,
                two_way: false,
                parameter_types: "Ljava/lang/String;I",
                arguments: &hello_args,
                ..base.clone()
            }
            .build()?,
            RequestBuilder { id: 15, service: "com.example.Missing", ..base.clone() }.build()?,
            RequestBuilder { id: 16, method: "boom", ..base.clone() }.build()?,
            RequestBuilder {
                id: 17,
                method: "attachment",
                parameter_types: "Ljava/lang/String;",
                arguments: &key_args,
                ..base.clone()
            }
            .build()?,
        ];
        let replies = exchange(port, &frames, 6).await?;
        let by_id: HashMap<u64, &DubboFrame> =
            replies.iter().map(|f| (f.request_id().0, f)).collect();
        assert_eq!(replies.len(), 6, "one reply per two-way frame, none for one-way: {replies:?}");
        assert!(!by_id.contains_key(&14));

        // Dubbo 2.0.2 consumers get "value with attachments" (4) from a Java-like provider.
        let value = |id: u64| -> (i32, Vec<u8>) {
            let f = by_id[&id];
            assert_eq!(f.kind(), StreamKind::Response, "{id}");
            assert_eq!(f.status(), Some(20), "{id}");
            let body = f.body();
            let mut r = Reader::new(body, &Limits::DEFAULT);
            let flag = r.read_int().unwrap();
            let at = r.position();
            r.skip_value().unwrap();
            let value = body[at..r.position()].to_vec();
            if flag >= 3 {
                r.skip_value().unwrap(); // response attachments
            }
            assert!(r.is_empty(), "{id}: trailing bytes");
            (flag, value)
        };
        assert_eq!(
            value(11),
            (
                4,
                encoded(|w| {
                    w.string("hello rust 7");
                })
            )
        );
        // hessian.js chunks the 40 000 characters exactly as our writer does.
        assert_eq!(value(12), (4, big_args.clone()));
        assert_eq!(
            value(17),
            (
                4,
                encoded(|w| {
                    w.string("from-rust");
                })
            )
        );
        let (flag, exception) = value(16);
        assert_eq!(flag, 3, "exception with attachments");
        assert_eq!(skip_all(&exception, &Limits::DEFAULT), Ok(1));

        let hb = by_id[&13];
        assert_eq!(hb.kind(), StreamKind::HeartbeatResponse);
        assert_eq!(hb.status(), Some(20));
        assert_eq!(&hb.body()[..], b"N");

        let missing = by_id[&15];
        assert_eq!(missing.status(), Some(70));
        let mut r = Reader::new(missing.body(), &Limits::DEFAULT);
        let StrValue::Contiguous(range) = r.read_string()? else { bail!("no message") };
        let message = std::str::from_utf8(&missing.body()[range])?;
        assert!(message.contains("Not found exported service"), "{message}");
        Ok(())
    })
    .await
    .context("test took too long")?
}

/// A fake provider answering every request with our error reply for the failure its method
/// names (and heartbeats with our heartbeat reply).
async fn start_error_provider() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await?;
        let mut codec = Dubbo.codec(Limits::DEFAULT);
        let mut buf = BytesMut::new();
        loop {
            if stream.read_buf(&mut buf).await? == 0 {
                return anyhow::Ok(());
            }
            while let Some(request) = codec.decode(&mut buf)? {
                let reply = if request.kind() == StreamKind::HeartbeatRequest {
                    Dubbo.heartbeat_reply(&request)
                } else {
                    let method = request.method().unwrap_or_default().to_owned();
                    let failure = Failure::ALL
                        .into_iter()
                        .find(|f| format!("{f:?}") == method)
                        .unwrap_or(Failure::Internal);
                    let message = format!("xproxy: {failure} for {method}");
                    Dubbo.error_reply(&request, failure, &message)
                };
                if let Some(reply) = reply {
                    let mut out = BytesMut::new();
                    codec.encode(&reply, &mut out)?;
                    stream.write_all(&out).await?;
                }
            }
        }
    });
    Ok(port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_raises_on_our_error_replies() -> Result<()> {
    timeout(TEST_LIMIT, async {
        peer_dir()?;
        let port = start_error_provider().await?;
        let results = run_consumer(port, "errors").await?;
        for failure in Failure::ALL {
            let name = format!("{failure:?}");
            let r = result(&results, &name);
            assert_eq!(r["ok"], false, "{r}");
            let message = r["message"].as_str().unwrap_or_default();
            match failure {
                // Status 100: dubbo-ssl-python 0.9.6 has no entry for it in its status table,
                // fails in its reader thread and reports the call as timed out. A Java consumer
                // raises a RemotingException with the message, as for the other statuses.
                Failure::Overloaded | Failure::NoHealthyUpstream => {
                    assert_eq!(r["error"], "DubboRequestTimeoutException", "{r}")
                }
                _ => {
                    assert_eq!(r["error"], "DubboResponseException", "{r}");
                    let want = format!("xproxy: {failure} for {name}");
                    assert_eq!(message.trim(), want, "{r}");
                }
            }
        }
        Ok(())
    })
    .await
    .context("test took too long")?
}
