//! Response statuses and their HTTP-like classes.

use xprotocol::Failure;

/// A Dubbo response status (header byte 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// 20: success.
    Ok,
    /// 30: the consumer gave up waiting.
    ClientTimeout,
    /// 31: the provider (or a proxy in front of it) gave up waiting.
    ServerTimeout,
    /// 40: the request could not be decoded or is not acceptable.
    BadRequest,
    /// 50: the response could not be encoded.
    BadResponse,
    /// 60: no such service.
    ServiceNotFound,
    /// 70: the service failed.
    ServiceError,
    /// 80: the server failed.
    ServerError,
    /// 90: the client failed.
    ClientError,
    /// 100: the provider's thread pool is exhausted.
    ServerThreadpoolExhausted,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 10] = [
        Status::Ok,
        Status::ClientTimeout,
        Status::ServerTimeout,
        Status::BadRequest,
        Status::BadResponse,
        Status::ServiceNotFound,
        Status::ServiceError,
        Status::ServerError,
        Status::ClientError,
        Status::ServerThreadpoolExhausted,
    ];

    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            Status::Ok => 20,
            Status::ClientTimeout => 30,
            Status::ServerTimeout => 31,
            Status::BadRequest => 40,
            Status::BadResponse => 50,
            Status::ServiceNotFound => 60,
            Status::ServiceError => 70,
            Status::ServerError => 80,
            Status::ClientError => 90,
            Status::ServerThreadpoolExhausted => 100,
        }
    }

    /// The status with wire code `code`, if Dubbo defines one.
    pub fn from_code(code: u8) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The HTTP-like class: 200 success, 504 timeouts, 400 bad request, 404 service not found,
    /// 503 thread pool exhausted, 500 the rest.
    pub fn http_status(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::ClientTimeout | Status::ServerTimeout => 504,
            Status::BadRequest => 400,
            Status::ServiceNotFound => 404,
            Status::ServerThreadpoolExhausted => 503,
            Status::BadResponse
            | Status::ServiceError
            | Status::ServerError
            | Status::ClientError => 500,
        }
    }

    /// The status an error reply for `failure` carries.
    ///
    /// - no route → 60 service not found;
    /// - no healthy upstream → 100 thread pool exhausted: like overload, a temporary
    ///   unavailability worth retrying elsewhere or later (both are HTTP 503), whereas 60
    ///   would claim the service does not exist and 80 would read as a provider bug;
    /// - timeout → 31 server timeout (a Java consumer raises its `TimeoutException`);
    /// - overloaded → 100; bad request → 40;
    /// - upstream reset and internal errors → 80 server error.
    pub fn for_failure(failure: Failure) -> Status {
        match failure {
            Failure::NoRoute => Status::ServiceNotFound,
            Failure::NoHealthyUpstream | Failure::Overloaded => Status::ServerThreadpoolExhausted,
            Failure::Timeout => Status::ServerTimeout,
            Failure::BadRequest => Status::BadRequest,
            Failure::UpstreamReset | Failure::Internal => Status::ServerError,
            // `Failure` is non-exhaustive: a class added later is a server-side error until
            // mapped on purpose.
            _ => Status::ServerError,
        }
    }
}

/// The HTTP-like class of a status code; codes Dubbo does not define are 500.
pub fn http_status(code: u32) -> u16 {
    u8::try_from(code).ok().and_then(Status::from_code).map_or(500, Status::http_status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_map_to_http() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
            assert_eq!(http_status(u32::from(s.code())), s.http_status());
        }
        assert_eq!(Status::from_code(21), None);
        assert_eq!(http_status(20), 200);
        assert_eq!(http_status(31), 504);
        assert_eq!(http_status(60), 404);
        assert_eq!(http_status(100), 503);
        assert_eq!(http_status(7), 500);
        assert_eq!(http_status(1000), 500);
    }

    #[test]
    fn failures_keep_their_http_class_where_dubbo_has_one() {
        for f in Failure::ALL {
            let status = Status::for_failure(f);
            assert_ne!(status, Status::Ok);
            match f {
                // Dubbo has no 502-like status: a reset upstream is a server error (500).
                Failure::UpstreamReset => assert_eq!(status.http_status(), 500),
                _ => assert_eq!(status.http_status(), f.http_status(), "{f:?}"),
            }
        }
    }
}
