//! Property tests of the onboarding import's parsers (CSV, KeePass XML, Bitwarden JSON) and of the
//! LAN scan's answer parsers (HTTP, IPP, SIP) on hostile input: valid samples mutated, and noise.
//! None may panic; every record they let through is one `vault set` would take; no error quotes
//! a password; and what a scanned device said is kept as one short line without control
//! characters.

mod fuzz_support;

use std::path::Path;

use fuzz_support::{config, hostile_bytes};
use keyreeve::import::{self, csv::ColumnMap, ImportError};
use proptest::prelude::*;

const PASSWORD: &str = "S3cr3t-Pw-4711";

fn csv_sample() -> Vec<u8> {
    format!(
        "Title,Username,Password,URL,Notes,Group\nHP LaserJet,admin,{PASSWORD},http://10.0.0.40,\"two\nlines\",Printers\nfw,root,x\"y,ssh://10.0.0.1,,\n"
    )
    .into_bytes()
}

fn keepass_sample() -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><KeePassFile><Meta><RecycleBinUUID>AAAA</RecycleBinUUID></Meta><Root><Group><UUID>dG9w</UUID><Name>Root</Name><Group><UUID>cA==</UUID><Name>Printers</Name><Entry><UUID>a</UUID><String><Key>Title</Key><Value>HP &amp; co</Value></String><String><Key>UserName</Key><Value>admin</Value></String><String><Key>Password</Key><Value ProtectInMemory="True">{PASSWORD}</Value></String><History><Entry><String><Key>Password</Key><Value>old&#233;</Value></String></Entry></History></Entry></Group></Group></Root></KeePassFile>"#
    )
    .into_bytes()
}

fn bitwarden_sample() -> Vec<u8> {
    format!(
        r#"{{"encrypted":false,"folders":[{{"id":"f","name":"Printers"}}],"items":[{{"id":"1","folderId":"f","type":1,"name":"HP","notes":"n","fields":[{{"name":"keyreeve_path","value":"acme/hp/admin"}}],"login":{{"uris":[{{"uri":"http://10.0.0.40"}}],"username":"admin","password":"{PASSWORD}"}},"passwordHistory":[{{"lastUsedDate":"2026-01-01T00:00:00.000Z","password":"old"}}]}}]}}"#
    )
    .into_bytes()
}

/// Whatever a parser returned: a clean refusal, or records that prepare into valid entries.
fn check(result: Result<import::Parsed, ImportError>) -> Result<(), TestCaseError> {
    match result {
        Err(e) => {
            let text = e.to_string();
            prop_assert!(!text.contains(PASSWORD), "an error quotes the password: {text}");
        }
        Ok(parsed) => {
            let plan = import::prepare(parsed, chrono::Utc::now());
            for p in &plan.entries {
                prop_assert!(keyreeve::validate::entry_key(&p.key).is_ok(), "{}", p.key);
                prop_assert!(keyreeve::validate::single_line("username", &p.entry.username).is_ok());
                prop_assert!(!p.entry.password.is_empty());
            }
            for b in plan.bad.iter().chain(&plan.skipped) {
                prop_assert!(!b.reason.contains(PASSWORD), "{b}");
            }
            for t in &plan.targets {
                prop_assert!(keyreeve::inventory::is_valid_name(&t.target), "{}", t.target);
            }
        }
    }
    Ok(())
}

/// Text kept from a scanned device: one line, no control characters, at most 200 characters.
fn clean(text: &Option<String>) -> bool {
    text.as_ref()
        .is_none_or(|t| t.chars().count() <= 200 && !t.chars().any(char::is_control))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn csv_lists_never_panic_and_pass_only_valid_entries(input in hostile_bytes(csv_sample())) {
        check(import::csv::parse(&input, &ColumnMap::default(), Path::new("list.csv")))?;
        let map = ColumnMap::parse("title=Title,password=Password").unwrap();
        let _ = import::csv::parse(&input, &map, Path::new("list.csv"));
    }

    #[test]
    fn keepass_xml_never_panics_and_passes_only_valid_entries(input in hostile_bytes(keepass_sample())) {
        check(import::keepass_xml::parse(&input, Path::new("db.xml")))?;
    }

    #[test]
    fn bitwarden_json_never_panics_and_passes_only_valid_entries(input in hostile_bytes(bitwarden_sample())) {
        check(import::bitwarden::parse(&input, Path::new("bw.json")))?;
    }

    #[test]
    fn scan_answers_never_panic_and_are_kept_clean(
        http in hostile_bytes(b"HTTP/1.1 200 OK\r\nServer: CUPS/2.4\r\nContent-Type: application/ipp\r\n\r\n\x02\x00\x00\x00\x00\x00\x00\x01\x01\x04\x41\x00\x16printer-make-and-model\x00\x03abc\x03<title>x</title>".to_vec()),
        sip in hostile_bytes(b"SIP/2.0 200 OK\r\nServer: Yealink\r\nAllow: INVITE\r\n\r\n".to_vec()),
    ) {
        if let Some(h) = keyreeve::scan::http::parse(&http) {
            prop_assert!(clean(&h.server) && clean(&h.title));
        }
        if let Some(i) = keyreeve::scan::ipp::parse(&http) {
            prop_assert!(clean(&i.make_and_model) && clean(&i.name) && clean(&i.info) && clean(&i.server));
        }
        if let Some(s) = keyreeve::scan::sip::parse(&sip) {
            prop_assert!(clean(&Some(s.status)) && clean(&s.server) && clean(&s.allow));
        }
    }
}
