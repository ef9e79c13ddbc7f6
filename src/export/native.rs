//! The native format: the client's vault document as it is, with the targets' inventory data and
//! the manifest, so that another keyreeve workspace can import entries, metadata and history.

use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{ExportError, ExportInput, Manifest, Targets};
use crate::escape;
use crate::inventory::TargetKind;
use crate::validate::{self, Invalid};
use crate::vault::VaultDocument;

/// The `format` field of a native export.
pub const FORMAT: &str = "keyreeve-export";
/// The version this build writes and the newest it reads.
pub const VERSION: u32 = 1;

/// A native export, as written inside the age envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NativeExport {
    pub format: String,
    pub version: u32,
    pub manifest: Manifest,
    pub targets: Targets,
    /// The client's entries; without `--with-history`, their history is empty.
    pub vault: VaultDocument,
}

pub fn render(input: &ExportInput<'_>) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let mut vault = input.document.clone();
    if !input.with_history {
        for entry in vault.entries.values_mut() {
            entry.history.clear();
        }
    }
    let export = NativeExport {
        format: FORMAT.into(),
        version: VERSION,
        manifest: input.manifest.clone(),
        targets: input.targets.clone(),
        vault,
    };
    super::to_json(&export, "keyreeve", 4096 + 2048 * input.document.entries.len())
}

/// Reads a decrypted native export; `path` is named in errors.
pub fn parse(plaintext: &[u8], path: &Path) -> Result<NativeExport, ExportError> {
    let not_native = |reason: String| ExportError::NotNative {
        path: path.to_path_buf(),
        reason,
    };
    // Read the header alone first (other fields are skipped, never copied), so that a file of
    // another kind or version gets its own message.
    #[derive(Deserialize)]
    struct Header {
        format: Option<String>,
        version: Option<u64>,
    }
    let header: Header =
        serde_json::from_slice(plaintext).map_err(|_| not_native("its content is not a JSON object".into()))?;
    match header.format.as_deref() {
        Some(FORMAT) => {}
        Some(other) => return Err(not_native(format!("its format is `{other}`"))),
        None => return Err(not_native("it has no `format` field".into())),
    }
    let version = header.version.unwrap_or(0);
    if version > u64::from(VERSION) {
        return Err(ExportError::FutureVersion {
            path: path.to_path_buf(),
            found: u32::try_from(version).unwrap_or(u32::MAX),
            supported: VERSION,
        });
    }
    // serde's messages may quote the offending value, which could be a password: say only where.
    let export: NativeExport = serde_json::from_slice(plaintext).map_err(|e| {
        not_native(format!(
            "it is malformed ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    check_names(&export).map_err(|problem| ExportError::Unacceptable {
        path: path.to_path_buf(),
        problem,
    })?;
    Ok(export)
}

/// Everything an import takes in and shows is checked as `vault set` and `keyreeve.toml` check
/// it: entry keys and paths are names a command can address, usernames, addresses and the
/// other text the import prints or pastes are one line of visible text.
fn check_names(export: &NativeExport) -> Result<(), Invalid> {
    let m = &export.manifest;
    validate::name("client", &m.client)?;
    crate::vault::check_names(&export.vault)?;
    for (name, t) in &export.targets {
        validate::name("target", name)?;
        if TargetKind::parse(&t.kind).is_none() {
            return Err(validate::Invalid {
                what: "kind",
                shown: escape::terminal(&t.kind).into_owned(),
                reason: "it is not a target kind this keyreeve knows".into(),
            });
        }
        validate::name("login", &t.login)?;
        validate::single_line("address", &t.address)?;
        for (what, text) in [("url", &t.url), ("base_dn", &t.base_dn), ("host_key", &t.host_key)] {
            if let Some(text) = text {
                validate::single_line(what, text)?;
            }
        }
    }
    validate::single_line("exported by", &m.created_by.user)?;
    if let Some(key) = &m.created_by.key {
        validate::single_line("exporter's key", key)?;
    }
    for r in &m.recipients {
        validate::single_line("recipient", r)?;
    }
    for e in &m.entries {
        validate::vault_path(&e.path)?;
        validate::single_line("username", &e.username)?;
        if let Some(w) = &e.warning {
            validate::single_line("warning", w)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures::*, Format};
    use super::*;

    #[test]
    fn round_trips_entries_metadata_and_history() {
        let doc = document();
        let targets = targets();
        let m = manifest(&doc, Format::Keyreeve);
        let input = ExportInput {
            document: &doc,
            targets: &targets,
            manifest: &m,
            with_history: true,
        };
        let bytes = render(&input).unwrap();
        let back = parse(&bytes, Path::new("x.age")).unwrap();
        assert_eq!(back.vault, doc);
        assert_eq!(back.targets, targets);
        assert_eq!(back.manifest, m);
    }

    #[test]
    fn history_is_left_out_unless_asked() {
        let doc = document();
        let targets = targets();
        let m = manifest(&doc, Format::Keyreeve);
        let input = ExportInput {
            document: &doc,
            targets: &targets,
            manifest: &m,
            with_history: false,
        };
        let bytes = render(&input).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains("old-rtr-pass"));
        let back = parse(&bytes, Path::new("x.age")).unwrap();
        assert!(back.vault.entries.values().all(|e| e.history.is_empty()));
    }

    /// A hostile or broken export: each name or text that `vault set` or keyreeve.toml would
    /// refuse is refused at import, named (escaped), before anything is written.
    #[test]
    fn names_keys_and_text_are_checked_as_vault_set_checks_them() {
        let doc = document();
        let targets = targets();
        let m = manifest(&doc, Format::Keyreeve);
        let input = ExportInput {
            document: &doc,
            targets: &targets,
            manifest: &m,
            with_history: true,
        };
        let good: serde_json::Value = serde_json::from_slice(&render(&input).unwrap()).unwrap();
        let rekey = |v: &mut serde_json::Value, key: &str| {
            let entries = v["vault"]["entries"].as_object_mut().unwrap();
            let e = entries.remove("core-rtr1/admin").unwrap();
            entries.insert(key.to_string(), e);
        };
        type Edit = Box<dyn Fn(&mut serde_json::Value)>;
        let cases: Vec<(Edit, &str)> = vec![
            (
                Box::new(move |v| rekey(v, "ios-001/admin\nusername pwned privilege 15")),
                "entry key `ios-001/admin\\nusername pwned privilege 15`",
            ),
            (
                Box::new(move |v| rekey(v, "../../etc/passwd")),
                "entry key `../../etc/passwd`",
            ),
            (
                Box::new(move |v| rekey(v, "rtr1/\u{1b}[2Jadmin")),
                "entry key `rtr1/\\u{1b}[2Jadmin`",
            ),
            (
                Box::new(|v| v["vault"]["entries"]["dc1/svc-backup"]["username"] = "svc\r\nx".into()),
                "username `svc\\r\\nx`",
            ),
            (
                Box::new(|v| v["vault"]["client"] = "../acme".into()),
                "client `../acme`",
            ),
            (Box::new(|v| v["manifest"]["client"] = "ac me".into()), "client `ac me`"),
            (
                Box::new(|v| {
                    let t = v["targets"].as_object_mut().unwrap();
                    let dc = t.remove("dc1").unwrap();
                    t.insert("dc1\u{1b}]0;x\u{7}".into(), dc);
                }),
                "target `dc1\\u{1b}]0;x\\u{7}`",
            ),
            (
                Box::new(|v| v["targets"]["dc1"]["kind"] = "telnet".into()),
                "kind `telnet`",
            ),
            (
                Box::new(|v| v["targets"]["dc1"]["login"] = "a\nb".into()),
                "login `a\\nb`",
            ),
            (
                Box::new(|v| v["targets"]["core-rtr1"]["address"] = "10.0.0.1\nhost_key = \"x\"".into()),
                "address `10.0.0.1\\nhost_key",
            ),
            (
                Box::new(|v| v["manifest"]["created_by"]["user"] = "\u{1b}[2Jmallory".into()),
                "exported by `\\u{1b}[2Jmallory`",
            ),
            (
                Box::new(|v| v["manifest"]["entries"][0]["path"] = "acme/rtr1/admin\nacme/x/y".into()),
                "vault path `acme/rtr1/admin\\nacme/x/y`",
            ),
            (
                Box::new(|v| v["manifest"]["entries"][0]["warning"] = "ok\u{202e}".into()),
                "warning `ok\\u{202e}`",
            ),
        ];
        assert!(parse(&serde_json::to_vec(&good).unwrap(), Path::new("x.age")).is_ok());
        for (edit, named) in cases {
            let mut v = good.clone();
            edit(&mut v);
            let err = parse(&serde_json::to_vec(&v).unwrap(), Path::new("x.age")).unwrap_err();
            let shown = err.to_string();
            assert!(matches!(err, ExportError::Unacceptable { .. }), "{shown}");
            assert!(
                shown.starts_with("x.age holds what keyreeve does not take in: "),
                "{shown}"
            );
            assert!(shown.contains(named), "expected {named} in {shown}");
            assert!(
                !shown.chars().any(|c| c.is_control() || escape::is_invisible(c)),
                "{shown:?}"
            );
        }
    }

    #[test]
    fn other_content_is_refused_clearly() {
        let p = Path::new("x.age");
        assert!(matches!(parse(b"a,b,c", p), Err(ExportError::NotNative { .. })));
        assert!(matches!(
            parse(br#"{"format":"keyreeve-handover"}"#, p),
            Err(ExportError::NotNative { .. })
        ));
        assert!(matches!(
            parse(br#"{"format":"keyreeve-export","version":99}"#, p),
            Err(ExportError::FutureVersion { found: 99, .. })
        ));
    }
}
