//! Protocol detection on a new connection's first bytes, bounded in bytes and time.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;
use xprotocol::registry::Detection;
use xprotocol::{AnyProtocol, ProtocolSet};

use crate::admin::SniffFailure;

/// What sniffing concluded.
pub enum Sniffed {
    /// The connection speaks this protocol; `prefix` holds the bytes read so far.
    Protocol(&'static dyn AnyProtocol, BytesMut),
    /// No protocol of the set recognised the bytes (kept for logging and the fallback).
    Unrecognized(SniffFailure, BytesMut),
}

/// Reads from `io` until the set decides, `max_bytes` have arrived, the peer closes or
/// `timeout` passes. Never reads more than `max_bytes` (plus what one read returns).
pub async fn sniff<R: AsyncRead + Unpin>(
    io: &mut R,
    set: &ProtocolSet,
    max_bytes: usize,
    timeout: Duration,
) -> std::io::Result<Sniffed> {
    let deadline = Instant::now() + timeout;
    let mut buf = BytesMut::with_capacity(max_bytes.max(16));
    loop {
        match set.detect(&buf) {
            Detection::Match(p) => return Ok(Sniffed::Protocol(p, buf)),
            Detection::NoMatch => {
                return Ok(Sniffed::Unrecognized(SniffFailure::Unrecognized, buf))
            }
            Detection::NeedMore => {}
        }
        let give_up = |buf: BytesMut, why| match set.detect_final(&buf) {
            Detection::Match(p) => Sniffed::Protocol(p, buf),
            _ => Sniffed::Unrecognized(why, buf),
        };
        if buf.len() >= max_bytes {
            return Ok(give_up(buf, SniffFailure::TooLarge));
        }
        // Read at most what is left of the budget.
        let room = max_bytes - buf.len();
        buf.reserve(room);
        let read = {
            let mut limited = (&mut *io).take(room as u64);
            tokio::time::timeout_at(deadline, limited.read_buf(&mut buf)).await
        };
        match read {
            Err(_) => return Ok(give_up(buf, SniffFailure::Timeout)),
            Ok(Ok(0)) => return Ok(give_up(buf, SniffFailure::Closed)),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
}

/// The first bytes as hex, for the log line of an unrecognised connection.
pub fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(32).map(|b| format!("{b:02x}")).collect()
}
