//! Binding a listening socket with a chosen accept backlog.
//!
//! `tokio::net::TcpListener::bind` always asks for a backlog of 1024 on newer tokio and 128 on
//! older ones, and neither is a knob: under a burst of connections the kernel's queue of
//! completed handshakes fills and clients wait on SYN retransmits (an operator trial saw about
//! 700 sockets wait over 9 s). Binding through `TcpSocket` lets each listener say how deep the
//! queue is. The kernel silently caps the value at `net.core.somaxconn` (4096 by default on
//! Linux 5.4 and later, 128 before), so asking for more than that is harmless but ineffective.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// The default accept backlog of a listener (`listeners[].backlog`). 1024 absorbs a burst of a
/// thousand simultaneous connects while the accept loop catches up, costs nothing until used,
/// and is below the default `somaxconn` of current Linux kernels, so it takes effect as is.
pub const DEFAULT_BACKLOG: u32 = 1024;

/// Binds `address` with `SO_REUSEADDR` (so a restart does not wait for old connections in
/// TIME_WAIT, as `TcpListener::bind` does on Unix) and listens with `backlog` (at least 1).
///
/// # Errors
/// The socket, bind or listen error (address in use, not available, permission denied).
pub fn bind(address: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(backlog.max(1))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// With a backlog of N and nobody accepting, the kernel completes about N handshakes (Linux
    /// queues backlog + 1); connects beyond that stay pending. So a listener bound with a
    /// backlog of 1 completes far fewer than 16 connects, and one bound with 64 completes all
    /// 16: the backlog reached the kernel.
    #[tokio::test]
    async fn the_backlog_bounds_the_queue_of_unaccepted_connections() {
        async fn completed_connects(backlog: u32) -> usize {
            let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)), backlog).expect("bind");
            let address = listener.local_addr().expect("bound address");
            let mut completed = 0;
            let mut held = Vec::new();
            for _ in 0..16 {
                let connect = tokio::net::TcpStream::connect(address);
                if let Ok(Ok(stream)) =
                    tokio::time::timeout(Duration::from_millis(200), connect).await
                {
                    completed += 1;
                    held.push(stream);
                }
            }
            completed
        }
        assert_eq!(completed_connects(64).await, 16);
        assert!(completed_connects(1).await < 16);
    }

    #[tokio::test]
    async fn binds_ipv4_port_zero_and_accepts() {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)), DEFAULT_BACKLOG).expect("bind");
        let address = listener.local_addr().expect("bound address");
        let connect = tokio::net::TcpStream::connect(address);
        let (connected, accepted) = tokio::join!(connect, listener.accept());
        assert!(connected.is_ok() && accepted.is_ok());
    }
}
