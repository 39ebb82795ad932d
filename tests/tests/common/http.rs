//! The HTTP side of the end-to-end tests: nginx as the real backend (HTTP/1.1 on one port,
//! cleartext HTTP/2 with prior knowledge on another), curl and h2load as real clients, and the
//! `websockets` echo server and client of `tests/peers/http/`.
//!
//! Every external program is started through [`PeerCommand`], so each has a hard lifetime and
//! is killed when its handle drops. A missing program fails the test with the Debian package
//! that provides it (`nginx-light`, `curl`, `nghttp2-client`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use xproxy_tests::peers::{PeerCommand, PeerOutput, PeerProcess};

use super::Server;

/// The peer folder of the HTTP tests (`tests/peers/http/`).
pub const PEER: &str = "http";
/// The size of nginx's static test file, `/files/big.bin` (and `/slow/big.bin`).
pub const BIG_FILE_BYTES: usize = 4 << 20;
/// How long nginx may take to accept connections.
const NGINX_READY_LIMIT: Duration = Duration::from_secs(10);
/// How long nginx lives at most, whatever the test does.
const NGINX_LIFETIME: Duration = Duration::from_secs(90);
/// How long one curl or h2load run may take.
pub const TOOL_LIMIT: Duration = Duration::from_secs(30);

/// The absolute path of `program`, looked up on `PATH` and in the sbin folders (where Debian
/// puts nginx, outside a non-root user's `PATH`). A missing program is an error naming the
/// Debian package to install: nothing is skipped silently.
pub fn program(program: &str, package: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("`{program}` is not installed: the HTTP tests need it (apt-get install {package})")
}

/// `program ARGS…` as a peer command run in `tests/peers/http/`; `package` is the Debian
/// package that provides `program`.
pub fn command<I, S>(program_name: &str, package: &str, args: I) -> Result<PeerCommand>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    let path = program(program_name, package)?;
    let path = path.to_str().ok_or_else(|| anyhow!("non-UTF-8 path {path:?}"))?;
    let mut args = args.into_iter().map(Into::into);
    // `PeerCommand::new` takes the first argument apart (as a script name).
    let first = args.next().unwrap_or_default();
    let first = first.to_str().ok_or_else(|| anyhow!("non-UTF-8 argument {first:?}"))?.to_owned();
    Ok(PeerCommand::new(PEER, path, &first)?.args(args))
}

/// Runs `cmd` to its end within [`TOOL_LIMIT`].
pub async fn run_tool(cmd: PeerCommand) -> Result<PeerOutput> {
    let cmd = cmd.lifetime(TOOL_LIMIT + Duration::from_secs(5));
    Ok(tokio::task::spawn_blocking(move || cmd.run(TOOL_LIMIT)).await??)
}

/// `len` pseudo-random bytes (xorshift64 from `seed`): incompressible, and a shifted or
/// repeated block shows up as a mismatch.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Fails unless `got` equals `want` byte for byte, naming the first difference.
pub fn assert_same_bytes(what: &str, got: &[u8], want: &[u8]) -> Result<()> {
    if got == want {
        return Ok(());
    }
    let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    bail!("{what}: {} bytes, want {}; first difference at byte {first}", got.len(), want.len())
}

// ---- nginx ------------------------------------------------------------------------------

/// A real nginx (single process, everything in its own temporary folder), killed when
/// dropped. Locations:
/// - `/files/big.bin`: a [`BIG_FILE_BYTES`] random file; `/slow/big.bin` the same at 256 KB/s;
/// - `/echo`: `200` with a body of
///   `X-Forwarded-For|X-Route|host|server protocol|X-Secret|connection serial|method` as nginx
///   saw them (`host` without port; the serial tells upstream connections apart);
/// - `/fail`: `503`;
/// - `/upload/NAME`: WebDAV `PUT`, stored as [`Nginx::uploaded`]`(NAME)`.
///
/// nginx closes a connection after 1000 requests (`keepalive_requests`, HTTP/2 with a
/// `GOAWAY`); [`Nginx::h2_recycling`] does after [`RECYCLE_AFTER`] requests.
pub struct Nginx {
    process: PeerProcess,
    /// The HTTP/1.1 port.
    pub h1: SocketAddr,
    /// The cleartext HTTP/2 (prior knowledge) port.
    pub h2: SocketAddr,
    /// Another cleartext HTTP/2 port, serving only `/echo`, whose connections end with a
    /// `GOAWAY` after [`RECYCLE_AFTER`] requests.
    pub h2_recycling: SocketAddr,
    dir: TempDir,
}

/// Requests per connection on [`Nginx::h2_recycling`].
pub const RECYCLE_AFTER: u32 = 20;

impl Nginx {
    /// Writes the configuration and the static file, starts nginx and waits until both ports
    /// accept connections.
    pub async fn start() -> Result<Nginx> {
        let dir = tempfile::Builder::new().prefix("xproxy-nginx-").tempdir()?;
        let root = dir.path();
        for sub in ["www/files", "www/upload", "tmp", "logs"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        std::fs::write(root.join("www/files/big.bin"), random_bytes(BIG_FILE_BYTES, 0x5eed))?;
        let (h1, h2, h2_recycling) = (free_port()?, free_port()?, free_port()?);
        let conf = root.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(root, [h1, h2, h2_recycling]))?;
        let conf = conf.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?.to_owned();
        let prefix = root.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?.to_owned();
        let cmd =
            command("nginx", "nginx-light", ["-p".to_owned(), prefix, "-c".to_owned(), conf])?;
        let process = cmd.lifetime(NGINX_LIFETIME).spawn()?;
        let nginx = Nginx { process, h1, h2, h2_recycling, dir };
        nginx.wait_listening().await?;
        Ok(nginx)
    }

    async fn wait_listening(&self) -> Result<()> {
        let deadline = Instant::now() + NGINX_READY_LIMIT;
        for addr in [self.h1, self.h2, self.h2_recycling] {
            while TcpStream::connect(addr).await.is_err() {
                let captured = self.process.captured();
                if captured.stderr.contains("[emerg]") || Instant::now() > deadline {
                    bail!("nginx did not start listening on {addr}\n{captured}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(())
    }

    /// The static file's path on disk.
    pub fn big_file(&self) -> PathBuf {
        self.dir.path().join("www/files/big.bin")
    }

    /// Where a `PUT /upload/NAME` lands.
    pub fn uploaded(&self, name: &str) -> PathBuf {
        self.dir.path().join("www/upload").join(name)
    }

    /// What nginx printed so far (its error log goes to stderr).
    pub fn log(&self) -> String {
        self.process.captured().to_string()
    }

    /// Kills nginx now (a backend dying under the gateway).
    pub async fn kill(self) -> Result<()> {
        let Nginx { mut process, dir, .. } = self;
        tokio::task::spawn_blocking(move || {
            process.kill();
            drop(dir);
        })
        .await?;
        Ok(())
    }
}

/// A port free on 127.0.0.1 a moment ago.
pub fn free_port() -> Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

fn nginx_conf(root: &Path, [h1, h2, h2_recycling]: [SocketAddr; 3]) -> String {
    let root = root.display();
    let echo = "return 200 \"$http_x_forwarded_for|$http_x_route|$host|$server_protocol|\
                $http_x_secret|$connection|$request_method\\n\";";
    format!(
        r#"daemon off;
master_process off;
worker_processes 1;
pid {root}/logs/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {root}/tmp/body;
  proxy_temp_path {root}/tmp/proxy;
  fastcgi_temp_path {root}/tmp/fastcgi;
  uwsgi_temp_path {root}/tmp/uwsgi;
  scgi_temp_path {root}/tmp/scgi;
  default_type application/octet-stream;
  client_max_body_size 64m;
  keepalive_requests 1000;
  server {{
    listen {h1};
    listen {h2} http2;
    root {root}/www;
    location /files/ {{ }}
    location /slow/ {{ alias {root}/www/files/; limit_rate 256k; }}
    location /upload/ {{ dav_methods PUT; create_full_put_path on; }}
    location = /echo {{ default_type text/plain; {echo} }}
    location = /fail {{ return 503; }}
  }}
  server {{
    listen {h2_recycling} http2;
    keepalive_requests {RECYCLE_AFTER};
    location = /echo {{ default_type text/plain; {echo} }}
  }}
}}
"#
    )
}

/// nginx's `/echo` body, split into its fields.
#[derive(Debug, PartialEq, Eq)]
pub struct Echo {
    /// `X-Forwarded-For` as nginx received it.
    pub forwarded_for: String,
    /// `X-Route`.
    pub route: String,
    /// The host (without port).
    pub host: String,
    /// `HTTP/1.1` or `HTTP/2.0`: how the gateway spoke to nginx.
    pub protocol: String,
    /// `X-Secret` (a header the gateway must not forward).
    pub secret: String,
    /// nginx's serial number of the connection the request came on.
    pub connection: u64,
    /// The method.
    pub method: String,
}

impl Echo {
    /// Parses an `/echo` body.
    pub fn parse(body: &str) -> Result<Echo> {
        let fields: Vec<&str> = body.trim_end().split('|').collect();
        let [forwarded_for, route, host, protocol, secret, connection, method] = fields[..] else {
            bail!("not an /echo body: {body:?}");
        };
        Ok(Echo {
            forwarded_for: forwarded_for.to_owned(),
            route: route.to_owned(),
            host: host.to_owned(),
            protocol: protocol.to_owned(),
            secret: secret.to_owned(),
            connection: connection.parse().with_context(|| format!("in {body:?}"))?,
            method: method.to_owned(),
        })
    }
}

// ---- curl -------------------------------------------------------------------------------

/// `curl -sS ARGS…` (silent, errors shown), each transfer bounded to 20 s.
pub fn curl<I, S>(args: I) -> Result<PeerCommand>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    Ok(command("curl", "curl", ["-sS", "--max-time", "20"])?.args(args))
}

/// One response as `curl -i` printed it (interim `1xx` heads skipped).
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    /// The body (lossy UTF-8).
    pub body: String,
    /// The whole run, for assertion messages.
    pub output: PeerOutput,
}

impl Reply {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Runs `curl -sS -i ARGS…` for one URL; fails if curl fails (a status of 4xx/5xx is not a
/// failure for curl without `-f`).
pub async fn fetch<I, S>(args: I) -> Result<Reply>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    let output = run_tool(curl(args)?.arg("-i")).await?;
    ensure!(output.status.success(), "curl failed\n{output}");
    parse_reply(output)
}

/// Runs `curl -sS -D - -o FILE ARGS… URL`: the body goes to `file`, the head is parsed.
pub async fn download<I, S>(file: PathBuf, args: I, url: String) -> Result<Reply>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    let cmd = curl(args)?.args(["-D".as_ref(), "-".as_ref(), "-o".as_ref(), file.as_os_str()]);
    let output = run_tool(cmd.arg(url)).await?;
    ensure!(output.status.success(), "curl failed\n{output}");
    parse_reply(output)
}

fn parse_reply(output: PeerOutput) -> Result<Reply> {
    let mut rest = output.stdout.as_str();
    loop {
        let (head, body) =
            rest.split_once("\r\n\r\n").ok_or_else(|| anyhow!("no head\n{output}"))?;
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("no status line\n{output}"))?;
        if (100..200).contains(&status) {
            rest = body;
            continue;
        }
        let (head, body) = (head.to_owned(), body.to_owned());
        return Ok(Reply { status, head, body, output });
    }
}

// ---- raw clients and servers ----------------------------------------------------------

/// `http://GATEWAY/PATH`.
pub fn url(gateway: SocketAddr, path: &str) -> String {
    format!("http://{gateway}{path}")
}

/// A file of `len` random bytes in `dir`.
pub fn upload_file(dir: &tempfile::TempDir, name: &str, len: usize, seed: u64) -> Result<Vec<u8>> {
    let bytes = random_bytes(len, seed);
    std::fs::write(dir.path().join(name), &bytes)?;
    Ok(bytes)
}

/// The path of `name` in `dir`, as a command-line argument.
pub fn path_arg(dir: &tempfile::TempDir, name: &str) -> String {
    dir.path().join(name).display().to_string()
}

/// A backend that accepts connections and never answers: holds every socket until dropped.
pub async fn silent_backend() -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    Ok((addr, task))
}

/// Writes `request` on a fresh connection and reads until the gateway closes it.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Result<String> {
    timeout(Duration::from_secs(5), async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        let mut raw = Vec::new();
        // A reset after the answer still leaves the answer read.
        let _ = stream.read_to_end(&mut raw).await;
        Ok(String::from_utf8_lossy(&raw).into_owned())
    })
    .await
    .map_err(|_| anyhow!("the gateway kept the connection open"))?
}

/// The final status of a raw `curl -i` run, if it got one.
pub fn final_status(output: &PeerOutput) -> Option<u16> {
    output
        .stdout
        .split("\r\n\r\n")
        .filter_map(|head| head.lines().next()?.split_whitespace().nth(1)?.parse::<u16>().ok())
        .find(|s| *s >= 200)
}

/// `len` bytes of body in 64 KiB chunks of chunked transfer coding (no last chunk).
pub fn chunks(len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut left = len;
    while left > 0 {
        let n = left.min(64 << 10);
        out.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        out.resize(out.len() + n, b'a');
        out.extend_from_slice(b"\r\n");
        left -= n;
    }
    out
}

/// Sends `head` and `first`, waits 300 ms (the gateway answers meanwhile), sends `rest`, and
/// reads until the gateway closes: whether `rest` could be sent, and what was read.
pub async fn upload_in_two_parts(
    addr: SocketAddr,
    head: &str,
    first: &[u8],
    rest: &[u8],
) -> Result<(std::io::Result<()>, String)> {
    timeout(Duration::from_secs(10), async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(first).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = stream.write_all(rest).await;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        Ok((sent, String::from_utf8_lossy(&raw).into_owned()))
    })
    .await
    .map_err(|_| anyhow!("the gateway kept the connection open"))?
}

// ---- h2load -----------------------------------------------------------------------------

/// The `requests:` and `status codes:` lines of an h2load run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoadSummary {
    /// Requests asked for.
    pub total: u64,
    /// Requests that got a response.
    pub succeeded: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Requests that errored.
    pub errored: u64,
    /// Requests that timed out.
    pub timeout: u64,
    /// Responses with a 2xx status.
    pub status_2xx: u64,
}

/// Runs `h2load ARGS…` and parses its summary; fails if it cannot be parsed.
pub async fn h2load<I, S>(args: I) -> Result<(LoadSummary, PeerOutput)>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    let output = run_tool(command("h2load", "nghttp2-client", args)?).await?;
    let summary =
        parse_load_summary(&output.stdout).ok_or_else(|| anyhow!("no h2load summary\n{output}"))?;
    Ok((summary, output))
}

/// Reads `requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored,
/// 0 timeout` and `status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx`.
pub fn parse_load_summary(text: &str) -> Option<LoadSummary> {
    let field = |line: &str, name: &str| -> Option<u64> {
        line.split(',').find_map(|part| {
            let mut words = part.split_whitespace();
            let n = words.next()?.parse().ok()?;
            (words.next()? == name).then_some(n)
        })
    };
    let requests = text.lines().find_map(|l| l.strip_prefix("requests:"))?;
    let statuses = text.lines().find_map(|l| l.strip_prefix("status codes:"))?;
    Some(LoadSummary {
        total: field(requests, "total")?,
        succeeded: field(requests, "succeeded")?,
        failed: field(requests, "failed")?,
        errored: field(requests, "errored")?,
        timeout: field(requests, "timeout")?,
        status_2xx: field(statuses, "2xx")?,
    })
}

// ---- WebSocket --------------------------------------------------------------------------

/// `tests/peers/http/ws_server.py` (the `websockets` library) on a free port.
pub async fn ws_server() -> Result<Server> {
    super::start_server(PeerCommand::python(PEER, "ws_server.py")?.arg("90")).await
}

/// `tests/peers/http/ws_client.py URL COUNT`.
pub fn ws_client(url: &str, count: u32) -> Result<PeerCommand> {
    Ok(PeerCommand::python(PEER, "ws_client.py")?.args([url.to_owned(), count.to_string()]))
}
