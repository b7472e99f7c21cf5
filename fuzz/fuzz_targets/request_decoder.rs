//! Fuzz target: the broker's read path on arbitrary bytes, as a connection sees them.
//!
//! The input is a byte stream from a client. The first two bytes pick `request_bytes_max` (from
//! 1 KiB up, so the too-large path is reachable); the rest is cut into frames with
//! `frame::check_frame` / `frame::split_frame` exactly as `broker::connection` does, and every
//! whole frame body goes through `protocol::decode_request`. The whole remainder is also decoded
//! as one frame body, so inputs need not carry a valid size prefix to reach the decoders.
//!
//! Checked, besides "no panic, no abort, no unbounded allocation":
//! - `check_frame` and `split_frame` agree, and a complete frame is exactly `4 + size` bytes;
//! - a rejected size prefix is negative or above `body_bytes_max`, and nothing is consumed;
//! - a decoded request is of an advertised (api, version), its header matches the fixed 8 bytes,
//!   and `Request::api_key` agrees with the header;
//! - an error for a body of fewer than 8 bytes is `HeaderTooShort`, and `UnsupportedVersion` is
//!   only reported for a served api key at a version outside its range.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use ringlog::protocol::frame::{check_frame, split_frame, FrameError, FrameLimits, FrameStatus};
use ringlog::protocol::{decode_request, versions, DecodeError};

/// Smallest `request_bytes_max` the broker config accepts (`BrokerConfig::validate`).
const REQUEST_BYTES_MAX_MIN: u32 = 1024;
/// Frames cut from one input: every frame consumes at least its 4-byte prefix, so this only
/// guards against a bug that would loop forever.
const FRAMES_PER_INPUT_MAX: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let (limits, stream) = match data {
        [a, b, rest @ ..] => (
            FrameLimits {
                body_bytes_max: REQUEST_BYTES_MAX_MIN + u32::from(u16::from_be_bytes([*a, *b])),
            },
            rest,
        ),
        _ => (FrameLimits::default(), data),
    };

    decode_and_check(Bytes::copy_from_slice(stream));

    let mut buf = BytesMut::from(stream);
    for _ in 0..FRAMES_PER_INPUT_MAX {
        let before = buf.len();
        let status = check_frame(&buf, limits);
        match split_frame(&mut buf, limits) {
            Ok(Some(body)) => {
                let Ok(FrameStatus::Complete { frame_bytes }) = status else {
                    panic!("split_frame cut a frame check_frame called {status:?}");
                };
                assert_eq!(frame_bytes, 4 + body.len());
                assert_eq!(buf.len(), before - frame_bytes);
                assert!(body.len() as u64 <= u64::from(limits.body_bytes_max));
                decode_and_check(body);
            }
            Ok(None) => {
                assert!(
                    matches!(status, Ok(FrameStatus::Incomplete { .. })),
                    "split_frame wants more bytes, check_frame said {status:?}"
                );
                if let Ok(FrameStatus::Incomplete {
                    frame_bytes: Some(n),
                }) = status
                {
                    assert!(
                        n > before,
                        "incomplete frame of {n} bytes with {before} buffered"
                    );
                }
                assert_eq!(buf.len(), before, "an incomplete frame consumes nothing");
                break;
            }
            Err(e) => {
                assert_eq!(status, Err(e), "split_frame and check_frame disagree");
                match e {
                    FrameError::NegativeSize { size } => assert!(size < 0),
                    FrameError::TooLarge {
                        size,
                        body_bytes_max,
                    } => assert!(size > body_bytes_max),
                }
                assert_eq!(buf.len(), before, "a rejected frame consumes nothing");
                break;
            }
        }
    }
});

/// Decodes one frame body and checks what the result says against the body's fixed header bytes.
fn decode_and_check(body: Bytes) {
    let fixed = body.get(..8).map(|b| {
        (
            i16::from_be_bytes([b[0], b[1]]),
            i16::from_be_bytes([b[2], b[3]]),
            i32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        )
    });
    let len = body.len();
    match decode_request(body) {
        Ok((header, request)) => {
            let (key, version, correlation_id) = fixed.expect("decoded from fewer than 8 bytes");
            assert_eq!(header.api_key as i16, key);
            assert_eq!(header.api_version, version);
            assert_eq!(header.correlation_id, correlation_id);
            assert_eq!(request.api_key(), header.api_key);
            let range = versions::supported_range(key).expect("decoded an api we do not serve");
            assert!(range.contains(version), "decoded an unadvertised version");
        }
        Err(DecodeError::HeaderTooShort { frame_body_bytes }) => {
            assert_eq!(frame_body_bytes, len);
            assert!(len < 8);
        }
        Err(DecodeError::UnknownApiKey { api_key, .. }) => {
            let (key, _, _) = fixed.expect("an api key needs 8 bytes");
            assert_eq!(api_key, key);
            assert!(versions::supported_range(key).is_none());
        }
        Err(DecodeError::UnsupportedVersion {
            api_key,
            api_version,
            correlation_id,
        }) => {
            let (key, version, corr) = fixed.expect("a version needs 8 bytes");
            assert_eq!(
                (api_key as i16, api_version, correlation_id),
                (key, version, corr)
            );
            let range = versions::supported_range(key).expect("served api");
            assert!(!range.contains(version));
        }
        Err(DecodeError::Malformed {
            api_key,
            api_version,
            ..
        }) => {
            let (key, version, _) = fixed.expect("a malformed body has a fixed header");
            assert_eq!((api_key as i16, api_version), (key, version));
            assert!(versions::supported_range(key).is_some_and(|r| r.contains(version)));
        }
    }
}
