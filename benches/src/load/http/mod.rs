//! HTTP/1.1, HTTP/2 and gRPC load over hyper's client connections: an [`Exchange`] (the
//! request every call sends and how its response counts, in [`exchange`]), one
//! [`Connection`] per HTTP version, and the backend ([`serve`]).
//!
//! - HTTP/1.1: one keep-alive connection carries one request at a time, as h2load does; more
//!   load means more connections.
//! - HTTP/2 (prior knowledge, cleartext) and gRPC: one connection carries `--concurrency`
//!   streams at once.
//!
//! A connection the peer closes in between requests (an HTTP/1.1 `Connection: close`, an
//! HTTP/2 `GOAWAY`, a proxy's keep-alive limit) is reopened by the next call, whose latency
//! includes the reopening; a failed reopening counts as a [`ErrorClass::Connect`] error and
//! stops that connection's loop, so that a dead target does not spin recording errors.

pub mod exchange;
pub mod serve;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

pub use self::exchange::{
    classify, Exchange, ExchangeError, HttpWorkload, DEFAULT_PATH, GRPC_CONTENT_TYPE, GRPC_PATH,
};
use super::driver::Connection;
use super::stats::{ErrorClass, Outcome};

/// How long closing waits for a connection's task to end before dropping it.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The TCP connection failed.
    #[error("connecting: {0}")]
    Io(#[from] io::Error),
    /// The HTTP/2 handshake failed.
    #[error("HTTP handshake: {0}")]
    Handshake(#[from] hyper::Error),
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values stay consistent whatever panicked while holding them.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn tcp(addr: SocketAddr) -> io::Result<TokioIo<TcpStream>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(TokioIo::new(stream))
}

/// Waits (briefly) for a connection's task to end once its senders are dropped.
async fn finish(task: JoinHandle<()>) {
    let abort = task.abort_handle();
    if tokio::time::timeout(CLOSE_WAIT, task).await.is_err() {
        abort.abort();
    }
}

/// One HTTP/1.1 connection's sender and the task that drives it.
struct Http1Link {
    sender: http1::SendRequest<Full<Bytes>>,
    task: JoinHandle<()>,
}

impl Http1Link {
    async fn open(addr: SocketAddr) -> Result<Http1Link, ConnectError> {
        let (sender, connection) = http1::handshake(tcp(addr).await?).await?;
        let task = tokio::spawn(async move {
            // How the connection ended shows in the calls on it.
            let _ = connection.await;
        });
        Ok(Http1Link { sender, task })
    }
}

/// An HTTP/1.1 keep-alive connection: one request at a time (the driver's window must be
/// 1; a second concurrent call would find no link and open a connection of its own).
pub struct Http1Connection {
    addr: SocketAddr,
    exchange: Arc<Exchange>,
    /// Taken out for the duration of a call; empty after a failed one.
    link: Mutex<Option<Http1Link>>,
    open: AtomicBool,
}

impl Http1Connection {
    /// Opens a connection to `addr`.
    ///
    /// # Errors
    /// The connect error.
    pub async fn connect(
        addr: SocketAddr,
        exchange: Arc<Exchange>,
    ) -> Result<Arc<Http1Connection>, ConnectError> {
        let link = Http1Link::open(addr).await?;
        Ok(Arc::new(Http1Connection {
            addr,
            exchange,
            link: Mutex::new(Some(link)),
            open: AtomicBool::new(true),
        }))
    }

    async fn exchange(&self) -> Outcome {
        let taken = lock(&self.link).take();
        let mut link = match taken {
            Some(link) if !link.sender.is_closed() => link,
            _ => match Http1Link::open(self.addr).await {
                Ok(link) => link,
                Err(_) => {
                    self.open.store(false, Ordering::Relaxed);
                    return Err(ErrorClass::Connect);
                }
            },
        };
        link.sender.ready().await.map_err(|e| classify(&e))?;
        let response =
            link.sender.send_request(self.exchange.request()).await.map_err(|e| classify(&e))?;
        let outcome = self.exchange.check(response).await;
        // Kept even if the peer closed it: the next call sees that and reopens.
        *lock(&self.link) = Some(link);
        outcome
    }
}

impl Connection for Http1Connection {
    async fn call(&self, timeout: Duration) -> Outcome {
        // A call cut short drops its link (the connection is mid-response and unusable).
        tokio::time::timeout(timeout, self.exchange()).await.unwrap_or(Err(ErrorClass::Timeout))
    }
    fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }
    async fn close(&self) {
        self.open.store(false, Ordering::Relaxed);
        let taken = lock(&self.link).take();
        if let Some(Http1Link { sender, task }) = taken {
            drop(sender);
            finish(task).await;
        }
    }
}

/// One HTTP/2 connection's sender (cloned per call) and the task that drives it.
struct Http2Link {
    sender: http2::SendRequest<Full<Bytes>>,
    task: JoinHandle<()>,
}

impl Http2Link {
    async fn open(addr: SocketAddr) -> Result<Http2Link, ConnectError> {
        let (sender, connection) =
            http2::Builder::new(TokioExecutor::new()).handshake(tcp(addr).await?).await?;
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Http2Link { sender, task })
    }
}

/// An HTTP/2 prior-knowledge connection carrying many streams at once (HTTP/2 or gRPC).
pub struct Http2Connection {
    addr: SocketAddr,
    exchange: Arc<Exchange>,
    link: Mutex<Option<Http2Link>>,
    /// Held while reopening, so that the calls that find the link closed reopen it once.
    reopening: tokio::sync::Mutex<()>,
    open: AtomicBool,
}

impl Http2Connection {
    /// Opens a connection to `addr` and completes the HTTP/2 handshake.
    ///
    /// # Errors
    /// The connect or handshake error.
    pub async fn connect(
        addr: SocketAddr,
        exchange: Arc<Exchange>,
    ) -> Result<Arc<Http2Connection>, ConnectError> {
        let link = Http2Link::open(addr).await?;
        Ok(Arc::new(Http2Connection {
            addr,
            exchange,
            link: Mutex::new(Some(link)),
            reopening: tokio::sync::Mutex::new(()),
            open: AtomicBool::new(true),
        }))
    }

    fn current(&self) -> Option<http2::SendRequest<Full<Bytes>>> {
        lock(&self.link).as_ref().filter(|l| !l.sender.is_closed()).map(|l| l.sender.clone())
    }

    async fn sender(&self) -> Result<http2::SendRequest<Full<Bytes>>, ErrorClass> {
        if let Some(sender) = self.current() {
            return Ok(sender);
        }
        let _reopening = self.reopening.lock().await;
        if let Some(sender) = self.current() {
            return Ok(sender);
        }
        if !self.is_open() {
            return Err(ErrorClass::Closed);
        }
        match Http2Link::open(self.addr).await {
            Ok(link) => {
                let sender = link.sender.clone();
                *lock(&self.link) = Some(link);
                Ok(sender)
            }
            Err(_) => {
                self.open.store(false, Ordering::Relaxed);
                Err(ErrorClass::Connect)
            }
        }
    }

    async fn exchange(&self) -> Outcome {
        let mut sender = self.sender().await?;
        let response =
            sender.send_request(self.exchange.request()).await.map_err(|e| classify(&e))?;
        self.exchange.check(response).await
    }
}

impl Connection for Http2Connection {
    async fn call(&self, timeout: Duration) -> Outcome {
        // A call cut short resets its stream (RST_STREAM CANCEL); the connection stays.
        tokio::time::timeout(timeout, self.exchange()).await.unwrap_or(Err(ErrorClass::Timeout))
    }
    fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }
    async fn close(&self) {
        self.open.store(false, Ordering::Relaxed);
        let taken = lock(&self.link).take();
        if let Some(Http2Link { sender, task }) = taken {
            drop(sender);
            finish(task).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::driver::{self, Plan};
    use crate::load::http::serve::HttpBackend;

    /// Drives `workload` against an in-process backend on 127.0.0.1 for about a second.
    async fn run_against_backend(workload: HttpWorkload, connections: u64, concurrency: u64) {
        let backend =
            HttpBackend::bind("127.0.0.1:0", Duration::ZERO, 512).await.expect("bind backend");
        let addr = backend.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(backend.run(async move {
            let _ = stopped.await;
        }));
        let exchange = Arc::new(
            Exchange::new(workload, &addr.to_string(), workload.default_path(), 1024).unwrap(),
        );
        let plan = Plan {
            concurrency,
            rate: None,
            warmup: Duration::from_millis(100),
            duration: Duration::from_millis(900),
            timeout: Duration::from_secs(5),
        };
        let measured = match workload {
            HttpWorkload::Http1 => {
                let mut conns = Vec::new();
                for _ in 0..connections {
                    conns.push(Http1Connection::connect(addr, exchange.clone()).await.unwrap());
                }
                driver::run(conns, plan).await
            }
            HttpWorkload::Http2 | HttpWorkload::Grpc => {
                let mut conns = Vec::new();
                for _ in 0..connections {
                    conns.push(Http2Connection::connect(addr, exchange.clone()).await.unwrap());
                }
                driver::run(conns, plan).await
            }
        };
        let r = &measured.results;
        let errors: Vec<_> =
            ErrorClass::all().filter(|c| r.errors(*c) > 0).map(|c| (c, r.errors(c))).collect();
        assert!(errors.is_empty(), "{workload:?}: errors {errors:?}");
        assert!(r.ok() > 0, "{workload:?}: no request completed");
        assert!(r.warmup() > 0, "{workload:?}: the warm-up sent nothing");
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the backend stops")
            .unwrap()
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http1_load_against_the_backend_has_no_errors() {
        run_against_backend(HttpWorkload::Http1, 4, 1).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http2_load_against_the_backend_has_no_errors() {
        run_against_backend(HttpWorkload::Http2, 2, 16).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn grpc_load_against_the_backend_has_no_errors() {
        run_against_backend(HttpWorkload::Grpc, 2, 16).await;
    }

    #[tokio::test]
    async fn http1_reopens_a_connection_the_peer_closes_after_each_response() {
        use std::sync::atomic::AtomicU64;

        use http::Response;
        use hyper::service::service_fn;

        use crate::load::http::serve::ReplyBody;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                counter.fetch_add(1, Ordering::Relaxed);
                let service = service_fn(|_request| async {
                    let body = ReplyBody::new(Bytes::from_static(b"ok"), None);
                    Ok::<_, std::convert::Infallible>(Response::new(body))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        let exchange =
            Arc::new(Exchange::new(HttpWorkload::Http1, "x", DEFAULT_PATH, 100).unwrap());
        let conn = Http1Connection::connect(addr, exchange).await.unwrap();
        for n in 0..20 {
            assert_eq!(conn.call(Duration::from_secs(5)).await, Ok(()), "request {n}");
        }
        assert!(conn.is_open());
        assert_eq!(accepted.load(Ordering::Relaxed), 20, "one connection per request");
        conn.close().await;
        server.abort();
    }

    #[tokio::test]
    async fn a_connection_that_cannot_be_reopened_counts_a_connect_error_and_stops() {
        let backend = HttpBackend::bind("127.0.0.1:0", Duration::ZERO, 16).await.unwrap();
        let addr = backend.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(backend.run(async move {
            let _ = stopped.await;
        }));
        let h1 = Exchange::new(HttpWorkload::Http1, "x", DEFAULT_PATH, 16).unwrap();
        let h1 = Http1Connection::connect(addr, Arc::new(h1)).await.unwrap();
        let grpc = Exchange::new(HttpWorkload::Grpc, "x", GRPC_PATH, 16).unwrap();
        let grpc = Http2Connection::connect(addr, Arc::new(grpc)).await.unwrap();
        let timeout = Duration::from_secs(5);
        assert_eq!(h1.call(timeout).await, Ok(()));
        assert_eq!(grpc.call(timeout).await, Ok(()));
        // The backend says goodbye to both connections and stops listening.
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        for _ in 0..100 {
            let h1_closed = lock(&h1.link).as_ref().is_none_or(|l| l.sender.is_closed());
            if h1_closed && grpc.current().is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(h1.call(timeout).await, Err(ErrorClass::Connect));
        assert_eq!(grpc.call(timeout).await, Err(ErrorClass::Connect));
        assert!(!h1.is_open() && !grpc.is_open(), "the driver stops their loops");
    }
}
