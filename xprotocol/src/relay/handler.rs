//! The per-request half of the relay: route, forward with retries, answer.

use std::any::Any;
use std::sync::Arc;
use std::time::Instant;

use tokio::time::timeout_at;
use tracing::debug;

use super::pool::{failure_of, ConnectError, UpstreamPool};
use super::{Decision, ForwardPlan, Outcome, RelayPolicy, RequestRecord};
use crate::engine::{CallError, Handler};
use crate::{Failure, Frame, Protocol, StreamKind};

/// The engine [`Handler`] of a relayed downstream connection: asks the policy where each
/// request goes and answers with the upstream's reply or the protocol's error reply.
pub struct RelayHandler<P: Protocol> {
    protocol: &'static P,
    policy: Arc<dyn RelayPolicy>,
}

impl<P: Protocol> RelayHandler<P> {
    /// A handler for `protocol` driven by `policy`.
    pub fn new(protocol: &'static P, policy: Arc<dyn RelayPolicy>) -> Self {
        RelayHandler { protocol, policy }
    }

    async fn handle(&self, mut request: P::Frame) -> Option<P::Frame> {
        let started = Instant::now();
        let two_way = request.kind() == StreamKind::Request;
        let plan = match self.policy.route(&request) {
            Decision::Forward(plan) => plan,
            Decision::Reply { failure, message, route, tag } => {
                self.record(route.as_deref(), None, Outcome::Failed(failure), started, 0, tag);
                return self.protocol.error_reply(&request, failure, &message);
            }
        };
        if !plan.headers.is_empty() {
            if let Err(e) = plan.headers.apply(&mut request) {
                // A route edits headers of a protocol (or a frame) that has none to edit: a
                // configuration problem, answered as an internal error naming it (the engine
                // discards replies to one-way requests).
                let message = format!("route {}: cannot apply its header edits: {e}", plan.route);
                debug!(route = %plan.route, error = %e, "header edits refused");
                let failed = Outcome::Failed(Failure::Internal);
                let cluster = Some(plan.upstream.name());
                self.record(Some(&plan.route), cluster, failed, started, 0, plan.tag);
                return self.protocol.error_reply(&request, Failure::Internal, &message);
            }
        }
        if !two_way {
            let outcome = self.forward_oneway(&plan, request).await;
            self.record(
                Some(&plan.route),
                Some(plan.upstream.name()),
                outcome,
                started,
                1,
                plan.tag,
            );
            return None;
        }
        let (result, tries) = self.forward(&plan, &request, started).await;
        let cluster = Some(plan.upstream.name());
        match result {
            Ok(reply) => {
                let http = reply.status().map_or(200, |s| self.protocol.http_status(s));
                self.record(
                    Some(&plan.route),
                    cluster,
                    Outcome::Replied(http),
                    started,
                    tries,
                    plan.tag,
                );
                Some(reply)
            }
            Err((failure, message)) => {
                self.record(
                    Some(&plan.route),
                    cluster,
                    Outcome::Failed(failure),
                    started,
                    tries,
                    plan.tag,
                );
                self.protocol.error_reply(&request, failure, &message)
            }
        }
    }

    /// Tries `request` until a reply, a failure that is not to be retried, or the deadline.
    async fn forward(
        &self,
        plan: &ForwardPlan,
        request: &P::Frame,
        started: Instant,
    ) -> (Result<P::Frame, (Failure, String)>, u32) {
        let deadline = tokio::time::Instant::from_std(started + plan.timeout);
        let retry = &plan.retry;
        let mut tries = 0;
        let mut previous = None;
        loop {
            tries += 1;
            let last_try = tries > retry.max_retries;
            let try_deadline = retry
                .per_try_timeout
                .map_or(deadline, |t| deadline.min(tokio::time::Instant::now() + t));
            let attempt = self.try_once(plan, request.clone(), &mut previous);
            let (error, retriable) = match timeout_at(try_deadline, attempt).await {
                Ok(Ok(reply)) => {
                    let status = reply.status();
                    let retry_status =
                        status.is_some_and(|s| retry.retriable_statuses.contains(&s));
                    if !retry_status || last_try {
                        return (Ok(reply), tries);
                    }
                    debug!(status, "retriable upstream status; trying again");
                    continue;
                }
                Ok(Err(TryError::Refused(failure, message))) => {
                    return (Err((failure, message)), tries);
                }
                Ok(Err(TryError::Connect(message))) => {
                    ((Failure::NoHealthyUpstream, message), retry.on_connect_failure)
                }
                Ok(Err(TryError::Call(e))) => {
                    let failure = failure_of(&e);
                    let retriable = match failure {
                        Failure::UpstreamReset => retry.on_reset,
                        Failure::Timeout => retry.on_per_try_timeout,
                        _ => false,
                    };
                    ((failure, format!("upstream {}: {e}", plan.upstream.name())), retriable)
                }
                Err(_) if try_deadline < deadline => (
                    (Failure::Timeout, format!("upstream {} try timed out", plan.upstream.name())),
                    retry.on_per_try_timeout,
                ),
                Err(_) => {
                    let message = format!("upstream {} timed out", plan.upstream.name());
                    return (Err((Failure::Timeout, message)), tries);
                }
            };
            if last_try || !retriable || tokio::time::Instant::now() >= deadline {
                return (Err(error), tries);
            }
            debug!(failure = %error.0, tries, "retrying on another endpoint");
        }
    }

    /// One try on a freshly picked endpoint (another than `previous` where possible), whose
    /// address it leaves in `previous` for the next try.
    async fn try_once(
        &self,
        plan: &ForwardPlan,
        request: P::Frame,
        previous: &mut Option<std::net::SocketAddr>,
    ) -> Result<P::Frame, TryError> {
        let refused =
            |f: Failure| TryError::Refused(f, format!("{f} in cluster {}", plan.upstream.name()));
        let started = Instant::now();
        let picked = plan.upstream.pick(*previous).map_err(refused)?;
        *previous = Some(picked.endpoint.address());
        let pool = self.pool(plan, &*picked.endpoint);
        let pending = plan.upstream.admit_pending().map_err(refused)?;
        let connected = pool.get(&*plan.upstream).await;
        drop(pending);
        let client = match connected {
            Ok(client) => client,
            Err(ConnectError::Failed(message)) => {
                picked.endpoint.report_try(false, started);
                return Err(TryError::Connect(message));
            }
            Err(ConnectError::Busy) => {
                return Err(TryError::Refused(Failure::Overloaded, "all connections busy".into()))
            }
            Err(ConnectError::Refused(f)) => return Err(refused(f)),
        };
        // The caller's per-try deadline bounds the call.
        let result = client.call_untimed(request).await;
        let ok = !matches!(&result, Err(CallError::Closed | CallError::Io { .. }));
        picked.endpoint.report_try(ok, started);
        drop(picked.guard);
        result.map_err(TryError::Call)
    }

    async fn forward_oneway(&self, plan: &ForwardPlan, request: P::Frame) -> Outcome {
        let picked = match plan.upstream.pick(None) {
            Ok(picked) => picked,
            Err(failure) => return Outcome::Failed(failure),
        };
        let pool = self.pool(plan, &*picked.endpoint);
        match pool.get(&*plan.upstream).await {
            Ok(client) => match client.send_oneway(request).await {
                Ok(()) => Outcome::Forwarded,
                Err(e) => Outcome::Failed(failure_of(&e)),
            },
            Err(_) => Outcome::Failed(Failure::NoHealthyUpstream),
        }
    }

    fn pool(&self, plan: &ForwardPlan, endpoint: &dyn super::Endpoint) -> Arc<UpstreamPool<P>> {
        let (protocol, settings) = (self.protocol, *plan.upstream.pool_settings());
        let address = endpoint.address();
        let mut make = || -> Arc<dyn Any + Send + Sync> {
            Arc::new(UpstreamPool::new(protocol, address, settings))
        };
        let any = endpoint.pool(protocol.name(), &mut make);
        match any.downcast::<UpstreamPool<P>>() {
            Ok(pool) => pool,
            // The endpoint stored something else under our name: use a private pool rather
            // than fail the request (only a buggy Endpoint implementation gets here).
            Err(_) => Arc::new(UpstreamPool::new(protocol, address, settings)),
        }
    }

    fn record(
        &self,
        route: Option<&str>,
        cluster: Option<&str>,
        outcome: Outcome,
        started: Instant,
        tries: u32,
        tag: usize,
    ) {
        let latency = started.elapsed();
        self.policy.finished(&RequestRecord { route, cluster, outcome, latency, tries, tag });
    }
}

enum TryError {
    /// The cluster refused the request (no endpoint, circuit breaker); never retried.
    Refused(Failure, String),
    /// Connecting to the endpoint failed.
    Connect(String),
    /// The call failed on an open connection.
    Call(CallError),
}

impl<P: Protocol> Handler<P> for RelayHandler<P> {
    fn call(
        &self,
        request: P::Frame,
    ) -> impl std::future::Future<Output = Option<P::Frame>> + Send {
        self.handle(request)
    }
}
