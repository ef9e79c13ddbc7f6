//! The `keepass-xml` format: the KeePass 2 XML import format (KeePass "KeePass XML (2.x)",
//! `keepassxc-cli import`). One group for the client with one sub-group per target, one entry per
//! account with the manifest in its custom strings, earlier passwords as the entry's history, and
//! a "keyreeve handover manifest" entry whose notes hold the whole manifest.

use base64::Engine;
use chrono::{DateTime, Utc};
use quick_xml::events::{BytesDecl, BytesText, Event};
use quick_xml::Writer;
use uuid::Uuid;
use zeroize::Zeroizing;

use super::manifest::date_or_never;
use super::{ExportError, ExportInput, SecretBuf};

type Xml = Writer<SecretBuf>;

fn uuid() -> String {
    base64::engine::general_purpose::STANDARD.encode(Uuid::new_v4().as_bytes())
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Text XML 1.0 can carry: no control characters but tab and newline.
fn xml_safe(s: &str) -> bool {
    s.chars()
        .all(|c| c == '\t' || c == '\n' || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}'))
}

fn leaf(w: &mut Xml, name: &str, text: &str) -> std::io::Result<()> {
    w.create_element(name).write_text_content(BytesText::new(text))?;
    Ok(())
}

fn string_field(w: &mut Xml, key: &str, value: &str, protect: bool) -> std::io::Result<()> {
    w.create_element("String").write_inner_content(|w| {
        leaf(w, "Key", key)?;
        let value_el = w.create_element("Value");
        let value_el = if protect {
            value_el.with_attribute(("ProtectInMemory", "True"))
        } else {
            value_el
        };
        value_el.write_text_content(BytesText::new(value))?;
        Ok(())
    })?;
    Ok(())
}

fn times(w: &mut Xml, created: DateTime<Utc>, modified: DateTime<Utc>) -> std::io::Result<()> {
    w.create_element("Times").write_inner_content(|w| {
        leaf(w, "CreationTime", &time(created))?;
        leaf(w, "LastModificationTime", &time(modified))?;
        leaf(w, "LastAccessTime", &time(modified))?;
        leaf(w, "ExpiryTime", &time(modified))?;
        leaf(w, "Expires", "False")?;
        leaf(w, "UsageCount", "0")?;
        leaf(w, "LocationChanged", &time(created))?;
        Ok(())
    })?;
    Ok(())
}

/// The strings of one version of an entry.
struct Version<'a> {
    title: &'a str,
    username: &'a str,
    password: &'a str,
    url: &'a str,
    notes: &'a str,
    custom: &'a [(&'a str, String)],
    created: DateTime<Utc>,
    modified: DateTime<Utc>,
}

fn entry(w: &mut Xml, v: &Version<'_>, id: &str, history: &[Version<'_>]) -> std::io::Result<()> {
    w.create_element("Entry").write_inner_content(|w| {
        leaf(w, "UUID", id)?;
        times(w, v.created, v.modified)?;
        string_field(w, "Title", v.title, false)?;
        string_field(w, "UserName", v.username, false)?;
        string_field(w, "Password", v.password, true)?;
        string_field(w, "URL", v.url, false)?;
        string_field(w, "Notes", v.notes, false)?;
        for (k, val) in v.custom {
            string_field(w, k, val, false)?;
        }
        if !history.is_empty() {
            w.create_element("History").write_inner_content(|w| {
                for old in history {
                    entry(w, old, id, &[])?;
                }
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok(())
}

fn group_head(w: &mut Xml, name: &str, notes: &str) -> std::io::Result<()> {
    leaf(w, "UUID", &uuid())?;
    leaf(w, "Name", name)?;
    leaf(w, "Notes", notes)?;
    leaf(w, "IconID", "48")?;
    leaf(w, "IsExpanded", "True")?;
    Ok(())
}

pub fn render(input: &ExportInput<'_>) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    for (key, e) in &input.document.entries {
        let texts = [e.username.as_str(), e.password.expose(), e.notes.as_str(), key.as_str()];
        let history_ok = e.history.iter().all(|h| xml_safe(h.password.expose()));
        if !texts.iter().all(|t| xml_safe(t)) || !history_ok {
            return Err(ExportError::Render {
                format: "keepass-xml",
                reason: format!(
                    "entry {}/{key} holds a control character that XML cannot carry; use --format json or keyreeve",
                    input.client()
                ),
            });
        }
    }
    let capacity = 4096 + 2048 * input.document.entries.len();
    let mut w = Writer::new_with_indent(SecretBuf::with_capacity(capacity), b'\t', 1);
    write(&mut w, input).map_err(|e| ExportError::Render {
        format: "keepass-xml",
        reason: e.to_string(),
    })?;
    let mut out = w.into_inner();
    out.0.push(b'\n');
    Ok(out.0)
}

fn write(w: &mut Xml, input: &ExportInput<'_>) -> std::io::Result<()> {
    let client = input.client();
    let m = input.manifest;
    let manifest_text = m.to_text();
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), Some("yes"))))?;
    w.create_element("KeePassFile").write_inner_content(|w| {
        w.create_element("Meta").write_inner_content(|w| {
            leaf(w, "Generator", "keyreeve")?;
            leaf(w, "DatabaseName", &format!("keyreeve handover: {client}"))?;
            leaf(
                w,
                "DatabaseDescription",
                &format!("Credentials of client {client}, exported by keyreeve"),
            )?;
            Ok(())
        })?;
        w.create_element("Root").write_inner_content(|w| {
            w.create_element("Group").write_inner_content(|w| {
                group_head(w, client, &manifest_text)?;
                let custom = [
                    ("client", client.to_string()),
                    ("created_at", date_or_never(Some(m.created_at))),
                    ("created_by", m.created_by.user.clone()),
                    ("created_by_key", m.created_by.key.clone().unwrap_or_default()),
                ];
                entry(
                    w,
                    &Version {
                        title: "keyreeve handover manifest",
                        username: "",
                        password: "",
                        url: "",
                        notes: &manifest_text,
                        custom: &custom,
                        created: m.created_at,
                        modified: m.created_at,
                    },
                    &uuid(),
                    &[],
                )?;
                write_targets(w, input)?;
                Ok(())
            })?;
            Ok(())
        })?;
        Ok(())
    })?;
    Ok(())
}

fn write_targets(w: &mut Xml, input: &ExportInput<'_>) -> std::io::Result<()> {
    let client = input.client();
    let mut by_target: std::collections::BTreeMap<&str, Vec<&String>> = Default::default();
    for key in input.document.entries.keys() {
        by_target.entry(ExportInput::split_key(key).0).or_default().push(key);
    }
    for (target, keys) in by_target {
        let info = input.targets.get(target);
        let group_notes = info.map(|t| format!("{} at {}", t.kind, t.uri())).unwrap_or_default();
        w.create_element("Group").write_inner_content(|w| {
            group_head(w, target, &group_notes)?;
            for key in keys {
                let Some(e) = input.document.entries.get(key) else {
                    continue;
                };
                let path = format!("{client}/{key}");
                let me = input.manifest.entry(&path);
                let mut custom = vec![
                    ("keyreeve.path", path.clone()),
                    ("keyreeve.last_rotated", date_or_never(e.rotated_at)),
                    ("keyreeve.last_verified", date_or_never(e.verified_at)),
                    (
                        "keyreeve.revealed_since_rotation",
                        if me.is_some_and(|m| m.revealed_since_rotation) {
                            "yes"
                        } else {
                            "no"
                        }
                        .to_string(),
                    ),
                ];
                if let Some(t) = info {
                    custom.push(("keyreeve.kind", t.kind.clone()));
                }
                if let Some(warning) = me.and_then(|m| m.warning.clone()) {
                    custom.push(("keyreeve.warning", warning));
                }
                let url = info.map(|t| t.uri()).unwrap_or_default();
                // The title is the account: KeePass paths then read CLIENT/TARGET/ACCOUNT, like
                // the vault's (a `/` in a title would break them).
                let title = ExportInput::split_key(key).1;
                let modified = e.rotated_at.unwrap_or(e.created);
                // KeePass keeps older versions oldest first; each ended when the next began.
                let mut history = Vec::new();
                if input.with_history {
                    let mut began = e.created;
                    for h in &e.history {
                        history.push(Version {
                            title,
                            username: &e.username,
                            password: h.password.expose(),
                            url: &url,
                            notes: &e.notes,
                            custom: &[],
                            created: e.created,
                            modified: began,
                        });
                        began = h.replaced_at;
                    }
                }
                entry(
                    w,
                    &Version {
                        title,
                        username: &e.username,
                        password: e.password.expose(),
                        url: &url,
                        notes: &e.notes,
                        custom: &custom,
                        created: e.created,
                        modified,
                    },
                    &uuid(),
                    &history,
                )?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures::*, Format};
    use super::*;
    use crate::secret::Password;

    #[test]
    fn escapes_text_and_nests_targets_in_the_client_group() {
        let doc = document();
        let targets = targets();
        let m = manifest(&doc, Format::KeepassXml);
        let input = ExportInput {
            document: &doc,
            targets: &targets,
            manifest: &m,
            with_history: true,
        };
        let bytes = render(&input).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\""));
        assert!(text.contains("<Value ProtectInMemory=\"True\">Rtr-pa$$,&quot;quoted&quot;&lt;&amp;&gt;</Value>"));
        assert!(text.contains("<Name>core-rtr1</Name>"));
        assert!(text.contains("<History>") && text.contains("old-rtr-pass"));
        assert!(text.contains("<Key>keyreeve.warning</Key>"));
        // Well-formed: every element read back.
        let mut reader = quick_xml::Reader::from_str(text);
        let mut entries = 0;
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) if e.name().as_ref() == b"Entry" => entries += 1,
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(entries, 4, "manifest + 2 accounts + 1 history version");
    }

    #[test]
    fn control_characters_are_refused_without_showing_the_secret() {
        let mut doc = document();
        doc.entries.get_mut("dc1/svc-backup").unwrap().password = Password::new("bell\u{7}secret");
        let targets = targets();
        let m = manifest(&doc, Format::KeepassXml);
        let input = ExportInput {
            document: &doc,
            targets: &targets,
            manifest: &m,
            with_history: false,
        };
        let err = render(&input).unwrap_err().to_string();
        assert!(
            err.contains("acme/dc1/svc-backup") && !err.contains("secret\u{7}"),
            "{err}"
        );
        assert!(!err.contains("bell"));
    }
}
