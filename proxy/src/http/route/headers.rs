//! Header edits of a route: headers removed and set on the forwarded request or the response,
//! parsed once when the router is built.

use std::collections::BTreeMap;

use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;

/// Headers a proxy must not be told to set: they describe the connection or the message
/// framing, which the proxy owns on each side.
const CONNECTION_SPECIFIC: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// An ordered list of header removals and replacements.
///
/// A virtual host's edits come first, then the route's: each level removes its
/// `*_headers_to_remove`, then sets its `*_headers_to_add` (replacing every value of that
/// name). So a route can remove what its host added, and a name both removed and added at one
/// level ends up with the added value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderEdits {
    ops: Box<[Edit]>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Edit {
    Remove(HeaderName),
    Set(HeaderName, HeaderValue),
}

impl HeaderEdits {
    /// Applies the edits, in order. Allocates only what `HeaderMap` needs for the new values
    /// (the values themselves are shared, not copied).
    pub fn apply(&self, headers: &mut HeaderMap) {
        for op in &*self.ops {
            match op {
                Edit::Remove(name) => {
                    headers.remove(name);
                }
                Edit::Set(name, value) => {
                    headers.insert(name.clone(), value.clone());
                }
            }
        }
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The names removed, in order.
    pub fn removed(&self) -> impl Iterator<Item = &HeaderName> {
        self.ops.iter().filter_map(|op| match op {
            Edit::Remove(name) => Some(name),
            Edit::Set(..) => None,
        })
    }

    /// The headers set, in order.
    pub fn set(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.ops.iter().filter_map(|op| match op {
            Edit::Set(name, value) => Some((name, value)),
            Edit::Remove(_) => None,
        })
    }
}

/// Builds [`HeaderEdits`] level by level (virtual host, then route).
#[derive(Debug, Default)]
pub(crate) struct HeaderEditsBuilder {
    ops: Vec<Edit>,
}

impl HeaderEditsBuilder {
    /// Adds one level: its removals, then its additions.
    ///
    /// # Errors
    /// `(field, message)` for the first name or value that is not valid HTTP, or a
    /// connection-specific header in `add`; `field` is `remove` or `add`, and the message
    /// names the header.
    pub(crate) fn level(
        &mut self,
        remove: &[String],
        add: &BTreeMap<String, String>,
    ) -> Result<(), (&'static str, String)> {
        for name in remove {
            self.ops.push(Edit::Remove(parse_name(name).map_err(|m| ("remove", m))?));
        }
        for (name, value) in add {
            let (name, value) = parse_addition(name, value).map_err(|m| ("add", m))?;
            self.ops.push(Edit::Set(name, value));
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> HeaderEdits {
        HeaderEdits { ops: self.ops.into_boxed_slice() }
    }
}

/// Parses a configured header name (any case; HTTP names are case-insensitive).
///
/// # Errors
/// Why it is not a valid HTTP header name.
pub(crate) fn parse_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a valid HTTP header name"))
}

/// Parses a header to set.
///
/// # Errors
/// Why the name or value is not valid HTTP, or why the header may not be set by
/// configuration.
pub(crate) fn parse_addition(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let parsed = parse_name(name)?;
    if CONNECTION_SPECIFIC.contains(&parsed.as_str()) {
        return Err(format!(
            "`{name}` is connection-specific: the proxy sets it, configuration cannot"
        ));
    }
    let value = HeaderValue::from_str(value)
        .map_err(|_| format!("the value of `{name}` is not a valid HTTP header value"))?;
    Ok((parsed, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn add_replaces_and_remove_removes_every_value() {
        let mut b = HeaderEditsBuilder::default();
        b.level(&strings(&["X-Internal", "server"]), &map(&[("X-Gw", "xproxy")])).unwrap();
        let edits = b.finish();
        let mut h = HeaderMap::new();
        h.append("x-gw", HeaderValue::from_static("old1"));
        h.append("x-gw", HeaderValue::from_static("old2"));
        h.append("x-internal", HeaderValue::from_static("1"));
        h.append("x-internal", HeaderValue::from_static("2"));
        h.append("keep", HeaderValue::from_static("k"));
        edits.apply(&mut h);
        assert_eq!(h.get_all("x-gw").iter().collect::<Vec<_>>(), ["xproxy"]);
        assert!(h.get("x-internal").is_none());
        assert_eq!(h.get("keep").unwrap(), "k");
        assert_eq!(h.len(), 2);
        assert!(!edits.is_empty());
        assert_eq!(
            edits.removed().map(HeaderName::as_str).collect::<Vec<_>>(),
            ["x-internal", "server"]
        );
        assert_eq!(edits.set().count(), 1);
    }

    #[test]
    fn levels_apply_in_order() {
        let mut b = HeaderEditsBuilder::default();
        // The host adds x-a and x-b; the route removes x-a and replaces x-b.
        b.level(&[], &map(&[("x-a", "host"), ("x-b", "host")])).unwrap();
        b.level(&strings(&["x-a"]), &map(&[("x-b", "route")])).unwrap();
        let mut h = HeaderMap::new();
        b.finish().apply(&mut h);
        assert!(h.get("x-a").is_none());
        assert_eq!(h.get("x-b").unwrap(), "route");
        // Removed and added at one level: the added value stays.
        let mut b = HeaderEditsBuilder::default();
        b.level(&strings(&["x-c"]), &map(&[("x-c", "new")])).unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-c", HeaderValue::from_static("old"));
        b.finish().apply(&mut h);
        assert_eq!(h.get("x-c").unwrap(), "new");
        assert!(HeaderEdits::default().is_empty());
    }

    #[test]
    fn invalid_names_values_and_framing_headers_are_refused() {
        let mut b = HeaderEditsBuilder::default();
        let (field, msg) = b.level(&strings(&["bad name"]), &BTreeMap::new()).unwrap_err();
        assert_eq!(field, "remove");
        assert!(msg.contains("`bad name` is not a valid HTTP header name"), "{msg}");
        let (field, msg) = b.level(&[], &map(&[("x-a", "line\nbreak")])).unwrap_err();
        assert_eq!(field, "add");
        assert!(msg.contains("value of `x-a`"), "{msg}");
        assert!(parse_addition("Transfer-Encoding", "chunked")
            .unwrap_err()
            .contains("connection-specific"));
        assert!(parse_addition(":path", "/").is_err());
        assert!(parse_addition("", "x").is_err());
        assert!(parse_name("Connection").is_ok());
    }
}
