//! The few hessian2 writer pieces an error reply needs, in the dialect SOFARPC peers speak
//! (sofa-hessian-node's default "3.0" mode, Java sofa-hessian 3.x): a class definition is
//! `'O' int(type length) type-bytes int(field count) field-names`, an instance is
//! `'o' int(definition index)` followed by the field values.

use bytes::{BufMut, Bytes, BytesMut};

/// Class name of a SOFARPC response object.
pub const SOFA_RESPONSE_CLASS: &str = "com.alipay.sofa.rpc.core.response.SofaResponse";

/// Longest string chunk, in UTF-16 code units.
const MAX_CHUNK: usize = 0x8000;

/// Writes a hessian2 int in its shortest form.
pub fn write_int(dst: &mut BytesMut, v: i32) {
    match v {
        -0x10..=0x2f => dst.put_u8((v + 0x90) as u8),
        -0x800..=0x7ff => {
            dst.put_u8((0xc8 + (v >> 8)) as u8);
            dst.put_u8(v as u8);
        }
        -0x4_0000..=0x3_ffff => {
            dst.put_u8((0xd4 + (v >> 16)) as u8);
            dst.put_u16(v as u16);
        }
        _ => {
            dst.put_u8(b'I');
            dst.put_i32(v);
        }
    }
}

/// Writes a boolean (`T` / `F`).
pub fn write_bool(dst: &mut BytesMut, v: bool) {
    dst.put_u8(if v { b'T' } else { b'F' });
}

/// Writes null (`N`).
pub fn write_null(dst: &mut BytesMut) {
    dst.put_u8(b'N');
}

/// Writes a string. Hessian counts string lengths in UTF-16 code units and encodes each unit
/// as (CESU-8 style) UTF-8, so characters outside the BMP become two 3-byte surrogates, as
/// Java writes them. Strings over 32768 units are split into `'s'` chunks that never split a
/// surrogate pair; the final chunk is compact (≤ 31 units) or `'S'`.
pub fn write_string(dst: &mut BytesMut, s: &str) {
    let mut rest = s;
    loop {
        let (units, split) = chunk(rest);
        let (head, tail) = rest.split_at(split);
        let last = tail.is_empty();
        if !last {
            dst.put_u8(b's');
            dst.put_u16(units as u16);
        } else if units <= 31 {
            dst.put_u8(units as u8);
        } else {
            dst.put_u8(b'S');
            dst.put_u16(units as u16);
        }
        put_cesu8(dst, head);
        if last {
            return;
        }
        rest = tail;
    }
}

/// The next chunk of `s`: its length in UTF-16 units and its byte length.
fn chunk(s: &str) -> (usize, usize) {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        let n = c.len_utf16();
        if units + n > MAX_CHUNK {
            return (units, i);
        }
        units += n;
    }
    (units, s.len())
}

fn put_cesu8(dst: &mut BytesMut, s: &str) {
    for c in s.chars() {
        if c.len_utf16() == 1 {
            let mut b = [0; 4];
            dst.put_slice(c.encode_utf8(&mut b).as_bytes());
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units).iter() {
                dst.put_u8(0xe0 | (u >> 12) as u8);
                dst.put_u8(0x80 | ((u >> 6) & 0x3f) as u8);
                dst.put_u8(0x80 | (u & 0x3f) as u8);
            }
        }
    }
}

/// Writes a class definition: `'O'`, the type name as an int length and raw bytes, the field
/// count, and the field names as strings.
pub fn write_class_def(dst: &mut BytesMut, type_name: &str, fields: &[&str]) {
    dst.put_u8(b'O');
    write_int(dst, i32::try_from(type_name.len()).unwrap_or(i32::MAX));
    dst.put_slice(type_name.as_bytes());
    write_int(dst, i32::try_from(fields.len()).unwrap_or(i32::MAX));
    for f in fields {
        write_string(dst, f);
    }
}

/// Starts an instance of the class definition number `def` (0 for the first); the caller
/// writes the field values next, in definition order.
pub fn write_object_start(dst: &mut BytesMut, def: i32) {
    dst.put_u8(b'o');
    write_int(dst, def);
}

/// Class name of the exception SOFARPC servers send in a failed response's body.
pub const RPC_SERVER_EXCEPTION_CLASS: &str = "com.alipay.remoting.rpc.exception.RpcServerException";

/// The body of an error response: an `RpcServerException { detailMessage: message,
/// stackTrace: null }`. SOFARPC clients read a failed response's body as an exception (its
/// status is not shown to the caller): with these two fields sofa-rpc-node reports
/// `com.alipay.remoting.rpc.exception.RpcServerException: <message>`, while a `SofaResponse`
/// body would surface as `[object Object]` and a bare string breaks its decoder.
pub fn rpc_server_exception(message: &str) -> Bytes {
    let mut dst = BytesMut::with_capacity(96 + message.len());
    write_class_def(&mut dst, RPC_SERVER_EXCEPTION_CLASS, &["detailMessage", "stackTrace"]);
    write_object_start(&mut dst, 0);
    write_string(&mut dst, message);
    write_null(&mut dst);
    dst.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(f: impl FnOnce(&mut BytesMut)) -> Vec<u8> {
        let mut b = BytesMut::new();
        f(&mut b);
        b.to_vec()
    }

    #[test]
    fn ints_use_the_shortest_form() {
        assert_eq!(bytes(|b| write_int(b, 0)), [0x90]);
        assert_eq!(bytes(|b| write_int(b, 4)), [0x94]);
        assert_eq!(bytes(|b| write_int(b, 46)), [0xbe]);
        assert_eq!(bytes(|b| write_int(b, -16)), [0x80]);
        assert_eq!(bytes(|b| write_int(b, 52)), [0xc8, 0x34]);
        assert_eq!(bytes(|b| write_int(b, -2048)), [0xc0, 0x00]);
        assert_eq!(bytes(|b| write_int(b, 0x7ff)), [0xcf, 0xff]);
        assert_eq!(bytes(|b| write_int(b, 0x800)), [0xd4, 0x08, 0x00]);
        assert_eq!(bytes(|b| write_int(b, -0x4_0000)), [0xd0, 0x00, 0x00]);
        assert_eq!(bytes(|b| write_int(b, 0x4_0000)), [b'I', 0, 4, 0, 0]);
    }

    #[test]
    fn short_and_medium_strings() {
        assert_eq!(bytes(|b| write_string(b, "")), [0x00]);
        assert_eq!(bytes(|b| write_string(b, "isError")), b"\x07isError");
        let s32 = "a".repeat(32);
        let mut want = vec![b'S', 0, 32];
        want.extend_from_slice(s32.as_bytes());
        assert_eq!(bytes(|b| write_string(b, &s32)), want);
    }

    #[test]
    fn lengths_count_utf16_units_and_astral_chars_are_surrogates() {
        // é is one unit (2 bytes); 😀 is two units, written as two 3-byte surrogates.
        assert_eq!(
            bytes(|b| write_string(b, "é😀")),
            [0x03, 0xc3, 0xa9, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]
        );
    }

    #[test]
    fn long_strings_are_chunked_without_splitting_surrogates() {
        let long = "x".repeat(MAX_CHUNK * 2 + 5);
        let out = bytes(|b| write_string(b, &long));
        assert_eq!(&out[..3], &[b's', 0x80, 0x00]);
        let second = 3 + MAX_CHUNK;
        assert_eq!(&out[second..second + 3], &[b's', 0x80, 0x00]);
        let last = second + 3 + MAX_CHUNK;
        assert_eq!(out[last], 5);
        assert_eq!(out.len(), last + 1 + 5);

        // A pair straddling the boundary moves whole to the next chunk.
        let s = format!("{}😀", "x".repeat(MAX_CHUNK - 1));
        let out = bytes(|b| write_string(b, &s));
        assert_eq!(&out[..3], &[b's', 0x7f, 0xff]);
        let tail = 3 + MAX_CHUNK - 1;
        assert_eq!(out[tail], 2);
        assert_eq!(&out[tail + 1..], &[0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]);

        // Exactly one full chunk is a single final 'S' chunk.
        let exact = "y".repeat(MAX_CHUNK);
        assert_eq!(&bytes(|b| write_string(b, &exact))[..3], &[b'S', 0x80, 0x00]);
    }

    #[test]
    fn error_body_is_the_exception_sofa_rpc_node_reports_with_our_message() {
        // Captured: the body that makes sofa-rpc-node 2.10.0 reject a call with
        // "com.alipay.remoting.rpc.exception.RpcServerException: server thread pool busy".
        let want = "4fc834636f6d2e616c697061792e72656d6f74696e672e7270632e657863657074696f6e2e\
                    527063536572766572457863657074696f6e920d64657461696c4d6573736167650a73\
                    7461636b54726163656f90177365727665722074687265616420706f6f6c20627573794e";
        let want = xprotocol::testkit::hex(&want.replace(' ', ""));
        assert_eq!(&rpc_server_exception("server thread pool busy")[..], &want[..]);
    }
}
