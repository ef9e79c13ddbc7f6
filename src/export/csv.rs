//! The `csv` format: one row per account, for spreadsheets and password managers that import CSV.
//! The first five columns are the ones every importer maps (username, password, target, address,
//! notes); the manifest follows in extra columns on every row, so that the file stays a plain
//! rectangle any tool reads. Current passwords only.

use zeroize::Zeroizing;

use super::manifest::date_or_never;
use super::{ExportError, ExportInput, SecretBuf};

/// The header row.
pub const COLUMNS: [&str; 15] = [
    "username",
    "password",
    "target",
    "address",
    "notes",
    "path",
    "kind",
    "port",
    "last_rotated",
    "last_verified",
    "revealed_since_rotation",
    "warning",
    "client",
    "exported_at",
    "exported_by",
];

pub fn render(input: &ExportInput<'_>) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let err = |e: csv::Error| ExportError::Render {
        format: "csv",
        reason: e.to_string(),
    };
    let m = input.manifest;
    let exported_at = date_or_never(Some(m.created_at));
    let exported_by = match &m.created_by.key {
        Some(k) => format!("{} ({k})", m.created_by.user),
        None => m.created_by.user.clone(),
    };
    let mut out = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(SecretBuf::with_capacity(4096 + 1024 * input.document.entries.len()));
    out.write_record(COLUMNS).map_err(err)?;
    for (key, e) in &input.document.entries {
        let (target, _) = ExportInput::split_key(key);
        let info = input.target(key);
        let path = format!("{}/{key}", input.client());
        let me = m.entry(&path);
        let port = info.map(|t| t.port.to_string()).unwrap_or_default();
        out.write_record([
            e.username.as_str(),
            e.password.expose(),
            target,
            info.map(|t| t.address.as_str()).unwrap_or(""),
            e.notes.as_str(),
            path.as_str(),
            info.map(|t| t.kind.as_str()).unwrap_or(""),
            port.as_str(),
            &date_or_never(e.rotated_at),
            &date_or_never(e.verified_at),
            if me.is_some_and(|me| me.revealed_since_rotation) {
                "yes"
            } else {
                "no"
            },
            me.and_then(|me| me.warning.as_deref()).unwrap_or(""),
            input.client(),
            &exported_at,
            &exported_by,
        ])
        .map_err(err)?;
    }
    out.into_inner().map(|buf| buf.0).map_err(|e| ExportError::Render {
        format: "csv",
        reason: e.error().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures::*, Format};
    use super::*;

    #[test]
    fn quotes_what_needs_quoting_and_carries_the_manifest() {
        let doc = document();
        let targets = targets();
        let m = manifest(&doc, Format::Csv);
        let input = ExportInput {
            document: &doc,
            targets: &targets,
            manifest: &m,
            with_history: false,
        };
        let bytes = render(&input).unwrap();
        let mut r = csv::Reader::from_reader(bytes.as_slice());
        assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), COLUMNS);
        let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][0], "admin");
        assert_eq!(&rows[0][1], "Rtr-pa$$,\"quoted\"<&>");
        assert_eq!(&rows[0][2], "core-rtr1");
        assert_eq!(&rows[0][3], "10.0.0.1");
        assert_eq!(&rows[0][4], "core router, line one\nline two");
        assert_eq!(&rows[0][10], "yes");
        assert_eq!(&rows[1][1], "dc-secret-ünïcode");
        assert!(rows[1][11].contains("failed"));
        assert_eq!(&rows[1][12], "acme");
        assert!(rows[1][14].contains("alice"));
    }
}
