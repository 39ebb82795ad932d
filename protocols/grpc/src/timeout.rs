//! The `grpc-timeout` request header: a call's deadline as a relative duration.
//!
//! The gateway reads it to bound how long it waits for the upstream, and writes the time that
//! remains when it forwards the call, so the upstream gives up when the client does. The wire
//! form is 1 to 8 ASCII digits followed by one unit letter: `H` hours, `M` minutes, `S`
//! seconds, `m` milliseconds, `u` microseconds, `n` nanoseconds (`PROTOCOL-HTTP2.md`,
//! "Timeout").

use std::time::Duration;

/// The most digits a `grpc-timeout` value may have.
pub const MAX_TIMEOUT_DIGITS: usize = 8;

/// The largest count a `grpc-timeout` value can express in any unit (8 digits).
const MAX_AMOUNT: u64 = 99_999_999;

/// Why a `grpc-timeout` value cannot be read. A server must not guess a deadline from a
/// malformed value: the caller should fail the call (gRPC libraries answer `INTERNAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeoutError {
    /// The value has no digits before its unit (or is empty).
    #[error("grpc-timeout has no digits")]
    NoDigits,
    /// The value has more than [`MAX_TIMEOUT_DIGITS`] digits.
    #[error("grpc-timeout has {digits} digits; at most 8 are allowed")]
    TooManyDigits {
        /// How many bytes precede the unit.
        digits: usize,
    },
    /// A byte before the unit is not an ASCII digit.
    #[error("grpc-timeout has the non-digit byte {byte:#04x} at offset {offset}")]
    NotDigit {
        /// Where the byte is.
        offset: usize,
        /// The byte found.
        byte: u8,
    },
    /// The last byte is not one of the units `H M S m u n`.
    #[error("grpc-timeout unit {unit:#04x} is not one of H, M, S, m, u, n")]
    UnknownUnit {
        /// The byte found where the unit should be.
        unit: u8,
    },
}

/// Every unit, coarsest first: its letter and its length in nanoseconds.
const UNITS: [(u8, u64); 6] = [
    (b'H', 3_600_000_000_000),
    (b'M', 60_000_000_000),
    (b'S', 1_000_000_000),
    (b'm', 1_000_000),
    (b'u', 1_000),
    (b'n', 1),
];

/// Reads a `grpc-timeout` value into the duration it denotes.
///
/// Strict about the form (1 to 8 digits, then one unit letter; no spaces, signs or other
/// units) because a misread deadline is worse than a rejected one. `0` is accepted in any
/// unit: it is an already-expired deadline, not a malformed value.
pub fn parse_timeout(value: &[u8]) -> Result<Duration, TimeoutError> {
    let Some((&unit, digits)) = value.split_last() else {
        return Err(TimeoutError::NoDigits);
    };
    let Some(&(_, unit_nanos)) = UNITS.iter().find(|(letter, _)| *letter == unit) else {
        return Err(TimeoutError::UnknownUnit { unit });
    };
    if digits.is_empty() {
        return Err(TimeoutError::NoDigits);
    }
    if digits.len() > MAX_TIMEOUT_DIGITS {
        return Err(TimeoutError::TooManyDigits { digits: digits.len() });
    }
    let mut amount: u64 = 0;
    for (offset, &byte) in digits.iter().enumerate() {
        if !byte.is_ascii_digit() {
            return Err(TimeoutError::NotDigit { offset, byte });
        }
        // At most 8 digits: no overflow possible.
        amount = amount * 10 + u64::from(byte - b'0');
    }
    Ok(nanos_to_duration(u128::from(amount) * u128::from(unit_nanos)))
}

/// Writes `timeout` in the shortest `grpc-timeout` form that loses no more than it must.
///
/// If a unit expresses `timeout` exactly in at most 8 digits, the coarsest such unit is used
/// (`1S`, not `1000m`). Otherwise the finest unit whose count fits 8 digits is used, rounding
/// the count up: the value read back is never shorter than `timeout` and longer by less than
/// one unit, which is under a hundred-thousandth of it. Rounding up keeps a tiny remaining budget from
/// becoming `0`, which the upstream would treat as already expired.
///
/// A timeout longer than 99,999,999 hours (about 11,400 years) is written as `99999999H`, the
/// longest the header can say.
pub fn format_timeout(timeout: Duration) -> String {
    let (amount, unit) = encode(timeout);
    let mut out = amount.to_string();
    out.push(char::from(unit));
    out
}

/// [`format_timeout`] as a header value, ready to insert under `grpc-timeout`.
pub fn timeout_header(timeout: Duration) -> http::HeaderValue {
    // Digits and a unit letter are always a valid header value; the fallback is unreachable.
    http::HeaderValue::try_from(format_timeout(timeout))
        .unwrap_or_else(|_| http::HeaderValue::from_static("99999999H"))
}

/// The count and unit letter that [`format_timeout`] writes.
fn encode(timeout: Duration) -> (u64, u8) {
    let nanos = timeout.as_nanos();
    // Coarsest exact unit: the shortest form that loses nothing.
    for &(letter, unit_nanos) in &UNITS {
        let unit_nanos = u128::from(unit_nanos);
        if nanos % unit_nanos == 0 {
            if let Ok(amount) = u64::try_from(nanos / unit_nanos) {
                if amount <= MAX_AMOUNT {
                    return (amount, letter);
                }
            }
        }
    }
    // Finest unit that fits, rounded up.
    for &(letter, unit_nanos) in UNITS.iter().rev() {
        let unit_nanos = u128::from(unit_nanos);
        if let Ok(amount) = u64::try_from(nanos.div_ceil(unit_nanos)) {
            if amount <= MAX_AMOUNT {
                return (amount, letter);
            }
        }
    }
    (MAX_AMOUNT, b'H')
}

/// A duration of `nanos` nanoseconds (never more than 99,999,999 hours here, well inside
/// `Duration`'s range).
fn nanos_to_duration(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // The remainder is below 10^9 and so fits u32.
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, subsec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn every_unit_parses() {
        assert_eq!(parse_timeout(b"2H"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_timeout(b"3M"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_timeout(b"1S"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_timeout(b"250m"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout(b"7u"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_timeout(b"99999999n"), Ok(Duration::from_nanos(99_999_999)));
        assert_eq!(parse_timeout(b"0m"), Ok(Duration::ZERO));
        assert_eq!(parse_timeout(b"00000001S"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_timeout(b"99999999H"), Ok(Duration::from_secs(99_999_999 * 3600)));
    }

    #[test]
    fn malformed_values_are_typed_errors() {
        assert_eq!(parse_timeout(b""), Err(TimeoutError::NoDigits));
        assert_eq!(parse_timeout(b"S"), Err(TimeoutError::NoDigits));
        assert_eq!(parse_timeout(b"10"), Err(TimeoutError::UnknownUnit { unit: b'0' }));
        assert_eq!(parse_timeout(b"10s"), Err(TimeoutError::UnknownUnit { unit: b's' }));
        assert_eq!(parse_timeout(b"10 S"), Err(TimeoutError::NotDigit { offset: 2, byte: b' ' }));
        assert_eq!(parse_timeout(b"-1S"), Err(TimeoutError::NotDigit { offset: 0, byte: b'-' }));
        assert_eq!(parse_timeout(b"123456789S"), Err(TimeoutError::TooManyDigits { digits: 9 }));
        assert_eq!(parse_timeout(b"1S "), Err(TimeoutError::UnknownUnit { unit: b' ' }));
    }

    #[test]
    fn formatting_picks_the_coarsest_exact_unit() {
        assert_eq!(format_timeout(Duration::from_secs(1)), "1S");
        assert_eq!(format_timeout(Duration::from_secs(60)), "1M");
        assert_eq!(format_timeout(Duration::from_secs(7200)), "2H");
        assert_eq!(format_timeout(Duration::from_millis(1500)), "1500m");
        assert_eq!(format_timeout(Duration::from_nanos(1)), "1n");
        assert_eq!(format_timeout(Duration::ZERO), "0H");
        assert_eq!(format_timeout(Duration::from_nanos(99_999_999)), "99999999n");
    }

    #[test]
    fn formatting_rounds_up_in_the_finest_unit_that_fits() {
        // 100,000,001 ns does not fit 8 digits in ns: 100,001 µs, rounded up.
        assert_eq!(format_timeout(Duration::from_nanos(100_000_001)), "100001u");
        // 100 s and 1 ns: 8 digits in ms are not enough for µs precision.
        assert_eq!(format_timeout(Duration::new(100, 1)), "100001m");
        assert_eq!(format_timeout(Duration::MAX), "99999999H");
        assert_eq!(timeout_header(Duration::from_millis(20)), "20m");
    }

    proptest! {
        #[test]
        fn format_then_parse_never_shortens(secs in 0u64..99_999_999 * 3600, sub in 0u32..1_000_000_000) {
            let timeout = Duration::new(secs, sub);
            let text = format_timeout(timeout);
            prop_assert!(text.len() <= MAX_TIMEOUT_DIGITS + 1, "{text}");
            let back = parse_timeout(text.as_bytes());
            prop_assert!(back.is_ok(), "{text}: {back:?}");
            let back = back.unwrap_or_default();
            prop_assert!(back >= timeout, "{text} is shorter than {timeout:?}");
            // Longer by under a hundred-thousandth: the next finer unit did not fit 8 digits,
            // and no unit is more than 1000 times the next finer one.
            let slack = back - timeout;
            prop_assert!(slack.as_nanos() * 100_000 <= timeout.as_nanos(), "{text} vs {timeout:?}");
        }

        #[test]
        fn short_exact_timeouts_round_trip_exactly(nanos in 0u64..=99_999_999) {
            let timeout = Duration::from_nanos(nanos);
            prop_assert_eq!(parse_timeout(format_timeout(timeout).as_bytes()), Ok(timeout));
        }

        #[test]
        fn parsing_any_bytes_never_panics(value in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = parse_timeout(&value);
        }
    }
}
