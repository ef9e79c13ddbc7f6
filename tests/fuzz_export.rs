//! Property tests of handovers made from a hostile vault document: any entry key, username,
//! password, notes and history a team member's vault may hold. Every format either refuses with an
//! error naming the problem, or writes a file its receiver reads back whole: the native format
//! imports to the same document, JSON and Bitwarden parse as JSON, CSV as CSV, KeePass XML as
//! XML, and every password comes back exactly (so no value can break out of its field and forge
//! another entry).

mod fuzz_support;

use std::path::Path;

use chrono::{TimeZone, Utc};
use fuzz_support::{config, noise};
use keyreeve::export::manifest::Manifest;
use keyreeve::export::{self, native, ExportInput, Format, TargetInfo, Targets};
use keyreeve::vault::{Entry, VaultDocument};
use keyreeve::Password;
use proptest::prelude::*;

/// Text of the kinds that break formats: separators, quotes, markup, line breaks, and anything.
fn hostile_field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.-]{1,12}",
        "[ -~]{1,24}",
        "[a-z]{0,4}(,|\"|'|<|>|&|]]>|\n|\r\n|\t|;|=|\\\\|</Value>|\\},\\{)[a-z]{0,4}",
        noise(),
    ]
}

#[derive(Debug, Clone)]
struct Spec {
    target: String,
    account: String,
    username: String,
    password: String,
    notes: String,
    history: Vec<String>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop_oneof![Just("core-rtr1".to_string()), hostile_field()],
        hostile_field(),
        hostile_field(),
        hostile_field().prop_filter("a password is never empty", |p| !p.is_empty()),
        hostile_field(),
        proptest::collection::vec(hostile_field().prop_filter("not empty", |p| !p.is_empty()), 0..3),
    )
        .prop_map(|(target, account, username, password, notes, history)| Spec {
            target,
            account,
            username,
            password,
            notes,
            history,
        })
}

fn document(specs: &[Spec]) -> VaultDocument {
    let mut doc = VaultDocument::empty("acme");
    for (i, s) in specs.iter().enumerate() {
        let mut e = Entry::new(
            s.username.clone(),
            Password::new(s.history.first().unwrap_or(&s.password).clone()),
        );
        for (day, p) in s.history.iter().skip(1).chain([&s.password]).enumerate() {
            if s.history.is_empty() {
                break;
            }
            e.replace_password(
                Password::new(p.clone()),
                Utc.with_ymd_and_hms(2026, 1, 1 + day as u32, 0, 0, 0).unwrap(),
            );
        }
        e.notes = s.notes.clone();
        // Keys are unique in a document; the index keeps generated ones apart.
        doc.entries.insert(format!("{}/{}{i}", s.target, s.account), e);
    }
    doc
}

/// Every string in a JSON value.
fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        serde_json::Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

/// Every text node of an XML document, unescaped; an error if it is not well-formed.
fn xml_texts(bytes: &[u8]) -> Result<Vec<String>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut out: Vec<String> = Vec::new();
    // quick-xml reports `&amp;` and friends apart from the text around them: they join it.
    let mut in_text = false;
    loop {
        let piece = match reader.read_event_into(&mut buf).map_err(|e| e.to_string())? {
            Event::Eof => return Ok(out),
            Event::Text(t) => t.decode().map_err(|e| e.to_string())?.into_owned(),
            Event::GeneralRef(r) => {
                let name = r.decode().map_err(|e| e.to_string())?.into_owned();
                match name.as_str() {
                    "amp" => "&".to_string(),
                    "lt" => "<".to_string(),
                    "gt" => ">".to_string(),
                    "quot" => "\"".to_string(),
                    "apos" => "'".to_string(),
                    other => match r.resolve_char_ref().map_err(|e| e.to_string())? {
                        Some(c) => c.to_string(),
                        None => return Err(format!("unknown entity &{other};")),
                    },
                }
            }
            _ => {
                in_text = false;
                buf.clear();
                continue;
            }
        };
        match out.last_mut() {
            Some(last) if in_text => last.push_str(&piece),
            _ => out.push(piece),
        }
        in_text = true;
        buf.clear();
    }
}

fn targets() -> Targets {
    let mut t = Targets::new();
    t.insert(
        "core-rtr1".into(),
        TargetInfo {
            kind: "cisco-ios".into(),
            address: "192.0.2.1".into(),
            port: 22,
            login: "admin".into(),
            url: None,
            base_dn: None,
            host_key: None,
        },
    );
    t
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn every_format_is_refused_or_read_back_whole(specs in proptest::collection::vec(spec(), 1..5)) {
        let doc = document(&specs);
        prop_assume!(export::check_exportable(&doc).is_ok());
        // A document with a key or username `vault set` would refuse is damage: keyreeve never
        // loads it (so never exports it), and an import refuses it whole.
        if keyreeve::vault::check_names(&doc).is_err() {
            let sealed = {
                let targets = targets();
                let manifest = Manifest::build(&doc, Utc::now(), "tech", None, vec!["age1x".into()], Format::Keyreeve, true);
                let input = ExportInput { document: &doc, targets: &targets, manifest: &manifest, with_history: true };
                export::render(Format::Keyreeve, &input)
            };
            if let Ok(bytes) = sealed {
                prop_assert!(native::parse(&bytes, Path::new("acme.age")).is_err(), "a damaged document was imported");
            }
            return Ok(());
        }
        let targets = targets();
        for format in Format::ALL {
            for with_history in [false, true] {
                let manifest = Manifest::build(&doc, Utc::now(), "tech", None, vec!["age1x".into()], format, with_history);
                let input = ExportInput { document: &doc, targets: &targets, manifest: &manifest, with_history };
                let bytes = match export::render(format, &input) {
                    Ok(b) => b,
                    Err(e) => {
                        let text = e.to_string();
                        for s in &specs {
                            prop_assert!(!text.contains(&s.password) || s.password.len() < 4, "{format}: a password in an error: {text}");
                        }
                        continue;
                    }
                };
                let found: Vec<String> = match format {
                    Format::Keyreeve => {
                        let back = native::parse(&bytes, Path::new("acme.age"))
                            .map_err(|e| TestCaseError::fail(format!("native: {e}")))?;
                        if with_history {
                            prop_assert_eq!(&back.vault, &doc);
                        }
                        back.vault.entries.values().map(|e| e.password.expose().to_string()).collect()
                    }
                    Format::Json | Format::Bitwarden => {
                        let v: serde_json::Value = serde_json::from_slice(&bytes)
                            .map_err(|e| TestCaseError::fail(format!("{format}: {e}")))?;
                        let mut out = Vec::new();
                        json_strings(&v, &mut out);
                        out
                    }
                    Format::Csv => {
                        let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(&bytes[..]);
                        let width = r.headers().map_err(|e| TestCaseError::fail(format!("csv: {e}")))?.len();
                        let mut out = Vec::new();
                        for rec in r.records() {
                            let rec = rec.map_err(|e| TestCaseError::fail(format!("csv: {e}")))?;
                            prop_assert_eq!(rec.len(), width, "a CSV row of another width");
                            out.extend(rec.iter().map(str::to_string));
                        }
                        out
                    }
                    Format::KeepassXml => xml_texts(&bytes).map_err(|e| TestCaseError::fail(format!("keepass-xml: {e}")))?,
                };
                for e in doc.entries.values() {
                    let pw = e.password.expose();
                    prop_assert!(found.iter().any(|f| f == pw), "{format}: a password did not come back whole");
                }
            }
        }
    }
}
