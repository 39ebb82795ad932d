//! Connection-owning protocols: HTTP/1.1 and HTTP/2 (and gRPC on top of it) are served by
//! hyper and h2, not by the frame engine, yet they are detected on the same port as every RPC
//! protocol. Such a protocol implements [`ConnectionProtocol`] (a name, a three-way detector
//! and samples) and registers with
//! [`register_connection_protocol!`](crate::register_connection_protocol). It then appears in
//! [`ProtocolSet`](crate::ProtocolSet) like any other protocol, so detection, the registry's
//! cross-detection checks and the detection fuzz target cover it; a gateway sees
//! [`AnyProtocol::owns_connection`] and hands the connection to the server it has for that
//! protocol's name.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use crate::engine::{EngineConfig, EngineError};
use crate::relay::{BoxIo, RelayPolicy};
use crate::{AnyProtocol, DecodeError, DetectResult, Limits, PoolMode};

/// What the registry needs of a protocol that serves its connections itself.
pub trait ConnectionProtocol: Send + Sync + 'static {
    /// The registered name (`http1`, `http2`), unique across all protocols; configuration
    /// and metrics use it.
    fn name(&self) -> &'static str;

    /// Decides from a connection's first bytes, three ways, as [`Protocol::detect`]
    /// (crate::Protocol::detect) does: `NeedMore` only while the bytes could still be this
    /// protocol's, and never `NoMatch` for a prefix of a valid opening.
    fn detect(&self, prefix: &[u8]) -> DetectResult;

    /// Typical openings of a connection (a request line and headers, a connection preface),
    /// for the registry's cross-detection checks. At least one.
    fn samples(&self) -> Vec<Bytes>;
}

/// Adapts a [`ConnectionProtocol`] to the registry's [`AnyProtocol`]. Built by
/// [`register_connection_protocol!`](crate::register_connection_protocol); `as_any` yields the
/// wrapped protocol, so a gateway can downcast to the concrete type.
pub struct OwnsConnection<C>(pub C);

impl<C: ConnectionProtocol> AnyProtocol for OwnsConnection<C> {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn detect(&self, prefix: &[u8]) -> DetectResult {
        self.0.detect(prefix)
    }
    /// Not used: the protocol's own server pools its upstream connections.
    fn pool_mode(&self) -> PoolMode {
        PoolMode::Multiplexed
    }
    fn samples(&self) -> Vec<Bytes> {
        self.0.samples()
    }
    /// There are no frames for the SDK to decode: the whole input is reported as left over.
    fn decode_all(&self, bytes: &[u8], _limits: Limits) -> Result<(usize, usize), DecodeError> {
        Ok((0, bytes.len()))
    }
    fn as_any(&self) -> &dyn Any {
        &self.0
    }
    fn owns_connection(&self) -> bool {
        true
    }
    /// A connection-owning protocol has no frame relay: this fails at once with
    /// [`EngineError::OwnsConnection`], and the connection is dropped.
    fn serve_relay(
        &'static self,
        _io: BoxIo,
        _policy: Arc<dyn RelayPolicy>,
        _config: EngineConfig,
        _shutdown: CancellationToken,
    ) -> Pin<Box<dyn Future<Output = Result<(), EngineError>> + Send>> {
        let name = self.0.name();
        Box::pin(async move { Err(EngineError::OwnsConnection(name)) })
    }
}

/// Registers a connection-owning protocol value (a `const`-constructible expression, usually
/// a unit struct implementing [`ConnectionProtocol`]) with the registry.
///
/// ```ignore
/// xprotocol::register_connection_protocol!(Http1);
/// ```
#[macro_export]
macro_rules! register_connection_protocol {
    ($protocol:expr) => {
        $crate::inventory::submit! {
            $crate::registry::Registration::new(&$crate::owned::OwnsConnection($protocol))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProtocolSet;

    struct Greeting;

    impl ConnectionProtocol for Greeting {
        fn name(&self) -> &'static str {
            "greeting"
        }
        fn detect(&self, prefix: &[u8]) -> DetectResult {
            DetectResult::fixed_prefix(prefix, b"HELLO ")
        }
        fn samples(&self) -> Vec<Bytes> {
            vec![Bytes::from_static(b"HELLO world\n")]
        }
    }

    static GREETING: OwnsConnection<Greeting> = OwnsConnection(Greeting);

    #[test]
    fn a_connection_protocol_is_detected_and_downcast_but_never_relayed() {
        let set = ProtocolSet::of(vec![&GREETING]);
        set.validate().expect("detects its own sample");
        let Some(p) = set.get("greeting") else { panic!("registered by name") };
        assert!(p.owns_connection());
        assert!(p.as_any().downcast_ref::<Greeting>().is_some());
        assert_eq!(p.decode_all(b"HELLO x", Limits::DEFAULT).ok(), Some((0, 7)));
        assert!(matches!(
            set.detect(b"HELLO "),
            crate::registry::Detection::Match(m) if m.name() == "greeting"
        ));
    }

    #[tokio::test]
    async fn serving_it_as_frames_fails_with_a_clear_error() {
        struct NoRoutes;
        impl RelayPolicy for NoRoutes {
            fn route(&self, _: &dyn crate::Frame) -> crate::relay::Decision {
                crate::relay::Decision::Reply {
                    failure: crate::Failure::NoRoute,
                    message: Arc::from(""),
                    route: None,
                    tag: 0,
                }
            }
            fn finished(&self, _: &crate::relay::RequestRecord<'_>) {}
        }
        let (io, _peer) = tokio::io::duplex(64);
        let served = GREETING
            .serve_relay(
                Box::new(io),
                Arc::new(NoRoutes),
                EngineConfig::default(),
                CancellationToken::new(),
            )
            .await;
        assert!(matches!(served, Err(EngineError::OwnsConnection("greeting"))));
    }
}
