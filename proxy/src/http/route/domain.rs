//! Choosing the virtual host of a request by its authority.
//!
//! Precedence is Envoy's: an exact domain, then suffix wildcards `*.example.com` (longest
//! first), then prefix wildcards `www.*` (longest first), then `*`. Names compare
//! case-insensitively. A domain without a port matches the authority with its port stripped;
//! a domain with a port (`api.example.com:8080`) matches only that port. Within each tier the
//! authority as sent is tried before the stripped one.

use std::collections::HashMap;

use super::request::split_port;

/// One configured domain, lowercased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DomainPattern {
    /// `api.example.com` (or `api.example.com:8080`).
    Exact(Box<str>),
    /// `*.example.com`, kept as the suffix `.example.com`.
    Suffix(Box<str>),
    /// `www.*`, kept as the prefix `www.`.
    Prefix(Box<str>),
    /// `*`.
    Any,
}

impl DomainPattern {
    /// Parses a configured domain.
    ///
    /// # Errors
    /// Why the domain is not usable, in words: empty, a misplaced `*`, or bytes no authority
    /// can hold.
    pub(crate) fn parse(domain: &str) -> Result<DomainPattern, String> {
        if domain.is_empty() {
            return Err("a domain must not be empty".into());
        }
        if domain == "*" {
            return Ok(DomainPattern::Any);
        }
        let lower = domain.to_ascii_lowercase();
        let (pattern, rest) = if let Some(suffix) = lower.strip_prefix('*') {
            (DomainPattern::Suffix(suffix.into()), suffix.strip_prefix('.'))
        } else if let Some(prefix) = lower.strip_suffix('*') {
            (DomainPattern::Prefix(prefix.into()), prefix.strip_suffix('.'))
        } else {
            (DomainPattern::Exact(lower.as_str().into()), Some(lower.as_str()))
        };
        let misplaced = || {
            format!(
                "`{domain}`: a wildcard is only allowed as `*`, a leading `*.` or a trailing `.*`"
            )
        };
        let rest = rest.filter(|r| !r.is_empty()).ok_or_else(misplaced)?;
        if rest.contains('*') {
            return Err(misplaced());
        }
        let valid = rest.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
        if !valid {
            return Err(format!("`{domain}` is not a host name, IP literal or host:port"));
        }
        let (host, _) = split_port(rest);
        if host.contains(':') && !host.starts_with('[') {
            return Err(format!("`{domain}`: a port must be a number (0–65535)"));
        }
        Ok(pattern)
    }
}

/// The domains of every virtual host, indexed for lookup.
#[derive(Clone, Debug, Default)]
pub(crate) struct DomainTable {
    exact: HashMap<Box<str>, usize>,
    /// Longest suffix first.
    suffix: Vec<(Box<str>, usize)>,
    /// Longest prefix first.
    prefix: Vec<(Box<str>, usize)>,
    any: Option<usize>,
}

impl DomainTable {
    /// Adds `pattern`, served by virtual host `vhost`. Returns the virtual host that already
    /// holds the same pattern, if any (and keeps it).
    pub(crate) fn insert(&mut self, pattern: DomainPattern, vhost: usize) -> Result<(), usize> {
        let list = match pattern {
            DomainPattern::Exact(name) => {
                return match self.exact.get(&name) {
                    Some(&first) => Err(first),
                    None => {
                        self.exact.insert(name, vhost);
                        Ok(())
                    }
                };
            }
            DomainPattern::Any => {
                return match self.any {
                    Some(first) => Err(first),
                    None => {
                        self.any = Some(vhost);
                        Ok(())
                    }
                };
            }
            DomainPattern::Suffix(s) => (&mut self.suffix, s),
            DomainPattern::Prefix(p) => (&mut self.prefix, p),
        };
        let (list, text) = list;
        if let Some((_, first)) = list.iter().find(|(t, _)| *t == text) {
            return Err(*first);
        }
        // Stable: among equal lengths the first configured stays first.
        let at = list.partition_point(|(t, _)| t.len() >= text.len());
        list.insert(at, (text, vhost));
        Ok(())
    }

    /// The virtual host serving `authority`, if any. Allocates only for an authority with
    /// upper-case letters longer than 255 bytes.
    pub(crate) fn lookup(&self, authority: &str) -> Option<usize> {
        let (host, port) = split_port(authority);
        let candidates = [Some(authority), port.map(|_| host)];
        let candidates = || candidates.iter().flatten().copied();
        if !self.exact.is_empty() {
            for candidate in candidates() {
                if let Some(&vhost) = self.lookup_exact(candidate) {
                    return Some(vhost);
                }
            }
        }
        let ends = |c: &str, s: &str| {
            c.len() > s.len()
                && c.get(c.len() - s.len()..).is_some_and(|e| e.eq_ignore_ascii_case(s))
        };
        let starts = |c: &str, p: &str| {
            c.len() > p.len() && c.get(..p.len()).is_some_and(|e| e.eq_ignore_ascii_case(p))
        };
        let found = self
            .suffix
            .iter()
            .find(|(s, _)| candidates().any(|c| ends(c, s)))
            .or_else(|| self.prefix.iter().find(|(p, _)| candidates().any(|c| starts(c, p))));
        found.map(|(_, vhost)| *vhost).or(self.any)
    }

    fn lookup_exact(&self, name: &str) -> Option<&usize> {
        if !name.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.exact.get(name);
        }
        let mut buf = [0_u8; 255];
        match buf.get_mut(..name.len()) {
            Some(lower) => {
                lower.copy_from_slice(name.as_bytes());
                lower.make_ascii_lowercase();
                std::str::from_utf8(lower).ok().and_then(|l| self.exact.get(l))
            }
            None => self.exact.get(name.to_ascii_lowercase().as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(vhosts: &[&[&str]]) -> DomainTable {
        let mut t = DomainTable::default();
        for (i, domains) in vhosts.iter().enumerate() {
            for d in *domains {
                t.insert(DomainPattern::parse(d).unwrap(), i).unwrap();
            }
        }
        t
    }

    #[test]
    fn parses_the_four_forms() {
        use DomainPattern::*;
        assert_eq!(DomainPattern::parse("API.example.com"), Ok(Exact("api.example.com".into())));
        assert_eq!(DomainPattern::parse("a.com:8080"), Ok(Exact("a.com:8080".into())));
        assert_eq!(DomainPattern::parse("[::1]:80"), Ok(Exact("[::1]:80".into())));
        assert_eq!(DomainPattern::parse("*.example.com"), Ok(Suffix(".example.com".into())));
        assert_eq!(DomainPattern::parse("www.*"), Ok(Prefix("www.".into())));
        assert_eq!(DomainPattern::parse("*"), Ok(Any));
    }

    #[test]
    fn refuses_misplaced_wildcards_and_bad_bytes() {
        for bad in
            ["", "*.", ".*", "**", "a.*.com", "*a.com", "a*", "*.a.*", "a.com/x", "a b", "a:b"]
        {
            assert!(DomainPattern::parse(bad).is_err(), "{bad:?}");
        }
        let msg = DomainPattern::parse("a.*.com").unwrap_err();
        assert!(msg.contains("leading `*.`"), "{msg}");
    }

    #[test]
    fn precedence_exact_suffix_prefix_any() {
        let t = table(&[
            &["*"],
            &["www.*"],
            &["*.example.com"],
            &["*.api.example.com"],
            &["api.example.com"],
            &["www.example.*"],
        ]);
        assert_eq!(t.lookup("api.example.com"), Some(4));
        // Longest suffix first, whatever the configuration order.
        assert_eq!(t.lookup("v1.api.example.com"), Some(3));
        assert_eq!(t.lookup("shop.example.com"), Some(2));
        // A suffix wildcard beats a prefix one.
        assert_eq!(t.lookup("www.example.com"), Some(2));
        // Longest prefix first.
        assert_eq!(t.lookup("www.example.org"), Some(5));
        assert_eq!(t.lookup("www.other.org"), Some(1));
        assert_eq!(t.lookup("other.org"), Some(0));
        assert_eq!(t.lookup(""), Some(0));
        // `*.example.com` needs something before the dot.
        assert_eq!(t.lookup("example.com"), Some(0));
    }

    #[test]
    fn case_insensitive_and_port_stripped() {
        let t = table(&[&["api.example.com", "*.shop.com", "admin.*"], &["api.example.com:8443"]]);
        assert_eq!(t.lookup("API.Example.COM"), Some(0));
        assert_eq!(t.lookup("api.example.com:80"), Some(0));
        assert_eq!(t.lookup("api.example.com:8443"), Some(1));
        assert_eq!(t.lookup("API.EXAMPLE.COM:8443"), Some(1));
        assert_eq!(t.lookup("X.Shop.Com:1234"), Some(0));
        assert_eq!(t.lookup("ADMIN.corp"), Some(0));
        assert_eq!(t.lookup("nothing.org"), None);
        let long = format!("{}.COM", "A".repeat(300));
        assert_eq!(t.lookup(&long), None);
        let t = table(&[&[&long]]);
        assert_eq!(t.lookup(&long.to_ascii_uppercase()), Some(0));
    }

    #[test]
    fn duplicates_are_reported_with_the_first_holder() {
        let mut t = table(&[&["a.com", "*.b.com", "c.*", "*"]]);
        assert_eq!(t.insert(DomainPattern::parse("A.com").unwrap(), 1), Err(0));
        assert_eq!(t.insert(DomainPattern::parse("*.b.com").unwrap(), 1), Err(0));
        assert_eq!(t.insert(DomainPattern::parse("c.*").unwrap(), 1), Err(0));
        assert_eq!(t.insert(DomainPattern::parse("*").unwrap(), 1), Err(0));
        assert_eq!(t.insert(DomainPattern::parse("a.com:1").unwrap(), 1), Ok(()));
    }
}
