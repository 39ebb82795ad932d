//! The bridge from clusters to the SDK relay: a route's target is an
//! [`xprotocol::relay::Upstream`], an endpoint an [`xprotocol::relay::Endpoint`].

use std::any::Any;
use std::net::SocketAddr;
use std::sync::Arc;

use xprotocol::relay::{self, PoolSettings};
use xprotocol::{Failure, Limits};

use super::{Cluster, Endpoint, Subset};
use crate::admin::Metrics;
use crate::config::LimitsConfig;

/// A route's view of a cluster: the cluster's limits and pooling, the route's subset of its
/// endpoints.
pub struct RelayUpstream {
    cluster: Arc<Cluster>,
    subset: Arc<Subset>,
    settings: PoolSettings,
    metrics: Arc<Metrics>,
}

impl RelayUpstream {
    /// The upstream for `subset` of `cluster`, with pooling from the cluster's configuration
    /// and frame limits from the gateway's.
    pub fn new(
        cluster: Arc<Cluster>,
        subset: Arc<Subset>,
        limits: &LimitsConfig,
        metrics: Arc<Metrics>,
    ) -> Self {
        let c = cluster.config();
        let heartbeat = (!c.heartbeat.interval.is_zero()).then_some(c.heartbeat.interval);
        let settings = PoolSettings {
            connect_timeout: c.connect_timeout,
            connections: c.connections_per_endpoint.max(1),
            max_ping_pong_connections: c.max_connections_per_endpoint.max(1),
            max_idle: c.max_idle_per_endpoint,
            heartbeat_interval: heartbeat,
            max_missed_heartbeats: c.heartbeat.max_missed.max(1),
            limits: Limits {
                max_frame_bytes: limits.max_frame_bytes,
                max_header_bytes: limits.max_header_bytes,
                max_nesting: limits.max_nesting,
            },
            max_in_flight: c.circuit_breaker.max_requests.max(1),
        };
        RelayUpstream { cluster, subset, settings, metrics }
    }
}

impl relay::Upstream for RelayUpstream {
    fn name(&self) -> &str {
        self.cluster.name()
    }

    fn pick(&self, avoid: Option<SocketAddr>) -> Result<relay::Picked, Failure> {
        let permit =
            self.cluster.circuit_breaker().try_acquire_request().ok_or(Failure::Overloaded)?;
        let mut endpoint = self.cluster.pick(&self.subset).ok_or(Failure::NoHealthyUpstream)?;
        if avoid == Some(endpoint.address()) {
            // A retry: look for another endpoint, a few picks at most, else keep this one.
            for _ in 1..self.subset.endpoints().len() {
                match self.cluster.pick(&self.subset) {
                    Some(other) if Some(other.address()) != avoid => {
                        endpoint = other;
                        break;
                    }
                    _ => {}
                }
            }
        }
        let active = endpoint.track();
        Ok(relay::Picked { endpoint, guard: Box::new((permit, active)) })
    }

    fn admit_pending(&self) -> Result<Box<dyn Send>, Failure> {
        let permit = self.cluster.circuit_breaker().try_acquire_pending();
        Ok(Box::new(permit.ok_or(Failure::Overloaded)?))
    }

    fn admit_connection(&self) -> Result<Box<dyn Send + Sync>, Failure> {
        let permit = self.cluster.circuit_breaker().try_acquire_connection();
        let permit = permit.ok_or(Failure::Overloaded)?;
        let gauge = self.metrics.upstream_connection_opened(self.cluster.name());
        Ok(Box::new((permit, gauge)))
    }

    fn pool_settings(&self) -> &PoolSettings {
        &self.settings
    }
}

impl relay::Endpoint for Endpoint {
    fn address(&self) -> SocketAddr {
        Endpoint::address(self)
    }

    fn pool(
        &self,
        protocol: &'static str,
        make: &mut dyn FnMut() -> Arc<dyn Any + Send + Sync>,
    ) -> Arc<dyn Any + Send + Sync> {
        Endpoint::pool(self, protocol, make)
    }

    fn report(&self, ok: bool) {
        self.report_outcome(ok);
    }

    fn report_try(&self, ok: bool, started: std::time::Instant) {
        self.report_try_outcome(ok, started);
    }
}
