//! The `grpc-message` trailer's percent-encoding.
//!
//! A status message is Unicode text, but HTTP/2 header values are restricted bytes, so gRPC
//! sends the UTF-8 bytes with every byte outside printable ASCII (0x20–0x7E), and `%` itself,
//! written as `%XX` (`PROTOCOL-HTTP2.md`, "Responses"). Decoding must never fail or drop the
//! message: a broken escape is kept as it is.

use std::borrow::Cow;

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, CONTROLS};

/// Bytes escaped in `grpc-message`: controls (0x00–0x1F, 0x7F) and `%`. Bytes ≥ 0x80 are
/// always escaped by `utf8_percent_encode`.
const GRPC_MESSAGE: &AsciiSet = &CONTROLS.add(b'%');

/// Percent-encodes a status message for the `grpc-message` header.
///
/// Borrows when nothing needs escaping (the common case of a plain ASCII message). The result
/// holds only bytes 0x20–0x7E and so is always a valid header value; hex digits are upper case.
pub fn percent_encode_message(message: &str) -> Cow<'_, str> {
    Cow::from(utf8_percent_encode(message, GRPC_MESSAGE))
}

/// Decodes a `grpc-message` header value, leniently: a `%` not followed by two hex digits is
/// kept as it is, and bytes that do not form UTF-8 once decoded become U+FFFD.
///
/// Borrows when the value has no escapes and is valid UTF-8.
pub fn percent_decode_message(value: &[u8]) -> Cow<'_, str> {
    percent_decode(value).decode_utf8_lossy()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_non_printable_bytes_and_percent_are_escaped() {
        assert!(matches!(percent_encode_message("no route to host"), Cow::Borrowed(_)));
        assert_eq!(percent_encode_message("100% done"), "100%25 done");
        assert_eq!(percent_encode_message("a\r\nb\t\x7f"), "a%0D%0Ab%09%7F");
        assert_eq!(percent_encode_message("caf\u{e9} \u{1f600}"), "caf%C3%A9 %F0%9F%98%80");
        assert_eq!(
            percent_encode_message(" ~!\"#$&'()*+,/:;<=>?@[\\]^_`{|}"),
            " ~!\"#$&'()*+,/:;<=>?@[\\]^_`{|}"
        );
    }

    #[test]
    fn decoding_keeps_broken_escapes() {
        assert_eq!(percent_decode_message(b"100%25 done"), "100% done");
        assert_eq!(percent_decode_message(b"caf%c3%a9"), "caf\u{e9}");
        assert_eq!(percent_decode_message(b"50% off"), "50% off");
        assert_eq!(percent_decode_message(b"%"), "%");
        assert_eq!(percent_decode_message(b"%4"), "%4");
        assert_eq!(percent_decode_message(b"%zz%41"), "%zzA");
        assert_eq!(percent_decode_message(b"%FF"), "\u{fffd}");
        assert!(matches!(percent_decode_message(b"plain"), Cow::Borrowed("plain")));
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(message in any::<String>()) {
            let encoded = percent_encode_message(&message);
            prop_assert!(encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{encoded}");
            prop_assert!(http::HeaderValue::from_str(&encoded).is_ok());
            prop_assert_eq!(percent_decode_message(encoded.as_bytes()), message.as_str());
        }

        #[test]
        fn decoding_any_bytes_never_panics(value in proptest::collection::vec(any::<u8>(), 0..64)) {
            let decoded = percent_decode_message(&value);
            // Decoding only ever shrinks bytes, or grows them by replacement characters.
            prop_assert!(decoded.len() <= value.len() * 3);
        }
    }
}
