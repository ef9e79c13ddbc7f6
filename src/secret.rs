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

/// The shortest run of a secret's characters that [`mask_fragments`] hides.
pub const FRAGMENT: usize = 4;

/// `text` (device output quoted in an error) with every run of [`FRAGMENT`] or more characters
/// that also occurs in one of `secrets` hidden as [`REDACTED`]: an exact-match redaction misses a
/// password a device echoes wrapped across lines, cut short, reversed or base64-encoded, so every
/// such form is matched too. A secret shorter than a fragment is hidden where it occurs whole.
/// This hides more than the secret (any text sharing four characters with it), which is what
/// error text can afford and parsed output cannot: use it only where device text is shown.
pub fn mask_fragments(text: &str, secrets: &[&Password]) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut hidden = vec![false; chars.len()];
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        let plain: Zeroizing<Vec<char>> = Zeroizing::new(secret.expose().chars().collect());
        let reversed: Zeroizing<Vec<char>> = Zeroizing::new(plain.iter().rev().copied().collect());
        let mut forms = vec![plain, reversed];
        for engine in [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::URL_SAFE,
        ] {
            let encoded = Zeroizing::new(base64::Engine::encode(engine, secret.expose()));
            forms.push(Zeroizing::new(encoded.chars().collect()));
        }
        for form in &forms {
            let run = form.len().min(FRAGMENT);
            for start in 0..=chars.len().saturating_sub(run) {
                // A text shorter than a fragment has no window at all.
                let Some(window) = chars.get(start..start + run) else {
                    break;
                };
                if form.windows(run).any(|w| w == window) {
                    hidden[start..start + run].iter_mut().for_each(|h| *h = true);
                }
            }
        }
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in chars.iter().enumerate() {
        if !hidden[i] {
            out.push(*c);
        } else if i == 0 || !hidden[i - 1] {
            out.push_str(REDACTED);
        }
    }
    out
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

    /// Text shorter than a fragment (an empty stderr) is kept as it is; it used to panic.
    #[test]
    fn text_shorter_than_a_fragment_is_kept() {
        let secret = Password::new("abcdefgh");
        assert_eq!(mask_fragments("", &[&secret]), "");
        assert_eq!(mask_fragments("xyz", &[&secret]), "xyz");
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let p = Password::new("hunter2-very-secret");
        let shown = format!("{p:?} {:?}", Some(&p));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(REDACTED));
    }

    /// A 24-character password a device echoes in part, wrapped, reversed or base64-encoded
    /// leaves no run of four of its characters in the error text.
    #[test]
    fn fragments_of_a_secret_in_any_echoed_form_are_hidden() {
        use base64::Engine;
        let secret = "Kq7-vR2x!Tm9#pL4wZ8&nB3e";
        let p = Password::new(secret);
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        let reversed: String = secret.chars().rev().collect();
        let echoes = [
            format!("% Invalid input: username x secret {}", &secret[..23]),
            format!("% bad secret {}\r\n{}", &secret[..11], &secret[11..]),
            format!("echo {}X", &secret[1..]),
            format!("decoded: {b64}"),
            format!("reversed: {reversed}"),
            format!("middle: ..{}..", &secret[8..14]),
        ];
        for echo in &echoes {
            let shown = mask_fragments(echo, &[&p]);
            let leaked = (0..=secret.len() - FRAGMENT)
                .map(|i| &secret[i..i + FRAGMENT])
                .chain((0..=b64.len() - FRAGMENT).map(|i| &b64[i..i + FRAGMENT]))
                .chain((0..=reversed.len() - FRAGMENT).map(|i| &reversed[i..i + FRAGMENT]))
                .find(|run| shown.contains(run));
            assert!(leaked.is_none(), "{leaked:?} of the secret in {shown:?}");
            assert!(shown.contains(REDACTED), "{shown}");
        }
        // Text that shares no four characters with the secret is kept as it is.
        let plain = "% Invalid input detected at '^' marker.";
        assert_eq!(mask_fragments(plain, &[&p]), plain);
        assert_eq!(
            mask_fragments("bad: abc and xabcx", &[&Password::new("abc")]),
            "bad: ******** and x********x"
        );
        assert_eq!(mask_fragments("anything", &[&Password::new("")]), "anything");
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
