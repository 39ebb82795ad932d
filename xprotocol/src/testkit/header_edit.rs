//! The header-edit property: what a route's `request_headers_to_add` / `_to_remove` does to a
//! frame through [`Frame::set_header`] and [`Frame::remove_header`] must change that header and
//! nothing else, and leave a frame that still decodes.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

use super::{check_detection, check_same_fields, decode_one, encode, headers};
use crate::{Frame, Protocol, StreamKind};

/// A header name no protocol routes on, so editing it must leave the routing fields alone.
pub(super) const FRESH_NAME: &str = "x-testkit-edit";

/// The header names an edit tries: each name the frame carries (so that overwriting and the
/// removal of later duplicates are exercised) and one it does not carry (so that appending is).
fn candidate_names<F: Frame>(frame: &F) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (k, _) in headers(frame) {
        if !names.contains(&k) {
            names.push(k);
        }
    }
    names.push(FRESH_NAME.to_owned());
    names
}

/// Sets, then removes, one header of `frame` (a frame as decoded from its wire bytes), when
/// it is a request: the relay edits the headers of the requests it routes and of nothing else,
/// so other kinds are left to the protocol.
///
/// A protocol (or a frame: a response, another serialization) that refuses the edit must leave
/// the frame as it was; one that accepts it must give `value` for the name, drop later entries
/// with the same name, keep every other header in order, keep the id, kind, status and body
/// (and the routing fields when the name is not one the protocol routes on), and encode to a
/// frame that is detected and decodes back to the same fields and bytes.
pub(super) fn check_header_edit<P: Protocol>(
    protocol: &P,
    frame: &P::Frame,
    pick: Index,
    value: &str,
) -> Result<(), TestCaseError> {
    if !matches!(frame.kind(), StreamKind::Request | StreamKind::OneWayRequest) {
        return Ok(());
    }
    let before = headers(frame);
    let names = candidate_names(frame);
    let name = pick.get(&names).as_str();

    let mut edited = frame.clone();
    if let Err(e) = edited.set_header(name, value) {
        prop_assert_eq!(headers(&edited), before, "a refused set_header ({}) changed headers", e);
        prop_assert_eq!(
            &encode(protocol, &edited)?[..],
            &encode(protocol, frame)?[..],
            "a refused set_header ({}) changed the bytes",
            e
        );
        return Ok(());
    }
    // Where the set entry sits is the protocol's business (the first entry with the name may
    // be one `for_each_header` skips, such as a null value), so compare the other entries in
    // order and the edited name's entries apart.
    let others = |list: &[(String, String)]| -> Vec<(String, String)> {
        list.iter().filter(|(k, _)| k != name).cloned().collect()
    };
    let after = headers(&edited);
    prop_assert_eq!(edited.header(name), Some(value), "set_header({:?}) not visible", name);
    let entries: Vec<&str> =
        after.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect();
    prop_assert_eq!(
        entries,
        vec![value],
        "set_header({:?}) must leave one entry with the value (later duplicates go)",
        name
    );
    prop_assert_eq!(
        others(&after),
        others(&before),
        "set_header({:?}) touched other headers",
        name
    );
    check_untouched(frame, &edited, name)?;
    check_body_splice(frame.body(), edited.body(), value, "set_header")?;
    check_reencodes(protocol, &edited, "set_header")?;

    let mut removed = edited.clone();
    if removed.remove_header(name).is_ok() {
        prop_assert_eq!(removed.header(name), None, "remove_header({:?}) left it", name);
        prop_assert_eq!(
            headers(&removed),
            others(&before),
            "remove_header({:?}) touched other headers",
            name
        );
        check_untouched(frame, &removed, name)?;
        check_body_splice(removed.body(), edited.body(), name, "remove_header")?;
        check_reencodes(protocol, &removed, "remove_header")?;
    }
    Ok(())
}

/// What an edit of header `name` must not change (the body is [`check_body_splice`]'s).
fn check_untouched<F: Frame>(before: &F, after: &F, name: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(after.request_id(), before.request_id(), "a header edit changed the id");
    prop_assert_eq!(after.kind(), before.kind(), "a header edit changed the kind");
    prop_assert_eq!(after.status(), before.status(), "a header edit changed the status");
    prop_assert_eq!(after.end_of_stream(), before.end_of_stream());
    if name == FRESH_NAME {
        prop_assert_eq!(after.service(), before.service(), "adding a header moved the service");
        prop_assert_eq!(after.method(), before.method(), "adding a header moved the method");
        prop_assert_eq!(after.version(), before.version());
        prop_assert_eq!(after.group(), before.group());
    }
    Ok(())
}

/// An edited frame is a valid frame: its encoding has its `wire_len`, is detected, and decodes
/// back to the same fields and the same bytes.
fn check_reencodes<P: Protocol>(
    protocol: &P,
    frame: &P::Frame,
    what: &str,
) -> Result<(), TestCaseError> {
    let bytes = encode(protocol, frame)?;
    prop_assert_eq!(bytes.len(), frame.wire_len(), "after {}: length differs from wire_len", what);
    check_detection(protocol, &bytes)?;
    let back = decode_one(protocol, &bytes)
        .map_err(|e| TestCaseError::fail(format!("after {what}: {e}")))?;
    check_same_fields(frame, &back)?;
    prop_assert_eq!(&encode(protocol, &back)?[..], &bytes[..], "after {}: re-encode differs", what);
    Ok(())
}

/// The body is untouched by a header edit, except in protocols that carry their headers inside
/// the body (Dubbo's attachments trail the invocation in its hessian2 body): there `with` and
/// `without` (the bodies with and without the edited entry) may differ only in one contiguous
/// stretch, and that stretch of `with` must hold `text` (the value set, or the name removed).
/// Anything else (a body cleared, arguments rewritten) is a changed body.
fn check_body_splice(
    without: &[u8],
    with: &[u8],
    text: &str,
    what: &str,
) -> Result<(), TestCaseError> {
    if without == with {
        return Ok(());
    }
    let prefix = without.iter().zip(with).take_while(|(a, b)| a == b).count();
    let room = without.len().min(with.len()) - prefix;
    let suffix =
        without.iter().rev().zip(with.iter().rev()).take(room).take_while(|(a, b)| a == b).count();
    // The shortest differing stretch may have lent some of `text`'s bytes to the common
    // prefix or suffix (where they happen to repeat), so look `text.len()` bytes around it.
    let start = prefix.saturating_sub(text.len());
    let end = (with.len() - suffix + text.len()).min(with.len());
    let around = &with[start..end];
    prop_assert!(
        text.is_empty() || around.windows(text.len()).any(|w| w == text.as_bytes()),
        "{} changed the body beyond the edited header ({} bytes before, {} after, differing \
         from byte {})",
        what,
        without.len(),
        with.len(),
        prefix
    );
    Ok(())
}
