//! KeePass 2 XML, as `keepassxc-cli export -f xml` (and KeePass's "KeePass XML (2.x)" export, and
//! keyreeve's own `--format keepass-xml`) write it: groups below the database's top group become
//! targets, each entry a credential, its `<History>` its earlier passwords. The recycle bin is
//! left out. Text is gathered straight from the wiped input into wiped strings.

use std::path::Path;

use quick_xml::events::Event;
use quick_xml::Reader;
use zeroize::Zeroizing;

use super::{date, Bad, ImportError, KeyreeveOrigin, Location, Parsed, Record};
use crate::secret::Password;

/// The title keyreeve's export gives its manifest entry, which holds no credential.
const MANIFEST_TITLE: &str = "keyreeve handover manifest";

#[derive(Default)]
struct Group {
    name: String,
    uuid: String,
}

#[derive(Default)]
struct EntryStrings {
    strings: Vec<(String, Zeroizing<String>)>,
    history: Vec<(Password, Option<chrono::DateTime<chrono::Utc>>)>,
    protected: bool,
}

impl EntryStrings {
    fn get(&self, key: &str) -> &str {
        self.strings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

pub fn parse(input: &[u8], file: &Path) -> Result<Parsed, ImportError> {
    let unreadable = |reason: String| ImportError::Unreadable {
        path: file.to_path_buf(),
        reason,
    };
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(false);
    let mut path: Vec<Vec<u8>> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut recycle_bin = String::new();
    let mut entries: Vec<(Location, Vec<String>, EntryStrings)> = Vec::new();
    let mut entry: Option<EntryStrings> = None;
    let mut old: Option<EntryStrings> = None;
    let mut key = String::new();
    let mut text: Zeroizing<String> = Zeroizing::new(String::new());
    let mut seen_root = false;
    let mut count = 0;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| unreadable(format!("not KeePass XML at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(e) => {
                let name = e.name().as_ref().to_vec();
                match name.as_slice() {
                    b"Root" => seen_root = true,
                    b"Group" if entry.is_none() => groups.push(Group::default()),
                    b"Entry" if entry.is_none() => {
                        count += 1;
                        entry = Some(EntryStrings::default());
                    }
                    b"Entry" if path.last().map(Vec::as_slice) == Some(b"History") => {
                        old = Some(EntryStrings::default())
                    }
                    b"Value" => {
                        let protected = e
                            .attributes()
                            .flatten()
                            .any(|a| a.key.as_ref() == b"Protected" && a.value.as_ref().eq_ignore_ascii_case(b"true"));
                        if protected {
                            if let Some(en) = entry.as_mut() {
                                en.protected = true;
                            }
                        }
                    }
                    _ => {}
                }
                path.push(name);
                text.clear();
            }
            Event::Empty(e) if e.name().as_ref() == b"Value" => {
                if let Some(en) = old.as_mut().or(entry.as_mut()) {
                    en.strings
                        .push((std::mem::take(&mut key), Zeroizing::new(String::new())));
                }
            }
            Event::Text(t) => {
                let s = t
                    .xml_content()
                    .map_err(|e| unreadable(format!("text that is not UTF-8: {e}")))?;
                text.push_str(&s);
            }
            Event::CData(t) => {
                let s = t
                    .decode()
                    .map_err(|e| unreadable(format!("text that is not UTF-8: {e}")))?;
                text.push_str(&s);
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c),
                    _ => {
                        let name = r.decode().unwrap_or_default();
                        quick_xml::escape::resolve_predefined_entity(&name).and_then(|s| s.chars().next())
                    }
                };
                match resolved {
                    Some(c) => text.push(c),
                    None => {
                        return Err(unreadable(format!(
                            "an unknown entity near byte {}",
                            reader.buffer_position()
                        )))
                    }
                }
            }
            Event::End(e) => {
                let name = e.name().as_ref().to_vec();
                let parent = path.len().checked_sub(2).map(|i| path[i].as_slice());
                match (parent, name.as_slice()) {
                    (Some(b"Meta"), b"RecycleBinUUID") => recycle_bin = text.trim().to_string(),
                    (Some(b"Group"), b"Name") if entry.is_none() => {
                        if let Some(g) = groups.last_mut() {
                            g.name = text.trim().to_string();
                        }
                    }
                    (Some(b"Group"), b"UUID") if entry.is_none() => {
                        if let Some(g) = groups.last_mut() {
                            g.uuid = text.trim().to_string();
                        }
                    }
                    (Some(b"String"), b"Key") => key = text.to_string(),
                    (Some(b"String"), b"Value") => {
                        let value = std::mem::replace(&mut text, Zeroizing::new(String::new()));
                        if let Some(en) = old.as_mut().or(entry.as_mut()) {
                            en.strings.push((std::mem::take(&mut key), value));
                        }
                    }
                    (_, b"Entry") => {
                        if let Some(h) = old.take() {
                            if let Some(en) = entry.as_mut() {
                                en.history.push((Password::new(h.get("Password").to_string()), None));
                            }
                        } else if let Some(en) = entry.take() {
                            let in_bin = !recycle_bin.is_empty()
                                && recycle_bin != "AAAAAAAAAAAAAAAAAAAAAA=="
                                && groups.iter().any(|g| g.uuid == recycle_bin);
                            if !in_bin {
                                let names = groups.iter().map(|g| g.name.clone()).collect();
                                entries.push((
                                    Location {
                                        unit: "entry",
                                        number: count,
                                    },
                                    names,
                                    en,
                                ));
                            }
                        }
                    }
                    (_, b"Group") if entry.is_none() => {
                        groups.pop();
                    }
                    _ => {}
                }
                path.pop();
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !seen_root {
        return Err(unreadable("no <Root> element: not a KeePass 2 XML export".into()));
    }
    let mut parsed = Parsed::default();
    for (at, groups, mut en) in entries {
        if en.get("Title") == MANIFEST_TITLE && en.get("Password").is_empty() {
            continue;
        }
        if en.get("Password").is_empty() && en.get("UserName").is_empty() && en.get("URL").is_empty() {
            parsed.skipped.push(Bad {
                at,
                reason: format!("`{}` holds no login", crate::escape::terminal(en.get("Title"))),
            });
            continue;
        }
        if en.protected {
            parsed.bad.push(Bad {
                at,
                reason: "its password is encrypted in the XML (a KeePass inner XML): export with `keepassxc-cli export -f xml`".into(),
            });
            continue;
        }
        let mut r = Record::new(at, Password::new(en.get("Password").to_string()));
        r.title = en.get("Title").trim().to_string();
        r.username = en.get("UserName").to_string();
        r.url = en.get("URL").trim().to_string();
        r.notes = en.get("Notes").to_string();
        // The first group is the database's own top group; the innermost below it names the target.
        r.group = groups.iter().skip(1).last().cloned().filter(|g| !g.is_empty());
        r.history = std::mem::take(&mut en.history);
        let path = en.get("keyreeve.path");
        if !path.is_empty() {
            r.origin = Some(KeyreeveOrigin {
                path: path.to_string(),
                kind: Some(en.get("keyreeve.kind").to_string()).filter(|k| !k.is_empty()),
                address: None,
                port: None,
                rotated_at: date(en.get("keyreeve.last_rotated")),
                verified_at: date(en.get("keyreeve.last_verified")),
            });
            let url = super::guess::parse_url(&r.url);
            if let (Some(o), Some(u)) = (r.origin.as_mut(), url) {
                if u.scheme.as_deref() == Some("ssh") {
                    o.address = Some(u.host);
                    o.port = Some(u.port.unwrap_or(22));
                }
            }
        }
        parsed.records.push(r);
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<KeePassFile><Meta><RecycleBinUUID>Ymlu</RecycleBinUUID></Meta><Root><Group><UUID>dG9w</UUID><Name>Passwords</Name>
<Entry><UUID>a</UUID><String><Key>Title</Key><Value>ISP portal</Value></String><String><Key>Password</Key><Value ProtectInMemory="True">p&amp;&lt;&#233;</Value></String><String><Key>UserName</Key><Value>acme</Value></String><String><Key>URL</Key><Value/></String></Entry>
<Group><UUID>cHJu</UUID><Name>Printers</Name>
<Entry><UUID>b</UUID><String><Key>Title</Key><Value>HP</Value></String><String><Key>UserName</Key><Value>admin</Value></String><String><Key>Password</Key><Value>now</Value></String>
<History><Entry><UUID>b</UUID><String><Key>Password</Key><Value>before</Value></String></Entry></History></Entry>
</Group>
<Group><UUID>Ymlu</UUID><Name>Recycle Bin</Name><Entry><UUID>c</UUID><String><Key>Password</Key><Value>gone</Value></String></Entry></Group>
</Group></Root></KeePassFile>"#;

    #[test]
    fn entries_groups_history_and_no_recycle_bin() {
        let p = parse(XML.as_bytes(), Path::new("db.xml")).unwrap();
        assert!(p.bad.is_empty());
        assert_eq!(p.records.len(), 2, "the recycle bin's entry is left out");
        let isp = &p.records[0];
        assert_eq!(
            (isp.title.as_str(), isp.username.as_str(), isp.password.expose()),
            ("ISP portal", "acme", "p&<é")
        );
        assert_eq!(isp.group, None);
        let hp = &p.records[1];
        assert_eq!(hp.group.as_deref(), Some("Printers"));
        assert_eq!(hp.password.expose(), "now");
        assert_eq!(
            hp.history.iter().map(|(h, _)| h.expose()).collect::<Vec<_>>(),
            ["before"]
        );
        assert_eq!(
            hp.at,
            Location {
                unit: "entry",
                number: 2
            }
        );
    }

    #[test]
    fn not_keepass_is_refused_with_the_file_named() {
        let err = parse(b"<html><body/></html>", Path::new("x.xml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.xml: no <Root>"), "{err}");
        let err = parse(b"<KeePassFile><Root><Group></Entry>", Path::new("x.xml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.xml"), "{err}");
    }
}
