//! Kernel TLS (kTLS) socket options: attach the `tls` upper-layer protocol to a connected TCP
//! socket and hand it a session's record keys, so the kernel encrypts what `send`, `sendfile`
//! and `splice` put on the socket (TLS_TX) and decrypts what arrives (TLS_RX).
//!
//! The key structures are the kernel's UAPI (`linux/tls.h`), laid out here with `#[repr(C)]`
//! and their sizes checked by the tests:
//!
//! ```text
//!  tls_crypto_info        version u16 (0x0303 TLS 1.2, 0x0304 TLS 1.3), cipher_type u16
//!  aes_gcm_128 (40 B)     info 4 | iv 8  | key 16 | salt 4 | rec_seq 8     cipher 51
//!  aes_gcm_256 (56 B)     info 4 | iv 8  | key 32 | salt 4 | rec_seq 8     cipher 52
//!  chacha20_poly1305 (56) info 4 | iv 12 | key 32 | salt 0 | rec_seq 8     cipher 54
//! ```
//! `rec_seq` is the next record's sequence number, big-endian. Kernels: TLS_TX 4.13, TLS_RX
//! 4.17, AES-GCM-256 and TLS 1.3 5.1, ChaCha20-Poly1305 5.11 (kernel Documentation/networking/
//! tls.rst; setsockopt(2), tcp(7)).
//!
//! # Invariants
//! - Key material lives only in [`CryptoInfo`], which zeroes itself when dropped.
//! - The only unsafe code is the two `setsockopt` calls, each given a pointer and length that
//!   describe one live value.

use std::io;
use std::os::fd::{AsFd, AsRawFd};

/// The name of the kernel's TLS upper-layer protocol (`setsockopt(TCP_ULP, "tls")`).
pub const TLS_ULP_NAME: &[u8] = b"tls";
/// Where the kernel lists the upper-layer protocols it can attach right now (loaded modules).
pub const AVAILABLE_ULP_PATH: &str = "/proc/sys/net/ipv4/tcp_available_ulp";

/// `SOL_TLS` (linux/socket.h): the option level of TLS_TX / TLS_RX.
pub const SOL_TLS: i32 = 282;
/// `TCP_ULP` (linux/tcp.h).
pub const TCP_ULP: i32 = 31;
/// `TLS_TX` (linux/tls.h): install transmit keys.
pub const TLS_TX: i32 = 1;
/// `TLS_RX` (linux/tls.h): install receive keys.
pub const TLS_RX: i32 = 2;

/// `TLS_1_2_VERSION` (linux/tls.h).
pub const TLS_1_2_VERSION: u16 = 0x0303;
/// `TLS_1_3_VERSION` (linux/tls.h).
pub const TLS_1_3_VERSION: u16 = 0x0304;
/// `TLS_CIPHER_AES_GCM_128`.
pub const TLS_CIPHER_AES_GCM_128: u16 = 51;
/// `TLS_CIPHER_AES_GCM_256`.
pub const TLS_CIPHER_AES_GCM_256: u16 = 52;
/// `TLS_CIPHER_CHACHA20_POLY1305`.
pub const TLS_CIPHER_CHACHA20_POLY1305: u16 = 54;

/// Bytes of a TLS record sequence number.
pub const REC_SEQ_BYTES: usize = 8;
/// Bytes of the AEAD nonce TLS derives per record (RFC 8446 5.3; RFC 5288/7905 for TLS 1.2).
pub const NONCE_BYTES: usize = 12;
/// Bytes of the GCM salt: the fixed part of the nonce (the first 4 of its 12).
pub const GCM_SALT_BYTES: usize = 4;

/// Which direction of the socket gets keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// What the socket sends (TLS_TX).
    Tx,
    /// What the socket receives (TLS_RX).
    Rx,
}

impl Direction {
    fn optname(self) -> i32 {
        match self {
            Direction::Tx => TLS_TX,
            Direction::Rx => TLS_RX,
        }
    }
}

/// The TLS version the keys are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2.
    Tls12,
    /// TLS 1.3.
    Tls13,
}

impl TlsVersion {
    fn wire(self) -> u16 {
        match self {
            TlsVersion::Tls12 => TLS_1_2_VERSION,
            TlsVersion::Tls13 => TLS_1_3_VERSION,
        }
    }
}

/// `struct tls_crypto_info`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsCryptoInfoHeader {
    /// TLS_1_2_VERSION or TLS_1_3_VERSION.
    pub version: u16,
    /// TLS_CIPHER_*.
    pub cipher_type: u16,
}

/// `struct tls12_crypto_info_aes_gcm_128`.
#[repr(C)]
pub struct AesGcm128Info {
    /// Version and cipher.
    pub info: TlsCryptoInfoHeader,
    /// The last 8 bytes of the 12-byte nonce base.
    pub iv: [u8; 8],
    /// AES-128 key.
    pub key: [u8; 16],
    /// The first 4 bytes of the nonce base.
    pub salt: [u8; 4],
    /// Next record's sequence number, big-endian.
    pub rec_seq: [u8; REC_SEQ_BYTES],
}

/// `struct tls12_crypto_info_aes_gcm_256`.
#[repr(C)]
pub struct AesGcm256Info {
    /// Version and cipher.
    pub info: TlsCryptoInfoHeader,
    /// The last 8 bytes of the 12-byte nonce base.
    pub iv: [u8; 8],
    /// AES-256 key.
    pub key: [u8; 32],
    /// The first 4 bytes of the nonce base.
    pub salt: [u8; 4],
    /// Next record's sequence number, big-endian.
    pub rec_seq: [u8; REC_SEQ_BYTES],
}

/// `struct tls12_crypto_info_chacha20_poly1305` (its `salt` has no bytes).
#[repr(C)]
pub struct Chacha20Poly1305Info {
    /// Version and cipher.
    pub info: TlsCryptoInfoHeader,
    /// The whole 12-byte nonce base.
    pub iv: [u8; NONCE_BYTES],
    /// ChaCha20 key.
    pub key: [u8; 32],
    /// Next record's sequence number, big-endian.
    pub rec_seq: [u8; REC_SEQ_BYTES],
}

/// A kTLS cipher the broker can install.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KtlsCipher {
    /// AES-128-GCM (kernel 4.13).
    AesGcm128,
    /// AES-256-GCM (kernel 5.1).
    AesGcm256,
    /// ChaCha20-Poly1305 (kernel 5.11).
    Chacha20Poly1305,
}

impl KtlsCipher {
    /// Every cipher, in the order the broker prefers them.
    pub const ALL: [KtlsCipher; 3] = [
        KtlsCipher::AesGcm128,
        KtlsCipher::AesGcm256,
        KtlsCipher::Chacha20Poly1305,
    ];

    /// Name as the kernel documentation writes it.
    pub fn name(self) -> &'static str {
        match self {
            KtlsCipher::AesGcm128 => "AES-GCM-128",
            KtlsCipher::AesGcm256 => "AES-GCM-256",
            KtlsCipher::Chacha20Poly1305 => "CHACHA20-POLY1305",
        }
    }

    /// Bytes of the key.
    pub fn key_bytes(self) -> usize {
        match self {
            KtlsCipher::AesGcm128 => 16,
            KtlsCipher::AesGcm256 | KtlsCipher::Chacha20Poly1305 => 32,
        }
    }
}

/// One direction's keys in the kernel's layout, ready for `setsockopt(SOL_TLS, TLS_TX|TLS_RX)`.
/// Zeroed when dropped.
pub enum CryptoInfo {
    /// AES-128-GCM.
    AesGcm128(AesGcm128Info),
    /// AES-256-GCM.
    AesGcm256(AesGcm256Info),
    /// ChaCha20-Poly1305.
    Chacha20Poly1305(Chacha20Poly1305Info),
}

/// Why key bytes could not be laid out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLengthError {
    /// The cipher.
    pub cipher: KtlsCipher,
    /// Bytes given.
    pub key_bytes: usize,
}

impl std::fmt::Display for KeyLengthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} key of {} bytes (expected {})",
            self.cipher.name(),
            self.key_bytes,
            self.cipher.key_bytes()
        )
    }
}

impl std::error::Error for KeyLengthError {}

impl CryptoInfo {
    /// Lay out `key`, the 12-byte nonce base `iv` (TLS 1.3's `write_iv`, or TLS 1.2's 4-byte
    /// implicit salt followed by 8 bytes) and the next record's sequence number `seq`.
    pub fn new(
        version: TlsVersion,
        cipher: KtlsCipher,
        key: &[u8],
        iv: &[u8; NONCE_BYTES],
        seq: u64,
    ) -> Result<CryptoInfo, KeyLengthError> {
        if key.len() != cipher.key_bytes() {
            return Err(KeyLengthError {
                cipher,
                key_bytes: key.len(),
            });
        }
        let rec_seq = seq.to_be_bytes();
        let info = |cipher_type| TlsCryptoInfoHeader {
            version: version.wire(),
            cipher_type,
        };
        let (salt, rest) = iv.split_at(GCM_SALT_BYTES);
        Ok(match cipher {
            KtlsCipher::AesGcm128 => {
                let mut v = AesGcm128Info {
                    info: info(TLS_CIPHER_AES_GCM_128),
                    iv: [0; 8],
                    key: [0; 16],
                    salt: [0; 4],
                    rec_seq,
                };
                v.iv.copy_from_slice(rest);
                v.key.copy_from_slice(key);
                v.salt.copy_from_slice(salt);
                CryptoInfo::AesGcm128(v)
            }
            KtlsCipher::AesGcm256 => {
                let mut v = AesGcm256Info {
                    info: info(TLS_CIPHER_AES_GCM_256),
                    iv: [0; 8],
                    key: [0; 32],
                    salt: [0; 4],
                    rec_seq,
                };
                v.iv.copy_from_slice(rest);
                v.key.copy_from_slice(key);
                v.salt.copy_from_slice(salt);
                CryptoInfo::AesGcm256(v)
            }
            KtlsCipher::Chacha20Poly1305 => {
                let mut v = Chacha20Poly1305Info {
                    info: info(TLS_CIPHER_CHACHA20_POLY1305),
                    iv: *iv,
                    key: [0; 32],
                    rec_seq,
                };
                v.key.copy_from_slice(key);
                CryptoInfo::Chacha20Poly1305(v)
            }
        })
    }

    /// The cipher.
    pub fn cipher(&self) -> KtlsCipher {
        match self {
            CryptoInfo::AesGcm128(_) => KtlsCipher::AesGcm128,
            CryptoInfo::AesGcm256(_) => KtlsCipher::AesGcm256,
            CryptoInfo::Chacha20Poly1305(_) => KtlsCipher::Chacha20Poly1305,
        }
    }

    /// The version and cipher header.
    pub fn header(&self) -> TlsCryptoInfoHeader {
        match self {
            CryptoInfo::AesGcm128(v) => v.info,
            CryptoInfo::AesGcm256(v) => v.info,
            CryptoInfo::Chacha20Poly1305(v) => v.info,
        }
    }

    /// Pointer and length of the kernel structure.
    fn as_ptr_len(&self) -> (*const libc::c_void, libc::socklen_t) {
        fn of<T>(v: &T) -> (*const libc::c_void, libc::socklen_t) {
            (
                (v as *const T).cast(),
                std::mem::size_of::<T>() as libc::socklen_t,
            )
        }
        match self {
            CryptoInfo::AesGcm128(v) => of(v),
            CryptoInfo::AesGcm256(v) => of(v),
            CryptoInfo::Chacha20Poly1305(v) => of(v),
        }
    }
}

/// Overwrite key material so it does not outlive its use in freed memory.
fn wipe(bytes: &mut [u8]) {
    for b in bytes.iter_mut() {
        // SAFETY: `b` is a valid, aligned, exclusive reference to one byte. A volatile write
        // keeps the compiler from dropping the store to memory about to be freed.
        unsafe { std::ptr::write_volatile(b, 0) };
    }
}

impl Drop for CryptoInfo {
    fn drop(&mut self) {
        match self {
            CryptoInfo::AesGcm128(v) => {
                wipe(&mut v.key);
                wipe(&mut v.iv);
                wipe(&mut v.salt);
            }
            CryptoInfo::AesGcm256(v) => {
                wipe(&mut v.key);
                wipe(&mut v.iv);
                wipe(&mut v.salt);
            }
            CryptoInfo::Chacha20Poly1305(v) => {
                wipe(&mut v.key);
                wipe(&mut v.iv);
            }
        }
    }
}

impl std::fmt::Debug for CryptoInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("CryptoInfo")
            .field("cipher", &self.cipher())
            .field("version", &self.header().version)
            .finish_non_exhaustive()
    }
}

/// Attach the kernel's `tls` upper-layer protocol to a connected TCP socket
/// (`setsockopt(fd, SOL_TCP, TCP_ULP, "tls")`). Errors: `ENOENT` when the kernel has no `tls`
/// ULP (CONFIG_TLS off, or the module not loaded and not loadable by this process), `ENOTCONN`
/// on a socket that is not connected, `EEXIST` when a ULP is already attached.
pub fn attach_tls_ulp(socket: impl AsFd) -> io::Result<()> {
    let fd = socket.as_fd().as_raw_fd();
    // SAFETY: the pointer and length describe TLS_ULP_NAME, a static byte string the kernel
    // only reads.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_TCP,
            TCP_ULP,
            TLS_ULP_NAME.as_ptr().cast(),
            TLS_ULP_NAME.len() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Install one direction's keys on a socket that has the `tls` ULP
/// (`setsockopt(fd, SOL_TLS, TLS_TX|TLS_RX, info)`). After TLS_TX, what is written to the
/// socket is sent as TLS application-data records; after TLS_RX, reads return decrypted
/// application data and other record types arrive with a `TLS_GET_RECORD_TYPE` control message
/// (tls.rst). Errors: `EINVAL`/`ENOTSUPP` for a cipher or version this kernel lacks, `EBUSY` when
/// the direction already has keys.
pub fn install_keys(socket: impl AsFd, direction: Direction, info: &CryptoInfo) -> io::Result<()> {
    let fd = socket.as_fd().as_raw_fd();
    let (ptr, len) = info.as_ptr_len();
    // SAFETY: ptr/len describe `info`, a live `#[repr(C)]` UAPI structure the kernel only reads
    // during the call.
    let rc = unsafe { libc::setsockopt(fd, SOL_TLS, direction.optname(), ptr, len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn layouts_match_the_kernel_uapi() {
        assert_eq!(size_of::<TlsCryptoInfoHeader>(), 4);
        assert_eq!(size_of::<AesGcm128Info>(), 40);
        assert_eq!(offset_of!(AesGcm128Info, iv), 4);
        assert_eq!(offset_of!(AesGcm128Info, key), 12);
        assert_eq!(offset_of!(AesGcm128Info, salt), 28);
        assert_eq!(offset_of!(AesGcm128Info, rec_seq), 32);
        assert_eq!(size_of::<AesGcm256Info>(), 56);
        assert_eq!(offset_of!(AesGcm256Info, iv), 4);
        assert_eq!(offset_of!(AesGcm256Info, key), 12);
        assert_eq!(offset_of!(AesGcm256Info, salt), 44);
        assert_eq!(offset_of!(AesGcm256Info, rec_seq), 48);
        assert_eq!(size_of::<Chacha20Poly1305Info>(), 56);
        assert_eq!(offset_of!(Chacha20Poly1305Info, iv), 4);
        assert_eq!(offset_of!(Chacha20Poly1305Info, key), 16);
        assert_eq!(offset_of!(Chacha20Poly1305Info, rec_seq), 48);
        // Same constants as the libc crate has for the two it defines.
        assert_eq!(SOL_TLS, libc::SOL_TLS);
        assert_eq!(TCP_ULP, libc::TCP_ULP);
    }

    #[test]
    fn gcm_splits_the_nonce_into_salt_and_iv() {
        let iv: [u8; 12] = std::array::from_fn(|i| i as u8);
        let info = CryptoInfo::new(
            TlsVersion::Tls13,
            KtlsCipher::AesGcm256,
            &[7; 32],
            &iv,
            0x0102,
        )
        .unwrap();
        let CryptoInfo::AesGcm256(v) = &info else {
            panic!("wrong variant")
        };
        assert_eq!(v.info.version, 0x0304);
        assert_eq!(v.info.cipher_type, 52);
        assert_eq!(v.salt, [0, 1, 2, 3]);
        assert_eq!(v.iv, [4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(v.rec_seq, [0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(info.as_ptr_len().1, 56);

        let info =
            CryptoInfo::new(TlsVersion::Tls12, KtlsCipher::AesGcm128, &[1; 16], &iv, 9).unwrap();
        assert_eq!(info.header().version, 0x0303);
        assert_eq!(info.header().cipher_type, 51);
        assert_eq!(info.as_ptr_len().1, 40);

        let info = CryptoInfo::new(
            TlsVersion::Tls13,
            KtlsCipher::Chacha20Poly1305,
            &[1; 32],
            &iv,
            u64::MAX,
        )
        .unwrap();
        let CryptoInfo::Chacha20Poly1305(v) = &info else {
            panic!("wrong variant")
        };
        assert_eq!(v.iv, iv, "ChaCha20 takes the whole nonce base as iv");
        assert_eq!(v.rec_seq, [0xff; 8]);
        assert_eq!(v.info.cipher_type, 54);
    }

    #[test]
    fn wrong_key_length_is_refused() {
        for cipher in KtlsCipher::ALL {
            let e = CryptoInfo::new(TlsVersion::Tls13, cipher, &[0; 15], &[0; 12], 0).unwrap_err();
            assert_eq!(e.key_bytes, 15);
            assert!(e.to_string().contains(cipher.name()), "{e}");
        }
    }

    #[test]
    fn ulp_on_an_unconnected_socket_is_an_error_not_a_crash() {
        // A listening socket is not ESTABLISHED: the kernel refuses (ENOTCONN), or ENOENT on a
        // kernel without the tls ULP. Either way an error comes back.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(attach_tls_ulp(&l).is_err());
        let info = CryptoInfo::new(
            TlsVersion::Tls13,
            KtlsCipher::AesGcm128,
            &[0; 16],
            &[0; 12],
            0,
        )
        .unwrap();
        assert!(install_keys(&l, Direction::Tx, &info).is_err());
    }
}
