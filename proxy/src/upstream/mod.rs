//! Upstream clusters: endpoints, load balancing, metadata subsets and circuit breaking.
//!
//! Everything here is built once from configuration and then only read on the request path:
//! choosing an endpoint takes no lock held across an await and allocates nothing (the
//! smooth weighted round robin holds a small mutex for a few additions). Counters are atomics
//! so that metrics can read them at any time.

pub mod balancer;
pub mod circuit;
pub mod cluster;
pub mod endpoint;
pub mod relay;

pub use balancer::Balancer;
pub use circuit::{CircuitBreaker, CircuitCounts, ConnectionPermit, PendingPermit, RequestPermit};
pub use cluster::{Cluster, ClusterError, ClusterSet, Subset};
pub use endpoint::{ActiveRequest, Endpoint};
pub use relay::RelayUpstream;
