//! Turning the configured forms of actions and rewrites into their checked runtime forms.
//!
//! Both the router builder and configuration validation call these, so that a configuration
//! that validates always builds. Each returns the field (relative to the configured struct)
//! and a message on error.

use bytes::Bytes;
use http::header::HeaderValue;
use http::uri::{Authority, PathAndQuery};
use http::StatusCode;

use super::action::{DirectResponse, PrefixRewrite, Redirect};
use super::domain::DomainPattern;
use super::request::split_port;
use crate::config::{HttpDirectResponseConfig, RedirectConfig};

/// A field-located error: the field, relative to the struct checked, and what is wrong.
pub(crate) type FieldError = (&'static str, String);

/// The statuses a redirect may use.
pub(crate) const REDIRECT_CODES: [u16; 5] = [301, 302, 303, 307, 308];

/// A redirect action. `route_prefix` is what the route's `path` match matches from the start
/// (needed by `prefix_rewrite`).
pub(crate) fn redirect(
    config: &RedirectConfig,
    route_prefix: Option<&str>,
) -> Result<Redirect, FieldError> {
    if !REDIRECT_CODES.contains(&config.code) {
        return Err((
            "code",
            format!("{} is not a redirect status (301, 302, 303, 307, 308)", config.code),
        ));
    }
    let status = StatusCode::from_u16(config.code).map_err(|e| ("code", e.to_string()))?;
    if let Some(scheme) = &config.scheme {
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(("scheme", format!("`{scheme}` is not `http` or `https`")));
        }
    }
    if let Some(host) = &config.host {
        redirect_host(host).map_err(|m| ("host", m))?;
    }
    if config.path.is_some() && config.prefix_rewrite.is_some() {
        return Err(("prefix_rewrite", "give either `path` or `prefix_rewrite`, not both".into()));
    }
    if let Some(path) = &config.path {
        if !path.starts_with('/') || PathAndQuery::try_from(path.as_str()).is_err() {
            return Err((
                "path",
                format!("`{path}` is not an absolute path (`/…`, optionally `?query`)"),
            ));
        }
    }
    let prefix_rewrite = config
        .prefix_rewrite
        .as_deref()
        .map(|r| prefix_rewrite(r, route_prefix).map_err(|m| ("prefix_rewrite", m)))
        .transpose()?;
    Ok(Redirect {
        scheme: config.scheme.as_deref().map(|s| s.to_ascii_lowercase().into()),
        host: config.host.as_deref().map(Into::into),
        port: config.port,
        path: config.path.as_deref().map(Into::into),
        prefix_rewrite,
        strip_query: config.strip_query,
        status,
    })
}

/// A host to redirect to: a host name or IP literal, no port (that is `port`), no wildcard.
fn redirect_host(host: &str) -> Result<(), String> {
    let plain = matches!(DomainPattern::parse(host), Ok(DomainPattern::Exact(_)));
    if !plain || split_port(host).1.is_some() {
        return Err(format!("`{host}` is not a host name or IP literal (give a port in `port`)"));
    }
    Ok(())
}

/// A direct response.
pub(crate) fn direct(config: &HttpDirectResponseConfig) -> Result<DirectResponse, FieldError> {
    let status = Some(config.status)
        .filter(|s| (100..=599).contains(s))
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| ("status", format!("{} is not an HTTP status (100–599)", config.status)))?;
    let content_type = config
        .content_type
        .as_deref()
        .map(HeaderValue::from_str)
        .transpose()
        .map_err(|_| ("content_type", "not a valid HTTP header value".to_owned()))?;
    Ok(DirectResponse { status, body: Bytes::from(config.body.clone()), content_type })
}

/// A prefix rewrite: `replacement` replaces `route_prefix`.
pub(crate) fn prefix_rewrite(
    replacement: &str,
    route_prefix: Option<&str>,
) -> Result<PrefixRewrite, String> {
    let prefix = route_prefix.ok_or_else(|| {
        "needs the route to match the path by `prefix` (or `exact`): that is the part replaced"
            .to_owned()
    })?;
    let valid = replacement.is_empty()
        || (replacement.starts_with('/')
            && !replacement.contains(['?', '#'])
            && PathAndQuery::try_from(replacement).is_ok());
    if !valid {
        return Err(format!("`{replacement}` is not a path (`/…`, no query)"));
    }
    Ok(PrefixRewrite { prefix: prefix.into(), replacement: replacement.into() })
}

/// A host rewrite: `host` or `host:port`, as the forwarded request's authority.
pub(crate) fn host_rewrite(host: &str) -> Result<(Authority, HeaderValue), String> {
    let bad = || format!("`{host}` is not a host or host:port");
    if host.is_empty() || host.contains('@') {
        return Err(bad());
    }
    let authority: Authority = host.parse().map_err(|_| bad())?;
    let value = HeaderValue::from_str(authority.as_str()).map_err(|_| bad())?;
    Ok((authority, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redirect_config() -> RedirectConfig {
        RedirectConfig {
            scheme: None,
            host: None,
            port: None,
            path: None,
            prefix_rewrite: None,
            strip_query: false,
            code: 301,
        }
    }

    fn field(r: Result<Redirect, FieldError>) -> &'static str {
        r.unwrap_err().0
    }

    #[test]
    fn redirect_checks_each_field() {
        assert!(redirect(&redirect_config(), None).is_ok());
        for code in REDIRECT_CODES {
            let r = redirect(&RedirectConfig { code, ..redirect_config() }, None).unwrap();
            assert_eq!(r.status().as_u16(), code);
        }
        for code in [200, 300, 304, 305, 400] {
            assert_eq!(
                field(redirect(&RedirectConfig { code, ..redirect_config() }, None)),
                "code"
            );
        }
        let c = RedirectConfig { scheme: Some("ftp".into()), ..redirect_config() };
        assert_eq!(field(redirect(&c, None)), "scheme");
        let c = RedirectConfig { scheme: Some("HTTPS".into()), ..redirect_config() };
        assert_eq!(redirect(&c, None).unwrap().scheme.as_deref(), Some("https"));
        for host in ["h.com:80", "*.h.com", "a/b", ""] {
            let c = RedirectConfig { host: Some(host.into()), ..redirect_config() };
            assert_eq!(field(redirect(&c, None)), "host", "{host}");
        }
        let c = RedirectConfig { host: Some("[::1]".into()), ..redirect_config() };
        assert!(redirect(&c, None).is_ok());
        for path in ["x", "/a b"] {
            let c = RedirectConfig { path: Some(path.into()), ..redirect_config() };
            assert_eq!(field(redirect(&c, None)), "path", "{path}");
        }
        let c = RedirectConfig { prefix_rewrite: Some("/n".into()), ..redirect_config() };
        assert_eq!(field(redirect(&c, None)), "prefix_rewrite");
        assert!(redirect(&c, Some("/o")).is_ok());
        let c = RedirectConfig { path: Some("/p".into()), ..c };
        assert_eq!(field(redirect(&c, Some("/o"))), "prefix_rewrite");
    }

    #[test]
    fn direct_checks_status_and_content_type() {
        let c = HttpDirectResponseConfig {
            status: 200,
            body: "ok\n".into(),
            content_type: Some("text/plain".into()),
        };
        let d = direct(&c).unwrap();
        assert_eq!(d.status, StatusCode::OK);
        assert_eq!(d.body, Bytes::from_static(b"ok\n"));
        assert_eq!(d.content_type.unwrap(), "text/plain");
        for status in [0, 99, 600, 999] {
            let c = HttpDirectResponseConfig { status, body: String::new(), content_type: None };
            assert_eq!(direct(&c).unwrap_err().0, "status", "{status}");
        }
        let c = HttpDirectResponseConfig {
            status: 200,
            body: String::new(),
            content_type: Some("a\nb".into()),
        };
        assert_eq!(direct(&c).unwrap_err().0, "content_type");
    }

    #[test]
    fn rewrites_are_checked() {
        assert!(prefix_rewrite("/v2", None).is_err());
        assert!(prefix_rewrite("/v2", Some("/v1")).is_ok());
        assert!(prefix_rewrite("", Some("/v1")).is_ok());
        assert!(prefix_rewrite("v2", Some("/v1")).is_err());
        assert!(prefix_rewrite("/v2?x", Some("/v1")).is_err());
        let (authority, value) = host_rewrite("users.internal:8080").unwrap();
        assert_eq!(authority.host(), "users.internal");
        assert_eq!(value, "users.internal:8080");
        for bad in ["", "u@h", "a b", "h/p"] {
            assert!(host_rewrite(bad).is_err(), "{bad}");
        }
    }
}
