//! The `bitwarden` format: Bitwarden's unencrypted JSON import format for a personal vault (one
//! folder named after the client, one login item per account, custom fields for the manifest, and
//! a secure note holding the whole manifest). Earlier passwords go to `passwordHistory`.

use serde::Serialize;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::manifest::date_or_never;
use super::{ExportError, ExportInput};
use crate::secret::Password;

/// Item types of the format.
pub const TYPE_LOGIN: u8 = 1;
pub const TYPE_SECURE_NOTE: u8 = 2;
/// Custom field types of the format.
pub const FIELD_TEXT: u8 = 0;
pub const FIELD_BOOLEAN: u8 = 2;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Export<'a> {
    encrypted: bool,
    folders: Vec<Folder>,
    items: Vec<Item<'a>>,
}

#[derive(Serialize)]
struct Folder {
    id: String,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    id: String,
    organization_id: Option<String>,
    folder_id: String,
    #[serde(rename = "type")]
    kind: u8,
    reprompt: u8,
    name: String,
    notes: Option<String>,
    favorite: bool,
    fields: Vec<Field>,
    #[serde(skip_serializing_if = "Option::is_none")]
    login: Option<Login<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secure_note: Option<SecureNote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password_history: Option<Vec<PasswordHistory<'a>>>,
    collection_ids: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Field {
    name: String,
    value: String,
    #[serde(rename = "type")]
    kind: u8,
    linked_id: Option<u32>,
}

#[derive(Serialize)]
struct Login<'a> {
    uris: Vec<Uri>,
    username: &'a str,
    password: &'a Password,
    totp: Option<String>,
}

#[derive(Serialize)]
struct Uri {
    #[serde(rename = "match")]
    match_: Option<u8>,
    uri: String,
}

#[derive(Serialize)]
struct SecureNote {
    #[serde(rename = "type")]
    kind: u8,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PasswordHistory<'a> {
    last_used_date: String,
    password: &'a Password,
}

fn text(name: &str, value: impl Into<String>) -> Field {
    Field {
        name: name.into(),
        value: value.into(),
        kind: FIELD_TEXT,
        linked_id: None,
    }
}

pub fn render(input: &ExportInput<'_>) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let client = input.client();
    let folder_id = Uuid::new_v4().to_string();
    let mut items = Vec::with_capacity(input.document.entries.len() + 1);
    items.push(Item {
        id: Uuid::new_v4().to_string(),
        organization_id: None,
        folder_id: folder_id.clone(),
        kind: TYPE_SECURE_NOTE,
        reprompt: 0,
        name: format!("keyreeve handover manifest: {client}"),
        notes: Some(input.manifest.to_text()),
        favorite: false,
        fields: vec![
            text("client", client),
            text("created_at", date_or_never(Some(input.manifest.created_at))),
            text("created_by", input.manifest.created_by.user.clone()),
            text(
                "created_by_key",
                input.manifest.created_by.key.clone().unwrap_or_default(),
            ),
        ],
        login: None,
        secure_note: Some(SecureNote { kind: 0 }),
        password_history: None,
        collection_ids: None,
    });
    for (key, e) in &input.document.entries {
        let path = format!("{client}/{key}");
        let me = input.manifest.entry(&path);
        let info = input.target(key);
        let mut fields = vec![
            text("keyreeve_path", path.clone()),
            text("last_rotated", date_or_never(e.rotated_at)),
            text("last_verified", date_or_never(e.verified_at)),
            Field {
                name: "revealed_since_rotation".into(),
                value: me.is_some_and(|m| m.revealed_since_rotation).to_string(),
                kind: FIELD_BOOLEAN,
                linked_id: None,
            },
        ];
        if let Some(info) = info {
            fields.push(text("kind", info.kind.clone()));
        }
        if let Some(w) = me.and_then(|m| m.warning.clone()) {
            fields.push(text("warning", w));
        }
        let history: Vec<PasswordHistory<'_>> = if input.with_history {
            e.history
                .iter()
                .map(|h| PasswordHistory {
                    last_used_date: h.replaced_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    password: &h.password,
                })
                .collect()
        } else {
            Vec::new()
        };
        items.push(Item {
            id: Uuid::new_v4().to_string(),
            organization_id: None,
            folder_id: folder_id.clone(),
            kind: TYPE_LOGIN,
            reprompt: 0,
            name: key.clone(),
            notes: (!e.notes.is_empty()).then(|| e.notes.clone()),
            favorite: false,
            fields,
            login: Some(Login {
                uris: info
                    .map(|t| Uri {
                        match_: None,
                        uri: t.uri(),
                    })
                    .into_iter()
                    .collect(),
                username: &e.username,
                password: &e.password,
                totp: None,
            }),
            secure_note: None,
            password_history: (!history.is_empty()).then_some(history),
            collection_ids: None,
        });
    }
    let export = Export {
        encrypted: false,
        folders: vec![Folder {
            id: folder_id,
            name: client.to_string(),
        }],
        items,
    };
    super::to_json(&export, "bitwarden", 4096 + 2048 * input.document.entries.len())
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures::*, Format};
    use super::*;

    #[test]
    fn one_login_per_account_in_the_client_folder() {
        let doc = document();
        let targets = targets();
        let m = manifest(&doc, Format::Bitwarden);
        let input = ExportInput {
            document: &doc,
            targets: &targets,
            manifest: &m,
            with_history: true,
        };
        let v: serde_json::Value = serde_json::from_slice(&render(&input).unwrap()).unwrap();
        assert_eq!(v["encrypted"], false);
        assert_eq!(v["folders"][0]["name"], "acme");
        let folder = v["folders"][0]["id"].as_str().unwrap();
        let items = v["items"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["type"], 2);
        assert!(items[0]["notes"].as_str().unwrap().contains("acme/dc1/svc-backup"));
        let rtr = &items[1];
        assert_eq!(rtr["type"], 1);
        assert_eq!(rtr["folderId"], folder);
        assert_eq!(rtr["name"], "core-rtr1/admin");
        assert_eq!(rtr["login"]["username"], "admin");
        assert_eq!(rtr["login"]["password"], "Rtr-pa$$,\"quoted\"<&>");
        assert_eq!(rtr["login"]["uris"][0]["uri"], "ssh://10.0.0.1:22");
        assert_eq!(rtr["passwordHistory"][0]["password"], "old-rtr-pass");
        let revealed = rtr["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "revealed_since_rotation")
            .unwrap();
        assert_eq!(revealed["value"], "true");
        assert_eq!(revealed["type"], 2);
        assert_eq!(items[2]["login"]["uris"][0]["uri"], "ldaps://dc1.acme.example:636");
    }
}
