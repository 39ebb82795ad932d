//! gRPC message limits on a streamed body: the gateway forwards a call's DATA as it arrives
//! and never buffers whole messages, yet refuses a message longer than
//! `http.limits.max_grpc_message_bytes`. A scanner follows the length-prefixed framing across
//! chunk boundaries (5-byte prefix, then that many bytes) and fails the stream as soon as a
//! prefix announces too long a message, before its bytes are forwarded.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use xprotocol_grpc::framing::PREFIX_LEN;
use xprotocol_grpc::MessageError;

use super::body::BoxError;

/// Follows message boundaries through a stream of chunks.
#[derive(Clone, Debug)]
pub struct MessageScanner {
    max: u64,
    /// Prefix bytes of the next message seen so far.
    prefix: [u8; PREFIX_LEN],
    prefix_len: usize,
    /// Bytes of the current message still to come.
    remaining: u64,
}

impl MessageScanner {
    /// A scanner allowing messages of at most `max` bytes.
    pub fn new(max: u64) -> Self {
        MessageScanner { max, prefix: [0; PREFIX_LEN], prefix_len: 0, remaining: 0 }
    }

    /// Takes the next chunk of the stream.
    ///
    /// # Errors
    /// [`MessageError::BadFlag`] or [`MessageError::TooLarge`] for the first bad prefix.
    pub fn scan(&mut self, mut chunk: &[u8]) -> Result<(), MessageError> {
        while !chunk.is_empty() {
            if self.remaining > 0 {
                let take = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(chunk.len());
                self.remaining -= take as u64;
                chunk = chunk.get(take..).unwrap_or_default();
                continue;
            }
            let want = PREFIX_LEN - self.prefix_len;
            let take = want.min(chunk.len());
            if let (Some(dst), Some(src)) =
                (self.prefix.get_mut(self.prefix_len..self.prefix_len + take), chunk.get(..take))
            {
                dst.copy_from_slice(src);
            }
            self.prefix_len += take;
            chunk = chunk.get(take..).unwrap_or_default();
            if self.prefix_len < PREFIX_LEN {
                return Ok(());
            }
            let [flag, a, b, c, d] = self.prefix;
            if flag > 1 {
                return Err(MessageError::BadFlag { flag });
            }
            let declared = u64::from(u32::from_be_bytes([a, b, c, d]));
            if declared > self.max {
                return Err(MessageError::TooLarge { declared, limit: self.max });
            }
            self.prefix_len = 0;
            self.remaining = declared;
        }
        Ok(())
    }

    /// Whether the stream may end here (not inside a message or its prefix).
    pub fn at_boundary(&self) -> bool {
        self.remaining == 0 && self.prefix_len == 0
    }
}

/// A gRPC body checked by a [`MessageScanner`]; the first violation ends the stream with that
/// error, which the gateway answers with `RESOURCE_EXHAUSTED` (or `INTERNAL` for a bad flag).
pub struct Checked<B> {
    inner: B,
    scanner: MessageScanner,
}

impl<B> Checked<B> {
    /// Checks `inner` against a limit of `max` bytes per message.
    pub fn new(inner: B, max: u64) -> Self {
        Checked { inner, scanner: MessageScanner::new(max) }
    }
}

impl<B> Body for Checked<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if let Err(e) = this.scanner.scan(data) {
                        return Poll::Ready(Some(Err(Box::new(e))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            other => other.map(|_| None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The gRPC message error somewhere in `error`'s source chain.
pub fn message_error(error: &(dyn std::error::Error + 'static)) -> Option<MessageError> {
    let mut source = Some(error);
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<MessageError>() {
            return Some(*found);
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn messages(sizes: &[usize]) -> Vec<u8> {
        let mut out = BytesMut::new();
        for &n in sizes {
            xprotocol_grpc::encode_message(&vec![7; n], false, &mut out).unwrap();
        }
        out.to_vec()
    }

    #[test]
    fn boundaries_are_followed_across_every_split() {
        let wire = messages(&[0, 3, 10, 1]);
        for split in 0..=wire.len() {
            let mut scanner = MessageScanner::new(10);
            let (a, b) = wire.split_at(split);
            scanner.scan(a).unwrap();
            scanner.scan(b).unwrap();
            assert!(scanner.at_boundary(), "split at {split}");
        }
        for len in 1..=wire.len() {
            let mut bytewise = MessageScanner::new(10);
            for byte in &wire[..len] {
                bytewise.scan(std::slice::from_ref(byte)).unwrap();
            }
            assert_eq!(bytewise.at_boundary(), [0, 5, 13, 28, 34].contains(&len), "{len}");
        }
    }

    #[test]
    fn too_long_a_message_or_a_bad_flag_is_refused_at_its_prefix() {
        let wire = messages(&[2, 11]);
        let mut scanner = MessageScanner::new(10);
        let err = scanner.scan(&wire[..12]).unwrap_err();
        assert_eq!(err, MessageError::TooLarge { declared: 11, limit: 10 });
        assert_eq!(
            MessageScanner::new(10).scan(&[2, 0, 0, 0, 1, 0]),
            Err(MessageError::BadFlag { flag: 2 })
        );
    }

    #[tokio::test]
    async fn a_checked_body_ends_with_the_message_error() {
        use http_body_util::{BodyExt, Full};
        let body = Checked::new(Full::new(Bytes::from(messages(&[4, 20]))), 16);
        let err = body.collect().await.expect_err("the second message is too long");
        assert!(matches!(message_error(&*err), Some(MessageError::TooLarge { declared: 20, .. })));
        let fine = Checked::new(Full::new(Bytes::from(messages(&[4, 16]))), 16);
        assert_eq!(fine.collect().await.unwrap().to_bytes().len(), 30);
    }
}
