//! The decrypted content of a vault file: the JSON document described in docs/vault-format.md,
//! its types, and parsing that tells a damaged document from one written by a newer keyreeve
//! without ever quoting a value (which could be a password) in an error.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{VaultError, FORMAT, VERSION};
use crate::secret::Password;

/// Whether an entry's password is settled or a rotation of it is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    #[default]
    Current,
    /// A rotation started: `password` may already be replaced on the target by one of
    /// `pending.candidates`. `keyreeve recover` settles it.
    Pending,
}

/// A rotation in flight, recorded before the target is touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingRotation {
    /// The journal record of this rotation.
    pub journal_id: String,
    pub started_at: DateTime<Utc>,
    /// Passwords the target may hold now besides `password`.
    pub candidates: Vec<Password>,
}

/// An earlier password and when it stopped being current.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub password: Password,
    pub replaced_at: DateTime<Utc>,
}

/// One credential, addressed `CLIENT/TARGET/ACCOUNT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub username: String,
    pub password: Password,
    #[serde(default)]
    pub state: EntryState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingRotation>,
    pub created: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
    /// When the last verification found the stored password not working.
    #[serde(default)]
    pub verify_failed_at: Option<DateTime<Utc>>,
    pub revealed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub history: Vec<HistoryItem>,
}

/// The decrypted content of one client's vault file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VaultDocument {
    pub format: String,
    pub version: u32,
    pub client: String,
    pub updated_at: DateTime<Utc>,
    /// Keyed by `TARGET/ACCOUNT`.
    pub entries: BTreeMap<String, Entry>,
    /// The recipients the file was last encrypted to (public keys, not secret): what lets a merge
    /// of two versions know who was added or removed on each side (age does not name them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
}

impl VaultDocument {
    /// The document of a client that has no vault file yet.
    pub fn empty(client: &str) -> Self {
        VaultDocument {
            format: FORMAT.into(),
            version: VERSION,
            client: client.into(),
            updated_at: Utc::now(),
            entries: BTreeMap::new(),
            recipients: Vec::new(),
        }
    }
}

impl Entry {
    /// A new current entry.
    pub fn new(username: impl Into<String>, password: Password) -> Self {
        Entry {
            username: username.into(),
            password,
            state: EntryState::Current,
            pending: None,
            created: Utc::now(),
            rotated_at: None,
            verified_at: None,
            verify_failed_at: None,
            revealed_at: None,
            notes: String::new(),
            history: Vec::new(),
        }
    }

    /// Makes `password` current, keeping the one it replaces in the history.
    pub fn replace_password(&mut self, password: Password, at: DateTime<Utc>) {
        let old = std::mem::replace(&mut self.password, password);
        self.history.push(HistoryItem {
            password: old,
            replaced_at: at,
        });
        self.rotated_at = Some(at);
        self.verified_at = None;
        self.verify_failed_at = None;
    }
}

/// Parses only the entry `key` of `client`'s document: the rest is scanned (its JSON must be
/// well-formed) but not built, so revealing one password in a large vault costs little more than
/// decrypting it. Any doubt falls back to the full parse for its precise error.
pub(crate) fn parse_entry(plain: &[u8], client: &str, key: &str, file: &Path) -> Result<Option<Entry>, VaultError> {
    if let Some(entry) = jump_to_entry(plain, client, key) {
        return Ok(Some(entry));
    }
    let mut de = serde_json::Deserializer::from_slice(plain);
    let walked = serde::de::DeserializeSeed::deserialize(OneEntry(Walk::Entry(key)), &mut de).and_then(|h| {
        de.end()?;
        Ok(h)
    });
    match walked {
        Ok(sparse) if sparse.header_is_sound(client) && sparse.entries.is_some() => Ok(sparse.entries.flatten()),
        _ => parse(plain, client, file).map(|mut doc| doc.entries.remove(key)),
    }
}

/// The fast path of [`parse_entry`] for documents as keyreeve writes them (compact JSON, header
/// before `entries`): check the header, then find `"KEY":` and parse only the value after it.
/// The whole file was authenticated by age, so the JSON is keyreeve's own. In valid JSON an
/// unescaped `"KEY":` (KEY has no quote or backslash) is an object key, and the only keys that
/// hold a `/` are entry paths; to be sure it also follows `{` or `,`. `None`: take the walk.
fn jump_to_entry(plain: &[u8], client: &str, key: &str) -> Option<Entry> {
    if !key.contains('/') || key.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
        return None;
    }
    // Walk the header only: the walk stops, with an error, where `entries` begins.
    let seen = std::cell::Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(plain);
    let _stopped = serde::de::DeserializeSeed::deserialize(OneEntry(Walk::HeaderInto(&seen)), &mut de);
    let header: Sparse = seen.take()?;
    if !header.header_is_sound(client) {
        return None;
    }
    let pattern = format!("\"{key}\":");
    let at = memchr::memmem::find(plain, pattern.as_bytes())?;
    if !matches!(at.checked_sub(1).map(|i| plain[i]), Some(b'{' | b',')) {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(&plain[at + pattern.len()..]);
    Entry::deserialize(&mut de).ok()
}

/// What [`parse_entry`] keeps of a document: its header and the one entry asked for.
#[derive(Default)]
struct Sparse {
    format: Option<String>,
    version: Option<u64>,
    client: Option<String>,
    updated_at: bool,
    entries: Option<Option<Entry>>,
}

impl Sparse {
    fn header_is_sound(&self, client: &str) -> bool {
        self.format.as_deref() == Some(FORMAT)
            && self.version.is_some_and(|v| (1..=u64::from(VERSION)).contains(&v))
            && self.client.as_deref() == Some(client)
            && self.updated_at
    }
}

/// Walks a document keeping only the header and one entry; every other value is skipped (still
/// checked to be well-formed JSON) without being built.
struct OneEntry<'k>(Walk<'k>);

enum Walk<'k> {
    /// The whole document, keeping this entry.
    Entry(&'k str),
    /// The header only: put it here and stop, with an error, where `entries` begins (serde lets
    /// a visitor stop early only by failing).
    HeaderInto(&'k std::cell::Cell<Option<Sparse>>),
}

impl<'de> serde::de::DeserializeSeed<'de> for OneEntry<'_> {
    type Value = Sparse;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Sparse, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for OneEntry<'_> {
    type Value = Sparse;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a keyreeve vault document")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Sparse, A::Error> {
        use serde::de::IgnoredAny;
        let mut out = Sparse::default();
        while let Some(field) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match field.as_ref() {
                "format" => out.format = Some(map.next_value()?),
                "version" => out.version = Some(map.next_value()?),
                "client" => out.client = Some(map.next_value()?),
                "updated_at" => {
                    map.next_value::<DateTime<Utc>>()?;
                    out.updated_at = true;
                }
                "entries" => match self.0 {
                    Walk::Entry(key) => out.entries = Some(map.next_value_seed(EntriesSeed { key })?),
                    Walk::HeaderInto(seen) => {
                        seen.set(Some(out));
                        return Err(serde::de::Error::custom("the header ends here"));
                    }
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

struct EntriesSeed<'k> {
    key: &'k str,
}

impl<'de> serde::de::DeserializeSeed<'de> for EntriesSeed<'_> {
    type Value = Option<Entry>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<Entry>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for EntriesSeed<'_> {
    type Value = Option<Entry>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a map of vault entries")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Option<Entry>, A::Error> {
        let mut found = None;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if found.is_none() && k == self.key {
                found = Some(map.next_value::<Entry>()?);
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Parses decrypted `plain` as `client`'s document read from `file`.
pub fn parse(plain: &[u8], client: &str, file: &Path) -> Result<VaultDocument, VaultError> {
    let doc = match serde_json::from_slice::<VaultDocument>(plain) {
        Ok(doc) => doc,
        Err(e) => {
            #[derive(Deserialize)]
            struct Header {
                format: Option<serde_json::Value>,
                version: Option<serde_json::Value>,
            }
            if let Ok(h) = serde_json::from_slice::<Header>(plain) {
                check_header(
                    h.format.as_ref().and_then(|f| f.as_str()),
                    h.version.as_ref().and_then(|v| v.as_u64()),
                    file,
                )?;
            }
            let what = match e.classify() {
                serde_json::error::Category::Eof => "the JSON ends early",
                serde_json::error::Category::Syntax => "the JSON is malformed",
                serde_json::error::Category::Data => "a field is missing or has the wrong type",
                serde_json::error::Category::Io => "the JSON cannot be read",
            };
            return Err(VaultError::Damaged {
                file: file.into(),
                detail: format!("{what} at line {} column {}", e.line(), e.column()),
            });
        }
    };
    check_header(Some(&doc.format), Some(u64::from(doc.version)), file)?;
    if doc.client != client {
        return Err(VaultError::WrongClient {
            file: file.into(),
            expected: client.into(),
            found: crate::escape::terminal(&doc.client).into_owned(),
        });
    }
    check_names(&doc).map_err(|e| VaultError::Damaged {
        file: file.into(),
        detail: e.to_string(),
    })?;
    Ok(doc)
}

/// Every key and username of a document is one `vault set` would take: an entry that no
/// command can address could be neither read nor removed, and a username with a line break
/// would forge lines wherever it is shown. Shared by the vault and by import.
pub fn check_names(doc: &VaultDocument) -> Result<(), crate::validate::Invalid> {
    crate::validate::name("client", &doc.client)?;
    for (key, entry) in &doc.entries {
        crate::validate::entry_key(key)?;
        crate::validate::single_line("username", &entry.username)?;
    }
    Ok(())
}

fn check_header(format: Option<&str>, version: Option<u64>, file: &Path) -> Result<(), VaultError> {
    if format != Some(FORMAT) {
        return Err(VaultError::NotAVault {
            file: file.into(),
            detail: format!("its `format` is not \"{FORMAT}\""),
        });
    }
    match version {
        Some(v) if v > u64::from(VERSION) => Err(VaultError::FutureVersion {
            file: file.into(),
            found: v,
        }),
        Some(v) if v >= 1 => Ok(()),
        _ => Err(VaultError::NotAVault {
            file: file.into(),
            detail: "its `version` is missing or not a positive number".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<VaultDocument, VaultError> {
        parse(s.as_bytes(), "acme", Path::new("vaults/acme.age"))
    }

    const GOOD: &str = r#"{"format":"keyreeve-vault","version":1,"client":"acme","updated_at":"2026-11-27T17:00:00Z",
      "entries":{"rtr1/admin":{"username":"admin","password":"s3cret-value","created":"2026-11-27T17:00:00Z",
      "rotated_at":null,"verified_at":null,"revealed_at":null}}}"#;

    #[test]
    fn the_jump_finds_the_entry_and_nothing_that_only_looks_like_it() {
        let e = jump_to_entry(GOOD.as_bytes(), "acme", "rtr1/admin").expect("fast path taken");
        assert_eq!(e.password.expose(), "s3cret-value");
        // The key's text inside an earlier entry's notes is escaped JSON, never `"KEY":` itself.
        let decoy = GOOD.replace(
            r#""entries":{"#,
            r#""entries":{"a/0":{"username":"x","password":"decoy","notes":"see \"rtr1/admin\": {\"password\":\"no\"}","created":"2026-11-27T17:00:00Z","rotated_at":null,"verified_at":null,"revealed_at":null},"#,
        );
        let e = parse_entry(decoy.as_bytes(), "acme", "rtr1/admin", Path::new("f"))
            .unwrap()
            .unwrap();
        assert_eq!(e.password.expose(), "s3cret-value");
        let e = jump_to_entry(decoy.as_bytes(), "acme", "a/0").unwrap();
        assert_eq!(e.password.expose(), "decoy");
        // Anything unexpected leaves it to the walk: another client, a future version, the header
        // after the entries, spaces before the colon, an absent entry.
        assert!(jump_to_entry(GOOD.as_bytes(), "globex", "rtr1/admin").is_none());
        let future = GOOD.replace(r#""version":1"#, r#""version":3"#);
        assert!(jump_to_entry(future.as_bytes(), "acme", "rtr1/admin").is_none());
        let reordered = r#"{"entries":{"rtr1/admin":{"username":"admin","password":"p","created":"2026-11-27T17:00:00Z"}},
            "format":"keyreeve-vault","version":1,"client":"acme","updated_at":"2026-11-27T17:00:00Z"}"#;
        assert!(jump_to_entry(reordered.as_bytes(), "acme", "rtr1/admin").is_none());
        let spaced = GOOD.replace(r#""rtr1/admin":"#, r#""rtr1/admin" :"#);
        assert!(jump_to_entry(spaced.as_bytes(), "acme", "rtr1/admin").is_none());
        assert!(jump_to_entry(GOOD.as_bytes(), "acme", "rtr1/nobody").is_none());
    }

    /// A document cut anywhere is a `Damaged` error, never a panic, and no error quotes the
    /// password. The one-entry reader does not read past a complete entry (age authenticated the
    /// whole file before it), so a cut after the entry may still give that entry, whole.
    #[test]
    fn a_document_cut_anywhere_is_damaged() {
        let entry_end = GOOD.find(r#""revealed_at":null}"#).unwrap() + r#""revealed_at":null}"#.len();
        for cut in 0..GOOD.len() - 1 {
            let text = &GOOD.as_bytes()[..cut];
            let full = p(std::str::from_utf8(text).unwrap()).map(|_| ());
            let one = match parse_entry(text, "acme", "rtr1/admin", Path::new("f")) {
                Ok(Some(e)) if cut >= entry_end => {
                    assert_eq!(e.password.expose(), "s3cret-value", "cut at {cut}");
                    Err(VaultError::Damaged {
                        file: "f".into(),
                        detail: "(the entry was whole)".into(),
                    })
                }
                other => other.map(|_| ()),
            };
            for result in [full, one] {
                let err = result.expect_err(&format!("a document cut at {cut} is refused"));
                assert!(matches!(err, VaultError::Damaged { .. }), "cut at {cut}: {err}");
                assert!(!err.to_string().contains("s3cret"), "{err}");
            }
        }
    }

    #[test]
    fn one_entry_is_read_without_building_the_others() {
        let e = parse_entry(GOOD.as_bytes(), "acme", "rtr1/admin", Path::new("f"))
            .unwrap()
            .unwrap();
        assert_eq!(e.password.expose(), "s3cret-value");
        assert!(parse_entry(GOOD.as_bytes(), "acme", "rtr1/nobody", Path::new("f"))
            .unwrap()
            .is_none());
        let future = GOOD.replace(r#""version":1"#, r#""version":3"#);
        let err = parse_entry(future.as_bytes(), "acme", "rtr1/admin", Path::new("f")).unwrap_err();
        assert!(matches!(err, VaultError::FutureVersion { .. }), "{err}");
        let err = parse_entry(GOOD.as_bytes(), "globex", "rtr1/admin", Path::new("f")).unwrap_err();
        assert!(matches!(err, VaultError::WrongClient { .. }), "{err}");
        let err = parse_entry(&GOOD.as_bytes()[..40], "acme", "rtr1/admin", Path::new("f")).unwrap_err();
        assert!(matches!(err, VaultError::Damaged { .. }), "{err}");
    }

    #[test]
    fn the_one_entry_path_takes_any_field_order_and_escapes() {
        let doc = r#"{"entries":{"rtr1\/admin":{"username":"admin","password":"p\u0041","created":"2026-11-27T17:00:00Z",
          "rotated_at":null,"verified_at":null,"revealed_at":null},"other/x":[1,2,{"deep":true}]},
          "client":"acme","version":1,"updated_at":"2026-11-27T17:00:00Z","format":"keyreeve-vault","extra":{}}"#;
        let e = parse_entry(doc.as_bytes(), "acme", "rtr1/admin", Path::new("f"))
            .unwrap()
            .unwrap();
        assert_eq!(e.password.expose(), "pA");
    }

    #[test]
    fn parses_a_document_with_defaults() {
        let doc = p(GOOD).unwrap();
        let e = &doc.entries["rtr1/admin"];
        assert_eq!(e.password.expose(), "s3cret-value");
        assert_eq!(e.state, EntryState::Current);
        assert!(e.history.is_empty());
    }

    #[test]
    fn a_future_version_is_named_even_with_unknown_fields() {
        let future = GOOD
            .replace(r#""version":1"#, r#""version":7"#)
            .replace(r#""username":"admin""#, r#""username":{"new":"shape"}"#);
        let err = p(&future).unwrap_err();
        assert!(matches!(err, VaultError::FutureVersion { found: 7, .. }), "{err}");
        let err = p(&GOOD.replace(r#""version":1"#, r#""version":3"#)).unwrap_err();
        assert!(matches!(err, VaultError::FutureVersion { found: 3, .. }), "{err}");
    }

    #[test]
    fn damage_is_reported_without_quoting_values() {
        let bad = GOOD.replace(r#""created":"2026-11-27T17:00:00Z""#, r#""created":"s3cret-value""#);
        let err = p(&bad).unwrap_err();
        assert!(matches!(err, VaultError::Damaged { .. }), "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = p(&GOOD[..GOOD.len() / 2]).unwrap_err();
        assert!(err.to_string().contains("ends early"), "{err}");
    }

    /// A key or username `vault set` would refuse is refused in a document too, named (escaped),
    /// never taken in where no command could then read, remove or show it safely.
    #[test]
    fn keys_and_usernames_vault_set_would_refuse_are_damage() {
        for (bad, named) in [
            (
                r#""rtr1/admin":{"username":"admin""#.replace("rtr1/admin", r"ios-001/admin\nusername pwned"),
                r"ios-001/admin\nusername pwned",
            ),
            (
                r#""rtr1/admin":{"username":"admin""#.replace("rtr1/admin", "../../etc/passwd"),
                "../../etc/passwd",
            ),
            (
                r#""rtr1/admin":{"username":"admin""#.replace("rtr1/admin", r"rtr1/\u001b[2Jadmin"),
                r"rtr1/\u{1b}[2Jadmin",
            ),
            (
                r#""rtr1/admin":{"username":"admin\nenable""#.to_string(),
                r"admin\nenable",
            ),
        ] {
            let doc = GOOD.replace(r#""rtr1/admin":{"username":"admin""#, &bad);
            assert_ne!(doc, GOOD, "{bad}");
            let err = p(&doc).unwrap_err();
            let shown = err.to_string();
            assert!(matches!(err, VaultError::Damaged { .. }), "{shown}");
            assert!(shown.contains(named), "{shown}");
            assert!(!shown.contains(['\n', '\u{1b}']), "{shown:?}");
            assert!(!shown.contains("s3cret"), "{shown}");
        }
    }

    #[test]
    fn another_clients_document_or_format_is_refused() {
        let err = p(&GOOD.replace(r#""client":"acme""#, r#""client":"globex""#)).unwrap_err();
        assert!(matches!(err, VaultError::WrongClient { .. }), "{err}");
        let err = p(&GOOD.replace("keyreeve-vault", "something-else")).unwrap_err();
        assert!(matches!(err, VaultError::NotAVault { .. }), "{err}");
    }

    #[test]
    fn replacing_a_password_keeps_the_old_one_in_history() {
        let mut e = Entry::new("admin", Password::new("one"));
        e.verified_at = Some(Utc::now());
        e.replace_password(Password::new("two"), Utc::now());
        assert_eq!(e.password.expose(), "two");
        assert_eq!(e.history[0].password.expose(), "one");
        assert!(e.verified_at.is_none() && e.rotated_at.is_some());
    }
}
