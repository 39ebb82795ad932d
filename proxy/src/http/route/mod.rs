//! HTTP routing: for each HTTP/1.1, HTTP/2 or gRPC request, the virtual host and route that
//! decide what happens to it.
//!
//! [`HttpRouter::build`] turns the `http` section of the configuration into lookup tables
//! once; [`HttpRouter::select`] then reads a [`RequestView`] (borrowed parts of the request
//! head) without allocating in the common case:
//!
//! 1. the virtual host is chosen by the request's authority (`:authority` or `Host`), by
//!    Envoy's precedence: exact domain, `*.suffix` (longest first), `prefix.*` (longest
//!    first), `*`; case-insensitively, the port ignored unless the domain names one;
//! 2. that host's routes are tried in order and the first whose match holds wins (path,
//!    methods, headers, query parameters, gRPC service and method).
//!
//! The route then gives its [`HttpAction`] (forward to a [`ForwardTarget`], redirect, or a
//! direct response), its deadline and [`HttpRetryPolicy`], its path and host rewrites
//! ([`rewrite_path`]) and its [`HeaderEdits`]. Nothing here does I/O.
//!
//! Query parameters are percent-decoded with a small decoder of our own
//! ([`matcher`]'s `decode`: `+` and `%XX`, as `application/x-www-form-urlencoded`), which
//! allocates only for a parameter that holds an escape.

pub mod action;
mod compile;
mod domain;
pub mod error;
pub mod headers;
pub mod matcher;
pub mod request;
pub mod retry;
pub mod router;

pub use action::{rewrite_path, DirectResponse, ForwardTarget, HttpAction, Redirect};
pub use error::HttpBuildError;
pub use headers::HeaderEdits;
pub use matcher::HttpRouteMatch;
pub use request::{split_port, RequestView};
pub use retry::{is_idempotent, HttpRetryCause, HttpRetryPolicy, GRPC_UNAVAILABLE};
pub use router::{HttpRoute, HttpRouter, VirtualHost};

pub(crate) use compile::{direct, host_rewrite, prefix_rewrite, redirect};
pub(crate) use domain::DomainPattern;
pub(crate) use headers::{parse_addition, parse_name};
pub(crate) use matcher::parse_method;

/// Test helper: a configuration piece from YAML, read the way configuration files are
/// (single-key maps as enum variants).
#[cfg(test)]
pub(crate) fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> T {
    let tree = crate::config::yaml::to_json_tree(text).unwrap_or_else(|e| panic!("{e}"));
    serde_json::from_value(tree).unwrap_or_else(|e| panic!("{e}"))
}
