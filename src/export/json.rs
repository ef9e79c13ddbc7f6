//! The `json` format: one self-describing document for receivers who script their own import.
//! Its schema is documented in docs/export-formats.md; change both together.

use chrono::{DateTime, Utc};
use serde::Serialize;
use zeroize::Zeroizing;

use super::manifest::{revealed_since_rotation, warning};
use super::{ExportError, ExportInput, Manifest};
use crate::secret::Password;

/// The `format` field of a json export.
pub const FORMAT: &str = "keyreeve-handover";
/// The schema version this build writes.
pub const VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    format: &'static str,
    version: u32,
    manifest: &'a Manifest,
    entries: Vec<JsonEntry<'a>>,
}

#[derive(Serialize)]
struct JsonEntry<'a> {
    path: String,
    target: &'a str,
    account: &'a str,
    username: &'a str,
    password: &'a Password,
    kind: Option<&'a str>,
    address: Option<&'a str>,
    port: Option<u16>,
    url: Option<&'a str>,
    notes: &'a str,
    created: DateTime<Utc>,
    rotated_at: Option<DateTime<Utc>>,
    verified_at: Option<DateTime<Utc>>,
    verify_failed_at: Option<DateTime<Utc>>,
    revealed_at: Option<DateTime<Utc>>,
    revealed_since_rotation: bool,
    warning: Option<String>,
    history: Vec<JsonHistory<'a>>,
}

#[derive(Serialize)]
struct JsonHistory<'a> {
    password: &'a Password,
    replaced_at: DateTime<Utc>,
}

pub fn render(input: &ExportInput<'_>) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let entries = input
        .document
        .entries
        .iter()
        .map(|(key, e)| {
            let (target, account) = ExportInput::split_key(key);
            let info = input.target(key);
            JsonEntry {
                path: format!("{}/{key}", input.client()),
                target,
                account,
                username: &e.username,
                password: &e.password,
                kind: info.map(|t| t.kind.as_str()),
                address: info.map(|t| t.address.as_str()),
                port: info.map(|t| t.port),
                url: info.and_then(|t| t.url.as_deref()),
                notes: &e.notes,
                created: e.created,
                rotated_at: e.rotated_at,
                verified_at: e.verified_at,
                verify_failed_at: e.verify_failed_at,
                revealed_at: e.revealed_at,
                revealed_since_rotation: revealed_since_rotation(e),
                warning: warning(e),
                history: if input.with_history {
                    e.history
                        .iter()
                        .map(|h| JsonHistory {
                            password: &h.password,
                            replaced_at: h.replaced_at,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    let doc = Document {
        format: FORMAT,
        version: VERSION,
        manifest: input.manifest,
        entries,
    };
    super::to_json(&doc, "json", 4096 + 2048 * input.document.entries.len())
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures::*, Format};
    use super::*;

    #[test]
    fn writes_the_documented_fields() {
        let doc = document();
        let targets = targets();
        let m = manifest(&doc, Format::Json);
        let input = ExportInput {
            document: &doc,
            targets: &targets,
            manifest: &m,
            with_history: true,
        };
        let v: serde_json::Value = serde_json::from_slice(&render(&input).unwrap()).unwrap();
        assert_eq!(v["format"], FORMAT);
        assert_eq!(v["version"], 1);
        assert_eq!(v["manifest"]["client"], "acme");
        assert_eq!(v["manifest"]["created_by"]["user"], "alice");
        let rtr = &v["entries"][0];
        assert_eq!(rtr["path"], "acme/core-rtr1/admin");
        assert_eq!(rtr["target"], "core-rtr1");
        assert_eq!(rtr["account"], "admin");
        assert_eq!(rtr["password"], "Rtr-pa$$,\"quoted\"<&>");
        assert_eq!(rtr["address"], "10.0.0.1");
        assert_eq!(rtr["kind"], "cisco-ios");
        assert_eq!(rtr["revealed_since_rotation"], true);
        assert_eq!(rtr["history"][0]["password"], "old-rtr-pass");
        let dc = &v["entries"][1];
        assert_eq!(dc["url"], "ldaps://dc1.acme.example:636");
        assert!(dc["warning"].as_str().unwrap().contains("failed"));
    }
}
