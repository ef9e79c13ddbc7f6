//! The configuration model every emulated device shares: accounts with their hashed secrets, the
//! enable secret, running and saved copies, commit history, checkpoints and confirm timers. Each
//! OS file only decides how this model is typed at and printed; the lab's inspection API reads it.

use std::collections::BTreeMap;
use std::time::Instant;

use base64::Engine;
use rand::Rng;
use sha2::{Digest, Sha256};

/// The key of the lab's own password hash. The emulated hashes look like the vendor's but are a
/// salted, keyed SHA-256; they only have to be stable and verifiable inside the lab.
const LAB_HASH_KEY: &[u8] = b"keyreeve-lab-device-hash-v1";

/// The vendor hash formats the lab prints and accepts back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// Cisco type 9 (`$9$salt$digest`).
    Cisco9,
    /// Cisco/NX-OS type 5 (`$5$salt$digest`).
    Cisco5,
    /// ASA (`$sha512$5000$salt$digest`, printed with ` pbkdf2`).
    AsaPbkdf2,
    /// crypt SHA-512 (`$6$salt$digest`): Junos, EOS, VyOS.
    Sha512Crypt,
    /// FortiOS (`SH2` + base64).
    FortiSh2,
    /// MD5 crypt (`$1$salt$digest`): PAN-OS `phash`.
    Md5Crypt,
}

fn digest(salt: &str, password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(LAB_HASH_KEY);
    h.update((salt.len() as u32).to_be_bytes());
    h.update(salt.as_bytes());
    h.update(password.as_bytes());
    h.finalize().into()
}

fn crypt_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(bytes)
        .replace('+', ".")
}

fn random_salt(len: usize) -> String {
    const ALPHABET: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Hashes `password` in the vendor format of `scheme`, with a fresh salt.
pub(crate) fn hash(scheme: Scheme, password: &str) -> String {
    match scheme {
        Scheme::Cisco9 => {
            let salt = random_salt(14);
            format!("$9${salt}${}", crypt_b64(&digest(&salt, password)))
        }
        Scheme::Cisco5 => {
            let salt = random_salt(4);
            format!("$5${salt}${}", crypt_b64(&digest(&salt, password)))
        }
        Scheme::AsaPbkdf2 => {
            let salt = random_salt(16);
            let d = base64::engine::general_purpose::STANDARD.encode(digest(&salt, password));
            format!("$sha512$5000${salt}${d}")
        }
        Scheme::Sha512Crypt => {
            let salt = random_salt(16);
            format!("$6${salt}${}", crypt_b64(&digest(&salt, password)))
        }
        Scheme::Md5Crypt => {
            let salt = random_salt(8);
            format!("$1${salt}${}", crypt_b64(&digest(&salt, password)))
        }
        Scheme::FortiSh2 => {
            let salt = random_salt(12);
            let mut raw = salt.clone().into_bytes();
            raw.extend_from_slice(&digest(&salt, password));
            format!("SH2{}", base64::engine::general_purpose::STANDARD.encode(raw))
        }
    }
}

/// Whether `stored` is a well-formed hash of `scheme` (what a device checks before taking a
/// pasted hash line).
pub(crate) fn is_valid_hash(scheme: Scheme, stored: &str) -> bool {
    let (prefix, digest_len) = match scheme {
        Scheme::Cisco9 => ("$9$", 43),
        Scheme::Cisco5 => ("$5$", 43),
        Scheme::AsaPbkdf2 => ("$sha512$5000$", 44),
        Scheme::Sha512Crypt => ("$6$", 43),
        Scheme::Md5Crypt => ("$1$", 43),
        Scheme::FortiSh2 => return forti_parts(stored).is_some(),
    };
    let Some(rest) = stored.strip_prefix(prefix) else {
        return false;
    };
    match rest.split_once('$') {
        Some((salt, digest)) => !salt.is_empty() && !digest.contains('$') && digest.len() == digest_len,
        None => false,
    }
}

fn forti_parts(stored: &str) -> Option<(String, Vec<u8>)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(stored.strip_prefix("SH2")?)
        .ok()?;
    if raw.len() != 12 + 32 {
        return None;
    }
    let salt = String::from_utf8(raw[..12].to_vec()).ok()?;
    Some((salt, raw[12..].to_vec()))
}

fn salt_and_digest(stored: &str) -> Option<(&str, &str)> {
    let (rest, digest) = stored.rsplit_once('$')?;
    let (_, salt) = rest.rsplit_once('$')?;
    if salt.is_empty() || digest.is_empty() {
        return None;
    }
    Some((salt, digest))
}

/// AOS-S's unsalted SHA-1 (`password manager user-name NAME sha1 HEX`), kept as `sha1:HEX`.
pub(crate) fn aoss_sha1(password: &str) -> String {
    use sha1::Digest as _;
    format!("sha1:{}", hex::encode(sha1::Sha1::digest(password.as_bytes())))
}

/// Whether `password` matches the stored hash (any scheme).
pub(crate) fn verify_hash(stored: &str, password: &str) -> bool {
    if stored.starts_with("sha1:") {
        return aoss_sha1(password) == stored;
    }
    if stored.starts_with("SH2") {
        return forti_parts(stored).is_some_and(|(salt, d)| d == digest(&salt, password));
    }
    let Some((salt, stored_digest)) = salt_and_digest(stored) else {
        return false;
    };
    let d = digest(salt, password);
    if stored.starts_with("$sha512$") {
        base64::engine::general_purpose::STANDARD.encode(d) == stored_digest
    } else {
        crypt_b64(&d) == stored_digest
    }
}

/// A stored secret: a vendor hash, or clear text where the vendor keeps it so (IOS `password 0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Secret {
    Hash(String),
    Plain(String),
}

impl Secret {
    pub(crate) fn verify(&self, password: &str) -> bool {
        match self {
            Secret::Hash(h) => verify_hash(h, password),
            Secret::Plain(p) => p == password,
        }
    }
}

/// One local account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub secret: Secret,
    /// 0..=15, Cisco style; 15 is administrative. Other OSes map it to their role names.
    pub privilege: u8,
}

/// One configuration: what `show running-config` (or the committed Junos tree) holds that matters
/// to accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conf {
    pub hostname: String,
    pub users: BTreeMap<String, User>,
    pub enable: Option<Secret>,
}

impl Conf {
    pub(crate) fn password_works(&self, user: &str, password: &str) -> bool {
        !password.is_empty() && self.users.get(user).is_some_and(|u| u.secret.verify(password))
    }
}

/// `onto` with the changes that turned `base` into `edited` (what a private candidate or a
/// configuration session commits when others committed in between).
pub(crate) fn rebase(base: &Conf, edited: &Conf, onto: &Conf) -> Conf {
    let mut out = onto.clone();
    for (name, user) in &edited.users {
        if base.users.get(name) != Some(user) {
            out.users.insert(name.clone(), user.clone());
        }
    }
    for name in base.users.keys() {
        if !edited.users.contains_key(name) {
            out.users.remove(name);
        }
    }
    if base.hostname != edited.hostname {
        out.hostname = edited.hostname.clone();
    }
    if base.enable != edited.enable {
        out.enable = edited.enable.clone();
    }
    out
}

/// A commit that rolls itself back unless confirmed before `deadline`.
#[derive(Debug, Clone)]
pub(crate) struct PendingConfirm {
    pub deadline: Instant,
    /// The configuration to go back to.
    pub restore: Conf,
    /// EOS: the configuration session waiting for confirmation.
    pub session: Option<String>,
}

/// The whole persistent state of one emulated device.
#[derive(Debug)]
pub(crate) struct DeviceState {
    /// What the device runs now; logins authenticate against it.
    pub running: Conf,
    /// What survives a reload (startup-config, config.boot, committed Junos config).
    pub saved: Conf,
    /// Committed configurations, newest first (Junos `rollback N`, VyOS).
    pub history: Vec<Conf>,
    /// NX-OS `checkpoint file NAME`.
    pub checkpoints: BTreeMap<String, Conf>,
    /// EOS named configuration sessions (uncommitted).
    pub config_sessions: BTreeMap<String, Conf>,
    /// What each EOS session started from (its commit applies only its own changes).
    pub config_session_bases: BTreeMap<String, Conf>,
    /// A `commit confirmed` / `commit timer` waiting for confirmation.
    pub pending: Option<PendingConfirm>,
    /// Set by the OS when it rolled back on its own, shown once to the next CLI user (Junos).
    pub rolled_back_notice: bool,
    /// RouterOS: the license question was shown (on the first login only).
    pub license_shown: bool,
    /// Whether `saved` follows `running` on every change (RouterOS, FortiOS auto-save, Junos commit).
    pub autosave: bool,
    /// ESXi: failed logins per account, and since when it is locked.
    pub login_failures: BTreeMap<String, (u32, Option<Instant>)>,
    /// A commit still running (PAN-OS): the configuration it puts in force (running and saved)
    /// when it completes.
    pub committing: Option<(Instant, Conf)>,
}

impl DeviceState {
    pub(crate) fn new(conf: Conf, autosave: bool) -> Self {
        DeviceState {
            running: conf.clone(),
            saved: conf.clone(),
            history: vec![conf],
            checkpoints: BTreeMap::new(),
            config_sessions: BTreeMap::new(),
            config_session_bases: BTreeMap::new(),
            pending: None,
            rolled_back_notice: false,
            license_shown: false,
            autosave,
            login_failures: BTreeMap::new(),
            committing: None,
        }
    }

    /// Applies timers that ran out: an unconfirmed commit goes back to what it replaced.
    pub(crate) fn settle(&mut self, now: Instant) {
        if self.committing.as_ref().is_some_and(|(done, _)| now >= *done) {
            if let Some((_, conf)) = self.committing.take() {
                self.history.insert(0, self.running.clone());
                self.running = conf.clone();
                self.saved = conf;
            }
        }
        if let Some(p) = &self.pending {
            if now >= p.deadline {
                let restore = p.restore.clone();
                if let Some(name) = &p.session {
                    self.config_sessions.remove(name);
                    self.config_session_bases.remove(name);
                }
                self.pending = None;
                self.running = restore.clone();
                if self.autosave {
                    self.saved = restore.clone();
                }
                self.history.insert(0, restore);
                self.rolled_back_notice = true;
            }
        }
    }

    /// A power cycle: unsaved changes are lost, a pending confirmation rolls back.
    pub(crate) fn reload(&mut self) {
        self.pending = None;
        self.committing = None;
        self.running = self.saved.clone();
        self.config_sessions.clear();
        self.config_session_bases.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_keeps_what_others_committed() {
        let user = |pw: &str| User {
            secret: Secret::Plain(pw.into()),
            privilege: 15,
        };
        let mut base = Conf {
            hostname: "r1".into(),
            users: BTreeMap::new(),
            enable: None,
        };
        base.users.insert("a".into(), user("a0"));
        base.users.insert("b".into(), user("b0"));
        let mut mine = base.clone();
        mine.users.insert("a".into(), user("a1"));
        let mut theirs = base.clone();
        theirs.users.insert("b".into(), user("b1"));
        let merged = rebase(&base, &mine, &theirs);
        assert!(merged.password_works("a", "a1") && merged.password_works("b", "b1"));
    }

    #[test]
    fn every_scheme_verifies_its_own_hash_and_rejects_another_password() {
        for scheme in [
            Scheme::Cisco9,
            Scheme::Cisco5,
            Scheme::AsaPbkdf2,
            Scheme::Sha512Crypt,
            Scheme::FortiSh2,
            Scheme::Md5Crypt,
        ] {
            let h = hash(scheme, "Correct-Horse.9");
            assert!(is_valid_hash(scheme, &h), "{scheme:?} {h}");
            assert!(verify_hash(&h, "Correct-Horse.9"), "{scheme:?}");
            assert!(!verify_hash(&h, "Correct-Horse.8"), "{scheme:?}");
        }
        assert!(!is_valid_hash(Scheme::Cisco9, "$9$nodigest"));
        assert!(!verify_hash("garbage", "x"));
    }
}
