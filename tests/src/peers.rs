//! Real third-party peer processes for the interop tests: the Node.js and Python scripts under
//! `tests/peers/<name>/`, installed by `tests/peers/install.sh`.
//!
//! A [`PeerCommand`] locates its peer folder from this crate's manifest directory (failing
//! with "run tests/peers/install.sh" if the folder's `node_modules` is missing) and spawns the
//! script with piped output and a hard lifetime. The resulting [`PeerProcess`] collects
//! stdout and stderr for failure messages, can wait for the script's `READY <port>` line or
//! its exit (each with a timeout), and kills the process when dropped, so a failing test never
//! leaves a peer behind.
//!
//! The waits block the calling thread (std only: this module needs no runtime). From async
//! tests call them inside `tokio::task::spawn_blocking`:
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use xproxy_tests::peers::PeerCommand;
//!
//! let mut server = PeerCommand::node("bolt", "server.js")?.spawn()?;
//! let (server, port) = tokio::task::spawn_blocking(move || {
//!     let port = server.wait_ready(Duration::from_secs(10));
//!     (server, port)
//! })
//! .await?;
//! let port = port?;
//! let client = PeerCommand::node("bolt", "client.js")?
//!     .arg(format!("127.0.0.1:{port}"))
//!     .arg("hello");
//! let output = tokio::task::spawn_blocking(move || client.run(Duration::from_secs(20))).await??;
//! assert!(output.status.success(), "{output}");
//! drop(server); // killed here
//! # Ok(())
//! # }
//! ```

use std::ffi::OsString;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long a peer may live unless told otherwise ([`PeerCommand::lifetime`]).
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(90);

/// How often [`PeerProcess::wait_exit`] looks at the process.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// How long [`PeerProcess::wait_exit`] waits, after the exit, for the rest of the output.
const READER_GRACE: Duration = Duration::from_secs(2);

/// Why a peer could not be started or did not do what was awaited. Every variant that concerns
/// a running process carries its output so far, and `Display` shows it.
#[derive(Debug)]
pub enum PeerError {
    /// `tests/peers/<name>/` does not exist.
    NoSuchPeer {
        /// The folder looked for.
        dir: PathBuf,
    },
    /// The peer folder has a `package.json` but no `node_modules`.
    NotInstalled {
        /// The peer folder.
        dir: PathBuf,
    },
    /// The program could not be started (not installed, not executable…).
    Spawn {
        /// The command line.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The process exited before printing `READY <port>`.
    ExitedBeforeReady {
        /// The command line.
        what: String,
        /// Its exit status, if it could be read.
        status: Option<ExitStatus>,
        /// Its output so far.
        output: Captured,
    },
    /// The awaited `READY <port>` line or exit did not come in time; the process was killed.
    TimedOut {
        /// The command line.
        what: String,
        /// What was awaited.
        waiting_for: &'static str,
        /// The time allowed.
        after: Duration,
        /// Its output so far.
        output: Captured,
    },
    /// Waiting on the process failed.
    Wait {
        /// The command line.
        what: String,
        /// The OS error.
        source: io::Error,
    },
}

impl fmt::Display for PeerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerError::NoSuchPeer { dir } => write!(f, "no peer folder {}", dir.display()),
            PeerError::NotInstalled { dir } => write!(
                f,
                "the peers in {} are not installed (no node_modules): run tests/peers/install.sh",
                dir.display()
            ),
            PeerError::Spawn { what, source } => write!(f, "cannot start `{what}`: {source}"),
            PeerError::ExitedBeforeReady { what, status, output } => {
                let status = status.map_or_else(|| "unknown status".to_owned(), |s| s.to_string());
                write!(f, "`{what}` exited ({status}) before printing READY <port>\n{output}")
            }
            PeerError::TimedOut { what, waiting_for, after, output } => {
                write!(f, "`{what}`: no {waiting_for} within {after:?}; killed\n{output}")
            }
            PeerError::Wait { what, source } => write!(f, "waiting for `{what}`: {source}"),
        }
    }
}

impl std::error::Error for PeerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PeerError::Spawn { source, .. } | PeerError::Wait { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A peer's stdout and stderr as collected so far (lossy UTF-8).
#[derive(Clone, Debug, Default)]
pub struct Captured {
    /// Everything read from stdout.
    pub stdout: String,
    /// Everything read from stderr.
    pub stderr: String,
}

impl fmt::Display for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--- stdout ---\n{}--- stderr ---\n{}", self.stdout, self.stderr)
    }
}

/// A finished peer run: its exit status and everything it printed. `Display` shows all of it,
/// for assertion messages.
#[derive(Debug)]
pub struct PeerOutput {
    /// The command line.
    pub what: String,
    /// The exit status.
    pub status: ExitStatus,
    /// Everything read from stdout.
    pub stdout: String,
    /// Everything read from stderr.
    pub stderr: String,
}

impl PeerOutput {
    /// The last non-blank stdout line: where the peers put their result.
    pub fn last_line(&self) -> Option<&str> {
        self.stdout.lines().rev().find(|l| !l.trim().is_empty())
    }
}

impl fmt::Display for PeerOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

/// The folder of peer `name`: `tests/peers/<name>/` in this crate.
///
/// # Errors
/// [`PeerError::NoSuchPeer`] if it does not exist, [`PeerError::NotInstalled`] if it holds a
/// `package.json` but no `node_modules` (the npm packages were not installed).
pub fn peer_dir(name: &str) -> Result<PathBuf, PeerError> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers").join(name);
    if !dir.is_dir() {
        return Err(PeerError::NoSuchPeer { dir });
    }
    if dir.join("package.json").exists() && !dir.join("node_modules").is_dir() {
        return Err(PeerError::NotInstalled { dir });
    }
    Ok(dir)
}

/// A peer script to run: the program, its arguments and environment, run in the peer's folder.
#[derive(Clone, Debug)]
pub struct PeerCommand {
    dir: PathBuf,
    program: OsString,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    lifetime: Duration,
}

impl PeerCommand {
    /// `node <script>` in `tests/peers/<peer>/`.
    ///
    /// # Errors
    /// See [`peer_dir`].
    pub fn node(peer: &str, script: &str) -> Result<Self, PeerError> {
        Self::new(peer, "node", script)
    }

    /// `python3 <script>` in `tests/peers/<peer>/`.
    ///
    /// # Errors
    /// See [`peer_dir`].
    pub fn python(peer: &str, script: &str) -> Result<Self, PeerError> {
        Self::new(peer, "python3", script)
    }

    /// `<program> <script>` in `tests/peers/<peer>/`.
    ///
    /// # Errors
    /// See [`peer_dir`].
    pub fn new(peer: &str, program: &str, script: &str) -> Result<Self, PeerError> {
        Ok(PeerCommand {
            dir: peer_dir(peer)?,
            program: program.into(),
            args: vec![script.into()],
            envs: Vec::new(),
            lifetime: DEFAULT_LIFETIME,
        })
    }

    /// Appends an argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable (the rest of the environment is inherited).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.envs.push((key.into(), value.into()));
        self
    }

    /// The hard lifetime: the process is killed this long after it starts, whatever happens
    /// to the test. Default [`DEFAULT_LIFETIME`].
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The command line, for messages.
    pub fn describe(&self) -> String {
        let mut s = self.program.to_string_lossy().into_owned();
        for arg in &self.args {
            s.push(' ');
            s.push_str(&arg.to_string_lossy());
        }
        s
    }

    /// Starts the process with stdin closed and stdout and stderr collected.
    ///
    /// # Errors
    /// [`PeerError::Spawn`] if it cannot be started.
    pub fn spawn(&self) -> Result<PeerProcess, PeerError> {
        let what = self.describe();
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| PeerError::Spawn { what: what.clone(), source })?;
        let stdout_buf = Arc::new(Mutex::new(String::new()));
        let stderr_buf = Arc::new(Mutex::new(String::new()));
        let (line_tx, lines) = mpsc::channel();
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            let buf = Arc::clone(&stdout_buf);
            readers.push(thread::spawn(move || collect_lines(out, &buf, Some(line_tx))));
        }
        if let Some(err) = child.stderr.take() {
            let buf = Arc::clone(&stderr_buf);
            readers.push(thread::spawn(move || collect_lines(err, &buf, None)));
        }
        let child = Arc::new(Mutex::new(child));
        let (stop_watchdog, stopped) = mpsc::channel::<()>();
        let watched = Arc::clone(&child);
        let lifetime = self.lifetime;
        thread::spawn(move || {
            // A message or a dropped sender means the process was dealt with already.
            if let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(lifetime) {
                let _ = lock(&watched).kill();
            }
        });
        Ok(PeerProcess {
            what,
            child,
            lines,
            stdout: stdout_buf,
            stderr: stderr_buf,
            readers,
            _watchdog: stop_watchdog,
        })
    }

    /// Starts the process and waits up to `timeout` for it to exit.
    ///
    /// # Errors
    /// See [`spawn`](PeerCommand::spawn) and [`PeerProcess::wait_exit`].
    pub fn run(&self, timeout: Duration) -> Result<PeerOutput, PeerError> {
        self.spawn()?.wait_exit(timeout)
    }
}

/// Reads `from` line by line into `buf`, also sending each line to `lines` if given.
fn collect_lines(from: impl Read, buf: &Mutex<String>, lines: Option<Sender<String>>) {
    let mut reader = BufReader::new(from);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let line = String::from_utf8_lossy(&raw);
                lock(buf).push_str(&line);
                if let Some(lines) = &lines {
                    let _ = lines.send(line.trim_end().to_owned());
                }
            }
        }
    }
}

/// Locks, ignoring poisoning: the data (text, a child handle) stays usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A running peer process, killed (and reaped) when dropped or when its lifetime ends.
pub struct PeerProcess {
    what: String,
    child: Arc<Mutex<Child>>,
    lines: Receiver<String>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    /// Dropping it tells the lifetime watchdog to stand down.
    _watchdog: Sender<()>,
}

impl fmt::Debug for PeerProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerProcess").field("what", &self.what).finish_non_exhaustive()
    }
}

impl PeerProcess {
    /// The command line.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The OS process id.
    pub fn id(&self) -> u32 {
        lock(&self.child).id()
    }

    /// The output collected so far.
    pub fn captured(&self) -> Captured {
        Captured { stdout: lock(&self.stdout).clone(), stderr: lock(&self.stderr).clone() }
    }

    /// Waits up to `timeout` for a stdout line `READY <port>` and returns the port. Lines
    /// before it are kept in the captured output and otherwise ignored.
    ///
    /// # Errors
    /// [`PeerError::ExitedBeforeReady`] if stdout closes first, [`PeerError::TimedOut`] (and
    /// the process is killed) if the line does not come in time.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<u16, PeerError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let port = line.strip_prefix("READY ").and_then(|p| p.trim().parse().ok());
                    if let Some(port) = port {
                        return Ok(port);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.reap(Duration::from_secs(2));
                    return Err(PeerError::ExitedBeforeReady {
                        what: self.what.clone(),
                        status,
                        output: self.captured(),
                    });
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.kill();
                    return Err(PeerError::TimedOut {
                        what: self.what.clone(),
                        waiting_for: "READY <port> line",
                        after: timeout,
                        output: self.captured(),
                    });
                }
            }
        }
    }

    /// Waits up to `timeout` for the process to exit and returns its status and full output.
    ///
    /// # Errors
    /// [`PeerError::TimedOut`] (and the process is killed) if it is still running then;
    /// [`PeerError::Wait`] if its status cannot be read.
    pub fn wait_exit(mut self, timeout: Duration) -> Result<PeerOutput, PeerError> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            let polled = lock(&self.child).try_wait();
            match polled {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => thread::sleep(EXIT_POLL),
                Ok(None) => {
                    self.kill();
                    return Err(PeerError::TimedOut {
                        what: self.what.clone(),
                        waiting_for: "exit",
                        after: timeout,
                        output: self.captured(),
                    });
                }
                Err(source) => return Err(PeerError::Wait { what: self.what.clone(), source }),
            }
        };
        // The process is gone, so its pipes reach end of file and the readers finish, unless
        // a child of its own still holds them: wait for the readers a little, not forever.
        let deadline = Instant::now() + READER_GRACE;
        while self.readers.iter().any(|r| !r.is_finished()) && Instant::now() < deadline {
            thread::sleep(EXIT_POLL);
        }
        let Captured { stdout, stderr } = self.captured();
        Ok(PeerOutput { what: self.what.clone(), status, stdout, stderr })
    }

    /// Kills the process (if still running) and reaps it.
    pub fn kill(&mut self) {
        let mut child = lock(&self.child);
        if let Ok(None) = child.try_wait() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `limit` for an exit already under way; kills the process after that.
    fn reap(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match lock(&self.child).try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => thread::sleep(EXIT_POLL),
                Err(_) => break,
            }
        }
        self.kill();
        lock(&self.child).try_wait().ok().flatten()
    }
}

impl Drop for PeerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_peer_folder_is_named() {
        let err = peer_dir("no-such-peer").unwrap_err();
        assert!(matches!(err, PeerError::NoSuchPeer { .. }), "{err}");
    }

    #[test]
    fn not_installed_message_says_how_to_install() {
        let err = PeerError::NotInstalled { dir: PathBuf::from("/x/peers/bolt") };
        assert!(err.to_string().contains("run tests/peers/install.sh"), "{err}");
    }

    #[test]
    fn lifetime_kills_a_process_that_outlives_it() {
        let mut cmd = PeerCommand::new("bolt", "sh", "-c").expect("the bolt peer folder");
        cmd = cmd.arg("echo READY 4242; exec sleep 30").lifetime(Duration::from_millis(300));
        let mut peer = cmd.spawn().expect("sh starts");
        assert_eq!(peer.wait_ready(Duration::from_secs(5)).expect("READY line"), 4242);
        let started = Instant::now();
        let output = peer.wait_exit(Duration::from_secs(10)).expect("killed by the watchdog");
        assert!(!output.status.success());
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(output.last_line(), Some("READY 4242"));
    }

    #[test]
    fn wait_exit_timeout_kills_and_reports_output() {
        let cmd = PeerCommand::new("bolt", "sh", "-c").expect("the bolt peer folder");
        let cmd = cmd.arg("echo started; echo oops >&2; exec sleep 30");
        let err = cmd.run(Duration::from_millis(500)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, PeerError::TimedOut { .. }), "{text}");
        assert!(text.contains("started") && text.contains("oops"), "{text}");
    }

    #[test]
    fn exit_before_ready_is_reported_with_status() {
        let cmd = PeerCommand::new("bolt", "sh", "-c").expect("the bolt peer folder");
        let mut peer = cmd.arg("echo not-ready; exit 3").spawn().expect("sh starts");
        let err = peer.wait_ready(Duration::from_secs(5)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, PeerError::ExitedBeforeReady { .. }), "{text}");
        assert!(text.contains("not-ready") && text.contains('3'), "{text}");
    }
}
