//! The native format: the client's vault document as it is, with the targets' inventory data and
//! the manifest, so that another keyreeve workspace can import entries, metadata and history.

use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{ExportError, ExportInput, Manifest, Targets};
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
    serde_json::from_slice(plaintext).map_err(|e| {
        not_native(format!(
            "it is malformed ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
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
