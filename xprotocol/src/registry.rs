//! The protocol registry: every protocol linked into the binary, submitted through
//! `inventory`, found by name or detected from a connection's first bytes.
//!
//! A protocol crate registers itself with [`register_protocol!`](crate::register_protocol);
//! linking the crate is enough for the proxy to accept it, with no proxy change.

use std::fmt;

use crate::{AnyProtocol, DetectResult};

/// One registered protocol. Create it through [`register_protocol!`](crate::register_protocol).
pub struct Registration {
    protocol: &'static dyn AnyProtocol,
}

impl Registration {
    /// Wraps a protocol static for submission.
    pub const fn new(protocol: &'static dyn AnyProtocol) -> Self {
        Registration { protocol }
    }

    /// The registered protocol.
    pub fn protocol(&self) -> &'static dyn AnyProtocol {
        self.protocol
    }
}

inventory::collect!(Registration);

/// Registers a protocol value (a `const`-constructible expression, usually a unit struct)
/// with the registry, so that every binary linking the crate can find and detect it.
///
/// ```ignore
/// xprotocol::register_protocol!(MyProtocol);
/// ```
#[macro_export]
macro_rules! register_protocol {
    ($protocol:expr) => {
        $crate::inventory::submit! {
            $crate::registry::Registration::new(&$protocol)
        }
    };
}

/// The outcome of detecting across several protocols.
#[derive(Clone, Copy)]
pub enum Detection {
    /// Exactly this protocol claims the prefix, and no other could still claim it.
    Match(&'static dyn AnyProtocol),
    /// Some protocol needs more bytes to decide.
    NeedMore,
    /// No protocol can claim the prefix.
    NoMatch,
}

impl fmt::Debug for Detection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detection::Match(p) => write!(f, "Match({})", p.name()),
            Detection::NeedMore => f.write_str("NeedMore"),
            Detection::NoMatch => f.write_str("NoMatch"),
        }
    }
}

/// A problem with the set of registered protocols, found by [`ProtocolSet::validate`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two registrations share a name.
    #[error("two registered protocols are named {0:?}")]
    DuplicateName(&'static str),
    /// A protocol provides no sample frames, so detection cannot be checked.
    #[error("protocol {0:?} provides no sample frames")]
    NoSamples(&'static str),
    /// A protocol does not detect one of its own sample frames.
    #[error("protocol {protocol:?} does not detect its own sample #{sample} (says {result:?})")]
    MissesOwnSample {
        /// The protocol.
        protocol: &'static str,
        /// Index into its samples.
        sample: usize,
        /// What its detector said.
        result: DetectResult,
    },
    /// A protocol claims another protocol's sample frame.
    #[error("protocol {claimer:?} also matches sample #{sample} of {owner:?}")]
    Ambiguous {
        /// Whose sample it is.
        owner: &'static str,
        /// Index into the owner's samples.
        sample: usize,
        /// The other protocol that matched it.
        claimer: &'static str,
    },
}

/// A set of protocols to detect among: all registered ones, or a configured subset.
#[derive(Clone)]
pub struct ProtocolSet {
    members: Vec<&'static dyn AnyProtocol>,
}

impl fmt::Debug for ProtocolSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.members.iter().map(|p| p.name())).finish()
    }
}

impl ProtocolSet {
    /// Every protocol registered in this binary, sorted by name.
    pub fn all() -> Self {
        let mut members: Vec<_> =
            inventory::iter::<Registration>.into_iter().map(|r| r.protocol).collect();
        members.sort_by_key(|p| p.name());
        ProtocolSet { members }
    }

    /// The registered protocols with these names, in the order given.
    ///
    /// # Errors
    /// The first name that no registered protocol has.
    pub fn named<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let all = Self::all();
        let mut members = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref();
            match all.get(name) {
                Some(p) => members.push(p),
                None => return Err(name.to_owned()),
            }
        }
        Ok(ProtocolSet { members })
    }

    /// A set of exactly these protocols (tests, and binaries that do not use `inventory`).
    pub fn of(members: Vec<&'static dyn AnyProtocol>) -> Self {
        ProtocolSet { members }
    }

    /// The member named `name`.
    pub fn get(&self, name: &str) -> Option<&'static dyn AnyProtocol> {
        self.members.iter().copied().find(|p| p.name() == name)
    }

    /// The members.
    pub fn iter(&self) -> impl Iterator<Item = &'static dyn AnyProtocol> + '_ {
        self.members.iter().copied()
    }

    /// The member names.
    pub fn names(&self) -> Vec<&'static str> {
        self.members.iter().map(|p| p.name()).collect()
    }

    /// Detects across the set. While any member says `NeedMore` the answer is `NeedMore`
    /// (its bytes may still turn out to be that protocol's); then the first member that says
    /// `Match` wins. Call [`detect_final`](Self::detect_final) when no more bytes will come.
    pub fn detect(&self, prefix: &[u8]) -> Detection {
        let mut matched = None;
        for p in &self.members {
            match p.detect(prefix) {
                DetectResult::NeedMore => return Detection::NeedMore,
                DetectResult::Match if matched.is_none() => matched = Some(*p),
                _ => {}
            }
        }
        matched.map_or(Detection::NoMatch, Detection::Match)
    }

    /// Detects when no more bytes will arrive (the sniff limit or timeout was reached, or the
    /// peer closed): the first member that says `Match`, else `NoMatch`.
    pub fn detect_final(&self, prefix: &[u8]) -> Detection {
        self.members
            .iter()
            .copied()
            .find(|p| p.detect(prefix) == DetectResult::Match)
            .map_or(Detection::NoMatch, Detection::Match)
    }

    /// Checks that names are unique, that every member detects its own samples (and every
    /// prefix of them as `Match` or `NeedMore`), and that no member matches another's sample.
    ///
    /// # Errors
    /// Every problem found.
    pub fn validate(&self) -> Result<(), Vec<RegistryError>> {
        let mut errors = Vec::new();
        for (i, p) in self.members.iter().enumerate() {
            if self.members[..i].iter().any(|q| q.name() == p.name()) {
                errors.push(RegistryError::DuplicateName(p.name()));
            }
            let samples = p.samples();
            if samples.is_empty() {
                errors.push(RegistryError::NoSamples(p.name()));
            }
            for (n, sample) in samples.iter().enumerate() {
                let own = p.detect(sample);
                let prefixes_ok =
                    (0..sample.len()).all(|len| p.detect(&sample[..len]) != DetectResult::NoMatch);
                if own != DetectResult::Match || !prefixes_ok {
                    let result = if prefixes_ok { own } else { DetectResult::NoMatch };
                    errors.push(RegistryError::MissesOwnSample {
                        protocol: p.name(),
                        sample: n,
                        result,
                    });
                }
                for q in &self.members {
                    if q.name() != p.name() && q.detect(sample) == DetectResult::Match {
                        errors.push(RegistryError::Ambiguous {
                            owner: p.name(),
                            sample: n,
                            claimer: q.name(),
                        });
                    }
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamKind;
    use crate::{Codec, DecodeError, EncodeError, Failure, Frame, Limits, Protocol, RequestId};
    use bytes::{Bytes, BytesMut};

    /// A protocol whose frames are `magic, id` and nothing else: just enough to exercise
    /// detection and validation.
    struct Magic {
        name: &'static str,
        magic: &'static [u8],
    }

    #[derive(Clone, Debug)]
    struct MagicFrame(Bytes);

    impl Frame for MagicFrame {
        fn kind(&self) -> StreamKind {
            StreamKind::HeartbeatRequest
        }
        fn request_id(&self) -> RequestId {
            RequestId(0)
        }
        fn set_request_id(&mut self, _: RequestId) -> Result<(), EncodeError> {
            Ok(())
        }
        fn body(&self) -> &Bytes {
            &self.0
        }
        fn wire_len(&self) -> usize {
            self.0.len()
        }
    }

    struct MagicCodec(&'static [u8]);

    impl Codec for MagicCodec {
        type Frame = MagicFrame;
        fn decode(&mut self, src: &mut BytesMut) -> Result<Option<MagicFrame>, DecodeError> {
            if src.len() < self.0.len() {
                return Ok(None);
            }
            Ok(Some(MagicFrame(src.split_to(self.0.len()).freeze())))
        }
        fn encode(&mut self, f: &MagicFrame, dst: &mut BytesMut) -> Result<(), EncodeError> {
            dst.extend_from_slice(&f.0);
            Ok(())
        }
    }

    impl Protocol for Magic {
        type Frame = MagicFrame;
        type Codec = MagicCodec;
        fn name(&self) -> &'static str {
            self.name
        }
        fn detect(&self, prefix: &[u8]) -> DetectResult {
            DetectResult::fixed_prefix(prefix, self.magic)
        }
        fn codec(&self, _: Limits) -> MagicCodec {
            MagicCodec(self.magic)
        }
        fn heartbeat_request(&self, _: RequestId) -> Option<MagicFrame> {
            Some(MagicFrame(Bytes::from_static(self.magic)))
        }
        fn error_reply(&self, _: &MagicFrame, _: Failure, _: &str) -> Option<MagicFrame> {
            None
        }
        fn http_status(&self, _: u32) -> u16 {
            500
        }
    }

    static AB: Magic = Magic { name: "ab", magic: b"AB" };
    static ABC: Magic = Magic { name: "abc", magic: b"ABC" };
    static XY: Magic = Magic { name: "xy", magic: b"XY" };
    static XY_AGAIN: Magic = Magic { name: "xy", magic: b"XZ" };

    crate::register_protocol!(Magic { name: "registered", magic: b"R!" });

    fn name(d: Detection) -> Option<&'static str> {
        match d {
            Detection::Match(p) => Some(p.name()),
            _ => None,
        }
    }

    #[test]
    fn registered_protocols_are_found_by_name() {
        let all = ProtocolSet::all();
        assert_eq!(all.names(), vec!["registered"]);
        assert!(all.get("registered").is_some());
        assert!(all.get("nope").is_none());
        assert_eq!(ProtocolSet::named(&["registered"]).map(|s| s.names()), Ok(vec!["registered"]));
        assert_eq!(ProtocolSet::named(&["registered", "nope"]).err(), Some("nope".to_owned()));
        all.validate().expect("the registered set is consistent");
    }

    #[test]
    fn detection_waits_while_any_member_needs_more() {
        let set = ProtocolSet::of(vec![&AB, &XY]);
        assert!(matches!(set.detect(b""), Detection::NeedMore));
        assert!(matches!(set.detect(b"A"), Detection::NeedMore));
        assert_eq!(name(set.detect(b"AB")), Some("ab"));
        assert!(matches!(set.detect(b"AX"), Detection::NoMatch));
        assert!(matches!(set.detect(b"Q"), Detection::NoMatch));
        // "AB" matches ab while abc still needs a third byte: wait, unless no more will come.
        let set = ProtocolSet::of(vec![&AB, &ABC]);
        assert!(matches!(set.detect(b"AB"), Detection::NeedMore));
        assert_eq!(name(set.detect_final(b"AB")), Some("ab"));
        assert!(matches!(set.detect_final(b"A"), Detection::NoMatch));
    }

    #[test]
    fn validation_reports_ambiguity_and_duplicate_names() {
        let errors = ProtocolSet::of(vec![&AB, &ABC, &XY, &XY_AGAIN]).validate().unwrap_err();
        assert!(errors.contains(&RegistryError::DuplicateName("xy")), "{errors:?}");
        // ab matches abc's sample "ABC"; abc does not match ab's "AB" (it needs more).
        assert!(
            errors.contains(&RegistryError::Ambiguous { owner: "abc", sample: 0, claimer: "ab" }),
            "{errors:?}"
        );
        assert!(!errors.iter().any(|e| matches!(e, RegistryError::Ambiguous { owner: "ab", .. })));
        assert!(ProtocolSet::of(vec![&AB, &XY]).validate().is_ok());
    }
}
