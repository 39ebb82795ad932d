//! Detecting Tars from a connection's first bytes.
//!
//! Tars has no magic number, so detection checks what every Tars packet must start with, in
//! order, and decides as soon as the bytes allow:
//!
//! 1. the 4-byte length prefix lies in [`MIN_DETECT_LEN`]`..=`[`MAX_DETECT_LEN`], the lengths
//!    the codec accepts at default limits, so its first byte is `0x00` (or `0x01` for exactly
//!    16 MiB): that byte alone refuses ASCII protocols (HTTP/1.1, the HTTP/2 preface), TLS
//!    (`0x16`), Bolt v2 (`0x02`) and Dubbo (`0xda`), and almost all of Bolt v1 (`0x01`);
//! 2. tag 1 `iVersion` as an int8 or int16 of value 1, 2 or 3;
//! 3. tag 2 `cPacketType` as zero or an int8 of value 0 or 1;
//! 4. tags 3 and 4 as integers (iMessageType and iRequestId, in either order's meaning);
//! 5. tag 5 as a string (RequestPacket `sServantName`) or an integer (ResponsePacket `iRet`).
//!
//! Then `Match`. While the bytes present agree and more could follow (the declared length is
//! not reached), `NeedMore`; any disagreement is `NoMatch`.

use xprotocol::{DetectResult, Limits};

use crate::tlv::{Head, TlvError, TlvReader, TypeCode};

/// The smallest length prefix detection accepts: the prefix plus the five heads of step 1-5
/// at their smallest (`10 01 2c 3c 4c 5c`).
pub const MIN_DETECT_LEN: u32 = 10;
/// The largest length prefix detection accepts: the default [`Limits::max_frame_bytes`]
/// (16 MiB), the largest the codec accepts at default limits, so that detection refuses
/// exactly what the codec would. The 16 MiB prefix itself is `01 00 00 00`, which Bolt v1's
/// first four bytes can also be; Bolt's detector tells them apart by its declared lengths
/// (see `xprotocol-bolt`), and the tag-1 head checked next refuses Bolt v1 here. A first frame
/// over 16 MiB is not detected even where a larger limit is configured (later frames are
/// unaffected).
pub const MAX_DETECT_LEN: u32 = Limits::DEFAULT.max_frame_bytes as u32;

/// Detects Tars (see the module documentation).
pub fn detect(prefix: &[u8]) -> DetectResult {
    let Some(len_bytes) = prefix.get(..4) else {
        // Compare the smallest length the known bytes allow with the maximum.
        let mut padded = [0u8; 4];
        if let Some(known) = padded.get_mut(..prefix.len()) {
            known.copy_from_slice(prefix);
        }
        return if u32::from_be_bytes(padded) > MAX_DETECT_LEN {
            DetectResult::NoMatch
        } else {
            DetectResult::NeedMore
        };
    };
    let len = u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
    if !(MIN_DETECT_LEN..=MAX_DETECT_LEN).contains(&len) {
        return DetectResult::NoMatch;
    }
    let end = (len as usize).min(prefix.len());
    let complete = prefix.len() >= len as usize;
    let mut r = TlvReader::with_base(prefix.get(4..end).unwrap_or_default(), 4);
    match heads(&mut r) {
        Ok(true) => DetectResult::Match,
        Ok(false) => DetectResult::NoMatch,
        Err(TlvError::Truncated { .. }) if !complete => DetectResult::NeedMore,
        Err(_) => DetectResult::NoMatch,
    }
}

/// Checks steps 2-5; `Ok(false)` on a mismatch, `Err(Truncated)` when the bytes run out.
fn heads(r: &mut TlvReader<'_>) -> Result<bool, TlvError> {
    let int =
        |r: &mut TlvReader<'_>, tag: u8, types: &[TypeCode]| -> Result<Option<i64>, TlvError> {
            let h: Head = r.read_head()?;
            if h.tag != tag || !types.contains(&h.ty) {
                return Ok(None);
            }
            r.read_int(&h).map(Some)
        };
    use TypeCode::*;
    if !matches!(int(r, 1, &[Int8, Int16])?, Some(1..=3)) {
        return Ok(false);
    }
    if !matches!(int(r, 2, &[Zero, Int8])?, Some(0..=1)) {
        return Ok(false);
    }
    for tag in [3, 4] {
        if int(r, tag, &[Zero, Int8, Int16, Int32])?.is_none() {
            return Ok(false);
        }
    }
    let h = r.read_head()?;
    Ok(h.tag == 5 && (h.ty.is_string() || h.ty.is_int()))
}
