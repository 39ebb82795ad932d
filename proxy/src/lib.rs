//! xproxy: the auto-detecting multi-protocol RPC gateway.
//!
//! The pipeline, one module per stage: [`listener`] (accept, sniff the first bytes, pick the
//! protocol) → [`route`] (match a request to a route) → [`upstream`] (clusters, balancers,
//! pools, health) → back to the caller, in its own protocol, whatever happens. [`config`] is
//! the YAML schema and its validation; [`admin`] serves metrics and readiness.
//!
//! [`main`] is the whole `xproxy` command line: a team's own gateway binary links its
//! protocol crate and calls it (see [`app`]).
#![warn(missing_docs)]

pub mod admin;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod gateway;
pub mod http;
pub mod listener;
pub mod log_throttle;
pub mod route;
pub mod signals;
pub mod upstream;

pub use app::main;
