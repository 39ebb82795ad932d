//! Header handling a proxy owes both sides (RFC 9110 §7.6): hop-by-hop fields are dropped
//! before forwarding, the caller's address is appended to `X-Forwarded-For`, and the request
//! target is rewritten for the upstream's HTTP version.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::Version;

/// Fields that describe one connection, never forwarded (RFC 9110 §7.6.1, plus the
/// historical `Proxy-Connection` and `Keep-Alive`).
const HOP_BY_HOP: [HeaderName; 5] = [
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::TE,
    HeaderName::from_static("keep-alive"),
];

fn proxy_connection() -> HeaderName {
    HeaderName::from_static("proxy-connection")
}

/// Whether `headers` ask to switch protocols (`Connection: upgrade` with an `Upgrade` field),
/// as a WebSocket handshake does.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE) && connection_has(headers, "upgrade")
}

/// Whether any `Connection` field lists `token`.
fn connection_has(headers: &HeaderMap, token: &str) -> bool {
    headers.get_all(header::CONNECTION).iter().any(|v| {
        v.to_str()
            .map(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            .unwrap_or(false)
    })
}

/// Removes hop-by-hop fields and every field the `Connection` fields name. With `upgrade`,
/// `Connection: upgrade` and `Upgrade` are kept so the upstream sees the handshake. A
/// `TE: trailers` (which gRPC needs end to end) is kept when `keep_te_trailers` is set.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool, keep_te_trailers: bool) {
    // Most requests carry none of these fields: one pass over the names (no hashing) spares
    // them the removals below. Every case below needs one of them present (fields named by
    // `Connection`, `TE: trailers` and an upgrade all need their own hop-by-hop field).
    let proxy_connection = proxy_connection();
    if !headers.keys().any(|k| HOP_BY_HOP.contains(k) || *k == proxy_connection) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|s| s.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|name| !(upgrade && name == header::UPGRADE))
        .collect();
    for name in named {
        headers.remove(name);
    }
    let te_trailers = keep_te_trailers
        && headers.get_all(header::TE).iter().any(|v| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|t| t.trim().eq_ignore_ascii_case("trailers")))
        });
    for name in &HOP_BY_HOP {
        if upgrade && (name == header::CONNECTION || name == header::UPGRADE) {
            continue;
        }
        headers.remove(name);
    }
    headers.remove(proxy_connection);
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    if te_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
}

/// The caller's address as a header value, rendered once per connection for
/// [`add_forwarded`].
pub fn peer_value(ip: IpAddr) -> Option<HeaderValue> {
    HeaderValue::from_str(&ip.to_string()).ok()
}

/// Appends the caller's address (from [`peer_value`]) to `X-Forwarded-For` and sets
/// `X-Forwarded-Proto` when the caller did not.
pub fn add_forwarded(headers: &mut HeaderMap, peer: Option<&HeaderValue>) {
    let xff = HeaderName::from_static("x-forwarded-for");
    if let Some(ip) = peer {
        let existing: Vec<&str> =
            headers.get_all(&xff).iter().filter_map(|v| v.to_str().ok()).collect();
        if existing.is_empty() {
            // The common case: no proxy before us; the rendered address is shared, not copied.
            headers.insert(&xff, ip.clone());
        } else {
            let ip = ip.to_str().unwrap_or_default();
            if let Ok(value) = HeaderValue::from_str(&format!("{}, {ip}", existing.join(", "))) {
                headers.insert(&xff, value);
            }
        }
    }
    let proto = HeaderName::from_static("x-forwarded-proto");
    if !headers.contains_key(&proto) {
        headers.insert(proto, HeaderValue::from_static("http"));
    }
}

/// The authority a request addresses: the URI's (HTTP/2, absolute-form) or the `Host` field.
pub fn request_authority<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    uri.authority()
        .map(Authority::as_str)
        .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()))
}

/// Rewrites a request's target and `Host` for the upstream's HTTP version: HTTP/2 carries the
/// authority in `:authority` (an absolute URI here, no `Host` field); HTTP/1.1 carries an
/// origin-form target and a `Host` field. `authority` is the caller's (or the route's
/// rewrite); without one the endpoint's address stands in.
pub fn target_for_upstream(
    uri: &Uri,
    path: Option<PathAndQuery>,
    headers: &mut HeaderMap,
    authority: Option<&str>,
    fallback_authority: &str,
    upstream: Version,
) -> Result<Uri, http::Error> {
    let path = path
        .or_else(|| uri.path_and_query().cloned())
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let authority = authority.unwrap_or(fallback_authority);
    if upstream == Version::HTTP_2 {
        headers.remove(header::HOST);
        let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        Uri::builder().scheme(scheme).authority(authority).path_and_query(path).build()
    } else {
        if let Ok(host) = HeaderValue::from_str(authority) {
            headers.insert(header::HOST, host);
        }
        Uri::builder().path_and_query(path).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_fields_and_those_connection_names_are_dropped() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("proxy-connection", "keep-alive"),
            ("te", "gzip"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false, true);
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, vec!["x-kept"]);
    }

    #[test]
    fn te_trailers_survives_for_grpc_and_upgrades_keep_their_handshake() {
        let mut h = map(&[("te", "trailers"), ("content-type", "application/grpc")]);
        strip_hop_by_hop(&mut h, false, true);
        assert_eq!(h.get("te").unwrap(), "trailers");
        let mut h =
            map(&[("connection", "Upgrade"), ("upgrade", "websocket"), ("keep-alive", "1")]);
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true, false);
        assert_eq!(h.get("connection").unwrap(), "upgrade");
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert!(h.get("keep-alive").is_none());
        assert!(!is_upgrade(&map(&[("upgrade", "websocket")])), "Connection must name it");
    }

    #[test]
    fn forwarded_for_is_appended() {
        let mut h = map(&[("x-forwarded-for", "10.0.0.1")]);
        add_forwarded(&mut h, peer_value("127.0.0.1".parse().unwrap()).as_ref());
        assert_eq!(h.get("x-forwarded-for").unwrap(), "10.0.0.1, 127.0.0.1");
        assert_eq!(h.get("x-forwarded-proto").unwrap(), "http");
        let mut h = HeaderMap::new();
        add_forwarded(&mut h, peer_value("::1".parse().unwrap()).as_ref());
        assert_eq!(h.get("x-forwarded-for").unwrap(), "::1");
    }

    #[test]
    fn targets_follow_the_upstream_version() {
        let uri: Uri = "/a?b=1".parse().unwrap();
        let mut h = map(&[("host", "example.com")]);
        let authority = request_authority(&uri, &h).map(str::to_owned);
        let up = target_for_upstream(
            &uri,
            None,
            &mut h,
            authority.as_deref(),
            "127.0.0.1:1",
            Version::HTTP_2,
        )
        .unwrap();
        assert_eq!(up.to_string(), "http://example.com/a?b=1");
        assert!(h.get("host").is_none());

        let uri: Uri = "http://example.com/x".parse().unwrap();
        let mut h = HeaderMap::new();
        let authority = request_authority(&uri, &h).map(str::to_owned);
        let up = target_for_upstream(
            &uri,
            None,
            &mut h,
            authority.as_deref(),
            "127.0.0.1:1",
            Version::HTTP_11,
        )
        .unwrap();
        assert_eq!(up.to_string(), "/x");
        assert_eq!(h.get("host").unwrap(), "example.com");
    }
}
