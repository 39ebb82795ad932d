//! The limits property: a frame whose declared length is over the codec's
//! [`Limits::max_frame_bytes`] is refused from its header alone, whichever way its bytes
//! arrive. A codec that instead waits for the body lets a peer make the connection hold (or
//! wait for) as much as it declares.

use bytes::BytesMut;
use proptest::test_runner::TestCaseError;

use super::split_points;
use crate::{Codec, Limits, Protocol};

/// Decodes `bytes` (one frame of the protocol, `body_len` of them its body) with a frame limit
/// one byte smaller than the frame, split in two at every point (a sample of points for large
/// frames).
///
/// Every split must end in an error, never in a frame and never in waiting for more once the
/// whole frame is there; and a split that already holds everything but the body (so the fixed
/// header and its declared length) must be refused at once rather than wait for the body.
pub(super) fn check_limits<P: Protocol>(
    protocol: &P,
    bytes: &[u8],
    body_len: usize,
) -> Result<(), TestCaseError> {
    let len = bytes.len();
    let Some(limit) = len.checked_sub(1) else { return Ok(()) };
    let limits = Limits { max_frame_bytes: limit, ..Limits::DEFAULT };
    let head_len = len.saturating_sub(body_len);
    for split in split_points(len) {
        let mut codec = protocol.codec(limits);
        let mut buf = BytesMut::from(&bytes[..split]);
        match codec.decode(&mut buf) {
            Err(_) => continue,
            Ok(Some(_)) => {
                return Err(TestCaseError::fail(format!(
                    "a {len}-byte frame decoded under max_frame_bytes {limit} (first {split} bytes)"
                )))
            }
            Ok(None) if split >= head_len && split > 0 => {
                return Err(TestCaseError::fail(format!(
                    "a {len}-byte frame over max_frame_bytes {limit} was not refused from its \
                     first {split} bytes (all but the {body_len}-byte body): it waits for the body"
                )))
            }
            Ok(None) => {}
        }
        buf.extend_from_slice(&bytes[split..]);
        match codec.decode(&mut buf) {
            Err(_) => {}
            other => {
                return Err(TestCaseError::fail(format!(
                    "a {len}-byte frame over max_frame_bytes {limit}, split at {split}, gave \
                     {:?} instead of an error",
                    other.map(|f| f.is_some())
                )))
            }
        }
    }
    Ok(())
}
