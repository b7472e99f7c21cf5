//! Share-group member ids as Kafka's clients make them: a random (version 4) UUID written as 22
//! characters of unpadded base64url (Kafka's `Uuid.randomUuid().toString()`), never starting
//! with `-` (Kafka avoids those: they read as options on a command line).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

/// Characters of a member id: 128 bits in base64, unpadded.
pub const MEMBER_ID_CHARS: usize = 22;

/// The URL-safe base64 alphabet (RFC 4648, section 5).
const BASE64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url of `bytes`.
pub fn base64url(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        // 1 byte -> 2 characters, 2 -> 3, 3 -> 4.
        for i in 0..=chunk.len() {
            out.push(BASE64URL[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
        }
    }
    out
}

/// 16 random bytes. The process's hasher keys are random (std seeds them from the OS), and
/// every `RandomState` gets fresh keys, so two calls never repeat; a member id needs
/// uniqueness, not secrecy.
fn random_bytes() -> [u8; 16] {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(nanos);
        h.write_usize(i);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

/// A new member id (see the module doc).
pub fn new_member_id() -> String {
    loop {
        let mut b = random_bytes();
        // Version 4 (random) and the RFC 4122 variant, as java.util.UUID.randomUUID().
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let id = base64url(&b);
        debug_assert_eq!(id.len(), MEMBER_ID_CHARS);
        if !id.starts_with('-') {
            return id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_rfc_4648_vectors_without_padding() {
        let cases = [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, want) in cases {
            assert_eq!(base64url(input.as_bytes()), want, "{input}");
        }
        // The two characters where base64url differs from base64 ('+' and '/').
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn member_ids_are_22_url_safe_characters_and_differ() {
        let ids: Vec<String> = (0..1_000).map(|_| new_member_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), MEMBER_ID_CHARS, "{id}");
            assert!(!id.starts_with('-'), "{id}");
            assert!(
                id.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
                "{id}"
            );
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len());
    }
}
