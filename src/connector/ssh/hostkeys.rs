//! Host keys: a password is only ever sent to a host whose key keyreeve has verified. The key is
//! either pinned in the inventory (`host_key = "SHA256:..."`) or recorded on first use in the
//! workspace's known_hosts file (OpenSSH format); a key that differs from either is refused, and
//! only `keyreeve hostkeys accept TARGET` replaces a recorded one.

use std::path::Path;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::connector::{ConnectorError, ConnectorResult};

/// A server's public host key as received in the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    /// The SSH wire encoding of the key (what known_hosts stores in base64).
    pub blob: Vec<u8>,
}

impl HostKey {
    pub fn new(blob: &[u8]) -> Self {
        HostKey { blob: blob.to_vec() }
    }

    /// `SHA256:<base64 without padding>`, as `ssh-keygen -l` and OpenSSH print it.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.blob)
    }

    /// The key type named inside the blob (`ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`...).
    pub fn key_type(&self) -> String {
        let len = self
            .blob
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .unwrap_or(0);
        self.blob
            .get(4..4 + len)
            .and_then(|t| std::str::from_utf8(t).ok())
            .unwrap_or("unknown")
            .to_string()
    }

    /// One known_hosts line for `host_pattern`.
    pub fn known_hosts_line(&self, host_pattern: &str) -> String {
        format!("{host_pattern} {} {}", self.key_type(), STANDARD.encode(&self.blob))
    }
}

/// `SHA256:<base64 no padding>` of a key blob.
pub fn fingerprint(blob: &[u8]) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(blob)))
}

/// How known_hosts names a host: `addr` on port 22, `[addr]:port` otherwise.
pub fn host_pattern(address: &str, port: u16) -> String {
    if port == 22 {
        address.to_string()
    } else {
        format!("[{address}]:{port}")
    }
}

/// One entry of a known_hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownHost {
    pub hosts: String,
    pub key_type: String,
    pub blob: Vec<u8>,
    /// 1-based line in the file.
    pub line: usize,
}

impl KnownHost {
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.blob)
    }

    fn names(&self, pattern: &str) -> bool {
        match self.hosts.strip_prefix("|1|") {
            Some(hashed) => hashed_names(hashed, pattern),
            None => self.hosts.split(',').any(|h| h == pattern),
        }
    }
}

/// Whether a hashed host field (`SALT|HASH` after `|1|`, both base64) names `pattern`: OpenSSH
/// stores HMAC-SHA1 of the host pattern keyed with the salt, so the name itself is never written.
fn hashed_names(hashed: &str, pattern: &str) -> bool {
    use hmac::{KeyInit, Mac};
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(pattern.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Reads a known_hosts file; a missing file is empty. Lines keyreeve cannot read (comments,
/// marker entries) are skipped; hashed host names (`|1|...`) are matched by their HMAC.
pub fn read_known_hosts(path: &Path) -> std::io::Result<Vec<KnownHost>> {
    let Some(text) = crate::safe_fs::read_text(path, crate::safe_fs::Limit::SMALL)? else {
        return Ok(Vec::new());
    };
    Ok(parse_known_hosts(&text))
}

fn parse_known_hosts(text: &str) -> Vec<KnownHost> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
                return None;
            }
            let mut parts = line.split_whitespace();
            let hosts = parts.next()?.to_string();
            let key_type = parts.next()?.to_string();
            let blob = STANDARD.decode(parts.next()?).ok()?;
            Some(KnownHost {
                hosts,
                key_type,
                blob,
                line: i + 1,
            })
        })
        .collect()
}

/// The keys marked `@revoked` in a known_hosts file: refused for every host, known or not.
pub fn revoked_keys(path: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let Some(text) = crate::safe_fs::read_text(path, crate::safe_fs::Limit::SMALL)? else {
        return Ok(Vec::new());
    };
    Ok(text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("@revoked"))
        .filter_map(|rest| rest.split_whitespace().nth(2).and_then(|b| STANDARD.decode(b).ok()))
        .collect())
}

/// What the known_hosts file says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known {
    /// The presented key is recorded for this host.
    Match,
    /// Another key is recorded for this host (its fingerprint).
    Mismatch(String),
    /// Nothing is recorded for this host.
    Unknown,
}

/// Looks the presented key up for `pattern`.
pub fn lookup(entries: &[KnownHost], pattern: &str, key: &HostKey) -> Known {
    let mut recorded = entries.iter().filter(|e| e.names(pattern)).peekable();
    if recorded.peek().is_none() {
        return Known::Unknown;
    }
    let mut other = None;
    for e in recorded {
        if e.blob == key.blob {
            return Known::Match;
        }
        other.get_or_insert_with(|| e.fingerprint());
    }
    Known::Mismatch(other.unwrap_or_default())
}

/// Writes `key` as the only key of `pattern` in the known_hosts file at `path`, keeping every
/// other line; atomic (temporary file and rename). Returns the fingerprints it replaced.
pub fn record(path: &Path, pattern: &str, key: &HostKey) -> std::io::Result<Vec<String>> {
    let text = crate::safe_fs::read_text(path, crate::safe_fs::Limit::SMALL)?.unwrap_or_default();
    let mut replaced = Vec::new();
    let mut out = String::new();
    for line in text.lines() {
        let parsed = parse_known_hosts(line);
        match parsed.first() {
            Some(e) if e.names(pattern) => {
                replaced.push(e.fingerprint());
                // A hashed line names one host only: it goes whole.
                let others: Vec<&str> = if e.hosts.starts_with("|1|") {
                    Vec::new()
                } else {
                    e.hosts.split(',').filter(|h| *h != pattern).collect()
                };
                if !others.is_empty() {
                    out.push_str(&format!(
                        "{} {} {}\n",
                        others.join(","),
                        e.key_type,
                        STANDARD.encode(&e.blob)
                    ));
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.push_str(&key.known_hosts_line(pattern));
    out.push('\n');
    // A known_hosts that is a link is refused, not replaced nor written through.
    crate::safe_fs::write_output(path, 0o600, |w| w.write_all(out.as_bytes()))?;
    Ok(replaced)
}

/// The policy a connection applies to the key the server presented.
#[derive(Debug, Clone)]
pub struct HostKeyPolicy<'a> {
    /// `CLIENT/TARGET`, for errors.
    pub target: &'a str,
    /// The fingerprint pinned in the inventory.
    pub pinned: Option<&'a str>,
    pub known_hosts: &'a Path,
    pub host_pattern: String,
    pub trust_on_first_use: bool,
}

impl HostKeyPolicy<'_> {
    /// Accepts the key or refuses the connection, before anything secret is sent.
    pub fn check(&self, key: &HostKey) -> ConnectorResult<()> {
        let got = key.fingerprint();
        if let Some(pinned) = self.pinned {
            return if pinned.trim() == got {
                Ok(())
            } else {
                Err(ConnectorError::HostKeyMismatch {
                    target: self.target.to_string(),
                    expected: pinned.trim().to_string(),
                    got,
                })
            };
        }
        let io_err = |e: std::io::Error| ConnectorError::Protocol {
            target: self.target.to_string(),
            detail: format!("known hosts file {}: {e}", self.known_hosts.display()),
        };
        if revoked_keys(self.known_hosts).map_err(io_err)?.contains(&key.blob) {
            return Err(ConnectorError::HostKeyMismatch {
                target: self.target.to_string(),
                expected: "a key not marked @revoked in the known hosts file".into(),
                got,
            });
        }
        let entries = read_known_hosts(self.known_hosts).map_err(io_err)?;
        match lookup(&entries, &self.host_pattern, key) {
            Known::Match => Ok(()),
            Known::Mismatch(expected) => Err(ConnectorError::HostKeyMismatch {
                target: self.target.to_string(),
                expected,
                got,
            }),
            Known::Unknown if self.trust_on_first_use => {
                record(self.known_hosts, &self.host_pattern, key).map_err(io_err)?;
                tracing::info!(target = self.target, fingerprint = %got, "host key recorded on first use");
                Ok(())
            }
            Known::Unknown => Err(ConnectorError::HostKeyUnknown {
                target: self.target.to_string(),
                got,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The public key of `ssh-keygen -t ed25519`, and its fingerprint as `ssh-keygen -l` prints it.
    const ED25519_PUB: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIIPHNwD1rHAE1cfGJgCQ3Vmw2Ri7V9pvt/br07Cvg5/2";

    fn key() -> HostKey {
        HostKey::new(&STANDARD.decode(ED25519_PUB).unwrap())
    }

    #[test]
    fn fingerprint_is_openssh_style() {
        assert_eq!(
            key().fingerprint(),
            "SHA256:HgXH3o1yDCYWcrQmllgrgAbX6qWVqoJJvPnUiUvUQdY"
        );
        assert_eq!(key().key_type(), "ssh-ed25519");
    }

    #[test]
    fn trust_on_first_use_records_then_refuses_a_changed_key() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        let policy = HostKeyPolicy {
            target: "acme/rtr",
            pinned: None,
            known_hosts: &kh,
            host_pattern: host_pattern("127.0.0.1", 2222),
            trust_on_first_use: false,
        };
        assert!(matches!(
            policy.check(&key()),
            Err(ConnectorError::HostKeyUnknown { .. })
        ));
        assert!(!kh.exists(), "nothing recorded without trust on first use");

        let tofu = HostKeyPolicy {
            trust_on_first_use: true,
            ..policy.clone()
        };
        tofu.check(&key()).unwrap();
        let text = std::fs::read_to_string(&kh).unwrap();
        assert!(text.starts_with("[127.0.0.1]:2222 ssh-ed25519 "), "{text}");
        policy.check(&key()).unwrap();

        let mut other = key();
        other.blob[20] ^= 1;
        let err = tofu.check(&other).unwrap_err();
        match err {
            ConnectorError::HostKeyMismatch { expected, got, .. } => {
                assert_eq!(expected, key().fingerprint());
                assert_eq!(got, other.fingerprint());
            }
            e => panic!("expected a mismatch, got {e}"),
        }
        // Accepting deliberately replaces the recorded key and keeps other hosts.
        record(&kh, "otherhost", &key()).unwrap();
        let replaced = record(&kh, &host_pattern("127.0.0.1", 2222), &other).unwrap();
        assert_eq!(replaced, vec![key().fingerprint()]);
        tofu.check(&other).unwrap();
        let entries = read_known_hosts(&kh).unwrap();
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn a_revoked_key_is_refused_even_on_first_use() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        std::fs::write(&kh, format!("@revoked * ssh-ed25519 {ED25519_PUB}\n")).unwrap();
        let tofu = HostKeyPolicy {
            target: "acme/rtr",
            pinned: None,
            known_hosts: &kh,
            host_pattern: host_pattern("127.0.0.1", 2222),
            trust_on_first_use: true,
        };
        assert!(matches!(
            tofu.check(&key()),
            Err(ConnectorError::HostKeyMismatch { .. })
        ));
        assert!(
            read_known_hosts(&kh).unwrap().is_empty(),
            "the revoked key was recorded"
        );
    }

    #[test]
    fn hashed_entries_are_matched_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known_hosts");
        let old = key();
        let pattern = "[127.0.0.1]:2222";
        std::fs::write(
            &path,
            format!(
                "{}\n{}\n",
                old.known_hosts_line(pattern),
                old.known_hosts_line("[127.0.0.1]:2223")
            ),
        )
        .unwrap();
        // OpenSSH's own hashing (HashKnownHosts), so the HMAC is checked against the real thing.
        let hashed = std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("ssh-keygen is missing: install Debian's openssh-client (tests/run.sh does)");
        assert!(hashed.status.success(), "{}", String::from_utf8_lossy(&hashed.stderr));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().all(|l| l.starts_with("|1|")), "{text}");
        let other_host = text.lines().nth(1).unwrap().to_string();
        let entries = read_known_hosts(&path).unwrap();
        assert_eq!(lookup(&entries, pattern, &old), Known::Match);
        let changed = HostKey::new(b"another key blob");
        assert!(matches!(lookup(&entries, pattern, &changed), Known::Mismatch(_)));
        assert_eq!(lookup(&entries, "[127.0.0.9]:2222", &old), Known::Unknown);

        let replaced = record(&path, pattern, &changed).unwrap();
        assert_eq!(replaced, vec![old.fingerprint()]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&other_host),
            "the other host's hashed line is kept: {text}"
        );
        assert_eq!(text.lines().count(), 2, "{text}");
        let entries = read_known_hosts(&path).unwrap();
        assert_eq!(lookup(&entries, pattern, &changed), Known::Match);
    }

    #[test]
    fn pinned_key_wins_over_known_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let kh = dir.path().join("known_hosts");
        let fp = key().fingerprint();
        let policy = HostKeyPolicy {
            target: "acme/rtr",
            pinned: Some(&fp),
            known_hosts: &kh,
            host_pattern: "h".into(),
            trust_on_first_use: true,
        };
        policy.check(&key()).unwrap();
        let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let pinned_wrong = HostKeyPolicy {
            pinned: Some(wrong),
            ..policy
        };
        assert!(matches!(
            pinned_wrong.check(&key()),
            Err(ConnectorError::HostKeyMismatch { .. })
        ));
        assert!(!kh.exists(), "a pinned key is never recorded");
    }

    #[test]
    fn a_known_hosts_that_is_a_link_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "keep\n").unwrap();
        let kh = dir.path().join("known_hosts");
        std::os::unix::fs::symlink(&elsewhere, &kh).unwrap();
        let err = record(&kh, "otherhost", &key()).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "keep\n");
        assert!(std::fs::symlink_metadata(&kh).unwrap().file_type().is_symlink());
    }
}
