//! Matchers: one configured condition on one request field ([`StringMatcher`]) and the
//! conditions of a route ([`RouteMatch`]), compiled once when the table is built.

use regex::Regex;
use xprotocol::Frame;

use super::BuildError;
use crate::config::{RouteMatchConfig, StringMatch};

/// A compiled [`StringMatch`]. Matching allocates nothing; regular expressions are compiled
/// when the route table is built (the `regex` crate matches in linear time, so a hostile
/// value cannot make matching slow).
#[derive(Clone, Debug)]
pub enum StringMatcher {
    /// The value equals this string.
    Exact(Box<str>),
    /// The value starts with this string.
    Prefix(Box<str>),
    /// The value matches this regular expression somewhere (anchor it for a whole match).
    Regex(Regex),
    /// The value is present (`true`) or absent (`false`), whatever it is.
    Present(bool),
}

impl StringMatcher {
    /// Compiles `config`.
    ///
    /// # Errors
    /// The regex compiler's error for an invalid (or too large) regular expression.
    pub fn compile(config: &StringMatch) -> Result<StringMatcher, regex::Error> {
        Ok(match config {
            StringMatch::Exact(s) => StringMatcher::Exact(s.as_str().into()),
            StringMatch::Prefix(s) => StringMatcher::Prefix(s.as_str().into()),
            StringMatch::Regex(r) => StringMatcher::Regex(Regex::new(r)?),
            StringMatch::Present(p) => StringMatcher::Present(*p),
        })
    }

    /// Whether `value` (`None` when the request does not carry the field) satisfies the
    /// condition. Only `present: false` matches an absent field.
    pub fn matches(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (StringMatcher::Present(wanted), v) => *wanted == v.is_some(),
            (_, None) => false,
            (StringMatcher::Exact(s), Some(v)) => v == &**s,
            (StringMatcher::Prefix(s), Some(v)) => v.starts_with(&**s),
            (StringMatcher::Regex(r), Some(v)) => r.is_match(v),
        }
    }
}

/// The conditions of a route, all of which must hold.
#[derive(Clone, Debug, Default)]
pub struct RouteMatch {
    service: Option<StringMatcher>,
    method: Option<StringMatcher>,
    version: Option<StringMatcher>,
    group: Option<StringMatcher>,
    headers: Box<[(Box<str>, StringMatcher)]>,
}

impl RouteMatch {
    /// Whether `request` satisfies every condition. Allocates nothing.
    pub fn matches(&self, request: &dyn Frame) -> bool {
        fn field(m: &Option<StringMatcher>, value: Option<&str>) -> bool {
            m.as_ref().is_none_or(|m| m.matches(value))
        }
        field(&self.service, request.service())
            && field(&self.method, request.method())
            && field(&self.version, request.version())
            && field(&self.group, request.group())
            && self.headers.iter().all(|(name, m)| m.matches(request.header(name)))
    }

    /// Compiles the match of route `index` of `protocol`'s table.
    pub(crate) fn build(
        protocol: &str,
        index: usize,
        config: &RouteMatchConfig,
    ) -> Result<RouteMatch, BuildError> {
        let compile = |field: &str, m: &StringMatch| {
            StringMatcher::compile(m).map_err(|source| BuildError::InvalidRegex {
                protocol: protocol.to_owned(),
                index,
                field: field.to_owned(),
                source,
            })
        };
        let optional = |field: &str, m: &Option<StringMatch>| {
            m.as_ref().map(|m| compile(field, m)).transpose()
        };
        Ok(RouteMatch {
            service: optional("service", &config.service)?,
            method: optional("method", &config.method)?,
            version: optional("version", &config.version)?,
            group: optional("group", &config.group)?,
            headers: config
                .headers
                .iter()
                .map(|(name, m)| {
                    Ok((name.as_str().into(), compile(&format!("headers.{name}"), m)?))
                })
                .collect::<Result<Vec<_>, BuildError>>()?
                .into_boxed_slice(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(config: StringMatch) -> StringMatcher {
        StringMatcher::compile(&config).unwrap()
    }

    #[test]
    fn exact() {
        let x = m(StringMatch::Exact("com.acme.Echo".into()));
        assert!(x.matches(Some("com.acme.Echo")));
        assert!(!x.matches(Some("com.acme.Echo2")));
        assert!(!x.matches(Some("com.acme.echo")));
        assert!(!x.matches(Some("")));
        assert!(!x.matches(None));
        assert!(m(StringMatch::Exact(String::new())).matches(Some("")));
    }

    #[test]
    fn prefix() {
        let x = m(StringMatch::Prefix("com.acme.".into()));
        assert!(x.matches(Some("com.acme.Echo")));
        assert!(x.matches(Some("com.acme.")));
        assert!(!x.matches(Some("com.acm")));
        assert!(!x.matches(Some("org.com.acme.Echo")));
        assert!(!x.matches(None));
        // The empty prefix matches any present value, but not an absent one.
        let any = m(StringMatch::Prefix(String::new()));
        assert!(any.matches(Some("")));
        assert!(!any.matches(None));
    }

    #[test]
    fn regex_unanchored_and_anchored() {
        let x = m(StringMatch::Regex("Echo(Service)?$".into()));
        assert!(x.matches(Some("com.acme.EchoService")));
        assert!(x.matches(Some("com.acme.Echo")));
        assert!(!x.matches(Some("com.acme.EchoServiceV2")));
        assert!(!x.matches(None));
        let anchored = m(StringMatch::Regex("^v[0-9]+$".into()));
        assert!(anchored.matches(Some("v12")));
        assert!(!anchored.matches(Some("xv12")));
    }

    #[test]
    fn present_true_and_false() {
        let yes = m(StringMatch::Present(true));
        assert!(yes.matches(Some("")));
        assert!(yes.matches(Some("x")));
        assert!(!yes.matches(None));
        let no = m(StringMatch::Present(false));
        assert!(no.matches(None));
        assert!(!no.matches(Some("")));
    }

    #[test]
    fn invalid_regex_is_an_error() {
        assert!(StringMatcher::compile(&StringMatch::Regex("(unclosed".into())).is_err());
    }
}
