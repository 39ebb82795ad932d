//! Durations in the configuration: humantime text (`250ms`, `3s`, `1m`, `1m 30s`), read with an
//! error that shows the accepted form.
//!
//! `humantime_serde` alone answers a typo with only humantime's reason ("unknown time unit
//! \"parsecs\"") or serde's "expected a duration", which does not say what a duration looks
//! like; an operator then has to find the docs. These functions read the same text (the
//! parsing is still humantime's) and add the form to every error. Writing goes through
//! `humantime_serde` unchanged, so a config dump reads back. Use with
//! `#[serde(with = "super::duration")]`, or `duration::option` for an `Option<Duration>`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// What a duration looks like, quoted by every duration error.
pub const ACCEPTED_FORM: &str =
    "write a number and a unit, like `250ms`, `3s` or `1m` (units ns, us, ms, s, m, h, d; combine as `1m 30s`)";

/// Writes `duration` as humantime text (`1m 30s`).
pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    humantime_serde::serialize(duration, serializer)
}

/// Reads humantime text; any other value, or text humantime rejects, is an error that says
/// why and quotes [`ACCEPTED_FORM`].
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    deserializer.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl DurationVisitor {
    fn bare_number<E: de::Error>(number: impl fmt::Display) -> E {
        E::custom(format_args!(
            "expected a duration, found the bare number {number} (no unit): {ACCEPTED_FORM}"
        ))
    }
}

impl<'de> Visitor<'de> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a duration: {ACCEPTED_FORM}")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
        humantime_serde::re::humantime::parse_duration(text).map_err(|why| {
            E::custom(format_args!("expected a duration, found `{text}` ({why}): {ACCEPTED_FORM}"))
        })
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Duration, E> {
        Err(Self::bare_number(number))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Duration, E> {
        Err(Self::bare_number(number))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Duration, E> {
        Err(Self::bare_number(number))
    }
}

/// The same, for an `Option<Duration>` field (`null` or absent with `#[serde(default)]` is
/// `None`).
pub mod option {
    use super::*;

    /// A duration read through [`deserialize`](super::deserialize), for `Option`'s own impl.
    struct Text(Duration);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            super::deserialize(deserializer).map(Text)
        }
    }

    /// Writes the duration as humantime text, `None` as null.
    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        humantime_serde::Serde::from(*duration).serialize(serializer)
    }

    /// Reads null as `None` and anything else as [`deserialize`](super::deserialize) does.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<Text>::deserialize(deserializer).map(|text| text.map(|Text(d)| d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize)]
    struct Holder {
        #[serde(with = "super")]
        timeout: Duration,
        #[serde(default, with = "super::option")]
        per_try: Option<Duration>,
    }

    fn read(text: &str) -> Result<Holder, String> {
        serde_norway::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_and_writes_humantime_text() {
        let h = read("timeout: 1m 30s\nper_try: 250ms\n").expect("valid");
        assert_eq!(
            (h.timeout, h.per_try),
            (Duration::from_secs(90), Some(Duration::from_millis(250)))
        );
        let back = serde_norway::to_string(&h).expect("serialisable");
        assert_eq!(back, "timeout: 1m 30s\nper_try: 250ms\n");
        let h = read("timeout: 3s\nper_try: null\n").expect("valid");
        assert_eq!(h.per_try, None);
        assert_eq!(read("timeout: 3s\n").expect("valid").per_try, None);
    }

    #[test]
    fn every_bad_duration_says_the_accepted_form() {
        for (text, why) in [
            ("timeout: 5 parsecs\n", "found `5 parsecs` (unknown time unit \"parsecs\""),
            ("timeout: 10\n", "the bare number 10 (no unit)"),
            ("timeout: 1.5\n", "the bare number 1.5"),
            ("timeout: [1s]\n", "expected a duration"),
            ("timeout: 1s\nper_try: 3 fortnights\n", "found `3 fortnights`"),
            ("timeout: 1s\nper_try: 7\n", "the bare number 7"),
        ] {
            let err = read(text).expect_err(text);
            assert!(err.contains(why), "{text:?}: `{err}` lacks `{why}`");
            assert!(err.contains("like `250ms`, `3s` or `1m`"), "{text:?}: {err}");
        }
    }
}
