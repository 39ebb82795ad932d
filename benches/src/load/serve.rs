//! `xload serve`: a backend on the SDK's engine server that answers every request with one
//! prebuilt OK reply (the server gives it the request's id), optionally after a delay.

use std::time::Duration;

use xprotocol::engine::Server;

use super::rpc::{engine_config, RpcProtocol};
use crate::frames;

/// Serves `P` on `listen` until SIGINT or SIGTERM, then drains (at most 5 s). Prints the
/// bound address on standard error once listening, so that scripts can wait for it.
///
/// # Errors
/// The reply cannot be built, the address cannot be bound, or signals cannot be watched.
pub async fn serve<P: RpcProtocol>(
    listen: &str,
    delay: Duration,
    payload: usize,
) -> anyhow::Result<()> {
    let reply = P::reply(frames::payload(payload))?;
    let handler = move |_request: P::Frame| {
        let reply = reply.clone();
        async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Some(reply)
        }
    };
    let config = engine_config(Duration::from_secs(10));
    let server = Server::bind(P::instance(), listen, handler, config).await?;
    eprintln!("xload serve: {} on {}", P::instance().name(), server.local_addr());
    let token = server.shutdown_token();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        token.cancel();
    });
    server.run().await;
    Ok(())
}
