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
            if self.buf.capacity() > 0 {
                self.buf = BytesMut::new();
            }
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
            // that an idle connection holds none.
            if self.buf.capacity() > 0 {
                self.buf = BytesMut::new();
            }
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
