//! One HTTP request through the gateway: route it, answer it directly or forward it upstream
//! with retries and deadlines, and stream the response back with the route's header edits.
//!
//! Bodies stream in both directions. A request body is recorded while it streams (up to
//! [`RETRY_BUFFER_BYTES`](super::body::RETRY_BUFFER_BYTES)) so that a try that failed after the
//! body was sent can be repeated; a connect failure is retried without it, since nothing was
//! sent. The route's timeout (bounded by the caller's `grpc-timeout`) runs until the response
//! head arrives; response bodies, which may be long-lived streams, are not cut by it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tracing::debug;
use xprotocol::relay::Outcome;
use xprotocol::Failure;

use super::body::{self, BoxError, Guarded, ProxyBody, Recorded};
use super::grpc::{self, Checked};
use super::headers;
use super::pool::{ConnectError, EndpointPool, Sender, UpstreamVersion};
use super::reply;
use super::route::{
    HttpAction, HttpRetryCause, HttpRoute, RequestView, GRPC_UNAVAILABLE as UNAVAILABLE,
};
use super::{Downstream, HttpConnection};
use crate::config::HttpUpstreamProtocol;
use crate::upstream::Endpoint;

/// Serves one request from a downstream connection. `Err` only asks hyper to reset an HTTP/2
/// stream with the reason the upstream reset it with.
pub async fn handle(
    conn: &HttpConnection,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, BoxError> {
    let start = Instant::now();
    let grpc = xprotocol_grpc::is_grpc(req.headers());
    let shared = &conn.shared;
    let view = RequestView { method: req.method(), uri: req.uri(), headers: req.headers(), grpc };
    let Some((_vhost, route)) = shared.router.select(&view) else {
        conn.record(grpc, None, None, Outcome::Failed(Failure::NoRoute), start, 0);
        return Ok(reply::failure(Failure::NoRoute, "no route matches the request", grpc));
    };
    let target = match route.action() {
        HttpAction::Direct(direct) => {
            let response =
                reply::direct(direct.status, direct.body.clone(), direct.content_type.as_ref());
            let outcome = Outcome::Replied(direct.status.as_u16());
            conn.record(grpc, Some(route.name()), None, outcome, start, 0);
            return Ok(with_response_edits(route, response));
        }
        HttpAction::Redirect(redirect) => {
            let response = reply::redirect(redirect.status(), &redirect.location(&view));
            let outcome = Outcome::Replied(redirect.status().as_u16());
            conn.record(grpc, Some(route.name()), None, outcome, start, 0);
            return Ok(with_response_edits(route, response));
        }
        HttpAction::Forward(target) => target,
    };

    // A declared body over the limit is refused before anything is read or sent (for
    // `Expect: 100-continue`, before the client sends it).
    let limit = shared.max_body_bytes;
    if let (Some(limit), Some(declared)) = (limit, declared_length(&req)) {
        if declared > limit {
            let outcome = Outcome::Failed(Failure::BadRequest);
            conn.record(grpc, Some(route.name()), None, outcome, start, 0);
            let response = reply::too_large(limit, grpc);
            if conn.downstream == Downstream::Http1 {
                // Closing with the body unread would make the kernel reset the connection, and
                // a client still sending may lose the 413 (RFC 9112 §9.6): read and discard a
                // bounded amount first. A client that asked `Expect: 100-continue` sends no
                // body unless it is read, so there is nothing to discard.
                if !expects_continue(&req) && declared <= DISCARD_LIMIT {
                    tokio::spawn(discard(req.into_body()));
                }
            }
            return Ok(response);
        }
    }

    let deadline = match deadline(route, &req, grpc) {
        Ok(deadline) => deadline,
        Err(message) => {
            let failure = Failure::BadRequest;
            conn.record(grpc, Some(route.name()), None, Outcome::Failed(failure), start, 0);
            return Ok(reply::failure(failure, &message, grpc));
        }
    };
    let caller_deadline = grpc && req.headers().contains_key("grpc-timeout");
    let upgrade = conn.downstream == Downstream::Http1 && headers::is_upgrade(req.headers());
    let downstream_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers, upgrade, true);
    headers::add_forwarded(&mut parts.headers, conn.peer_value.as_ref());
    route.request_headers().apply(&mut parts.headers);
    let authority = route
        .host_rewrite()
        .map(|authority| authority.as_str().to_owned())
        .or_else(|| headers::request_authority(&parts.uri, &parts.headers).map(str::to_owned));
    let path = super::route::rewrite_path(route, &parts.uri);
    let (recorded, replay) = match (grpc, shared.max_grpc_message_bytes) {
        (true, Some(max)) => {
            let (recorded, replay) = Recorded::new(Checked::new(body, max), limit);
            (body::boxed(recorded), replay)
        }
        _ => {
            let (recorded, replay) = Recorded::new(body, limit);
            (body::boxed(recorded), replay)
        }
    };
    let mut first_body = Some(recorded);

    let mut attempt: u32 = 0;
    let mut unprocessed_retries: u32 = 0;
    let mut avoid: Option<SocketAddr> = None;
    macro_rules! fail {
        ($failure:expr, $message:expr, $cluster:expr, $tries:expr) => {{
            let failure = $failure;
            let outcome = Outcome::Failed(failure);
            conn.record(grpc, Some(route.name()), Some($cluster), outcome, start, $tries);
            return Ok(reply::failure(failure, $message, grpc));
        }};
    }
    loop {
        let tries = attempt + 1;
        let target = target.pick();
        let cluster = target.cluster();
        let cname = cluster.name();
        let Some(permit) = cluster.circuit_breaker().try_acquire_request() else {
            fail!(Failure::Overloaded, "upstream cluster overloaded", cname, tries)
        };
        let Some(endpoint) = pick_avoiding(target, avoid) else {
            fail!(Failure::NoHealthyUpstream, "no healthy upstream", cname, tries)
        };
        let active = endpoint.track();
        let try_started = Instant::now();
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if remaining == Some(Duration::ZERO) {
            fail!(Failure::Timeout, "upstream timeout", cname, tries)
        }
        let version = upstream_version(cluster.config().http_protocol, conn.downstream, grpc);
        let settings = cluster.config();
        let pool = EndpointPool::of(
            &endpoint,
            settings.max_idle_per_endpoint,
            settings.connections_per_endpoint,
        );
        let acquired = if upgrade {
            EndpointPool::connect_for_upgrade(&endpoint, cluster, &shared.metrics)
                .await
                .map(Sender::Http1)
        } else {
            pool.acquire(version, &endpoint, cluster, &shared.metrics).await
        };
        let mut sender = match acquired {
            Ok(sender) => sender,
            Err(ConnectError::Overloaded) => {
                fail!(Failure::Overloaded, "upstream connection limit", cname, tries)
            }
            Err(e @ ConnectError::Failed { .. }) => {
                debug!(error = %e, "upstream connect failed");
                endpoint.report_try_outcome(false, try_started);
                if should_retry(route, tries, HttpRetryCause::ConnectFailure, &parts.method, grpc) {
                    attempt += 1;
                    avoid = Some(endpoint.address());
                    continue;
                }
                fail!(Failure::NoHealthyUpstream, "upstream connect failed", cname, tries)
            }
        };
        let Some(body) = first_body.take().or_else(|| replay.body()) else {
            fail!(Failure::UpstreamReset, "upstream failed; request not replayable", cname, tries)
        };
        let upstream_version = if upgrade { UpstreamVersion::Http1 } else { version };
        let mut headers = parts.headers.clone();
        if grpc && caller_deadline {
            // The caller's deadline goes upstream as the time it has left.
            if let Some(left) = deadline.map(|d| d.saturating_duration_since(Instant::now())) {
                if let Ok(value) = HeaderValue::from_str(&xprotocol_grpc::format_timeout(left)) {
                    headers.insert(HeaderName::from_static("grpc-timeout"), value);
                }
            }
        }
        let address = endpoint.address().to_string();
        let http_version = match upstream_version {
            UpstreamVersion::Http1 => Version::HTTP_11,
            UpstreamVersion::Http2 => Version::HTTP_2,
        };
        let uri = match headers::target_for_upstream(
            &parts.uri,
            path.clone(),
            &mut headers,
            authority.as_deref(),
            &address,
            http_version,
        ) {
            Ok(uri) => uri,
            Err(_) => fail!(Failure::BadRequest, "request target not forwardable", cname, tries),
        };
        let mut request = Request::new(body);
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = http_version;
        *request.headers_mut() = headers;

        let per_try = route.per_try_timeout();
        let try_timeout =
            match (per_try, deadline.map(|d| d.saturating_duration_since(Instant::now()))) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        let sent = match try_timeout {
            Some(t) => tokio::time::timeout(t, sender.send(request)).await.ok(),
            None => Some(sender.send(request).await),
        };
        let mut response = match sent {
            None if replay.stalled_by_caller() => {
                // The deadline passed while the upstream waited for the rest of the caller's
                // body: the caller stalled. Its fault, so neither an upstream timeout in the
                // metrics nor a failure against the endpoint; and never retried.
                debug!("request body stalled by the caller until the deadline");
                let outcome = Outcome::Failed(Failure::BadRequest);
                conn.record(grpc, Some(route.name()), Some(cname), outcome, start, tries);
                let close = conn.downstream == Downstream::Http1;
                return Ok(reply::request_timeout(grpc, close));
            }
            None => {
                // Per-try or overall deadline. Only a per-try deadline with time left retries.
                let overall_left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                if overall_left != Some(Duration::ZERO)
                    && should_retry(
                        route,
                        tries,
                        HttpRetryCause::PerTryTimeout,
                        &parts.method,
                        grpc,
                    )
                    && replay.body().is_some()
                {
                    attempt += 1;
                    avoid = Some(endpoint.address());
                    continue;
                }
                fail!(Failure::Timeout, "upstream timeout", cname, tries)
            }
            Some(Err(e)) => {
                if replay.too_large() {
                    let limit = limit.unwrap_or(0);
                    if let Some(rest) = replay.take_leftover() {
                        // As for a declared length over the limit: let the sender finish.
                        tokio::spawn(discard(rest));
                    }
                    let outcome = Outcome::Failed(Failure::BadRequest);
                    conn.record(grpc, Some(route.name()), Some(cname), outcome, start, tries);
                    return Ok(reply::too_large(limit, grpc));
                }
                if let Some(bad) = grpc::message_error(&e).or_else(|| replay.grpc_error()) {
                    let code = bad.code();
                    let outcome = Outcome::Failed(Failure::BadRequest);
                    conn.record(grpc, Some(route.name()), Some(cname), outcome, start, tries);
                    return Ok(reply::grpc_status(code, &bad.to_string()));
                }
                if replay.caller_failed() {
                    // The caller hung up or reset its stream mid-body, and hyper's client gave
                    // up sending: the caller's doing, not the endpoint's. No retry (the body
                    // is incomplete), no passive-health report.
                    debug!(error = %e, "request body failed downstream");
                    let outcome = Outcome::Failed(Failure::BadRequest);
                    conn.record(grpc, Some(route.name()), Some(cname), outcome, start, tries);
                    return Ok(reply::failure(
                        Failure::BadRequest,
                        "request body ended early",
                        grpc,
                    ));
                }
                let reason = h2_reason(&e);
                if let (Sender::Http2(_, generation), true) = (&sender, goes_away(&e)) {
                    pool.retire_h2(*generation).await;
                }
                if unprocessed(&e) {
                    // The upstream never processed the request (GOAWAY, REFUSED_STREAM, or a
                    // pooled connection closed under us): always safe to send again, and no
                    // fault of the endpoint's. Bounded separately from the route's retries.
                    if unprocessed_retries < MAX_UNPROCESSED_RETRIES && replay.body().is_some() {
                        unprocessed_retries += 1;
                        debug!(error = %e, "request not processed upstream; sending it again");
                        continue;
                    }
                } else {
                    endpoint.report_try_outcome(false, try_started);
                    let retry =
                        should_retry(route, tries, HttpRetryCause::Reset, &parts.method, grpc);
                    if retry && replay.body().is_some() {
                        attempt += 1;
                        avoid = Some(endpoint.address());
                        continue;
                    }
                }
                debug!(error = %e, "upstream request failed");
                if conn.downstream == Downstream::Http2 && !grpc {
                    // Mirror a real stream reset (not a graceful GOAWAY) onto the caller's.
                    if let Some(reason) = reason.filter(|r| *r != h2::Reason::NO_ERROR) {
                        // Mirror the upstream's stream reset onto the caller's stream.
                        conn.record(
                            grpc,
                            Some(route.name()),
                            Some(cname),
                            Outcome::Failed(Failure::UpstreamReset),
                            start,
                            tries,
                        );
                        return Err(Box::new(h2::Error::from(reason)));
                    }
                }
                fail!(Failure::UpstreamReset, "upstream connection reset", cname, tries)
            }
            Some(Ok(response)) => response.map(body::boxed),
        };
        let status = response.status();
        endpoint.report_try_outcome(!status.is_server_error(), try_started);
        let mut grpc_code = if grpc { grpc_status_in_head(&response) } else { None };
        if grpc
            && grpc_code.is_none()
            && should_retry(
                route,
                tries,
                HttpRetryCause::GrpcStatus(UNAVAILABLE),
                &parts.method,
                grpc,
            )
        {
            // The status of a failed call may come as trailers right after the head: look at
            // the first frame before answering, so that UNAVAILABLE can still be retried.
            let (head, mut incoming) = response.into_parts();
            let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let next = incoming.frame();
            let polled = match left {
                Some(left) => match tokio::time::timeout(left, next).await {
                    Ok(polled) => polled,
                    Err(_) => fail!(Failure::Timeout, "upstream timeout", cname, tries),
                },
                None => next.await,
            };
            let first = match polled {
                Some(Ok(frame)) => frame,
                Some(Err(e)) => {
                    debug!(error = %e, "upstream gRPC response failed");
                    endpoint.report_try_outcome(false, try_started);
                    fail!(Failure::UpstreamReset, "upstream reset the call", cname, tries)
                }
                None => Frame::data(Bytes::new()),
            };
            grpc_code = first.trailers_ref().and_then(grpc_status_in_trailers);
            let body = body::boxed(body::Prefixed::new(first, incoming));
            response = Response::from_parts(head, body);
        }
        let cause = match grpc_code {
            Some(code) if code != 0 => HttpRetryCause::GrpcStatus(code),
            _ => HttpRetryCause::Status(status.as_u16()),
        };
        if (status.is_server_error() || grpc_code.is_some_and(|c| c != 0))
            && should_retry(route, tries, cause, &parts.method, grpc)
            && replay.body().is_some()
        {
            attempt += 1;
            avoid = Some(endpoint.address());
            continue;
        }
        let outcome_status = match grpc_code {
            Some(code) => xprotocol_grpc::Code::from_u32(code).map_or(500, |c| c.to_http_class()),
            None => status.as_u16(),
        };
        conn.record(
            grpc,
            Some(route.name()),
            Some(cname),
            Outcome::Replied(outcome_status),
            start,
            tries,
        );

        if status == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(downstream) = downstream_upgrade {
                let upstream = hyper::upgrade::on(&mut response);
                tokio::spawn(bridge_upgrade(downstream, upstream, active, permit));
                let (mut head, _) = response.into_parts();
                route.response_headers().apply(&mut head.headers);
                return Ok(Response::from_parts(head, body::empty()));
            }
        }
        let (mut head, incoming) = response.into_parts();
        head.version = Version::default();
        headers::strip_hop_by_hop(&mut head.headers, false, false);
        route.response_headers().apply(&mut head.headers);
        let body = match sender {
            Sender::Http1(sender) if !upgrade => {
                let pool = Arc::clone(&pool);
                let on_end: Box<dyn FnOnce(_) + Send> =
                    Box::new(move |(sender, _permit, _active)| pool.release(sender));
                body::boxed(Guarded::new(incoming, (sender, permit, active), Some(on_end)))
            }
            _ => body::boxed(Guarded::new(incoming, (permit, active), None)),
        };
        return Ok(Response::from_parts(head, body));
    }
}

/// Copies bytes both ways between an upgraded downstream and upstream connection.
async fn bridge_upgrade(
    downstream: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    active: crate::upstream::ActiveRequest,
    permit: crate::upstream::circuit::RequestPermit,
) {
    let (down, up) = match (downstream.await, upstream.await) {
        (Ok(down), Ok(up)) => (down, up),
        (Err(e), _) | (_, Err(e)) => return debug!(error = %e, "upgrade failed"),
    };
    let mut down = hyper_util::rt::TokioIo::new(down);
    let mut up = hyper_util::rt::TokioIo::new(up);
    if let Err(e) = tokio::io::copy_bidirectional(&mut down, &mut up).await {
        debug!(error = %e, "upgraded connection ended");
    }
    drop((active, permit));
}

fn with_response_edits(
    route: &HttpRoute,
    mut response: Response<ProxyBody>,
) -> Response<ProxyBody> {
    route.response_headers().apply(response.headers_mut());
    response
}

/// Whether the route's retry policy allows another try after try number `tries` failed.
fn should_retry(
    route: &HttpRoute,
    tries: u32,
    cause: HttpRetryCause,
    method: &http::Method,
    grpc: bool,
) -> bool {
    route.retry().is_some_and(|policy| policy.should_retry(tries, cause, method, grpc))
}

/// A healthy endpoint of the target, preferring one other than `avoid` (the one a retry is
/// moving away from) when the subset has another.
fn pick_avoiding(
    target: &crate::route::Target,
    avoid: Option<SocketAddr>,
) -> Option<Arc<Endpoint>> {
    let first = target.pick()?;
    if avoid != Some(first.address()) {
        return Some(first);
    }
    for _ in 1..target.subset().endpoints().len() {
        match target.pick() {
            Some(other) if Some(other.address()) != avoid => return Some(other),
            _ => {}
        }
    }
    Some(first)
}

/// The HTTP version to speak upstream: the cluster's choice, else the caller's own (gRPC
/// always HTTP/2).
fn upstream_version(
    configured: Option<HttpUpstreamProtocol>,
    downstream: Downstream,
    grpc: bool,
) -> UpstreamVersion {
    match configured {
        Some(HttpUpstreamProtocol::Http1) => UpstreamVersion::Http1,
        Some(HttpUpstreamProtocol::Http2) => UpstreamVersion::Http2,
        None if grpc || downstream == Downstream::Http2 => UpstreamVersion::Http2,
        None => UpstreamVersion::Http1,
    }
}

/// Largest refused request body read and thrown away so that its sender gets the 413.
const DISCARD_LIMIT: u64 = 64 << 20;
/// Time allowed for that.
const DISCARD_TIME: Duration = Duration::from_secs(5);

/// Reads a refused request body to its end (within [`DISCARD_TIME`]) and drops it.
async fn discard<B: http_body::Body + Unpin>(mut body: B) {
    let drained =
        tokio::time::timeout(DISCARD_TIME, async { while let Some(Ok(_)) = body.frame().await {} });
    let _ = drained.await;
}

/// Whether the request waits for `100 Continue` before sending its body.
fn expects_continue<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// The request's `Content-Length`, when it has a valid one.
fn declared_length<B>(req: &Request<B>) -> Option<u64> {
    req.headers().get(http::header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// When the request must have its response head: the route's timeout, shortened by the
/// caller's `grpc-timeout`. A malformed `grpc-timeout` is the caller's error.
fn deadline<B>(route: &HttpRoute, req: &Request<B>, grpc: bool) -> Result<Option<Instant>, String> {
    let mut timeout = route.timeout();
    if grpc {
        match xprotocol_grpc::request_deadline(req.headers()) {
            Ok(Some(asked)) => timeout = Some(timeout.map_or(asked, |t| t.min(asked))),
            Ok(None) => {}
            Err(e) => return Err(format!("bad grpc-timeout: {e}")),
        }
    }
    Ok(timeout.map(|t| Instant::now() + t))
}

/// The `grpc-status` of a trailers-only response (carried in the head).
fn grpc_status_in_head<B>(response: &Response<B>) -> Option<u32> {
    response.headers().get("grpc-status")?.to_str().ok()?.trim().parse().ok()
}

/// The `grpc-status` in a response's trailers.
fn grpc_status_in_trailers(trailers: &http::HeaderMap) -> Option<u32> {
    trailers.get("grpc-status")?.to_str().ok()?.trim().parse().ok()
}

/// Sends of a request the upstream never processed (see [`unprocessed`]) made at most, on
/// top of the route's retries.
const MAX_UNPROCESSED_RETRIES: u32 = 3;

/// Whether the upstream certainly did not process the request: it refused the stream, it
/// was past the last stream its GOAWAY accepts, or hyper never sent it. Hyper says "never
/// sent" two ways: `ChannelClosed` when the pooled connection had closed by the time we
/// waited for it to be ready (an upstream that ends connections with GOAWAY, or an idle
/// HTTP/1.1 connection the upstream timed out, races with taking it from the pool), and
/// `Canceled` when it closed after the request was queued but before it was written.
fn unprocessed(error: &hyper::Error) -> bool {
    if error.is_canceled() || error.is_closed() {
        return true;
    }
    h2_error(error).is_some_and(|h2| {
        h2.reason() == Some(h2::Reason::REFUSED_STREAM) || (h2.is_go_away() && h2.is_remote())
    })
}

/// Whether the error says the HTTP/2 connection is going away.
fn goes_away(error: &hyper::Error) -> bool {
    h2_error(error).is_some_and(|h2| h2.is_go_away())
}

/// The `h2::Error` somewhere in an error's source chain.
fn h2_error(error: &hyper::Error) -> Option<&h2::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        source = e.source();
    }
    None
}

/// The HTTP/2 reset reason somewhere in an error's source chain.
fn h2_reason(error: &hyper::Error) -> Option<h2::Reason> {
    h2_error(error).and_then(h2::Error::reason)
}
