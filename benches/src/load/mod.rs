//! The `xload` load generator and its benchmark backend (`src/bin/xload.rs`).
//!
//! - [`cli`]: the command line and its duration / size / rate parsers;
//! - [`driver`]: the protocol-independent run loop over a [`driver::Connection`];
//! - [`pace`]: fixed-rate due times;
//! - [`stats`]: per-connection latency histograms and error counts;
//! - [`report`]: the text and JSON summaries;
//! - [`rpc`]: Bolt, Dubbo and Tars over the SDK's engine client;
//! - [`serve`]: the backend (`xload serve`).
//!
//! HTTP/1.1, HTTP/2 and gRPC are not there yet: each will be a [`driver::Connection`]
//! implementation and a [`cli::ProtocolArg`] variant; nothing else needs to change.

pub mod cli;
pub mod driver;
pub mod pace;
pub mod report;
pub mod rpc;
pub mod serve;
pub mod stats;
