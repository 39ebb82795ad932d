//! Interop with the real Tars implementation: npm `@tars/rpc` 2.0.15 and `@tars/stream`
//! (the package's example servant and proxy, driven by `tests/peers/tars/*.js`).
//!
//! - Frames the real client sends, and the real server's replies, decode and re-encode
//!   byte-exact through a relay built on our codec, which also rewrites every request id on
//!   the way up (to ids of other TLV widths) and back on the way down.
//! - The real server answers frames our builders write.
//! - The real client reports the return codes and messages of our error replies.
//!
//! Needs Node.js and the peers installed: `npm ci --prefix tests/peers/tars`.

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
use xprotocol_tars::status::return_code;
use xprotocol_tars::tlv::{int_len, write_string, TlvReader};
use xprotocol_tars::{RequestPacket, Tars, TarsCodec, TarsFrame};

const SERVANT: &str = "TARS.NodeTarsServer.NodeTarsObj";
/// Every test ends within this, whatever the peers do.
const TEST_LIMIT: Duration = Duration::from_secs(90);

fn peer_dir() -> Result<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers/tars");
    if !dir.join("node_modules/@tars/rpc/package.json").exists() {
        bail!(
            "the Tars peers are not installed: run `npm ci --prefix {}` (needs Node.js and the \
             npm registry)",
            dir.display()
        );
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

async fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").await?.local_addr()?.port())
}

/// Starts `server.js` on a free port (60 s lifetime) and waits for its READY line.
async fn start_server() -> Result<(PeerProcess, u16)> {
    let dir = peer_dir()?;
    let port = free_port().await?;
    let mut child = Command::new("node")
        .arg("server.js")
        .arg(port.to_string())
        .arg("60000")
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting `node server.js` (is Node.js installed?)")?;
    let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
    let guard = PeerProcess(child);
    let mut lines = BufReader::new(stdout).lines();
    let ready = timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("READY") {
                return Ok::<_, anyhow::Error>(());
            }
        }
        bail!("server.js exited before READY")
    })
    .await
    .context("server.js did not print READY within 20 s")?;
    ready?;
    // Keep draining stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((guard, port))
}

/// Runs `client.js` against `port` and returns its JSON line.
async fn run_client(port: u16, scenario: &[&str]) -> Result<Value> {
    let dir = peer_dir()?;
    let child = Command::new("node")
        .arg("client.js")
        .arg("127.0.0.1")
        .arg(port.to_string())
        .args(scenario)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting `node client.js`")?;
    let out = timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .with_context(|| format!("client.js {scenario:?} did not finish in 30 s"))??;
    let text = String::from_utf8_lossy(&out.stdout);
    let line =
        text.lines().last().ok_or_else(|| anyhow!("client.js {scenario:?} printed nothing"))?;
    serde_json::from_str(line).with_context(|| format!("client.js printed {line:?}"))
}

/// Reads one frame from `stream` with our codec.
async fn read_frame(
    stream: &mut (impl AsyncReadExt + Unpin),
    codec: &mut TarsCodec,
    buf: &mut BytesMut,
) -> Result<Option<TarsFrame>> {
    loop {
        if let Some(frame) = codec.decode(buf)? {
            return Ok(Some(frame));
        }
        if stream.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

/// What the relay saw.
#[derive(Default)]
struct RelayLog {
    requests: usize,
    replies: usize,
    /// Frames whose re-encoding differed from the bytes received (must stay empty).
    not_byte_exact: Vec<String>,
    /// (client id, upstream id) of every rewritten request.
    rewrites: Vec<(i32, i32)>,
    methods: Vec<String>,
    servants: Vec<String>,
    request_contexts: Vec<Vec<(String, String)>>,
    reply_contexts: Vec<Vec<(String, String)>>,
    tup_frames: usize,
    one_way: usize,
}

fn context_of(frame: &TarsFrame) -> Vec<(String, String)> {
    let mut v = Vec::new();
    frame.for_each_header(&mut |k, val| v.push((k.to_owned(), val.to_owned())));
    v
}

fn check_exact(frame: &TarsFrame, log: &Mutex<RelayLog>) {
    let mut out = BytesMut::new();
    let exact = TarsCodec::new(Limits::DEFAULT).encode(frame, &mut out).is_ok()
        && out[..] == frame.original_bytes()[..];
    if !exact {
        log.lock().unwrap().not_byte_exact.push(hex::encode(frame.original_bytes()));
    }
}

/// A relay on our codec between the real client and the real server: decodes every frame,
/// checks it re-encodes byte-exact, rewrites request ids going up (to `id * 1000 + 70_000`,
/// another TLV width) and restores them coming down.
async fn start_relay(upstream_port: u16, log: Arc<Mutex<RelayLog>>) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let Ok(up) = TcpStream::connect(("127.0.0.1", upstream_port)).await else { return };
                let (mut down_r, mut down_w) = down.into_split();
                let (mut up_r, mut up_w) = up.into_split();
                let pending: Arc<Mutex<HashMap<i32, i32>>> = Arc::default();
                let pending_up = pending.clone();
                let log_up = log.clone();
                let upward = tokio::spawn(async move {
                    let mut codec = TarsCodec::new(Limits::DEFAULT);
                    let mut buf = BytesMut::new();
                    let mut next = 70_000i32;
                    while let Ok(Some(mut frame)) =
                        read_frame(&mut down_r, &mut codec, &mut buf).await
                    {
                        check_exact(&frame, &log_up);
                        let old = frame.tars_request_id();
                        next += 1;
                        let new = next;
                        {
                            let mut l = log_up.lock().unwrap();
                            l.requests += 1;
                            l.tup_frames += usize::from(frame.is_tup());
                            l.one_way += usize::from(frame.kind() == StreamKind::OneWayRequest);
                            l.methods.push(frame.method().unwrap_or("?").to_owned());
                            l.servants.push(frame.service().unwrap_or("?").to_owned());
                            l.request_contexts.push(context_of(&frame));
                            l.rewrites.push((old, new));
                        }
                        pending_up.lock().unwrap().insert(new, old);
                        if frame.set_request_id(RequestId(new as u64)).is_err() {
                            return;
                        }
                        let mut out = BytesMut::new();
                        if codec.encode(&frame, &mut out).is_err()
                            || up_w.write_all(&out).await.is_err()
                        {
                            return;
                        }
                    }
                });
                let mut codec = TarsCodec::new(Limits::DEFAULT);
                let mut buf = BytesMut::new();
                while let Ok(Some(mut frame)) = read_frame(&mut up_r, &mut codec, &mut buf).await {
                    check_exact(&frame, &log);
                    let Some(old) = pending.lock().unwrap().remove(&frame.tars_request_id()) else {
                        continue;
                    };
                    {
                        let mut l = log.lock().unwrap();
                        l.replies += 1;
                        l.reply_contexts.push(context_of(&frame));
                    }
                    if frame.set_request_id(RequestId(u64::from(old as u32))).is_err() {
                        break;
                    }
                    let mut out = BytesMut::new();
                    if codec.encode(&frame, &mut out).is_err()
                        || down_w.write_all(&out).await.is_err()
                    {
                        break;
                    }
                }
                upward.abort();
            });
        }
    });
    Ok(port)
}

fn assert_usr(v: &Value, name: &str) {
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["ret"], 100002, "{v}");
    assert_eq!(v["v1"], format!("OUT_{name}_1"), "{v}");
    assert_eq!(v["v2"], format!("OUT_{name}_2"), "{v}");
}

#[tokio::test]
async fn real_client_and_server_through_a_rewriting_relay() -> Result<()> {
    timeout(TEST_LIMIT, async {
        let (_server, server_port) = start_server().await?;
        let log = Arc::new(Mutex::new(RelayLog::default()));
        let relay = start_relay(server_port, log.clone()).await?;

        assert_usr(&run_client(relay, &["getUsrName"]).await?, "czzou");
        let v = run_client(relay, &["getall"]).await?;
        assert_eq!(
            (v["ok"].clone(), v["ret"].clone(), v["id"].clone(), v["level"].clone()),
            (true.into(), 10000.into(), 42.into(), 100.into()),
            "{v}"
        );
        assert_usr(&run_client(relay, &["context"]).await?, "ctx");
        let v = run_client(relay, &["many", "50"]).await?;
        assert_eq!((v["ok"].clone(), v["wrong"].clone()), (true.into(), 0.into()), "{v}");
        let v = run_client(relay, &["oneway"]).await?;
        assert_eq!(v["ok"], true, "{v}");
        let v = run_client(relay, &["getUsrName", "fail:-9"]).await?;
        assert_eq!(
            (v["code"].clone(), v["message"].clone()),
            (Value::from(-9), "failed on request".into()),
            "{v}"
        );
        let v = run_client(relay, &["tup", "tupuser"]).await?;
        assert_usr(&v, "tupuser");
        assert_eq!(v["id"], 123456, "the TUP client got its own id back: {v}");

        let l = log.lock().unwrap();
        assert!(
            l.not_byte_exact.is_empty(),
            "frames not re-encoded byte-exact: {:?}",
            l.not_byte_exact
        );
        // 1 + 1 + 1 + 50 + 2 + 1 + 1 requests; all but the one-way call answered.
        assert_eq!(l.requests, 57, "requests seen");
        assert_eq!(l.replies, 56, "replies seen");
        assert_eq!(l.one_way, 1);
        assert_eq!(l.tup_frames, 1);
        assert!(l.servants.iter().all(|s| s == SERVANT), "{:?}", l.servants);
        for m in ["getUsrName", "getall", "test"] {
            assert!(l.methods.iter().any(|x| x == m), "{m} not seen: {:?}", l.methods);
        }
        // The proxy client's ids are small (1-2 byte TLV ints), the TUP client's 123456 an
        // int32; upstream ids are int32: every rewrite changed the id, all but the TUP one the
        // field's width too, and the replies still reached the right callers.
        let width = |id: i32| int_len(4, i64::from(id));
        assert!(l.rewrites.iter().all(|&(old, new)| old != new), "{:?}", l.rewrites);
        let resized = l.rewrites.iter().filter(|&&(old, new)| width(old) != width(new)).count();
        assert_eq!(resized, l.rewrites.len() - 1, "{:?}", l.rewrites);
        let ctx =
            vec![("trace".to_owned(), "abc".to_owned()), ("user".to_owned(), "u1".to_owned())];
        assert!(
            l.request_contexts.contains(&ctx),
            "request context carried: {:?}",
            l.request_contexts
        );
        assert!(l.reply_contexts.contains(&ctx), "reply context carried: {:?}", l.reply_contexts);
        Ok(())
    })
    .await
    .context("test exceeded its time limit")?
}

/// getUsrName's arguments as the generated proxy writes them: tag 1 string.
fn usr_args(name: &str) -> Vec<u8> {
    let mut b = BytesMut::new();
    write_string(&mut b, 1, name.as_bytes()).unwrap();
    b.to_vec()
}

/// Reads getUsrName's results (tag 0 int, tags 2 and 3 strings) from a reply body.
fn usr_results(body: &[u8]) -> Result<(i64, String, String)> {
    let mut r = TlvReader::new(body);
    let (mut ret, mut v1, mut v2) = (None, String::new(), String::new());
    while !r.is_empty() {
        let h = r.read_head()?;
        match h.tag {
            0 => ret = Some(r.read_int(&h)?),
            2 => v1 = String::from_utf8(r.read_string(&h)?.to_vec())?,
            3 => v2 = String::from_utf8(r.read_string(&h)?.to_vec())?,
            _ => r.skip_value(&h, 8)?,
        }
    }
    Ok((ret.ok_or_else(|| anyhow!("no return value"))?, v1, v2))
}

#[tokio::test]
async fn real_server_answers_frames_we_build() -> Result<()> {
    timeout(TEST_LIMIT, async {
        let (_server, port) = start_server().await?;
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let mut codec = TarsCodec::new(Limits::DEFAULT);
        let mut out = BytesMut::new();
        // Ids of every TLV width, a one-way call in the middle, a context, a server error.
        let ids = [0i32, 1, 300, 70_000, i32::MAX, -5];
        let names: Vec<String> = ids.iter().map(|id| format!("rust{id}")).collect();
        let args: Vec<Vec<u8>> = names.iter().map(|n| usr_args(n)).collect();
        let ctx = [("trace", "rust-1")];
        for (i, id) in ids.iter().enumerate() {
            let req = RequestPacket {
                timeout: 3000,
                context: if i == 2 { &ctx } else { &[] },
                ..RequestPacket::new(*id, SERVANT, "getUsrName", &args[i])
            };
            codec.encode(&req.to_frame()?, &mut out)?;
        }
        let oneway =
            RequestPacket { packet_type: 1, ..RequestPacket::new(9, SERVANT, "test", &[]) };
        codec.encode(&oneway.to_frame()?, &mut out)?;
        let fail_args = usr_args("fail:-4");
        codec.encode(
            &RequestPacket::new(10, SERVANT, "getUsrName", &fail_args).to_frame()?,
            &mut out,
        )?;
        let nofunc = RequestPacket::new(11, SERVANT, "noSuchFunction", &[]);
        codec.encode(&nofunc.to_frame()?, &mut out)?;
        stream.write_all(&out).await?;

        let mut buf = BytesMut::new();
        let mut replies = HashMap::new();
        while replies.len() < ids.len() + 2 {
            let frame =
                timeout(Duration::from_secs(10), read_frame(&mut stream, &mut codec, &mut buf))
                    .await
                    .context("the server stopped answering")??
                    .ok_or_else(|| anyhow!("the server closed the connection"))?;
            assert_eq!(frame.kind(), StreamKind::Response);
            replies.insert(frame.tars_request_id(), frame);
        }
        for (i, id) in ids.iter().enumerate() {
            let r = &replies[id];
            assert_eq!(r.ret(), Some(0), "id {id}");
            let (ret, v1, v2) = usr_results(r.body())?;
            assert_eq!(
                (ret, v1, v2),
                (100002, format!("OUT_{}_1", names[i]), format!("OUT_{}_2", names[i]))
            );
            if i == 2 {
                assert_eq!(r.header("trace"), Some("rust-1"), "context echoed");
            }
        }
        assert!(!replies.contains_key(&9), "one-way call answered");
        assert_eq!(replies[&10].ret(), Some(-4));
        assert_eq!(replies[&10].result_desc(), b"failed on request");
        assert_eq!(Tars.http_status(replies[&10].status().unwrap()), 404);
        let r = &replies[&11];
        assert_eq!(r.ret(), Some(-3), "no such function: {r:?}");
        Ok(())
    })
    .await
    .context("test exceeded its time limit")?
}

/// Serves one connection: answers every two-way request with our error reply for `failure`.
async fn serve_errors(
    listener: TcpListener,
    failure: Failure,
    message: &'static str,
) -> Result<()> {
    let (mut stream, _) = listener.accept().await?;
    let mut codec = TarsCodec::new(Limits::DEFAULT);
    let mut buf = BytesMut::new();
    while let Some(req) = read_frame(&mut stream, &mut codec, &mut buf).await? {
        if let Some(reply) = Tars.error_reply(&req, failure, message) {
            let mut out = BytesMut::new();
            codec.encode(&reply, &mut out)?;
            stream.write_all(&out).await?;
        }
    }
    Ok(())
}

#[tokio::test]
async fn real_client_reports_our_error_replies() -> Result<()> {
    timeout(TEST_LIMIT, async {
        for failure in Failure::ALL {
            for scenario in ["getUsrName", "tup"] {
                let listener = TcpListener::bind("127.0.0.1:0").await?;
                let port = listener.local_addr()?.port();
                let server = tokio::spawn(serve_errors(listener, failure, "proxy says no"));
                let v = run_client(port, &[scenario]).await?;
                server.abort();
                assert_eq!(v["ok"], false, "{failure} via {scenario}: {v}");
                assert_eq!(v["code"], return_code(failure), "{failure} via {scenario}: {v}");
                assert_eq!(v["message"], "proxy says no", "{failure} via {scenario}: {v}");
            }
        }
        Ok(())
    })
    .await
    .context("test exceeded its time limit")?
}
