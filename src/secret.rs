//! Secrets in memory: one type for every password, key and passphrase keyreeve handles, so that
//! none can be printed, logged or left behind in freed memory by accident.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// A password (or private key text, or passphrase). Wiped on drop; no `Display`; `Debug` prints a
/// placeholder. The only way to read it is [`Password::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(Zeroizing<String>);

/// What a secret looks like wherever it would otherwise be shown: plans, logs, errors.
pub const REDACTED: &str = "********";

impl Password {
    pub fn new(value: impl Into<String>) -> Self {
        Password(Zeroizing::new(value.into()))
    }

    /// The secret text. Call only where the secret must really leave keyreeve (a device, a bind,
    /// an encrypted file, stdout of `vault get`).
    pub fn expose(&self) -> &str {
        self.0.as_str()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Replace every occurrence of this secret in `text` by [`REDACTED`], for text captured from a
    /// device that might have echoed it.
    pub fn redact_in(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_string()
        } else {
            text.replace(self.0.as_str(), REDACTED)
        }
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for Password {
    fn from(s: String) -> Self {
        Password::new(s)
    }
}

/// Serialised only inside age-encrypted documents (vault, journal, export).
impl Serialize for Password {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Password {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        Ok(Password::new(s.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let p = Password::new("hunter2-very-secret");
        let shown = format!("{p:?} {:?}", Some(&p));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(REDACTED));
    }

    #[test]
    fn redact_in_hides_every_occurrence() {
        let p = Password::new("s3cr3t");
        assert_eq!(
            p.redact_in("username a secret s3cr3t\ns3cr3t"),
            "username a secret ********\n********"
        );
    }
}
