//! The RPC protocols' side of a load run: requests and replies built with each crate's own
//! builder, and a [`Connection`] over the SDK's multiplexed engine client.
//!
//! Requests carry the routing metadata a real client sends (as `src/frames.rs` does for the
//! codec benchmarks), so that a gateway routes them as it would production traffic: Bolt v1
//! with the SOFARPC class name and the `service` / `sofa_head_method_name` headers; Dubbo
//! (hessian2) with version `1.0.0`, one `byte[]` argument and the usual attachments; Tars
//! (iVersion 1) with servant and function.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::net::ToSocketAddrs;
use xprotocol::engine::{CallError, Client, EngineConfig};
use xprotocol::{EncodeError, Frame, Protocol};
use xprotocol_bolt::{Bolt, BoltFrame, BoltVersion, ResponseStatus, BOLT_V1};
use xprotocol_dubbo::{hessian2::Writer, Dubbo, DubboFrame, RequestBuilder, Status};
use xprotocol_tars::{RequestPacket, ResponsePacket, Tars, TarsFrame};

use super::driver::Connection;
use super::stats::{ErrorClass, Outcome};
use crate::frames::{self, METHOD, SERVICE, TARS_SERVANT};

const SOFA_REQUEST: &str = "com.alipay.sofa.rpc.core.request.SofaRequest";
const SOFA_RESPONSE: &str = "com.alipay.sofa.rpc.core.response.SofaResponse";

/// The protocol value the engine needs (`&'static`).
static DUBBO: Dubbo = Dubbo;
/// The protocol value the engine needs (`&'static`).
static TARS: Tars = Tars;
/// The protocol value the engine needs (`&'static`).
static BOLT: Bolt = BOLT_V1;

/// One RPC protocol as the load generator and the backend use it.
pub trait RpcProtocol: Protocol {
    /// The protocol value the engine is given.
    fn instance() -> &'static Self;
    /// The status of a successful reply.
    fn ok_status() -> u32;
    /// The service addressed when the user names none.
    fn default_service() -> &'static str {
        SERVICE
    }
    /// A request for `service`/`method` whose application payload is `payload`.
    ///
    /// # Errors
    /// What the builder refuses (names or payloads beyond the protocol's field sizes).
    fn request(service: &str, method: &str, payload: Bytes) -> Result<Self::Frame, EncodeError>;
    /// A successful reply whose application payload is `payload` (the engine server gives
    /// it the request's id).
    ///
    /// # Errors
    /// What the builder refuses.
    fn reply(payload: Bytes) -> Result<Self::Frame, EncodeError>;
}

impl RpcProtocol for Bolt {
    fn instance() -> &'static Self {
        &BOLT
    }
    fn ok_status() -> u32 {
        u32::from(ResponseStatus::Success.as_u16())
    }
    fn request(service: &str, method: &str, payload: Bytes) -> Result<BoltFrame, EncodeError> {
        BoltFrame::request(BoltVersion::V1, 1)
            .timeout(3000)
            .class_name(SOFA_REQUEST)
            .header("service", &format!("{service}:1.0"))
            .header("sofa_head_method_name", method)
            .content(payload)
            .build()
    }
    fn reply(payload: Bytes) -> Result<BoltFrame, EncodeError> {
        BoltFrame::response(BoltVersion::V1, 1, ResponseStatus::Success)
            .class_name(SOFA_RESPONSE)
            .content(payload)
            .build()
    }
}

impl RpcProtocol for Dubbo {
    fn instance() -> &'static Self {
        &DUBBO
    }
    fn ok_status() -> u32 {
        u32::from(Status::Ok.code())
    }
    fn request(service: &str, method: &str, payload: Bytes) -> Result<DubboFrame, EncodeError> {
        let argument = binary(&payload);
        let attachments =
            [("path", service), ("interface", service), ("version", "1.0.0"), ("timeout", "3000")];
        RequestBuilder {
            id: 1,
            version: "1.0.0",
            parameter_types: "[B",
            arguments: &argument,
            attachments: &attachments,
            ..RequestBuilder::new(service, method)
        }
        .build()
    }
    fn reply(payload: Bytes) -> Result<DubboFrame, EncodeError> {
        DubboFrame::value_response(1, &binary(&payload))
    }
}

impl RpcProtocol for Tars {
    fn instance() -> &'static Self {
        &TARS
    }
    fn ok_status() -> u32 {
        0
    }
    fn default_service() -> &'static str {
        TARS_SERVANT
    }
    fn request(service: &str, method: &str, payload: Bytes) -> Result<TarsFrame, EncodeError> {
        RequestPacket { timeout: 3000, ..RequestPacket::new(1, service, method, &payload) }
            .to_frame()
    }
    fn reply(payload: Bytes) -> Result<TarsFrame, EncodeError> {
        ResponsePacket::new(1, &payload).to_frame()
    }
}

/// `payload` as a hessian2 `byte[]` value.
fn binary(payload: &[u8]) -> BytesMut {
    let mut out = BytesMut::with_capacity(payload.len() + 8);
    Writer::new(&mut out).binary(payload);
    out
}

/// The request every call of a run sends (each call clones it; the engine gives each a
/// fresh request id).
///
/// # Errors
/// What the protocol's builder refuses.
pub fn template<P: RpcProtocol>(
    service: Option<&str>,
    method: Option<&str>,
    payload: usize,
) -> Result<P::Frame, EncodeError> {
    let service = service.unwrap_or(P::default_service());
    P::request(service, method.unwrap_or(METHOD), frames::payload(payload))
}

/// How a call's result counts.
pub fn classify<F: Frame>(result: &Result<F, CallError>, ok_status: u32) -> Outcome {
    match result {
        Ok(reply) if reply.status() == Some(ok_status) => Ok(()),
        Ok(_) => Err(ErrorClass::Status),
        Err(CallError::Timeout) => Err(ErrorClass::Timeout),
        Err(CallError::Io { kind, .. }) if is_reset(*kind) => Err(ErrorClass::Reset),
        Err(CallError::Closed | CallError::Io { .. }) => Err(ErrorClass::Closed),
        Err(CallError::Decode(_)) => Err(ErrorClass::Decode),
        Err(_) => Err(ErrorClass::Other),
    }
}

/// Whether a socket error means the peer reset the connection (rather than closed it).
pub fn is_reset(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// The engine configuration of load and backend connections: no heartbeats (they would add
/// frames to the measurement), and room for any in-flight window the command line allows.
pub fn engine_config(timeout: Duration) -> EngineConfig {
    EngineConfig {
        heartbeat_interval: None,
        request_timeout: timeout,
        max_in_flight: 100_000,
        drain_timeout: Duration::from_secs(5),
        ..EngineConfig::default()
    }
}

/// One engine client connection that sends clones of one request.
pub struct RpcConnection<P: RpcProtocol> {
    client: Client<P>,
    request: P::Frame,
}

impl<P: RpcProtocol> RpcConnection<P> {
    /// Connects to `target`.
    ///
    /// # Errors
    /// The connect error.
    pub async fn connect(
        target: impl ToSocketAddrs,
        request: P::Frame,
        timeout: Duration,
    ) -> io::Result<Arc<Self>> {
        let client = Client::connect(P::instance(), target, engine_config(timeout)).await?;
        Ok(Arc::new(RpcConnection { client, request }))
    }
}

impl<P: RpcProtocol> Connection for RpcConnection<P> {
    async fn call(&self, timeout: Duration) -> Outcome {
        let reply = self.client.call_with_timeout(self.request.clone(), timeout).await;
        classify(&reply, P::ok_status())
    }
    fn is_open(&self) -> bool {
        self.client.is_open()
    }
    async fn close(&self) {
        self.client.close().await;
    }
}

#[cfg(test)]
mod tests {
    use xprotocol::{Codec, Limits};

    use super::*;

    fn roundtrip<P: RpcProtocol>(frame: &P::Frame) -> P::Frame {
        let mut codec = P::instance().codec(Limits::DEFAULT);
        let mut wire = BytesMut::new();
        codec.encode(frame, &mut wire).unwrap();
        codec.decode(&mut wire).unwrap().unwrap()
    }

    fn check<P: RpcProtocol>() {
        let request = roundtrip::<P>(&template::<P>(Some("a.B"), None, 1024).unwrap());
        assert_eq!(request.method(), Some(METHOD));
        assert!(request.body().len() >= 1024);
        let reply = roundtrip::<P>(&P::reply(frames::payload(1024)).unwrap());
        assert_eq!(classify(&Ok(reply), P::ok_status()), Ok(()));
    }

    #[test]
    fn requests_and_replies_of_every_protocol_decode_and_replies_count_as_ok() {
        check::<Bolt>();
        check::<Dubbo>();
        check::<Tars>();
    }

    #[test]
    fn call_errors_fall_into_their_classes() {
        let not_ok = BoltFrame::response(BoltVersion::V1, 1, ResponseStatus::ServerException)
            .build()
            .unwrap();
        let status = Bolt::ok_status();
        assert_eq!(classify(&Ok(not_ok), status), Err(ErrorClass::Status));
        let err = |e: CallError| classify::<BoltFrame>(&Err(e), status);
        assert_eq!(err(CallError::Timeout), Err(ErrorClass::Timeout));
        assert_eq!(err(CallError::Closed), Err(ErrorClass::Closed));
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(err(CallError::from(&reset)), Err(ErrorClass::Reset));
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(err(CallError::from(&eof)), Err(ErrorClass::Closed));
        assert_eq!(err(CallError::Overloaded), Err(ErrorClass::Other));
    }
}
