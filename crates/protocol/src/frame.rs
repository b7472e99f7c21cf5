//! Framing: decide cheaply whether the bytes read so far hold a whole frame. The one frame
//! reader of ringlog: the broker reads requests with it, the client reads responses with it.
//!
//! Every Kafka request and response on the wire is a size-prefixed frame:
//!
//! ```text
//!  0        4                                                      4 + size
//!  +--------+------------------------------------------------------+
//!  | size   | body: request header + request                       |
//!  | i32 BE |    or response header + response (`size` bytes)      |
//!  +--------+------------------------------------------------------+
//! ```
//!
//! `size` counts the body only, not the 4 prefix bytes. A request body is handed to
//! [`super::decode_request`]; a response body to `header::decode_response_header`.
//!
//! # Invariants
//! - A size prefix that is negative or larger than `body_bytes_max` is rejected as soon as the 4
//!   prefix bytes are present, before any body byte is buffered; the caller closes the connection.
//! - [`check_frame`] never allocates. [`split_frame`] only moves the frame out of the read buffer
//!   (`BytesMut::split_to`, no copy) and never grows it.
//! - [`FrameStatus::Incomplete::frame_bytes`] is at most `SIZE_PREFIX_BYTES + body_bytes_max`,
//!   so a caller that reserves exactly that never allocates beyond the bound.

use bytes::{Bytes, BytesMut};

/// Width of the big-endian `i32` size prefix in front of every frame.
pub const SIZE_PREFIX_BYTES: usize = 4;

/// Default bound on a request body, in bytes: 100 MiB, Kafka's `socket.request.max.bytes` default.
/// A Produce request carries whole record batches for many partitions, so the bound must sit well
/// above the per-batch limit (1 MiB by default); anything larger is a broken or hostile client.
pub const REQUEST_BYTES_MAX_DEFAULT: u32 = 100 * 1024 * 1024;

/// Framing limits: one per broker listener (requests), one per client connection (responses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest accepted body (`size` field), in bytes: the broker's `request_bytes_max`
    /// ([`REQUEST_BYTES_MAX_DEFAULT`]), the client's `response_bytes_max`.
    pub body_bytes_max: u32,
}

impl Default for FrameLimits {
    fn default() -> Self {
        FrameLimits {
            body_bytes_max: REQUEST_BYTES_MAX_DEFAULT,
        }
    }
}

/// What the bytes read so far hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// Not a whole frame yet. `frame_bytes` is the whole frame's length (prefix + body) once the
    /// prefix has been read, `None` while fewer than 4 bytes are buffered.
    Incomplete { frame_bytes: Option<usize> },
    /// The first `frame_bytes` bytes (prefix + body) are one whole frame.
    Complete { frame_bytes: usize },
}

/// A size prefix the reader will not accept. Either way the connection must be closed: the stream
/// cannot be resynchronised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The size prefix is negative.
    NegativeSize { size: i32 },
    /// The size prefix exceeds `body_bytes_max`.
    TooLarge { size: u32, body_bytes_max: u32 },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::NegativeSize { size } => {
                write!(f, "frame size prefix is negative ({size})")
            }
            FrameError::TooLarge {
                size,
                body_bytes_max,
            } => write!(
                f,
                "frame of {size} bytes exceeds the bound of {body_bytes_max} bytes"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Looks at the bytes read so far and says whether a whole frame is present. O(1), no allocation.
pub fn check_frame(buf: &[u8], limits: FrameLimits) -> Result<FrameStatus, FrameError> {
    let Some(prefix) = buf.first_chunk::<SIZE_PREFIX_BYTES>() else {
        return Ok(FrameStatus::Incomplete { frame_bytes: None });
    };
    let size = i32::from_be_bytes(*prefix);
    let Ok(size) = u32::try_from(size) else {
        return Err(FrameError::NegativeSize { size });
    };
    if size > limits.body_bytes_max {
        return Err(FrameError::TooLarge {
            size,
            body_bytes_max: limits.body_bytes_max,
        });
    }
    // Cannot overflow: size <= i32::MAX and usize is at least 32 bits wide on our targets.
    let frame_bytes = SIZE_PREFIX_BYTES + size as usize;
    if buf.len() >= frame_bytes {
        Ok(FrameStatus::Complete { frame_bytes })
    } else {
        Ok(FrameStatus::Incomplete {
            frame_bytes: Some(frame_bytes),
        })
    }
}

/// If `buf` starts with a whole frame, removes it from `buf` and returns its body (without the
/// size prefix), sharing `buf`'s allocation. Returns `Ok(None)` when more bytes are needed.
pub fn split_frame(buf: &mut BytesMut, limits: FrameLimits) -> Result<Option<Bytes>, FrameError> {
    match check_frame(buf, limits)? {
        FrameStatus::Incomplete { .. } => Ok(None),
        FrameStatus::Complete { frame_bytes } => {
            let mut frame = buf.split_to(frame_bytes);
            let _prefix = frame.split_to(SIZE_PREFIX_BYTES);
            Ok(Some(frame.freeze()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut v = (body.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn incomplete_until_every_byte_is_there() {
        let f = frame(b"hello");
        let limits = FrameLimits::default();
        for n in 0..SIZE_PREFIX_BYTES {
            assert_eq!(
                check_frame(&f[..n], limits),
                Ok(FrameStatus::Incomplete { frame_bytes: None })
            );
        }
        for n in SIZE_PREFIX_BYTES..f.len() {
            assert_eq!(
                check_frame(&f[..n], limits),
                Ok(FrameStatus::Incomplete {
                    frame_bytes: Some(9)
                })
            );
        }
        assert_eq!(
            check_frame(&f, limits),
            Ok(FrameStatus::Complete { frame_bytes: 9 })
        );
    }

    #[test]
    fn split_two_pipelined_frames_zero_copy() {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&frame(b"one"));
        buf.extend_from_slice(&frame(b"three"));
        buf.extend_from_slice(&[0, 0]); // start of a third frame
        let base = buf.as_ptr() as usize;
        let limits = FrameLimits::default();
        let one = split_frame(&mut buf, limits).unwrap().unwrap();
        assert_eq!(&one[..], b"one");
        assert_eq!(
            one.as_ptr() as usize,
            base + 4,
            "body must share the read buffer"
        );
        assert_eq!(
            &split_frame(&mut buf, limits).unwrap().unwrap()[..],
            b"three"
        );
        assert_eq!(split_frame(&mut buf, limits), Ok(None));
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn empty_body_is_a_frame() {
        // Framing accepts it; decode_request then reports a header that is too short.
        assert_eq!(
            check_frame(&[0, 0, 0, 0], FrameLimits::default()),
            Ok(FrameStatus::Complete { frame_bytes: 4 })
        );
    }

    #[test]
    fn negative_and_oversized_sizes_are_rejected_from_the_prefix_alone() {
        let limits = FrameLimits {
            body_bytes_max: 1000,
        };
        assert_eq!(
            check_frame(&(-1i32).to_be_bytes(), limits),
            Err(FrameError::NegativeSize { size: -1 })
        );
        assert_eq!(
            check_frame(&i32::MIN.to_be_bytes(), limits),
            Err(FrameError::NegativeSize { size: i32::MIN })
        );
        assert_eq!(
            check_frame(&1001i32.to_be_bytes(), limits),
            Err(FrameError::TooLarge {
                size: 1001,
                body_bytes_max: 1000
            })
        );
        assert_eq!(
            check_frame(&1000i32.to_be_bytes(), limits),
            Ok(FrameStatus::Incomplete {
                frame_bytes: Some(1004)
            })
        );
        let big = FrameLimits::default();
        assert!(matches!(
            check_frame(&i32::MAX.to_be_bytes(), big),
            Err(FrameError::TooLarge { .. })
        ));
        let mut buf = BytesMut::from(&(-5i32).to_be_bytes()[..]);
        assert!(split_frame(&mut buf, big).is_err());
    }
}
