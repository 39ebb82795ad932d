//! gRPC status codes, and the mappings the gateway needs between them, the SDK's
//! [`Failure`] classes, HTTP statuses and HTTP/2 stream resets.
//!
//! A gRPC call succeeds or fails by the `grpc-status` trailer, not by the HTTP status (which is
//! 200 for every well-formed gRPC response). So the gateway must turn its own failures into a
//! code ([`Code::from_failure`]), recover a code when a broken upstream answers with plain HTTP
//! ([`Code::from_http_status`]) or resets the stream ([`Code::from_h2_reset`]), and, for metrics
//! shared with the other protocols, class a code as an HTTP-like status
//! ([`Code::to_http_class`]).

use std::fmt;

use xprotocol::Failure;

/// A gRPC status code, as carried by the `grpc-status` trailer (gRPC's `statuscodes.md`).
///
/// The numbering is fixed by the protocol: `as u32` is the wire value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// Not an error; returned on success.
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error, including a status the receiver cannot interpret.
    Unknown = 2,
    /// The client specified an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity a client attempted to create already exists.
    AlreadyExists = 6,
    /// The caller does not have permission to execute the operation.
    PermissionDenied = 7,
    /// Some resource has been exhausted (a quota, a message size limit, …).
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation.
    FailedPrecondition = 9,
    /// The operation was aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not supported (an unknown method, say).
    Unimplemented = 12,
    /// Internal error: an invariant expected by the underlying system was broken.
    Internal = 13,
    /// The service is currently unavailable; retrying with a backoff may succeed.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request does not have valid authentication credentials.
    Unauthenticated = 16,
}

/// Why a `grpc-status` value is not a status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StatusError {
    /// The value is empty or holds something other than ASCII decimal digits.
    #[error("grpc-status is not a decimal number")]
    NotDecimal,
    /// The value is a number, but not one of the codes 0 to 16.
    #[error("grpc-status {0} is not a defined status code")]
    Undefined(u32),
}

/// Every code's canonical upper-case name and its decimal wire form, by numeric value.
const NAMES: [(&str, &str); 17] = [
    ("OK", "0"),
    ("CANCELLED", "1"),
    ("UNKNOWN", "2"),
    ("INVALID_ARGUMENT", "3"),
    ("DEADLINE_EXCEEDED", "4"),
    ("NOT_FOUND", "5"),
    ("ALREADY_EXISTS", "6"),
    ("PERMISSION_DENIED", "7"),
    ("RESOURCE_EXHAUSTED", "8"),
    ("FAILED_PRECONDITION", "9"),
    ("ABORTED", "10"),
    ("OUT_OF_RANGE", "11"),
    ("UNIMPLEMENTED", "12"),
    ("INTERNAL", "13"),
    ("UNAVAILABLE", "14"),
    ("DATA_LOSS", "15"),
    ("UNAUTHENTICATED", "16"),
];

impl Code {
    /// Every code, in numeric order (index = wire value).
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code with wire value `value`, or `None` for a value gRPC does not define.
    ///
    /// A receiver should treat an undefined value as [`Code::Unknown`]; this function leaves
    /// that choice to the caller.
    pub fn from_u32(value: u32) -> Option<Code> {
        Code::ALL.get(usize::try_from(value).ok()?).copied()
    }

    /// The wire value (0 to 16).
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// The canonical name, as gRPC libraries spell it: `"OK"`, `"UNAVAILABLE"`, …
    pub fn name(self) -> &'static str {
        NAMES[self as usize].0
    }

    /// The code with canonical name `name` (exact, upper case), the inverse of [`Code::name`].
    pub fn from_name(name: &str) -> Option<Code> {
        Code::ALL.into_iter().find(|code| code.name() == name)
    }

    /// The decimal wire form of this code, ready for a `grpc-status` header (`"0"` … `"16"`).
    pub fn as_header_str(self) -> &'static str {
        NAMES[self as usize].1
    }

    /// Parses a `grpc-status` header value: ASCII decimal digits naming a defined code.
    ///
    /// Leading zeros are accepted (the spec forbids sending them, not reading them). Per the
    /// spec a client that gets an error here should act as if the code were
    /// [`Code::Unknown`]; [`status_from_trailers`](crate::status_from_trailers) does so.
    pub fn parse_header(value: &[u8]) -> Result<Code, StatusError> {
        if value.is_empty() {
            return Err(StatusError::NotDecimal);
        }
        let mut number: u32 = 0;
        for &byte in value {
            if !byte.is_ascii_digit() {
                return Err(StatusError::NotDecimal);
            }
            // Saturate: any value past u32 is as undefined as 17.
            number = number.saturating_mul(10).saturating_add(u32::from(byte - b'0'));
        }
        Code::from_u32(number).ok_or(StatusError::Undefined(number))
    }

    /// The code the gateway answers with when it fails a call itself.
    ///
    /// `NoRoute` is `UNIMPLEMENTED` (no one serves this method here), upstream trouble and
    /// resets are `UNAVAILABLE` (a client may retry them), a timeout is `DEADLINE_EXCEEDED`, an
    /// overload is `RESOURCE_EXHAUSTED`, and a request the gateway could not handle is
    /// `INTERNAL`, as gRPC libraries report framing errors. Failure classes added later map to
    /// `INTERNAL` until they are given a code here.
    pub fn from_failure(failure: Failure) -> Code {
        match failure {
            Failure::NoRoute => Code::Unimplemented,
            Failure::NoHealthyUpstream | Failure::UpstreamReset => Code::Unavailable,
            Failure::Timeout => Code::DeadlineExceeded,
            Failure::Overloaded => Code::ResourceExhausted,
            Failure::BadRequest | Failure::Internal => Code::Internal,
            _ => Code::Internal,
        }
    }

    /// The code to report when an upstream answers a gRPC call with a non-200 HTTP status and
    /// no `grpc-status`, following gRPC's `http-grpc-status-mapping.md`.
    ///
    /// Only meaningful for statuses other than 200: a 200 without `grpc-status` is an
    /// `UNKNOWN` (or `INTERNAL`) error by the caller's own rules, not by this table.
    pub fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::Internal,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::Unimplemented,
            429 | 502 | 503 | 504 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    /// The code a call ends with when its HTTP/2 stream is reset with error code `reason`
    /// (`RST_STREAM`), per the table in gRPC's `PROTOCOL-HTTP2.md`.
    ///
    /// `REFUSED_STREAM` means nothing was processed (safe to retry), `CANCEL` is a
    /// cancellation, `ENHANCE_YOUR_CALM` an exhausted bandwidth budget and
    /// `INADEQUATE_SECURITY` a denied permission; every other reason, `NO_ERROR` included, is
    /// `INTERNAL`.
    pub fn from_h2_reset(reason: u32) -> Code {
        match reason {
            0x7 => Code::Unavailable,       // REFUSED_STREAM
            0x8 => Code::Cancelled,         // CANCEL
            0xb => Code::ResourceExhausted, // ENHANCE_YOUR_CALM
            0xc => Code::PermissionDenied,  // INADEQUATE_SECURITY
            _ => Code::Internal,
        }
    }

    /// An HTTP-like status for this code, so that metrics and access logs can class gRPC
    /// outcomes together with the other protocols'. This is never sent on the wire: a gRPC
    /// response always carries HTTP 200.
    ///
    /// `OK` is 200, `CANCELLED` 499 (client closed), the client-input codes 400, `NOT_FOUND`
    /// 404, `UNAUTHENTICATED` 401, `PERMISSION_DENIED` 403, `RESOURCE_EXHAUSTED` 429,
    /// `UNIMPLEMENTED` 501, `UNAVAILABLE` 503, `DEADLINE_EXCEEDED` 504, the rest 500.
    pub fn to_http_class(self) -> u16 {
        match self {
            Code::Ok => 200,
            Code::Cancelled => 499,
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => 400,
            Code::NotFound => 404,
            Code::Unauthenticated => 401,
            Code::PermissionDenied => 403,
            Code::ResourceExhausted => 429,
            Code::Unimplemented => 501,
            Code::Unavailable => 503,
            Code::DeadlineExceeded => 504,
            Code::Unknown
            | Code::AlreadyExists
            | Code::Aborted
            | Code::Internal
            | Code::DataLoss => 500,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_and_names_follow_the_status_code_list() {
        for (index, code) in Code::ALL.into_iter().enumerate() {
            assert_eq!(code.as_u32() as usize, index);
            assert_eq!(Code::from_u32(code.as_u32()), Some(code));
            assert_eq!(Code::from_name(code.name()), Some(code));
            assert_eq!(code.as_header_str(), index.to_string());
            assert_eq!(Code::parse_header(code.as_header_str().as_bytes()), Ok(code));
        }
        assert_eq!(Code::Unavailable.name(), "UNAVAILABLE");
        assert_eq!(Code::DeadlineExceeded.as_u32(), 4);
        assert_eq!(Code::Unauthenticated.as_u32(), 16);
        assert_eq!(Code::from_u32(17), None);
        assert_eq!(Code::from_u32(u32::MAX), None);
        assert_eq!(Code::from_name("ok"), None);
        assert_eq!(Code::NotFound.to_string(), "NOT_FOUND");
    }

    #[test]
    fn grpc_status_parsing_rejects_what_is_not_a_defined_code() {
        assert_eq!(Code::parse_header(b"14"), Ok(Code::Unavailable));
        assert_eq!(Code::parse_header(b"007"), Ok(Code::PermissionDenied));
        assert_eq!(Code::parse_header(b""), Err(StatusError::NotDecimal));
        assert_eq!(Code::parse_header(b" 0"), Err(StatusError::NotDecimal));
        assert_eq!(Code::parse_header(b"-1"), Err(StatusError::NotDecimal));
        assert_eq!(Code::parse_header(b"1x"), Err(StatusError::NotDecimal));
        assert_eq!(Code::parse_header(b"17"), Err(StatusError::Undefined(17)));
        assert_eq!(
            Code::parse_header(b"99999999999999999999"),
            Err(StatusError::Undefined(u32::MAX))
        );
    }

    #[test]
    fn failures_map_to_the_codes_a_client_can_act_on() {
        let expected = [
            (Failure::NoRoute, Code::Unimplemented),
            (Failure::NoHealthyUpstream, Code::Unavailable),
            (Failure::Timeout, Code::DeadlineExceeded),
            (Failure::Overloaded, Code::ResourceExhausted),
            (Failure::BadRequest, Code::Internal),
            (Failure::UpstreamReset, Code::Unavailable),
            (Failure::Internal, Code::Internal),
        ];
        assert_eq!(expected.len(), Failure::ALL.len(), "a failure class has no expectation");
        for (failure, code) in expected {
            assert_eq!(Code::from_failure(failure), code, "{failure}");
        }
    }

    #[test]
    fn http_statuses_map_per_the_grpc_table() {
        let expected = [
            (400, Code::Internal),
            (401, Code::Unauthenticated),
            (403, Code::PermissionDenied),
            (404, Code::Unimplemented),
            (429, Code::Unavailable),
            (502, Code::Unavailable),
            (503, Code::Unavailable),
            (504, Code::Unavailable),
            (500, Code::Unknown),
            (200, Code::Unknown),
            (418, Code::Unknown),
            (0, Code::Unknown),
        ];
        for (status, code) in expected {
            assert_eq!(Code::from_http_status(status), code, "{status}");
        }
    }

    #[test]
    fn stream_resets_map_per_the_grpc_table() {
        assert_eq!(Code::from_h2_reset(0x0), Code::Internal);
        assert_eq!(Code::from_h2_reset(0x1), Code::Internal);
        assert_eq!(Code::from_h2_reset(0x7), Code::Unavailable);
        assert_eq!(Code::from_h2_reset(0x8), Code::Cancelled);
        assert_eq!(Code::from_h2_reset(0xb), Code::ResourceExhausted);
        assert_eq!(Code::from_h2_reset(0xc), Code::PermissionDenied);
        assert_eq!(Code::from_h2_reset(u32::MAX), Code::Internal);
    }

    #[test]
    fn http_classes_for_metrics() {
        let expected = [
            (Code::Ok, 200),
            (Code::Cancelled, 499),
            (Code::Unknown, 500),
            (Code::InvalidArgument, 400),
            (Code::DeadlineExceeded, 504),
            (Code::NotFound, 404),
            (Code::AlreadyExists, 500),
            (Code::PermissionDenied, 403),
            (Code::ResourceExhausted, 429),
            (Code::FailedPrecondition, 400),
            (Code::Aborted, 500),
            (Code::OutOfRange, 400),
            (Code::Unimplemented, 501),
            (Code::Internal, 500),
            (Code::Unavailable, 503),
            (Code::DataLoss, 500),
            (Code::Unauthenticated, 401),
        ];
        assert_eq!(expected.len(), Code::ALL.len());
        for (code, class) in expected {
            assert_eq!(code.to_http_class(), class, "{code}");
        }
    }
}
