//! The relay against real TCP backends served by the engine, with a small test policy.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::engine::test_protocol::{echo, TinyFrame, TINY};
use crate::engine::{Client, EngineConfig, Server, ServerHandle};
use crate::{AnyProtocol, StreamKind};

struct TestEndpoint {
    address: SocketAddr,
    pools: Mutex<Vec<(&'static str, Arc<dyn Any + Send + Sync>)>>,
    failures: AtomicUsize,
}

impl Endpoint for TestEndpoint {
    fn address(&self) -> SocketAddr {
        self.address
    }
    fn pool(
        &self,
        protocol: &'static str,
        make: &mut dyn FnMut() -> Arc<dyn Any + Send + Sync>,
    ) -> Arc<dyn Any + Send + Sync> {
        let mut pools = self.pools.lock().unwrap();
        if let Some((_, pool)) = pools.iter().find(|(p, _)| *p == protocol) {
            return Arc::clone(pool);
        }
        let pool = make();
        pools.push((protocol, Arc::clone(&pool)));
        pool
    }
    fn report(&self, ok: bool) {
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct TestUpstream {
    endpoints: Vec<Arc<TestEndpoint>>,
    next: AtomicUsize,
    settings: PoolSettings,
}

impl Upstream for TestUpstream {
    fn name(&self) -> &str {
        "test-cluster"
    }
    fn pick(&self, _avoid: Option<SocketAddr>) -> Result<Picked, Failure> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let endpoint = self
            .endpoints
            .get(n % self.endpoints.len().max(1))
            .ok_or(Failure::NoHealthyUpstream)?;
        Ok(Picked { endpoint: Arc::clone(endpoint) as Arc<dyn Endpoint>, guard: Box::new(()) })
    }
    fn pool_settings(&self) -> &PoolSettings {
        &self.settings
    }
}

struct TestPolicy {
    plan: ForwardPlan,
    records: Mutex<Vec<(Outcome, u32)>>,
}

impl RelayPolicy for TestPolicy {
    fn route(&self, request: &dyn Frame) -> Decision {
        if request.body().starts_with(b"noroute") {
            return Decision::Reply {
                failure: Failure::NoRoute,
                message: "no route".into(),
                route: None,
                tag: 0,
            };
        }
        Decision::Forward(self.plan.clone())
    }
    fn finished(&self, record: &RequestRecord<'_>) {
        self.records.lock().unwrap().push((record.outcome, record.tries));
    }
}

/// A backend: echoes, sleeps on "slow", answers status 9 on "status9".
async fn backend() -> ServerHandle {
    let config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
    let handler = |request: TinyFrame| async move {
        if request.body.starts_with(b"slow") {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let mut reply = echo(&request);
        if request.body.starts_with(b"status9") {
            reply.status = 9;
        }
        Some(reply)
    };
    Server::bind(&TINY, "127.0.0.1:0", handler, config).await.unwrap().spawn()
}

/// A port nothing listens on.
async fn dead_address() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

fn policy(addresses: Vec<SocketAddr>, timeout: Duration, retry: RetryPlan) -> Arc<TestPolicy> {
    let endpoints = addresses
        .into_iter()
        .map(|address| {
            Arc::new(TestEndpoint {
                address,
                pools: Mutex::default(),
                failures: AtomicUsize::new(0),
            })
        })
        .collect();
    let upstream = Arc::new(TestUpstream {
        endpoints,
        next: AtomicUsize::new(0),
        settings: PoolSettings::default(),
    });
    let headers = Arc::new(HeaderEdits::default());
    let plan = ForwardPlan { route: "r".into(), upstream, timeout, retry, tag: 0, headers };
    Arc::new(TestPolicy { plan, records: Mutex::default() })
}

/// Serves one relay listener with `policy`; returns a client connected to it.
async fn relay(policy: Arc<TestPolicy>) -> Client<crate::engine::test_protocol::Tiny> {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let protocol: &'static dyn AnyProtocol = &TINY;
            let config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
            let policy = Arc::clone(&policy) as Arc<dyn RelayPolicy>;
            tokio::spawn(protocol.serve_relay(
                Box::new(stream),
                policy,
                config,
                CancellationToken::new(),
            ));
        }
    });
    let config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
    Client::connect(&TINY, address, config).await.unwrap()
}

fn within<F: std::future::Future>(f: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(Duration::from_secs(10), f)
}

#[tokio::test]
async fn forwards_and_answers_each_caller_under_its_own_id() {
    let backend = backend().await;
    let policy = policy(vec![backend.local_addr()], Duration::from_secs(5), RetryPlan::default());
    let client = relay(Arc::clone(&policy)).await;
    let calls = (0..50u32).map(|i| {
        let client = client.clone();
        async move { client.call(TinyFrame::request(i, format!("hello {i}"))).await.unwrap() }
    });
    let replies = within(futures_util::future::join_all(calls)).await.unwrap();
    for (i, reply) in replies.iter().enumerate() {
        assert_eq!((reply.kind, reply.id, reply.status), (StreamKind::Response, i as u32, 0));
        assert_eq!(reply.body, format!("hello {i}"));
    }
    let records = policy.records.lock().unwrap();
    assert_eq!(records.len(), 50);
    assert!(records.iter().all(|r| *r == (Outcome::Replied(200), 1)));
}

#[tokio::test]
async fn no_route_is_answered_in_the_callers_protocol() {
    let policy = policy(vec![dead_address().await], Duration::from_secs(5), RetryPlan::default());
    let client = relay(Arc::clone(&policy)).await;
    let reply =
        within(client.call(TinyFrame::request(5, "noroute please"))).await.unwrap().unwrap();
    assert_eq!((reply.id, reply.status), (5, TinyFrame::status_of(Failure::NoRoute)));
}

#[tokio::test]
async fn connect_failure_is_retried_on_the_next_endpoint() {
    let backend = backend().await;
    let retry = RetryPlan { max_retries: 1, on_connect_failure: true, ..RetryPlan::default() };
    let dead = dead_address().await;
    let policy = policy(vec![dead, backend.local_addr()], Duration::from_secs(5), retry);
    let client = relay(Arc::clone(&policy)).await;
    let reply = within(client.call(TinyFrame::request(1, "hi"))).await.unwrap().unwrap();
    assert_eq!((reply.status, &reply.body[..]), (0, &b"hi"[..]));
    assert_eq!(policy.records.lock().unwrap()[0], (Outcome::Replied(200), 2));
    // Without retries the same failure is the caller's: no healthy upstream.
    let policy2 = self::policy(vec![dead], Duration::from_secs(5), RetryPlan::default());
    let client = relay(policy2).await;
    let reply = within(client.call(TinyFrame::request(2, "hi"))).await.unwrap().unwrap();
    assert_eq!(reply.status, TinyFrame::status_of(Failure::NoHealthyUpstream));
}

#[tokio::test]
async fn a_slow_upstream_gets_a_timeout_reply_and_other_streams_carry_on() {
    let backend = backend().await;
    let policy =
        policy(vec![backend.local_addr()], Duration::from_millis(300), RetryPlan::default());
    let client = relay(Arc::clone(&policy)).await;
    let slow = client.call(TinyFrame::request(1, "slow"));
    let fast = client.call(TinyFrame::request(2, "fast"));
    let (slow, fast) = within(async { tokio::join!(slow, fast) }).await.unwrap();
    assert_eq!(slow.unwrap().status, TinyFrame::status_of(Failure::Timeout));
    assert_eq!(fast.unwrap().body, "fast");
}

#[tokio::test]
async fn retriable_statuses_are_tried_again_then_returned() {
    let backend = backend().await;
    let retry =
        RetryPlan { max_retries: 2, retriable_statuses: Arc::from([9u32]), ..RetryPlan::default() };
    let policy = policy(vec![backend.local_addr()], Duration::from_secs(5), retry);
    let client = relay(Arc::clone(&policy)).await;
    let reply = within(client.call(TinyFrame::request(1, "status9"))).await.unwrap().unwrap();
    assert_eq!(reply.status, 9, "the last try's reply goes back as it is");
    assert_eq!(policy.records.lock().unwrap()[0].1, 3);
}

#[tokio::test]
async fn header_edits_on_a_protocol_without_headers_get_an_internal_reply() {
    let backend = backend().await;
    let mut policy =
        policy(vec![backend.local_addr()], Duration::from_secs(5), RetryPlan::default());
    let edits = HeaderEdits { add: vec![("x-via".into(), "relay".into())], remove: vec![] };
    Arc::get_mut(&mut policy).unwrap().plan.headers = Arc::new(edits);
    let client = relay(Arc::clone(&policy)).await;
    let reply = within(client.call(TinyFrame::request(3, "hi"))).await.unwrap().unwrap();
    assert_eq!((reply.id, reply.status), (3, TinyFrame::status_of(Failure::Internal)));
    assert_eq!(policy.records.lock().unwrap()[0], (Outcome::Failed(Failure::Internal), 0));
    // The same route without edits forwards.
    let plain =
        self::policy(vec![backend.local_addr()], Duration::from_secs(5), RetryPlan::default());
    let client = relay(plain).await;
    let reply = within(client.call(TinyFrame::request(4, "hi"))).await.unwrap().unwrap();
    assert_eq!((reply.status, &reply.body[..]), (0, &b"hi"[..]));
}

/// A frame whose headers are a list, to check the order edits are applied in.
#[derive(Debug, Default)]
struct ListFrame {
    headers: Vec<(String, String)>,
    body: bytes::Bytes,
}

impl Frame for ListFrame {
    fn kind(&self) -> StreamKind {
        StreamKind::Request
    }
    fn request_id(&self) -> crate::RequestId {
        crate::RequestId(1)
    }
    fn set_request_id(&mut self, _: crate::RequestId) -> Result<(), EncodeError> {
        Ok(())
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    fn set_header(&mut self, name: &str, value: &str) -> Result<(), EncodeError> {
        match self.headers.iter_mut().find(|(k, _)| k == name) {
            Some(entry) => entry.1 = value.to_owned(),
            None => self.headers.push((name.to_owned(), value.to_owned())),
        }
        Ok(())
    }
    fn remove_header(&mut self, name: &str) -> Result<(), EncodeError> {
        self.headers.retain(|(k, _)| k != name);
        Ok(())
    }
    fn body(&self) -> &bytes::Bytes {
        &self.body
    }
    fn wire_len(&self) -> usize {
        0
    }
}

#[test]
fn edits_remove_first_then_add() {
    let mut frame = ListFrame {
        headers: vec![("a".into(), "1".into()), ("b".into(), "2".into())],
        ..ListFrame::default()
    };
    let edits = HeaderEdits {
        add: vec![("b".into(), "new".into()), ("c".into(), "3".into())],
        remove: vec!["a".into(), "b".into()],
    };
    assert!(!edits.is_empty() && HeaderEdits::default().is_empty());
    edits.apply(&mut frame).unwrap();
    assert_eq!(frame.header("a"), None);
    assert_eq!(frame.header("b"), Some("new"), "a name in both ends up with the added value");
    assert_eq!(frame.header("c"), Some("3"));
    // The default trait methods refuse: the engine test protocol has no headers.
    let mut tiny = TinyFrame::request(1, "x");
    assert!(matches!(edits.apply(&mut tiny), Err(EncodeError::Unencodable(_))));
}

/// The engine's test protocol with ping-pong pooling: one request per connection at a time.
struct PingPongTiny;

static PING_PONG_TINY: PingPongTiny = PingPongTiny;

impl crate::Protocol for PingPongTiny {
    type Frame = TinyFrame;
    type Codec = <crate::engine::test_protocol::Tiny as crate::Protocol>::Codec;
    fn name(&self) -> &'static str {
        "tiny-ping-pong"
    }
    fn detect(&self, prefix: &[u8]) -> crate::DetectResult {
        crate::Protocol::detect(&TINY, prefix)
    }
    fn codec(&self, limits: crate::Limits) -> Self::Codec {
        crate::Protocol::codec(&TINY, limits)
    }
    fn pool_mode(&self) -> crate::PoolMode {
        crate::PoolMode::PingPong
    }
    fn error_reply(
        &self,
        request: &TinyFrame,
        failure: Failure,
        message: &str,
    ) -> Option<TinyFrame> {
        crate::Protocol::error_reply(&TINY, request, failure, message)
    }
    fn http_status(&self, status: u32) -> u16 {
        crate::Protocol::http_status(&TINY, status)
    }
}

#[tokio::test]
async fn ping_pong_pools_queue_requests_for_their_connections() {
    use std::sync::atomic::AtomicUsize as Counter;
    let now = Arc::new(Counter::new(0));
    let peak = Arc::new(Counter::new(0));
    let (n, p) = (Arc::clone(&now), Arc::clone(&peak));
    let handler = move |request: TinyFrame| {
        let (now, peak) = (Arc::clone(&n), Arc::clone(&p));
        async move {
            let current = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(current, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(150)).await;
            now.fetch_sub(1, Ordering::SeqCst);
            Some(echo(&request))
        }
    };
    let config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
    let backend = Server::bind(&PING_PONG_TINY, "127.0.0.1:0", handler, config).await.unwrap();
    let backend = backend.spawn();
    let settings =
        PoolSettings { max_ping_pong_connections: 2, max_idle: 1, ..PoolSettings::default() };
    let endpoint = Arc::new(TestEndpoint {
        address: backend.local_addr(),
        pools: Mutex::default(),
        failures: AtomicUsize::new(0),
    });
    let upstream = TestUpstream { endpoints: vec![endpoint], next: AtomicUsize::new(0), settings };
    let pool: UpstreamPool<PingPongTiny> =
        UpstreamPool::new(&PING_PONG_TINY, backend.local_addr(), settings);
    let calls = (0..5u32).map(|i| {
        let (pool, upstream) = (&pool, &upstream);
        async move {
            let lease = pool.get(upstream).await.unwrap();
            lease.call(TinyFrame::request(i, format!("{i}"))).await.unwrap()
        }
    });
    let started = std::time::Instant::now();
    let replies = within(futures_util::future::join_all(calls)).await.unwrap();
    assert!(replies.iter().enumerate().all(|(i, r)| r.body == format!("{i}")));
    assert_eq!(peak.load(Ordering::SeqCst), 2, "never more than two requests at once");
    assert!(started.elapsed() >= Duration::from_millis(450), "three waves of two");
    // Both connections went idle at the end; only `max_idle` of them stay open.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(pool.open_connections(), 1);
}
