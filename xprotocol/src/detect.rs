//! Three-way detection of a connection's first bytes.

/// What a detector concludes from a byte prefix. Detectors look, never consume.
///
/// A detector must answer [`NeedMore`](DetectResult::NeedMore) only while some longer prefix
/// could still be its protocol, and must decide as early as the bytes allow: the proxy holds a
/// connection while any detector says `NeedMore` (bounded in bytes and time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DetectResult {
    /// The prefix is this protocol's.
    Match,
    /// The prefix is too short to decide.
    NeedMore,
    /// The prefix cannot be this protocol's.
    NoMatch,
}

impl DetectResult {
    /// Compares `prefix` with the fixed bytes `expected` (a magic number or a fixed header
    /// start): `Match` once all of `expected` is present and equal, `NeedMore` while what is
    /// present agrees, `NoMatch` at the first difference.
    ///
    /// ```
    /// use xprotocol::DetectResult;
    /// assert_eq!(DetectResult::fixed_prefix(&[0xda], &[0xda, 0xbb]), DetectResult::NeedMore);
    /// assert_eq!(DetectResult::fixed_prefix(&[0xda, 0xbb, 1], &[0xda, 0xbb]), DetectResult::Match);
    /// assert_eq!(DetectResult::fixed_prefix(&[0xdb], &[0xda, 0xbb]), DetectResult::NoMatch);
    /// ```
    pub fn fixed_prefix(prefix: &[u8], expected: &[u8]) -> DetectResult {
        let n = prefix.len().min(expected.len());
        if prefix[..n] != expected[..n] {
            DetectResult::NoMatch
        } else if n < expected.len() {
            DetectResult::NeedMore
        } else {
            DetectResult::Match
        }
    }

    /// Combines two checks of one prefix: `NoMatch` if either refuses, else `NeedMore` if either
    /// needs more, else `Match`.
    pub fn and(self, other: DetectResult) -> DetectResult {
        match (self, other) {
            (DetectResult::NoMatch, _) | (_, DetectResult::NoMatch) => DetectResult::NoMatch,
            (DetectResult::NeedMore, _) | (_, DetectResult::NeedMore) => DetectResult::NeedMore,
            _ => DetectResult::Match,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DetectResult::*;
    use super::*;

    #[test]
    fn combining_checks_prefers_refusal_then_waiting() {
        assert_eq!(Match.and(Match), Match);
        assert_eq!(Match.and(NeedMore), NeedMore);
        assert_eq!(NeedMore.and(NoMatch), NoMatch);
        assert_eq!(DetectResult::fixed_prefix(b"", b"ab"), NeedMore);
        assert_eq!(DetectResult::fixed_prefix(b"ax", b"ab"), NoMatch);
    }
}
