//! What an HTTP route does with a matching request: forward it, redirect it, or answer it.

use bytes::Bytes;
use http::header::HeaderValue;
use http::uri::PathAndQuery;
use http::{StatusCode, Uri};

use super::request::{split_port, RequestView};
use super::router::HttpRoute;
use crate::route::{Target, WeightedClusters};

/// What a route does with a matching request.
#[derive(Clone, Debug)]
pub enum HttpAction {
    /// Forward upstream.
    Forward(ForwardTarget),
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer with a fixed response.
    Direct(DirectResponse),
}

/// Where a forwarded request goes: one cluster, or one of several by weight.
#[derive(Clone, Debug)]
pub enum ForwardTarget {
    /// This cluster (restricted to the route's metadata subset).
    Cluster(Target),
    /// One of these, chosen per request in proportion to its weight.
    Weighted(WeightedClusters),
}

impl ForwardTarget {
    /// The target of this request (a fresh weighted choice on each call: call it once per
    /// request, then retry within the chosen cluster).
    pub fn pick(&self) -> &Target {
        match self {
            ForwardTarget::Cluster(target) => target,
            ForwardTarget::Weighted(weighted) => weighted.pick(),
        }
    }
}

/// A fixed response, given without an upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectResponse {
    /// The status.
    pub status: StatusCode,
    /// The body (shared, so answering copies nothing).
    pub body: Bytes,
    /// The `content-type` to send, if configured.
    pub content_type: Option<HeaderValue>,
}

/// Replaces a matched path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PrefixRewrite {
    /// What the route's `path` match matched from the start.
    pub(crate) prefix: Box<str>,
    /// What replaces it.
    pub(crate) replacement: Box<str>,
}

impl PrefixRewrite {
    /// Appends `path` with its prefix replaced to `out`. When the replacement ends with `/`
    /// and the rest of the path starts with one, only one is kept (prefix `/api` replaced by
    /// `/` turns `/api/x` into `/x`, not `//x`); an empty result is `/`. `false` (and nothing
    /// appended) when `path` does not start with the prefix.
    pub(crate) fn apply(&self, path: &str, out: &mut String) -> bool {
        let Some(rest) = path.strip_prefix(&*self.prefix) else { return false };
        out.push_str(&self.replacement);
        let rest = match (self.replacement.ends_with('/'), rest.strip_prefix('/')) {
            (true, Some(trimmed)) => trimmed,
            _ => rest,
        };
        out.push_str(rest);
        if out.is_empty() {
            out.push('/');
        }
        true
    }
}

/// The path (and query) a route with a `prefix_rewrite` forwards `uri` to: the prefix its
/// `path` match matched replaced, the query kept. `None` when the route has no
/// `prefix_rewrite` (forward the path unchanged) or `uri`'s path does not start with the
/// prefix (the route did not match this URI).
pub fn rewrite_path(route: &HttpRoute, uri: &Uri) -> Option<PathAndQuery> {
    let rewrite = route.prefix_rewrite_rule()?;
    let mut out = String::with_capacity(uri.path().len() + rewrite.replacement.len() + 16);
    if !rewrite.apply(uri.path(), &mut out) {
        return None;
    }
    if let Some(query) = uri.query() {
        out.push('?');
        out.push_str(query);
    }
    PathAndQuery::try_from(out).ok()
}

/// A redirect: the parts of the `Location` the route sets, the rest taken from the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub(crate) scheme: Option<Box<str>>,
    pub(crate) host: Option<Box<str>>,
    pub(crate) port: Option<u16>,
    pub(crate) path: Option<Box<str>>,
    pub(crate) prefix_rewrite: Option<PrefixRewrite>,
    pub(crate) strip_query: bool,
    pub(crate) status: StatusCode,
}

impl Redirect {
    /// The status to answer with (301, 302, 303, 307 or 308).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `Location` for `req`:
    ///
    /// - scheme: the configured one, else the request's (`http` when it carries none);
    /// - host: the configured one, else the request's authority without its port;
    /// - port: the configured one; else the request's, unless the scheme or host was
    ///   redirected; left out when it is the scheme's default (80 for http, 443 for https);
    /// - path: the configured `path`, else the request's with the configured
    ///   `prefix_rewrite` applied, else the request's;
    /// - query: the request's, unless `strip_query` is set or the configured `path` carries
    ///   its own.
    ///
    /// When there is no host at all (neither configured nor sent), the `Location` is the
    /// relative reference `path[?query]`.
    pub fn location(&self, req: &RequestView<'_>) -> String {
        let scheme = self.scheme.as_deref().unwrap_or_else(|| req.scheme());
        let (request_host, request_port) = split_port(req.authority());
        let host = self.host.as_deref().unwrap_or(request_host);
        let kept_port =
            if self.scheme.is_none() && self.host.is_none() { request_port } else { None };
        let port = self.port.or(kept_port).filter(|&p| Some(p) != default_port(scheme));

        let mut out = String::with_capacity(64 + req.uri.path().len());
        if !host.is_empty() {
            out.push_str(scheme);
            out.push_str("://");
            out.push_str(host);
            if let Some(port) = port {
                out.push(':');
                out.push_str(&port.to_string());
            }
        }
        let own_query = match &self.path {
            Some(path) => {
                out.push_str(path);
                path.contains('?')
            }
            None => {
                let rewritten =
                    self.prefix_rewrite.as_ref().is_some_and(|r| r.apply(req.uri.path(), &mut out));
                if !rewritten {
                    out.push_str(req.uri.path());
                }
                false
            }
        };
        if let Some(query) = req.uri.query().filter(|_| !self.strip_query && !own_query) {
            out.push('?');
            out.push_str(query);
        }
        out
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") {
        Some(443)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use http::header::HOST;
    use http::{HeaderMap, Method};

    use super::*;

    fn redirect() -> Redirect {
        Redirect {
            scheme: None,
            host: None,
            port: None,
            path: None,
            prefix_rewrite: None,
            strip_query: false,
            status: StatusCode::MOVED_PERMANENTLY,
        }
    }

    /// The Location of `r` for a request to `target` with `Host: host` (if not empty).
    fn location(r: &Redirect, target: &str, host: &str) -> String {
        let uri: Uri = target.parse().unwrap();
        let mut headers = HeaderMap::new();
        if !host.is_empty() {
            headers.insert(HOST, HeaderValue::from_str(host).unwrap());
        }
        r.location(&RequestView { method: &Method::GET, uri: &uri, headers: &headers, grpc: false })
    }

    #[test]
    fn keeps_everything_by_default() {
        let r = redirect();
        assert_eq!(location(&r, "/a/b?x=1&y", "h.com:8080"), "http://h.com:8080/a/b?x=1&y");
        assert_eq!(location(&r, "https://h2.com/p", "ignored"), "https://h2.com/p");
        assert_eq!(location(&r, "/p", "h.com:80"), "http://h.com/p");
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
    }

    #[test]
    fn scheme_redirect_drops_the_request_port() {
        let r = Redirect { scheme: Some("https".into()), ..redirect() };
        assert_eq!(location(&r, "/p?q", "h.com:8080"), "https://h.com/p?q");
        let r = Redirect { scheme: Some("https".into()), port: Some(8443), ..redirect() };
        assert_eq!(location(&r, "/p", "h.com:8080"), "https://h.com:8443/p");
        let r = Redirect { scheme: Some("https".into()), port: Some(443), ..redirect() };
        assert_eq!(location(&r, "/p", "h.com"), "https://h.com/p");
        assert_eq!(location(&r, "/p", "[::1]:80"), "https://[::1]/p");
    }

    #[test]
    fn host_and_port_redirects() {
        let r = Redirect { host: Some("new.com".into()), ..redirect() };
        assert_eq!(location(&r, "/p", "old.com:8080"), "http://new.com/p");
        let r = Redirect { port: Some(9000), ..redirect() };
        assert_eq!(location(&r, "/p", "old.com:8080"), "http://old.com:9000/p");
        let r = Redirect { port: Some(80), ..redirect() };
        assert_eq!(location(&r, "/p", "old.com:8080"), "http://old.com/p");
    }

    #[test]
    fn path_redirects_and_queries() {
        let r = Redirect { path: Some("/new".into()), ..redirect() };
        assert_eq!(location(&r, "/old?a=1", "h"), "http://h/new?a=1");
        let r = Redirect { path: Some("/new?b=2".into()), ..redirect() };
        assert_eq!(location(&r, "/old?a=1", "h"), "http://h/new?b=2");
        let r = Redirect { path: Some("/new".into()), strip_query: true, ..redirect() };
        assert_eq!(location(&r, "/old?a=1", "h"), "http://h/new");
        let r = Redirect { strip_query: true, ..redirect() };
        assert_eq!(location(&r, "/old?a=1", "h"), "http://h/old");
    }

    #[test]
    fn prefix_rewrite_redirect() {
        let rw = PrefixRewrite { prefix: "/old".into(), replacement: "/new".into() };
        let r = Redirect { prefix_rewrite: Some(rw), ..redirect() };
        assert_eq!(location(&r, "/old/x?q=1", "h"), "http://h/new/x?q=1");
        // A path the prefix does not start (the route did not match it) is kept.
        assert_eq!(location(&r, "/other", "h"), "http://h/other");
    }

    #[test]
    fn no_host_gives_a_relative_location() {
        let r = redirect();
        assert_eq!(location(&r, "/p?q", ""), "/p?q");
        assert_eq!(location(&r, "/p", "bad/host"), "/p");
        let r = Redirect { host: Some("h.com".into()), ..redirect() };
        assert_eq!(location(&r, "/p", ""), "http://h.com/p");
    }

    #[test]
    fn prefix_rewrite_joins_slashes() {
        let apply = |prefix: &str, replacement: &str, path: &str| {
            let rw = PrefixRewrite { prefix: prefix.into(), replacement: replacement.into() };
            let mut out = String::new();
            rw.apply(path, &mut out).then_some(out)
        };
        assert_eq!(apply("/users", "/v2/users", "/users/7").as_deref(), Some("/v2/users/7"));
        assert_eq!(apply("/api", "/", "/api/x").as_deref(), Some("/x"));
        assert_eq!(apply("/api/", "/", "/api/x").as_deref(), Some("/x"));
        assert_eq!(apply("/api", "/", "/api").as_deref(), Some("/"));
        assert_eq!(apply("/api", "", "/api").as_deref(), Some("/"));
        assert_eq!(apply("/api", "/b", "/apix").as_deref(), Some("/bx"));
        assert_eq!(apply("/api", "/b", "/other"), None);
    }
}
