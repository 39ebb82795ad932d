//! Routing: choosing, for each request, what happens to it.
//!
//! Each protocol has its own [`RouteTable`], built once from configuration: routes are tried in
//! order and the first whose match holds wins. A match reads the request through the
//! [`xprotocol::Frame`] accessors (service, method, version, group, protocol headers), which
//! borrow from the frame's bytes, so matching allocates nothing. A route forwards to a cluster
//! (or one of several, by weight) restricted to a metadata subset, or answers directly.

pub mod action;
pub mod error;
pub mod matcher;
pub mod policy;
pub mod retry;
pub mod table;

pub use action::{RouteAction, Target, WeightedClusters};
pub use error::BuildError;
pub use matcher::{RouteMatch, StringMatcher};
pub use policy::{Dispatch, GatewayPolicy};
pub use retry::{RetryCause, RetryPolicy};
pub use table::{Route, RouteTable, RouteTables};
