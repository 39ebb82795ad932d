//! Connection buffers: one read buffer and one write buffer per connection, driven by the
//! connection's own task.
//!
//! The engine does not use tokio-util's `Framed`. A connection task must read and write at
//! the same time (a peer that stops reading while we stop reading deadlocks both), batch every
//! frame produced in one loop turn into one write, and bound what it buffers. With `Framed`
//! that means splitting it into a stream and a sink behind a lock, and its sink flushes per
//! `send`. Two plain buffers over the split halves give the same codec contract with fewer
//! moving parts: decode from the front of [`ReadBuf`], encode any number of frames into
//! [`WriteBuf`], and let one `select!` branch write whatever has accumulated, then flush once.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Codec, DecodeError, EncodeError};

/// Bytes asked of the socket per read, at least.
const READ_CHUNK: usize = 8 * 1024;

/// Above this many buffered bytes a connection stops producing more output (a client stops
/// taking queued calls, a server stops reading requests) until the peer has read some.
pub(crate) const WRITE_HIGH_WATER: usize = 256 * 1024;

/// The read side: bytes read but not yet decoded.
#[derive(Debug, Default)]
pub(crate) struct ReadBuf {
    buf: BytesMut,
}

impl ReadBuf {
    /// Reads at least one byte; `Ok(0)` is end of stream. Cancel-safe: bytes are kept only
    /// once read.
    ///
    /// A connection between frames holds no read buffer: the buffer is given back, and a
    /// zero-length read waits until the socket is readable (tokio's sockets wait for
    /// readiness even for an empty buffer; other readers may return at once, which costs one
    /// extra call). Only then is a buffer allocated, so ten thousand idle connections do not
    /// keep ten thousand buffers.
    pub(crate) async fn read_from<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> io::Result<usize> {
        if self.buf.is_empty() {
            // Unconditionally: a buffer read to its very end reports no spare capacity yet
            // still holds its allocation (`capacity` counts only what lies past the cursor).
            self.buf = BytesMut::new();
            let mut nothing = [0u8; 0];
            // Always 0 bytes: this only waits; the read below takes the data (or the end).
            let _waited: usize = r.read(&mut nothing).await?;
        }
        // `reserve` reclaims the space of decoded frames before it allocates.
        if self.buf.capacity() - self.buf.len() < READ_CHUNK {
            self.buf.reserve(READ_CHUNK);
        }
        r.read_buf(&mut self.buf).await
    }

    /// Whether no undecoded byte is buffered (no frame is partly read).
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next whole frame, if the buffer holds one.
    pub(crate) fn decode<C: Codec>(
        &mut self,
        codec: &mut C,
    ) -> Result<Option<C::Frame>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        codec.decode(&mut self.buf)
    }
}

/// The write side: encoded frames not yet written, plus whether a flush is owed.
#[derive(Debug, Default)]
pub(crate) struct WriteBuf {
    buf: BytesMut,
    needs_flush: bool,
}

impl WriteBuf {
    /// Appends one frame. On error nothing is appended (a partial encoding is cut off).
    pub(crate) fn encode<C: Codec>(
        &mut self,
        codec: &mut C,
        frame: &C::Frame,
    ) -> Result<(), EncodeError> {
        let mark = self.buf.len();
        let result = codec.encode(frame, &mut self.buf);
        if result.is_err() {
            self.buf.truncate(mark);
        }
        result
    }

    /// Bytes waiting to be written.
    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether more output may be produced without growing past the high-water mark.
    pub(crate) fn has_room(&self) -> bool {
        self.buf.len() < WRITE_HIGH_WATER
    }

    /// Whether [`drive`](Self::drive) has work: bytes to write or a flush owed.
    pub(crate) fn is_pending(&self) -> bool {
        !self.buf.is_empty() || self.needs_flush
    }

    /// Writes what it can of the buffer, or flushes once it is empty. Cancel-safe: bytes are
    /// dropped from the buffer only once written, and an interrupted flush is retried.
    pub(crate) async fn drive<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> io::Result<()> {
        if self.buf.is_empty() {
            w.flush().await?;
            self.needs_flush = false;
            // Everything is written: give the buffer back (the next frame allocates anew), so
            // that an idle connection holds none. Unconditionally, as in `ReadBuf::read_from`:
            // a buffer written out to its end has no capacity left but keeps its allocation.
            self.buf = BytesMut::new();
            return Ok(());
        }
        let n = w.write_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.needs_flush = true;
        Ok(())
    }

    /// Writes and flushes everything, then shuts the write half down.
    pub(crate) async fn finish<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> io::Result<()> {
        while self.is_pending() {
            self.drive(w).await?;
        }
        w.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `buf` owns no allocation: a `BytesMut` that owns none points where an empty
    /// new one does (bytes gives every unallocated buffer the same dangling pointer).
    fn unallocated(buf: &BytesMut) -> bool {
        buf.as_ptr() == BytesMut::new().as_ptr()
    }

    #[tokio::test]
    async fn a_buffer_written_to_its_very_end_is_given_back() {
        // Exactly the bytes reserved: once written, `capacity()` is 0, yet the allocation
        // stays until the buffer is replaced, and an idle connection must not keep it.
        let mut wbuf = WriteBuf { buf: BytesMut::with_capacity(361), needs_flush: false };
        wbuf.buf.extend_from_slice(&[7u8; 361]);
        let mut sink = Vec::new();
        while wbuf.is_pending() {
            wbuf.drive(&mut sink).await.unwrap();
        }
        assert_eq!(sink.len(), 361);
        assert!(unallocated(&wbuf.buf), "the written-out buffer is still held");
    }

    #[tokio::test]
    async fn a_read_buffer_decoded_to_its_end_is_given_back_while_waiting() {
        // A frame decoded to the buffer's very end: no capacity left, allocation still held.
        let mut rbuf = ReadBuf { buf: BytesMut::with_capacity(16) };
        rbuf.buf.extend_from_slice(&[1u8; 16]);
        drop(rbuf.buf.split_to(16));
        assert_eq!(rbuf.buf.capacity(), 0);
        // A peer that sends nothing more: the read waits, and must not hold the buffer.
        // (A TCP socket, since it is tokio's sockets that wait for readiness on an empty read.)
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _peer = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut quiet, _) = listener.accept().await.unwrap();
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(20), rbuf.read_from(&mut quiet));
        assert!(waited.await.is_err(), "nothing was sent");
        assert!(unallocated(&rbuf.buf), "an idle connection still holds its read buffer");
    }
}
