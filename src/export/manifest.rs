//! The manifest every export carries, whatever its format: which client, when, by whom, to whom,
//! and per entry what the receiver must know before trusting a password: when it was last rotated
//! and verified, whether the provider's staff saw it since, and whether its last check failed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Format;
use crate::vault::{Entry, VaultDocument};

/// The header of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub client: String,
    pub created_at: DateTime<Utc>,
    pub created_by: Creator,
    /// The public keys the file is encrypted to, or `["passphrase"]`.
    pub recipients: Vec<String>,
    /// The format of the export this manifest is part of.
    pub format: Format,
    /// Whether earlier passwords are included.
    pub with_history: bool,
    pub entries: Vec<ManifestEntry>,
}

/// Who made the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creator {
    /// The OS user.
    pub user: String,
    /// The public key of the identity in use, if there was one.
    pub key: Option<String>,
}

/// What the receiver must know about one entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// `CLIENT/TARGET/ACCOUNT`.
    pub path: String,
    pub username: String,
    pub last_rotated: Option<DateTime<Utc>>,
    pub last_verified: Option<DateTime<Utc>>,
    /// The provider's staff revealed the password after it was last set.
    pub revealed_since_rotation: bool,
    pub last_revealed: Option<DateTime<Utc>>,
    /// Set when the stored password failed its last verification (or anything else that makes it
    /// doubtful).
    pub warning: Option<String>,
}

impl ManifestEntry {
    pub fn of(client: &str, key: &str, entry: &Entry) -> Self {
        ManifestEntry {
            path: format!("{client}/{key}"),
            username: entry.username.clone(),
            last_rotated: entry.rotated_at,
            last_verified: entry.verified_at,
            revealed_since_rotation: revealed_since_rotation(entry),
            last_revealed: entry.revealed_at,
            warning: warning(entry),
        }
    }
}

/// Whether the current password was revealed after it was set (a password never rotated counts
/// from its creation).
pub fn revealed_since_rotation(entry: &Entry) -> bool {
    match entry.revealed_at {
        None => false,
        Some(revealed) => revealed >= entry.rotated_at.unwrap_or(entry.created),
    }
}

/// The warning the receiver sees for a password whose last verification failed.
pub fn warning(entry: &Entry) -> Option<String> {
    let failed = entry.verify_failed_at?;
    match entry.verified_at {
        Some(ok) if ok >= failed => None,
        _ => Some(format!(
            "the stored password failed its last verification ({}); it may not work",
            failed.format("%Y-%m-%d %H:%M UTC")
        )),
    }
}

impl Manifest {
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        document: &VaultDocument,
        created_at: DateTime<Utc>,
        user: &str,
        key: Option<&str>,
        recipients: Vec<String>,
        format: Format,
        with_history: bool,
    ) -> Self {
        Manifest {
            client: document.client.clone(),
            created_at,
            created_by: Creator {
                user: user.to_string(),
                key: key.map(str::to_string),
            },
            recipients,
            format,
            with_history,
            entries: document
                .entries
                .iter()
                .map(|(k, e)| ManifestEntry::of(&document.client, k, e))
                .collect(),
        }
    }

    /// The entry of `path` (`CLIENT/TARGET/ACCOUNT`).
    pub fn entry(&self, path: &str) -> Option<&ManifestEntry> {
        self.entries.iter().find(|e| e.path == path)
    }

    /// The manifest as text for a person: used where a format has only a notes field for it.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "keyreeve handover of client `{}`\ncreated {} by {}{}\nencrypted to: {}\n",
            self.client,
            self.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.created_by.user,
            self.created_by
                .key
                .as_deref()
                .map(|k| format!(" ({k})"))
                .unwrap_or_default(),
            self.recipients.join(", "),
        );
        let revealed = self.entries.iter().filter(|e| e.revealed_since_rotation).count();
        let warned = self.entries.iter().filter(|e| e.warning.is_some()).count();
        out.push_str(&format!(
            "{} entries; {revealed} revealed to the provider's staff since their last rotation; {warned} with a warning\n",
            self.entries.len()
        ));
        for e in &self.entries {
            out.push_str(&format!(
                "\n{}\n  last rotated: {}\n  last verified: {}\n  revealed since rotation: {}\n",
                e.path,
                date_or_never(e.last_rotated),
                date_or_never(e.last_verified),
                if e.revealed_since_rotation { "yes" } else { "no" },
            ));
            if let Some(w) = &e.warning {
                out.push_str(&format!("  WARNING: {w}\n"));
            }
        }
        out
    }
}

pub(crate) fn date_or_never(d: Option<DateTime<Utc>>) -> String {
    d.map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "never".into())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    #[test]
    fn flags_reveals_after_rotation_and_failed_verification() {
        let doc = document();
        let m = manifest(&doc, Format::Json);
        let rtr = m.entry("acme/core-rtr1/admin").unwrap();
        assert!(rtr.revealed_since_rotation);
        assert_eq!(rtr.warning, None);
        assert_eq!(rtr.last_rotated, Some(at(10)));
        let dc = m.entry("acme/dc1/svc-backup").unwrap();
        assert!(!dc.revealed_since_rotation);
        assert!(dc.warning.as_deref().unwrap().contains("failed its last verification"));
        let text = m.to_text();
        assert!(text.contains("WARNING") && text.contains("acme/dc1/svc-backup") && text.contains("alice"));
    }

    #[test]
    fn a_reveal_before_the_last_rotation_does_not_count() {
        let mut doc = document();
        let e = doc.entries.get_mut("core-rtr1/admin").unwrap();
        e.revealed_at = Some(at(9));
        assert!(!revealed_since_rotation(e));
        e.rotated_at = None; // never rotated: counts from creation
        assert!(revealed_since_rotation(e));
    }

    #[test]
    fn a_later_successful_verification_clears_the_warning() {
        let mut doc = document();
        let e = doc.entries.get_mut("dc1/svc-backup").unwrap();
        e.verified_at = Some(at(6));
        assert_eq!(warning(e), None);
        e.verified_at = None;
        assert!(warning(e).is_some());
    }
}
