//! The `xload` load generator and its benchmark backend (`src/bin/xload.rs`).
//!
//! - [`cli`]: the command line and its duration / size / rate parsers;
//! - [`driver`]: the protocol-independent run loop over a [`driver::Connection`];
//! - [`pace`]: fixed-rate due times;
//! - [`stats`]: per-connection latency histograms and error counts;
//! - [`report`]: the text and JSON summaries;
//! - [`rpc`]: Bolt, Dubbo and Tars over the SDK's engine client;
//! - [`http`]: HTTP/1.1, HTTP/2 and gRPC over hyper's client connections, and their backend
//!   ([`http::serve`], `xload serve --protocol http`);
//! - [`grpc`]: gRPC's message prefix and status codes, independent of the gateway's codec;
//! - [`serve`]: the RPC backend (`xload serve`).
//!
//! A further protocol is a [`driver::Connection`] implementation and a [`cli::ProtocolArg`]
//! variant; the driver, pacing and report do not change.

pub mod cli;
pub mod driver;
pub mod grpc;
pub mod http;
pub mod pace;
pub mod report;
pub mod rpc;
pub mod serve;
pub mod stats;
