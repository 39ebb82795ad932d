//! The conditions of an HTTP route, compiled once when the router is built.
//!
//! Matching reads the request head in place: the path and header values are matched as
//! received, query parameters are split without copying and only percent-decoded (into a
//! fresh string) when they contain `%` or `+`.

use std::borrow::Cow;

use http::header::HeaderName;
use http::Method;

use super::headers::parse_name;
use super::request::RequestView;
use crate::config::{GrpcMatchConfig, HttpRouteMatchConfig, StringMatch};
use crate::route::StringMatcher;

/// All conditions of a route. The empty match matches every request.
#[derive(Clone, Debug, Default)]
pub struct HttpRouteMatch {
    path: Option<StringMatcher>,
    methods: Box<[Method]>,
    headers: Box<[(HeaderName, StringMatcher)]>,
    query: Box<[(Box<str>, StringMatcher)]>,
    grpc: Option<GrpcMatch>,
}

#[derive(Clone, Debug, Default)]
struct GrpcMatch {
    service: Option<StringMatcher>,
    method: Option<StringMatcher>,
}

/// Why a match could not be compiled: the field (relative to `match`) and the message.
pub(crate) type MatchError = (String, String);

impl HttpRouteMatch {
    /// Compiles `config`.
    ///
    /// # Errors
    /// The first invalid field: a regex that does not compile, a method or header name that
    /// is not valid HTTP.
    pub(crate) fn build(config: &HttpRouteMatchConfig) -> Result<HttpRouteMatch, MatchError> {
        let compile = |field: String, m: &StringMatch| {
            StringMatcher::compile(m)
                .map_err(|e| (format!("{field}.regex"), format!("invalid regular expression: {e}")))
        };
        let optional = |field: &str, m: &Option<StringMatch>| {
            m.as_ref().map(|m| compile(field.to_owned(), m)).transpose()
        };
        let methods = config
            .methods
            .iter()
            .enumerate()
            .map(|(i, m)| parse_method(m).map_err(|e| (format!("methods[{i}]"), e)))
            .collect::<Result<Vec<_>, _>>()?;
        let headers = config
            .headers
            .iter()
            .map(|(name, m)| {
                let field = format!("headers.{name}");
                let parsed = parse_name(name).map_err(|e| (field.clone(), e))?;
                Ok((parsed, compile(field, m)?))
            })
            .collect::<Result<Vec<_>, MatchError>>()?;
        let query = config
            .query
            .iter()
            .map(|(name, m)| Ok((name.as_str().into(), compile(format!("query.{name}"), m)?)))
            .collect::<Result<Vec<_>, MatchError>>()?;
        let grpc = config
            .grpc
            .as_ref()
            .map(|g: &GrpcMatchConfig| -> Result<GrpcMatch, MatchError> {
                Ok(GrpcMatch {
                    service: optional("grpc.service", &g.service)?,
                    method: optional("grpc.method", &g.method)?,
                })
            })
            .transpose()?;
        Ok(HttpRouteMatch {
            path: optional("path", &config.path)?,
            methods: methods.into_boxed_slice(),
            headers: headers.into_boxed_slice(),
            query: query.into_boxed_slice(),
            grpc,
        })
    }

    /// Whether `req` satisfies every condition.
    pub fn matches(&self, req: &RequestView<'_>) -> bool {
        if self.grpc.is_some() && !req.grpc {
            return false;
        }
        if !self.methods.is_empty() && !self.methods.contains(req.method) {
            return false;
        }
        let path = req.uri.path();
        if self.path.as_ref().is_some_and(|m| !m.matches(Some(path))) {
            return false;
        }
        if !self.headers.iter().all(|(name, m)| header_matches(req, name, m)) {
            return false;
        }
        if !self.query.is_empty() {
            let query = req.uri.query().unwrap_or("");
            if !self.query.iter().all(|(name, m)| query_matches(query, name, m)) {
                return false;
            }
        }
        match &self.grpc {
            None => true,
            Some(grpc) => {
                let (service, method) = grpc_parts(path);
                let ok = |m: &Option<StringMatcher>, v| m.as_ref().is_none_or(|m| m.matches(v));
                ok(&grpc.service, service) && ok(&grpc.method, method)
            }
        }
    }

    /// The literal the `path` condition matches from the start (its `prefix`, or its `exact`
    /// value), which a `prefix_rewrite` replaces; `None` for other path conditions.
    pub fn path_prefix(&self) -> Option<&str> {
        match &self.path {
            Some(StringMatcher::Prefix(p) | StringMatcher::Exact(p)) => Some(p),
            _ => None,
        }
    }
}

/// Parses a configured method (case-sensitive, as HTTP methods are).
///
/// # Errors
/// Why it is not a valid method token.
pub(crate) fn parse_method(method: &str) -> Result<Method, String> {
    if method.is_empty() {
        return Err("a method must not be empty".into());
    }
    Method::from_bytes(method.as_bytes())
        .map_err(|_| format!("`{method}` is not a valid HTTP method"))
}

/// A header condition: `present` looks at the name only; the other forms hold when any value
/// of the header (as UTF-8) satisfies them.
fn header_matches(req: &RequestView<'_>, name: &HeaderName, m: &StringMatcher) -> bool {
    match m {
        StringMatcher::Present(wanted) => req.headers.contains_key(name) == *wanted,
        _ => req
            .headers
            .get_all(name)
            .iter()
            .any(|v| std::str::from_utf8(v.as_bytes()).is_ok_and(|v| m.matches(Some(v)))),
    }
}

/// A query condition on the first parameter whose decoded name is `name`. A parameter
/// without `=` has the empty value; one whose decoded value is not UTF-8 is present but
/// matches no value condition.
fn query_matches(query: &str, name: &str, m: &StringMatcher) -> bool {
    let found = query.split('&').filter(|p| !p.is_empty()).find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(key).as_deref() == Some(name)).then_some(value)
    });
    match (m, found) {
        (StringMatcher::Present(wanted), found) => *wanted == found.is_some(),
        (_, None) => false,
        (_, Some(value)) => decode(value).is_some_and(|v| m.matches(Some(&v))),
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; a `%` not
/// followed by two hex digits stays as it is. Borrows when there is nothing to decode;
/// `None` when the decoded bytes are not UTF-8.
pub(crate) fn decode(s: &str) -> Option<Cow<'_, str>> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Some(Cow::Borrowed(s));
    }
    let raw = s.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        let hex = |at: usize| raw.get(at).and_then(|h| char::from(*h).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'+', ..) => out.push(b' '),
            (b'%', Some(high), Some(low)) => {
                out.extend(u8::try_from(high * 16 + low).ok());
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// The service and method of a gRPC path `/<service>/<method>`; `(None, None)` for any other
/// shape.
fn grpc_parts(path: &str) -> (Option<&str>, Option<&str>) {
    path.strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .filter(|(s, m)| !s.is_empty() && !m.is_empty() && !m.contains('/'))
        .map_or((None, None), |(s, m)| (Some(s), Some(m)))
}

#[cfg(test)]
mod tests;
