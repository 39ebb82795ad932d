//! Size limits every codec enforces before allocating or waiting for bytes.

/// Limits on what a decoder accepts. A declared length over a limit is refused from the fixed
/// header alone, before any allocation and before waiting for the rest of the frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole frame, headers and body included. Default 16 MiB.
    pub max_frame_bytes: usize,
    /// Largest header section (everything a protocol declares before its body: class names,
    /// header maps, routing fields). Default 64 KiB.
    pub max_header_bytes: usize,
    /// Deepest nesting a decoder follows in structured headers (hessian2 values, TLV structs).
    /// Default 64.
    pub max_nesting: usize,
}

impl Limits {
    /// The default limits: 16 MiB frames, 64 KiB headers, nesting 64.
    pub const DEFAULT: Limits =
        Limits { max_frame_bytes: 16 * 1024 * 1024, max_header_bytes: 64 * 1024, max_nesting: 64 };

    /// Checks a declared frame length against [`max_frame_bytes`](Self::max_frame_bytes).
    pub fn check_frame(&self, declared: u64) -> Result<(), crate::DecodeError> {
        if declared > self.max_frame_bytes as u64 {
            Err(crate::DecodeError::FrameTooLarge { declared, limit: self.max_frame_bytes })
        } else {
            Ok(())
        }
    }

    /// Checks a declared header-section length against
    /// [`max_header_bytes`](Self::max_header_bytes).
    pub fn check_header(&self, declared: u64) -> Result<(), crate::DecodeError> {
        if declared > self.max_header_bytes as u64 {
            Err(crate::DecodeError::HeaderTooLarge { declared, limit: self.max_header_bytes })
        } else {
            Ok(())
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DecodeError;

    #[test]
    fn declared_lengths_over_the_limit_are_refused() {
        let l = Limits { max_frame_bytes: 100, max_header_bytes: 10, max_nesting: 4 };
        assert!(l.check_frame(100).is_ok());
        assert_eq!(
            l.check_frame(101),
            Err(DecodeError::FrameTooLarge { declared: 101, limit: 100 })
        );
        assert_eq!(
            l.check_header(u64::MAX),
            Err(DecodeError::HeaderTooLarge { declared: u64::MAX, limit: 10 })
        );
    }
}
