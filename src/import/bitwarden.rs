//! Bitwarden's unencrypted JSON export (`bw export --format json`, or the web vault's "json"
//! export), and keyreeve's own `--format bitwarden`: each login item a credential, its folder the
//! group that names its target, `passwordHistory` its earlier passwords. Items that hold no login
//! (secure notes, cards, identities) are listed as skipped; an encrypted export is refused.

use std::path::Path;

use serde::Deserialize;

use super::{date, Bad, ImportError, KeyreeveOrigin, Location, Parsed, Record};
use crate::secret::Password;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Export {
    #[serde(default)]
    encrypted: bool,
    #[serde(default)]
    folders: Vec<Folder>,
    items: Vec<Item>,
}

#[derive(Deserialize)]
struct Folder {
    id: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(default)]
    folder_id: Option<String>,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    name: String,
    #[serde(default)]
    notes: Option<String>,
    #[serde(default)]
    fields: Option<Vec<Field>>,
    #[serde(default)]
    login: Option<Login>,
    #[serde(default)]
    password_history: Option<Vec<OldPassword>>,
}

#[derive(Deserialize)]
struct Field {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct Login {
    #[serde(default)]
    uris: Option<Vec<Uri>>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<Password>,
}

#[derive(Deserialize)]
struct Uri {
    #[serde(default)]
    uri: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OldPassword {
    #[serde(default)]
    last_used_date: Option<String>,
    password: Password,
}

const TYPE_LOGIN: u8 = 1;

pub fn parse(input: &[u8], file: &Path) -> Result<Parsed, ImportError> {
    let export: Export = serde_json::from_slice(input).map_err(|e| ImportError::Unreadable {
        path: file.to_path_buf(),
        // Only where and what kind of error: serde_json's message may quote the value it could
        // not read, which may be a password.
        reason: format!(
            "not a Bitwarden JSON export ({} at line {}, column {})",
            match e.classify() {
                serde_json::error::Category::Io => "unreadable",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data => "a value of the wrong type or a field missing",
                serde_json::error::Category::Eof => "cut short",
            },
            e.line(),
            e.column()
        ),
    })?;
    if export.encrypted {
        return Err(ImportError::Unreadable {
            path: file.to_path_buf(),
            reason: "an encrypted Bitwarden export".into(),
        });
    }
    let mut parsed = Parsed::default();
    for (i, item) in export.items.into_iter().enumerate() {
        let at = Location {
            unit: "item",
            number: i + 1,
        };
        let field = |name: &str| -> String {
            item.fields
                .iter()
                .flatten()
                .find(|f| f.name.as_deref() == Some(name))
                .and_then(|f| f.value.clone())
                .unwrap_or_default()
        };
        let Some(login) = item.login.filter(|_| item.kind == TYPE_LOGIN) else {
            if !field("created_by").is_empty() && item.name.starts_with("keyreeve handover manifest") {
                continue;
            }
            parsed.skipped.push(Bad {
                at,
                reason: format!("`{}` holds no login", crate::escape::terminal(&item.name)),
            });
            continue;
        };
        let Some(password) = login.password else {
            parsed.bad.push(Bad {
                at,
                reason: "empty password".into(),
            });
            continue;
        };
        let mut r = Record::new(at, password);
        r.title = item.name.trim().to_string();
        r.username = login.username.unwrap_or_default();
        r.url = login
            .uris
            .into_iter()
            .flatten()
            .find_map(|u| u.uri)
            .unwrap_or_default()
            .trim()
            .to_string();
        r.notes = item.notes.unwrap_or_default();
        r.group = item
            .folder_id
            .and_then(|id| export.folders.iter().find(|f| f.id == id))
            .map(|f| f.name.trim().to_string())
            .filter(|n| !n.is_empty());
        let mut history: Vec<OldPassword> = item.password_history.unwrap_or_default();
        history.sort_by_key(|h| h.last_used_date.as_deref().and_then(date));
        r.history = history
            .into_iter()
            .map(|h| (h.password, h.last_used_date.as_deref().and_then(date)))
            .collect();
        let path = field("keyreeve_path");
        if !path.is_empty() {
            let url = super::guess::parse_url(&r.url).filter(|u| u.scheme.as_deref() == Some("ssh"));
            r.origin = Some(KeyreeveOrigin {
                path,
                kind: Some(field("kind")).filter(|k| !k.is_empty()),
                address: url.as_ref().map(|u| u.host.clone()),
                port: url.map(|u| u.port.unwrap_or(22)),
                rotated_at: date(&field("last_rotated")),
                verified_at: date(&field("last_verified")),
            });
        }
        parsed.records.push(r);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_folders_history_and_skipped_notes() {
        let json = r#"{"encrypted":false,"folders":[{"id":"f1","name":"Printers"}],"items":[
          {"id":"1","folderId":"f1","type":1,"name":"HP","notes":null,"login":{"uris":[{"match":null,"uri":"http://10.0.0.40"}],"username":"admin","password":"p\"1"},
           "passwordHistory":[{"lastUsedDate":"2026-02-01T00:00:00.000Z","password":"newer"},{"lastUsedDate":"2026-01-01T00:00:00.000Z","password":"older"}]},
          {"id":"2","type":2,"name":"Wifi note","secureNote":{"type":0}},
          {"id":"3","type":1,"name":"Empty","login":{"username":"x","password":null}}]}"#;
        let p = parse(json.as_bytes(), Path::new("bw.json")).unwrap();
        assert_eq!(p.records.len(), 1);
        let r = &p.records[0];
        assert_eq!(
            (r.password.expose(), r.group.as_deref(), r.url.as_str()),
            ("p\"1", Some("Printers"), "http://10.0.0.40")
        );
        let old: Vec<&str> = r.history.iter().map(|(p, _)| p.expose()).collect();
        assert_eq!(old, ["older", "newer"]);
        assert_eq!(p.skipped[0].to_string(), "item 2: `Wifi note` holds no login");
        assert_eq!(p.bad[0].to_string(), "item 3: empty password");
        let err = parse(br#"{"encrypted":true,"items":[]}"#, Path::new("bw.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("encrypted"), "{err}");
    }
}
