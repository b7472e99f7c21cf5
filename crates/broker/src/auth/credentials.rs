//! The SCRAM credential store: per user and mechanism the salt, the iterations, StoredKey and
//! ServerKey (never a password, never a salted password), durable in one small file of the data
//! directory, and shared by every shard.
//!
//! Why a file and not a state log: credentials are a few hundred bytes per user, change only by
//! an administrator's hand, and must be writable offline before the broker first starts
//! (`ringlog users set`, as `kafka-storage format --add-scram`), with no runtime; the catalog
//! keeps topics the same way. The file is replaced atomically and durably with
//! [`crate::storage::fsutil::replace_atomically`] (temporary, fdatasync, rename, directory
//! fsync), so a crash leaves the old set or the new one.
//!
//! On-disk format, `{data_dir}/scram.credentials`, UTF-8 text:
//! ```text
//! ringlog-scram-credentials 1\n                       header: format version
//! MECHANISM ' ' ITERATIONS ' ' SALT ' ' STORED_KEY ' ' SERVER_KEY ' ' USER\n   one per credential
//! crc32c ' ' HEX8\n                                    CRC32C of every byte above this line
//! ```
//! MECHANISM is `SCRAM-SHA-256` or `SCRAM-SHA-512`, ITERATIONS decimal, SALT and both keys
//! standard base64; USER is the rest of the line (it may hold spaces, never a control character).
//!
//! # Invariants
//! - Every credential in a [`Credentials`] passed [`ScramCredential::new`]'s checks and every
//!   user name [`check_user_name`]; a file that breaks either, or its CRC, is refused whole.
//! - Writers are serialized ([`CredentialStore::alter`] holds the store's write lock over the
//!   file replace), and readers see the set before or after a change, never half of one.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::scram::{ScramCredential, ScramMechanism};

/// File name of the store inside the data directory.
pub const CREDENTIALS_FILE: &str = "scram.credentials";
/// First line of the file: the format and its version.
const HEADER: &str = "ringlog-scram-credentials 1";
/// Longest user name (bytes): Kafka sets none, this keeps one line and one request bounded.
pub const USER_NAME_BYTES_MAX: usize = 1024;
/// Most credentials the store holds (users x mechanisms): bounds the file and every Describe.
pub const CREDENTIALS_MAX: usize = 100_000;

/// Checks a user name: not empty, at most [`USER_NAME_BYTES_MAX`] bytes, no control characters
/// (the file is line-based).
pub fn check_user_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        // Kafka's message for an empty name in AlterUserScramCredentials.
        return Err("Username must not be empty".into());
    }
    if name.len() > USER_NAME_BYTES_MAX {
        return Err(format!(
            "Username must be at most {USER_NAME_BYTES_MAX} bytes"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("Username must not contain control characters".into());
    }
    Ok(())
}

/// Every user's credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Credentials {
    users: BTreeMap<String, BTreeMap<ScramMechanism, ScramCredential>>,
}

impl Credentials {
    /// The credential of `user` for `mechanism`.
    pub fn get(&self, user: &str, mechanism: ScramMechanism) -> Option<&ScramCredential> {
        self.users.get(user)?.get(&mechanism)
    }

    /// A user's credentials by mechanism.
    pub fn user(&self, user: &str) -> Option<&BTreeMap<ScramMechanism, ScramCredential>> {
        self.users.get(user)
    }

    /// Every user with at least one credential, in name order.
    pub fn users(
        &self,
    ) -> impl Iterator<Item = (&str, &BTreeMap<ScramMechanism, ScramCredential>)> {
        self.users.iter().map(|(u, m)| (u.as_str(), m))
    }

    /// Credentials held, all users together.
    pub fn len(&self) -> usize {
        self.users.values().map(BTreeMap::len).sum()
    }

    /// No credential at all.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Adds or replaces a credential.
    pub fn set(
        &mut self,
        user: &str,
        mechanism: ScramMechanism,
        credential: ScramCredential,
    ) -> Result<(), String> {
        check_user_name(user)?;
        let replaces = self.get(user, mechanism).is_some();
        if !replaces && self.len() >= CREDENTIALS_MAX {
            return Err(format!(
                "the store holds its maximum of {CREDENTIALS_MAX} credentials"
            ));
        }
        self.users
            .entry(user.to_string())
            .or_default()
            .insert(mechanism, credential);
        Ok(())
    }

    /// Removes a credential; whether there was one.
    pub fn delete(&mut self, user: &str, mechanism: ScramMechanism) -> bool {
        let Some(m) = self.users.get_mut(user) else {
            return false;
        };
        let had = m.remove(&mechanism).is_some();
        if m.is_empty() {
            self.users.remove(user);
        }
        had
    }

    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut text = format!("{HEADER}\n");
        for (user, mechanisms) in &self.users {
            for (m, c) in mechanisms {
                text.push_str(&format!(
                    "{} {} {} {} {} {user}\n",
                    m.name(),
                    c.iterations,
                    BASE64.encode(&c.salt),
                    BASE64.encode(&c.stored_key),
                    BASE64.encode(&c.server_key),
                ));
            }
        }
        let crc = crc32c::crc32c(text.as_bytes());
        text.push_str(&format!("crc32c {crc:08x}\n"));
        text.into_bytes()
    }

    /// Reads the file's bytes; any damage refuses the whole file.
    pub fn decode(bytes: &[u8]) -> Result<Credentials, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_string())?;
        let body_end = text
            .trim_end_matches('\n')
            .rfind('\n')
            .map(|i| i + 1)
            .ok_or("no CRC line")?;
        let (body, crc_line) = text.split_at(body_end);
        let want = crc_line
            .trim_end_matches('\n')
            .strip_prefix("crc32c ")
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .ok_or("the last line is not the CRC")?;
        let got = crc32c::crc32c(body.as_bytes());
        if got != want {
            return Err(format!(
                "CRC mismatch (stored {want:08x}, computed {got:08x})"
            ));
        }
        let mut lines = body.lines();
        if lines.next() != Some(HEADER) {
            return Err(format!("the first line is not {HEADER:?}"));
        }
        let mut out = Credentials::default();
        for (n, line) in lines.enumerate() {
            let bad = |why: &str| format!("credential line {}: {why}", n + 1);
            let mut words = line.splitn(6, ' ');
            let mut word = || words.next().ok_or_else(|| bad("too few fields"));
            let mechanism =
                ScramMechanism::from_name(word()?).ok_or_else(|| bad("unknown mechanism"))?;
            let iterations: i32 = word()?.parse().map_err(|_| bad("iterations"))?;
            let mut b64 = |what: &str| word().and_then(|w| BASE64.decode(w).map_err(|_| bad(what)));
            let salt = b64("salt")?;
            let stored_key = b64("stored key")?;
            let server_key = b64("server key")?;
            let user = word()?;
            let credential =
                ScramCredential::new(mechanism, salt, iterations, stored_key, server_key)
                    .map_err(|e| bad(&e.to_string()))?;
            if out.get(user, mechanism).is_some() {
                return Err(bad("a second credential for the same user and mechanism"));
            }
            out.set(user, mechanism, credential).map_err(|e| bad(&e))?;
        }
        Ok(out)
    }

    /// The store's path in `data_dir`.
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(CREDENTIALS_FILE)
    }

    /// Loads `data_dir`'s store (empty when there is no file).
    pub fn load(data_dir: &Path) -> io::Result<Credentials> {
        let path = Credentials::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => Credentials::decode(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("SCRAM credential store {}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Credentials::default()),
            Err(e) => Err(io::Error::new(
                e.kind(),
                format!("SCRAM credential store {}: {e}", path.display()),
            )),
        }
    }

    /// Replaces `data_dir`'s store with this set, atomically and durably (blocking).
    pub fn save(&self, data_dir: &Path) -> io::Result<()> {
        crate::storage::fsutil::replace_atomically(&Credentials::path(data_dir), &self.encode())
    }
}

/// The store as the running broker shares it: every shard reads the current set (once per
/// login, never per request); changes are written to disk first, then published.
pub struct CredentialStore {
    data_dir: PathBuf,
    current: RwLock<Arc<Credentials>>,
    /// Held over a whole change (read, file replace, publish): one writer at a time.
    write: Mutex<()>,
}

impl CredentialStore {
    /// The store of `data_dir`, loaded (a damaged file stops startup).
    pub fn open(data_dir: &Path) -> io::Result<CredentialStore> {
        Ok(CredentialStore {
            data_dir: data_dir.to_path_buf(),
            current: RwLock::new(Arc::new(Credentials::load(data_dir)?)),
            write: Mutex::new(()),
        })
    }

    /// The current set.
    pub fn current(&self) -> Arc<Credentials> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies `change` to a copy of the current set, stores it durably and publishes it;
    /// returns `change`'s output. When `change` asks for no write (`false`) nothing is stored.
    /// Blocks the calling shard for one small-file replace (an administrator's request, never
    /// the data path).
    pub fn alter<T>(&self, change: impl FnOnce(&mut Credentials) -> (T, bool)) -> io::Result<T> {
        let _turn = self.write.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = (*self.current()).clone();
        let (out, write) = change(&mut next);
        if write {
            next.save(&self.data_dir)?;
            *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::scram::ITERATIONS_MIN;

    fn cred(m: ScramMechanism, pw: &[u8]) -> ScramCredential {
        ScramCredential::from_password(m, pw, ITERATIONS_MIN).unwrap()
    }

    #[test]
    fn file_round_trips_and_refuses_damage() {
        let mut c = Credentials::default();
        c.set(
            "alice",
            ScramMechanism::Sha256,
            cred(ScramMechanism::Sha256, b"correct-horse"),
        )
        .unwrap();
        c.set(
            "bob smith",
            ScramMechanism::Sha512,
            cred(ScramMechanism::Sha512, b"b"),
        )
        .unwrap();
        c.set(
            "alice",
            ScramMechanism::Sha512,
            cred(ScramMechanism::Sha512, b"c"),
        )
        .unwrap();
        let bytes = c.encode();
        assert_eq!(Credentials::decode(&bytes).unwrap(), c);
        let text = String::from_utf8(bytes.clone()).unwrap();
        // No password in the file ('-' is not in the base64 alphabet, so no accident either).
        assert!(!text.contains("correct-horse"));
        // Every single-byte change is caught (by the CRC or the parser).
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            assert!(Credentials::decode(&b).is_err(), "byte {i}");
        }
        // Truncation at every length.
        for n in 0..bytes.len() - 1 {
            assert!(Credentials::decode(&bytes[..n]).is_err(), "length {n}");
        }
        assert!(c.delete("alice", ScramMechanism::Sha256));
        assert!(!c.delete("alice", ScramMechanism::Sha256));
        assert!(c.delete("alice", ScramMechanism::Sha512));
        assert!(c.user("alice").is_none());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn user_names_are_checked() {
        let mut c = Credentials::default();
        let m = ScramMechanism::Sha256;
        assert!(c.set("", m, cred(m, b"x")).unwrap_err().contains("empty"));
        assert!(c.set("a\nb", m, cred(m, b"x")).is_err());
        assert!(c
            .set(&"u".repeat(USER_NAME_BYTES_MAX + 1), m, cred(m, b"x"))
            .is_err());
        c.set(&"u".repeat(USER_NAME_BYTES_MAX), m, cred(m, b"x"))
            .unwrap();
    }

    #[test]
    fn store_writes_durably_and_publishes() {
        let dir = tempfile::tempdir().unwrap();
        let store = CredentialStore::open(dir.path()).unwrap();
        assert!(store.current().is_empty());
        let m = ScramMechanism::Sha256;
        store
            .alter(|c| (c.set("alice", m, cred(m, b"pw")), true))
            .unwrap()
            .unwrap();
        assert!(store.current().get("alice", m).is_some());
        let reopened = CredentialStore::open(dir.path()).unwrap();
        assert_eq!(*reopened.current(), *store.current());
        // A change that asks for no write leaves file and set alone.
        store.alter(|c| (c.delete("alice", m), false)).unwrap();
        assert!(store.current().get("alice", m).is_some());
        std::fs::write(Credentials::path(dir.path()), b"garbage").unwrap();
        let e = CredentialStore::open(dir.path()).err().unwrap();
        assert!(e.to_string().contains(CREDENTIALS_FILE), "{e}");
    }
}

/// `ringlog users`: the store changed offline, before the broker starts (as Kafka's
/// `kafka-storage format --add-scram`). The broker reads the store once at start and keeps
/// its own copy, so a change made here while a broker runs on the same directory is not seen
/// by it and is lost at its next AlterUserScramCredentials: change users of a running broker
/// with AlterUserScramCredentials (`kafka-configs.sh`) instead.
pub mod offline {
    use std::path::Path;

    use super::{check_user_name, Credentials};
    use crate::auth::scram::{ScramCredential, ScramMechanism};

    /// Adds or replaces `user`'s credential of `mechanism` from `password` (a fresh salt),
    /// creating the data directory if needed.
    pub fn set(
        data_dir: &Path,
        user: &str,
        mechanism: &str,
        iterations: i32,
        password: &str,
    ) -> Result<(), String> {
        check_user_name(user).map_err(|e| format!("user {user:?}: {e}"))?;
        let mechanism = parse_mechanism(mechanism)?;
        if password.is_empty() {
            return Err("the password is empty".into());
        }
        let credential = ScramCredential::from_password(mechanism, password.as_bytes(), iterations)
            .map_err(|e| {
                format!(
                    "iterations {iterations}: {e} (Kafka's range is {}..={})",
                    crate::auth::scram::ITERATIONS_MIN,
                    crate::auth::scram::ITERATIONS_MAX
                )
            })?;
        std::fs::create_dir_all(data_dir)
            .map_err(|e| format!("data dir {}: {e}", data_dir.display()))?;
        let mut all = Credentials::load(data_dir).map_err(|e| e.to_string())?;
        all.set(user, mechanism, credential)?;
        all.save(data_dir)
            .map_err(|e| format!("saving {}: {e}", Credentials::path(data_dir).display()))
    }

    /// Removes `user`'s credential of `mechanism`, or all of the user's without one.
    pub fn delete(data_dir: &Path, user: &str, mechanism: Option<&str>) -> Result<(), String> {
        let mut all = Credentials::load(data_dir).map_err(|e| e.to_string())?;
        let mechanisms = match mechanism {
            Some(m) => vec![parse_mechanism(m)?],
            None => ScramMechanism::ALL.to_vec(),
        };
        let mut removed = false;
        for m in mechanisms {
            removed |= all.delete(user, m);
        }
        if !removed {
            return Err(format!(
                "user {user:?} has no {} credential in {}",
                mechanism.unwrap_or("SCRAM"),
                data_dir.display()
            ));
        }
        all.save(data_dir)
            .map_err(|e| format!("saving {}: {e}", Credentials::path(data_dir).display()))
    }

    /// One line per user: the name and each mechanism with its iterations (never a key).
    pub fn list(data_dir: &Path) -> Result<String, String> {
        if !data_dir.is_dir() {
            return Err(format!("data dir {} does not exist", data_dir.display()));
        }
        let all = Credentials::load(data_dir).map_err(|e| e.to_string())?;
        let mut out = String::new();
        for (user, by_mechanism) in all.users() {
            let mechanisms: Vec<String> = by_mechanism
                .iter()
                .map(|(m, c)| format!("{m}=[iterations={}]", c.iterations))
                .collect();
            out.push_str(&format!("{user}\t{}\n", mechanisms.join(" ")));
        }
        Ok(out)
    }

    fn parse_mechanism(name: &str) -> Result<ScramMechanism, String> {
        ScramMechanism::from_name(name).ok_or_else(|| {
            format!("unknown mechanism {name:?} (expected SCRAM-SHA-256 or SCRAM-SHA-512)")
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn set_list_delete() {
            let dir = tempfile::tempdir().unwrap();
            let data = dir.path().join("data");
            assert!(list(&data).unwrap_err().contains("does not exist"));
            set(&data, "alice", "SCRAM-SHA-256", 4096, "pw").unwrap();
            set(&data, "alice", "SCRAM-SHA-512", 8192, "pw").unwrap();
            assert_eq!(
                list(&data).unwrap(),
                "alice\tSCRAM-SHA-256=[iterations=4096] SCRAM-SHA-512=[iterations=8192]\n"
            );
            let all = Credentials::load(&data).unwrap();
            let c = all.get("alice", ScramMechanism::Sha512).unwrap();
            assert!(c.matches_password(ScramMechanism::Sha512, b"pw"));
            for (e, why) in [
                (set(&data, "", "SCRAM-SHA-256", 4096, "pw"), "empty"),
                (set(&data, "bob", "PLAIN", 4096, "pw"), "unknown mechanism"),
                (set(&data, "bob", "SCRAM-SHA-256", 4095, "pw"), "Too few"),
                (set(&data, "bob", "SCRAM-SHA-256", 16385, "pw"), "Too many"),
                (set(&data, "bob", "SCRAM-SHA-256", 4096, ""), "empty"),
                (delete(&data, "bob", None), "no SCRAM credential"),
            ] {
                assert!(e.as_ref().unwrap_err().contains(why), "{e:?}");
            }
            delete(&data, "alice", Some("SCRAM-SHA-256")).unwrap();
            assert!(list(&data).unwrap().starts_with("alice\tSCRAM-SHA-512"));
            delete(&data, "alice", None).unwrap();
            assert_eq!(list(&data).unwrap(), "");
        }
    }
}
