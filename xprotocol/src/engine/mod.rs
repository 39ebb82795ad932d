//! The stream engine: clients and servers for multiplexed protocols, on tokio.
//!
//! - [`Client`] keeps many calls in flight on one connection, matching replies by request
//!   id. Each call gets a fresh id and its reply comes back with the caller's own id restored;
//!   it sends heartbeats when the connection idles and closes it when they go unanswered.
//! - [`serve_connection`] answers one connection's requests concurrently, in completion
//!   order, with a [`Handler`]; [`Server`] accepts TCP connections and serves each.
//! - Both close gracefully. A client refuses new calls and lets those in flight finish; a
//!   server tells its caller to go away where the protocol can, keeps serving what arrives
//!   and closes once quiet. Both are bounded by [`EngineConfig::drain_timeout`], after which
//!   a server answers what is left with error replies; replies are flushed, then the
//!   connection closes.
//!
//! Each connection is owned by one task with one read buffer and one write buffer; every
//! frame produced in a loop turn is encoded into the write buffer and written together, and
//! queues and tables are bounded ([`EngineConfig`]).
//!
//! A relay is a server whose handler calls upstream. The client's fresh ids keep the
//! downstream callers' ids from colliding upstream, and its id restoration (with the server's
//! own) hands each reply back under the id its caller used:
//!
//! ```no_run
//! use xprotocol::engine::{Client, EngineConfig, Server};
//! use xprotocol::Protocol;
//!
//! async fn relay<P: Protocol>(
//!     protocol: &'static P,
//!     listen: &str,
//!     backend: &str,
//! ) -> std::io::Result<()> {
//!     let config = EngineConfig::default();
//!     let upstream = Client::connect(protocol, backend, config).await?;
//!     let handler = move |request: P::Frame| {
//!         let upstream = upstream.clone();
//!         // On a failed call (`None`) the caller gets the protocol's internal-error reply.
//!         async move { upstream.call(request).await.ok() }
//!     };
//!     Server::bind(protocol, listen, handler, config).await?.run().await;
//!     Ok(())
//! }
//! ```

mod client;
mod client_conn;
mod config;
mod error;
mod framed;
mod listener;
mod server;
#[cfg(test)]
pub(crate) mod test_protocol;

pub use client::Client;
pub use config::EngineConfig;
pub use error::{CallError, EngineError};
pub use listener::{Server, ServerHandle};
pub(crate) use server::serve_connection_inline;
pub use server::{serve_connection, Handler};

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures_util::future::join_all;

    use super::test_protocol::{echo, TinyFrame, TINY};
    use super::*;

    /// The module documentation's relay, carrying 200 concurrent calls whose backend answers
    /// out of order; every caller gets its own reply under its own id.
    #[tokio::test]
    async fn relay_carries_concurrent_calls_each_to_its_caller() {
        let config = EngineConfig { heartbeat_interval: None, ..EngineConfig::default() };
        let backend_handler = |request: TinyFrame| async move {
            let n: u64 = std::str::from_utf8(&request.body).ok()?.parse().ok()?;
            tokio::time::sleep(Duration::from_millis(n % 13)).await;
            Some(echo(&request))
        };
        let backend = Server::bind(&TINY, "127.0.0.1:0", backend_handler, config).await.unwrap();
        let backend = backend.spawn();
        let upstream = Client::connect(&TINY, backend.local_addr(), config).await.unwrap();
        let relay_handler = move |request: TinyFrame| {
            let upstream = upstream.clone();
            async move { upstream.call(request).await.ok() }
        };
        let relay = Server::bind(&TINY, "127.0.0.1:0", relay_handler, config).await.unwrap();
        let relay = relay.spawn();
        let downstream = Client::connect(&TINY, relay.local_addr(), config).await.unwrap();
        let calls = (0..200u32).map(|i| {
            let downstream = &downstream;
            async move {
                // Callers' ids repeat on purpose: each call travels under a fresh id.
                let reply = downstream.call(TinyFrame::request(i % 10, i.to_string())).await;
                let reply = reply.unwrap();
                assert_eq!((reply.id, reply.status), (i % 10, 0));
                assert_eq!(reply.body, i.to_string());
            }
        });
        tokio::time::timeout(Duration::from_secs(20), join_all(calls)).await.unwrap();
        let stop = async {
            relay.shutdown().await;
            backend.shutdown().await;
        };
        tokio::time::timeout(Duration::from_secs(20), stop).await.unwrap();
    }
}
