//! Bolt response status codes and their HTTP-like classes.

/// A Bolt response status. Frames may carry codes outside this list; see
/// [`ResponseStatus::from_u16`] and [`http_status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponseStatus {
    /// 0x00: the call succeeded.
    Success,
    /// 0x01: an error was caught.
    Error,
    /// 0x02: the server threw; the body carries the exception.
    ServerException,
    /// 0x03: unknown failure.
    Unknown,
    /// 0x04: the server's thread pool is busy.
    ServerThreadpoolBusy,
    /// 0x05: communication error.
    ErrorComm,
    /// 0x06: no processor for the request.
    NoProcessor,
    /// 0x07: timeout.
    Timeout,
    /// 0x08: the client could not send.
    ClientSendError,
    /// 0x09: encoding or decoding failed.
    CodecException,
    /// 0x10: the connection closed.
    ConnectionClosed,
    /// 0x11: the server could not serialise the response.
    ServerSerialException,
    /// 0x12: the server could not deserialise the request.
    ServerDeserialException,
}

impl ResponseStatus {
    /// Every status, in code order.
    pub const ALL: [ResponseStatus; 13] = [
        ResponseStatus::Success,
        ResponseStatus::Error,
        ResponseStatus::ServerException,
        ResponseStatus::Unknown,
        ResponseStatus::ServerThreadpoolBusy,
        ResponseStatus::ErrorComm,
        ResponseStatus::NoProcessor,
        ResponseStatus::Timeout,
        ResponseStatus::ClientSendError,
        ResponseStatus::CodecException,
        ResponseStatus::ConnectionClosed,
        ResponseStatus::ServerSerialException,
        ResponseStatus::ServerDeserialException,
    ];

    /// The status with wire code `code`, if Bolt defines it.
    pub fn from_u16(code: u16) -> Option<Self> {
        Some(match code {
            0x00 => ResponseStatus::Success,
            0x01 => ResponseStatus::Error,
            0x02 => ResponseStatus::ServerException,
            0x03 => ResponseStatus::Unknown,
            0x04 => ResponseStatus::ServerThreadpoolBusy,
            0x05 => ResponseStatus::ErrorComm,
            0x06 => ResponseStatus::NoProcessor,
            0x07 => ResponseStatus::Timeout,
            0x08 => ResponseStatus::ClientSendError,
            0x09 => ResponseStatus::CodecException,
            0x10 => ResponseStatus::ConnectionClosed,
            0x11 => ResponseStatus::ServerSerialException,
            0x12 => ResponseStatus::ServerDeserialException,
            _ => return None,
        })
    }

    /// The wire code.
    pub fn as_u16(self) -> u16 {
        match self {
            ResponseStatus::Success => 0x00,
            ResponseStatus::Error => 0x01,
            ResponseStatus::ServerException => 0x02,
            ResponseStatus::Unknown => 0x03,
            ResponseStatus::ServerThreadpoolBusy => 0x04,
            ResponseStatus::ErrorComm => 0x05,
            ResponseStatus::NoProcessor => 0x06,
            ResponseStatus::Timeout => 0x07,
            ResponseStatus::ClientSendError => 0x08,
            ResponseStatus::CodecException => 0x09,
            ResponseStatus::ConnectionClosed => 0x10,
            ResponseStatus::ServerSerialException => 0x11,
            ResponseStatus::ServerDeserialException => 0x12,
        }
    }

    /// MOSN's HTTP-like class: success 200, thread pool busy 503, timeout 504, connection
    /// closed 502, everything else 500.
    pub fn http_status(self) -> u16 {
        match self {
            ResponseStatus::Success => 200,
            ResponseStatus::ServerThreadpoolBusy => 503,
            ResponseStatus::Timeout => 504,
            ResponseStatus::ConnectionClosed => 502,
            _ => 500,
        }
    }
}

/// The HTTP-like class of any wire status code; codes Bolt does not define map to 500.
pub fn http_status(code: u32) -> u16 {
    u16::try_from(code)
        .ok()
        .and_then(ResponseStatus::from_u16)
        .map_or(500, ResponseStatus::http_status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_codes_are_none() {
        for s in ResponseStatus::ALL {
            assert_eq!(ResponseStatus::from_u16(s.as_u16()), Some(s));
        }
        for code in [0x0a, 0x0f, 0x13, 0xffff] {
            assert_eq!(ResponseStatus::from_u16(code), None);
        }
    }

    #[test]
    fn mosn_http_mapping() {
        assert_eq!(http_status(0x00), 200);
        assert_eq!(http_status(0x04), 503);
        assert_eq!(http_status(0x07), 504);
        assert_eq!(http_status(0x10), 502);
        for code in [0x01, 0x02, 0x03, 0x05, 0x06, 0x08, 0x09, 0x11, 0x12, 0x99, 0x1_0000] {
            assert_eq!(http_status(code), 500, "code {code:#x}");
        }
    }
}
