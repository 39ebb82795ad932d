//! The admin listener: Prometheus metrics and readiness, on loopback by default.
//!
//! [`metrics`] is the registry the data path records into through pre-resolved handles;
//! [`server`] serves it (and `/ready`) over HTTP/1.1.

mod histogram;
pub mod metrics;
pub mod server;

pub use metrics::{
    AdminRefusal, ConnectionGuard, Metrics, MetricsScope, Refusal, RequestMetrics, SniffFailure,
};
pub use server::{bind, serve, AdminState};
