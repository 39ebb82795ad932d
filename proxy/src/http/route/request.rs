//! The parts of an HTTP request that routing reads, borrowed from the request head.

use http::header::HOST;
use http::{HeaderMap, Method, Uri};

/// A request head as routing sees it. Build one per request from the parts hyper parsed; it
/// only borrows them.
#[derive(Clone, Copy, Debug)]
pub struct RequestView<'a> {
    /// The method.
    pub method: &'a Method,
    /// The request target: origin-form (`/path?q`) for HTTP/1.1, or carrying the scheme and
    /// authority (HTTP/2 pseudo-headers, HTTP/1.1 absolute-form).
    pub uri: &'a Uri,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// Whether this is a gRPC request (HTTP/2 with `content-type: application/grpc…`); the
    /// caller decides, routing only trusts the flag.
    pub grpc: bool,
}

impl<'a> RequestView<'a> {
    /// The authority the request is addressed to: the URI's (HTTP/2 `:authority`,
    /// absolute-form) if it has one, else the `Host` header, without any `user@` part.
    ///
    /// An authority holding bytes no host name, IP literal or port can hold (a `/`, a space,
    /// a non-ASCII byte, …) is treated as absent (`""`): such a request is routed only by a
    /// `*` domain and never reflected into a redirect's `Location`.
    pub fn authority(&self) -> &'a str {
        let raw = match self.uri.authority() {
            Some(authority) => authority.as_str(),
            None => self.headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or(""),
        };
        let raw = raw.rsplit_once('@').map_or(raw, |(_, host)| host);
        if raw.bytes().all(is_authority_byte) {
            raw
        } else {
            ""
        }
    }

    /// The scheme of the request target if it carries one (HTTP/2, absolute-form), else
    /// `http` (the proxy's listeners speak cleartext).
    pub fn scheme(&self) -> &'a str {
        self.uri.scheme_str().unwrap_or("http")
    }
}

/// Bytes allowed in a `host[:port]` authority: RFC 3986 `reg-name` (unreserved, sub-delims,
/// percent-encoding) plus the `[`, `]` and `:` of IP literals and ports.
fn is_authority_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%:[]".contains(&b)
}

/// Splits `authority` into its host and port. IPv6 literals keep their brackets
/// (`[::1]:8080` → `([::1], Some(8080))`); a `:` not followed by a valid port is part of
/// the host.
pub fn split_port(authority: &str) -> (&str, Option<u16>) {
    let split = if authority.starts_with('[') {
        authority.find(']').map(|end| authority.split_at(end + 1))
    } else {
        authority.rfind(':').map(|colon| authority.split_at(colon))
    };
    let Some((host, rest)) = split else { return (authority, None) };
    match rest {
        // RFC 3986 allows an empty port.
        "" | ":" => (host, None),
        _ => match rest.strip_prefix(':').filter(|p| p.bytes().all(|b| b.is_ascii_digit())) {
            Some(port) => match port.parse() {
                Ok(port) => (host, Some(port)),
                Err(_) => (authority, None),
            },
            None => (authority, None),
        },
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn view<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> RequestView<'a> {
        RequestView { method: &Method::GET, uri, headers, grpc: false }
    }

    #[test]
    fn authority_prefers_the_uri_then_host() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("from-host:8080"));
        let origin: Uri = "/a?b".parse().unwrap();
        assert_eq!(view(&origin, &headers).authority(), "from-host:8080");
        let absolute: Uri = "http://user@from-uri/a".parse().unwrap();
        assert_eq!(view(&absolute, &headers).authority(), "from-uri");
        assert_eq!(view(&origin, &HeaderMap::new()).authority(), "");
        assert_eq!(view(&origin, &headers).scheme(), "http");
        let https: Uri = "https://h/".parse().unwrap();
        assert_eq!(view(&https, &headers).scheme(), "https");
    }

    #[test]
    fn malformed_host_is_treated_as_absent() {
        let origin: Uri = "/".parse().unwrap();
        for bad in ["evil.com/x", "a b", "a\"b"] {
            let mut headers = HeaderMap::new();
            headers.insert(HOST, HeaderValue::from_str(bad).unwrap());
            assert_eq!(view(&origin, &headers).authority(), "", "{bad}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        assert_eq!(view(&origin, &headers).authority(), "");
    }

    #[test]
    fn ports_split_off() {
        assert_eq!(split_port("a.com:8080"), ("a.com", Some(8080)));
        assert_eq!(split_port("a.com"), ("a.com", None));
        assert_eq!(split_port("a.com:"), ("a.com", None));
        assert_eq!(split_port("a.com:http"), ("a.com:http", None));
        assert_eq!(split_port("a.com:99999"), ("a.com:99999", None));
        assert_eq!(split_port("[::1]:443"), ("[::1]", Some(443)));
        assert_eq!(split_port("[::1]"), ("[::1]", None));
        assert_eq!(split_port("[::1"), ("[::1", None));
    }
}
