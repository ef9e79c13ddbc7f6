//! Onboarding import: the previous provider's password list (a spreadsheet's CSV, a KeePass 2 XML
//! export, a Bitwarden JSON export) turned into vault entries and a proposed inventory.
//!
//! Each format's parser (its own file) turns the decrypted bytes into [`Record`]s, secrets already
//! in [`Password`]s, and [`Bad`] rows it could not read. [`prepare`] then names every record
//! `TARGET/ACCOUNT`, validates it as `vault set` would, finds duplicates and empty passwords, and
//! [`guess`] proposes a target for each target name. Every problem carries its line or record
//! number so that the technician can fix the file; nothing is half-imported unless asked.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::hint::Hint;
use crate::secret::Password;
use crate::vault::{Entry, HistoryItem};

pub mod bitwarden;
pub mod csv;
pub mod guess;
pub mod keepass_xml;

/// The formats `keyreeve import --format` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    /// A native keyreeve handover (`keyreeve export --format keyreeve`).
    Keyreeve,
    Csv,
    KeepassXml,
    Bitwarden,
}

impl SourceFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceFormat::Keyreeve => "keyreeve",
            SourceFormat::Csv => "csv",
            SourceFormat::KeepassXml => "keepass-xml",
            SourceFormat::Bitwarden => "bitwarden",
        }
    }
}

/// Where a record is in the file: `line 4` of a CSV, `entry 3` of a KeePass or Bitwarden file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    pub unit: &'static str,
    pub number: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.unit, self.number)
    }
}

/// What a keyreeve export wrote beside a credential: its vault path, its target and its dates.
/// Present only in files keyreeve wrote, so that they import back as they were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyreeveOrigin {
    /// `CLIENT/TARGET/ACCOUNT`.
    pub path: String,
    pub kind: Option<String>,
    pub address: Option<String>,
    pub port: Option<u16>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub verified_at: Option<DateTime<Utc>>,
}

/// One credential read from the file.
#[derive(Debug, Clone)]
pub struct Record {
    pub at: Location,
    pub title: String,
    pub username: String,
    pub password: Password,
    pub url: String,
    pub notes: String,
    /// The KeePass group or Bitwarden folder it sits in (below the database's root).
    pub group: Option<String>,
    /// Earlier passwords, oldest first, with when each was replaced if the file says.
    pub history: Vec<(Password, Option<DateTime<Utc>>)>,
    pub origin: Option<KeyreeveOrigin>,
}

impl Record {
    pub fn new(at: Location, password: Password) -> Record {
        Record {
            at,
            title: String::new(),
            username: String::new(),
            password,
            url: String::new(),
            notes: String::new(),
            group: None,
            history: Vec::new(),
            origin: None,
        }
    }
}

/// A record that cannot be imported, and why (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    pub at: Location,
    pub reason: String,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

/// What a parser read: the records, and those it could not read.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<Record>,
    pub bad: Vec<Bad>,
    /// Items that hold no credential (a secure note), listed in the summary.
    pub skipped: Vec<Bad>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{}: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    #[error("{}: {} record{} cannot be imported, so nothing was imported:\n{}", path.display(), bad.len(), if bad.len() == 1 { "" } else { "s" }, bad.iter().map(|b| format!("  {b}")).collect::<Vec<_>>().join("\n"))]
    Rejected { path: PathBuf, bad: Vec<Bad> },
    #[error("{}: no credential in it", .0.display())]
    Empty(PathBuf),
    #[error("--map: {0}")]
    BadMap(String),
}

impl Hint for ImportError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ImportError::Unreadable { .. } => {
                "check --format: csv (a header row), keepass-xml (`keepassxc-cli export -f xml`), \
                 bitwarden (an unencrypted JSON export) or keyreeve"
                    .into()
            }
            ImportError::Rejected { .. } => {
                "fix those records in the file, or pass --skip-bad to import the others and leave them out".into()
            }
            ImportError::Empty(_) => "check that the file is the export you meant".into(),
            ImportError::BadMap(_) => {
                "--map takes FIELD=COLUMN pairs, comma separated; fields: title, username, password, url, notes".into()
            }
        })
    }
}

/// A record ready to go into the vault.
#[derive(Debug)]
pub struct Prepared {
    pub at: Location,
    /// `TARGET/ACCOUNT`.
    pub key: String,
    pub entry: Entry,
    /// What was guessed about this record, in words for the summary.
    pub guesses: Vec<String>,
}

/// The outcome of [`prepare`]: what can be imported, what cannot, and the targets proposed.
#[derive(Debug, Default)]
pub struct Plan {
    pub entries: Vec<Prepared>,
    pub bad: Vec<Bad>,
    pub skipped: Vec<Bad>,
    pub targets: Vec<guess::Proposal>,
}

/// `text` as a keyreeve name: lower case, runs of anything else than letters, digits, `-`, `_`,
/// `.`, `@`, `$` made one `-`, no `-` or `.` at either end. Empty when nothing is left.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '$') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches(|c| c == '-' || c == '.');
    let mut name: String = trimmed.chars().take(64).collect();
    while name.ends_with('-') {
        name.pop();
    }
    name
}

/// Names every record, checks it as `vault set` would, and proposes targets.
pub fn prepare(parsed: Parsed, now: DateTime<Utc>) -> Plan {
    let mut plan = Plan {
        bad: parsed.bad,
        skipped: parsed.skipped,
        ..Plan::default()
    };
    // Groups whose entries would collide on one account name get their entries' titles as
    // target names instead (a KeePass group "Printers" holding three `admin` logins).
    let mut per_group: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in parsed.records.iter().filter(|r| r.origin.is_none()) {
        if let Some(g) = r.group.as_deref().map(slug).filter(|g| !g.is_empty()) {
            *per_group.entry((g, account_name(r).0)).or_default() += 1;
        }
    }
    let crowded = |group: &str| per_group.iter().any(|((g, _), n)| g == group && *n > 1);

    let mut taken: BTreeMap<String, Location> = BTreeMap::new();
    for r in parsed.records {
        let (key, guesses) = match name_record(&r, &crowded) {
            Ok(named) => named,
            Err(reason) => {
                plan.bad.push(Bad { at: r.at, reason });
                continue;
            }
        };
        if let Some(problem) = check_record(&r) {
            plan.bad.push(Bad {
                at: r.at,
                reason: problem,
            });
            continue;
        }
        if let Some(first) = taken.get(&key) {
            plan.bad.push(Bad {
                at: r.at,
                reason: format!("duplicate: {first} is imported as `{key}` too"),
            });
            continue;
        }
        taken.insert(key.clone(), r.at);
        let (target, account) = key.split_once('/').unwrap_or((&key, ""));
        guess::add(&mut plan.targets, target, account, &r);
        let at = r.at;
        let entry = entry_of(r, now);
        plan.entries.push(Prepared {
            at,
            key,
            entry,
            guesses,
        });
    }
    plan.bad.sort_by_key(|b| b.at);
    plan
}

/// The account name of a record: its username, else `admin` (said so).
fn account_name(r: &Record) -> (String, Option<String>) {
    let from_user = slug(r.username.rsplit(['\\', '/']).next().unwrap_or(""));
    if !from_user.is_empty() {
        let note = (from_user != r.username).then(|| format!("account `{from_user}` from username"));
        (from_user, note)
    } else {
        ("admin".into(), Some("no username: account named `admin`".into()))
    }
}

fn name_record(r: &Record, crowded: &dyn Fn(&str) -> bool) -> Result<(String, Vec<String>), String> {
    if let Some(o) = &r.origin {
        let (_, target, account) = crate::validate::vault_path(&o.path).map_err(|e| e.to_string())?;
        return Ok((format!("{target}/{account}"), vec![]));
    }
    let mut guesses = Vec::new();
    let (account, note) = account_name(r);
    guesses.extend(note);
    let group = r.group.as_deref().map(slug).filter(|g| !g.is_empty());
    let title = slug(&r.title);
    let host = guess::host_of(&r.url).map(|h| slug(&h)).filter(|h| !h.is_empty());
    let crowded_group = group.clone().filter(|g| crowded(g));
    let target = match (group, title.is_empty(), host) {
        (Some(g), _, _) if crowded_group.is_none() => {
            guesses.push(format!("target `{g}` from its group"));
            g
        }
        (_, false, _) => {
            if let Some(g) = crowded_group {
                guesses.push(format!(
                    "target `{title}` from the title, as group `{g}` holds several `{account}`"
                ));
            } else if title != r.title {
                guesses.push(format!("target `{title}` from the title"));
            }
            title
        }
        (_, true, Some(h)) => {
            guesses.push(format!("target `{h}` from the URL's host"));
            h
        }
        _ => return Err("no title, group or URL to name its target by".into()),
    };
    crate::validate::name("target", &target).map_err(|e| e.to_string())?;
    crate::validate::name("account", &account).map_err(|e| e.to_string())?;
    Ok((format!("{target}/{account}"), guesses))
}

/// What `vault set` would refuse in a record, said without its secret.
fn check_record(r: &Record) -> Option<String> {
    if r.password.is_empty() {
        return Some("empty password".into());
    }
    if let Err(e) = crate::validate::single_line("username", &r.username) {
        return Some(e.to_string());
    }
    if r.password.expose().chars().any(|c| c.is_control()) {
        return Some("the password holds a control character (a line break or tab)".into());
    }
    None
}

fn entry_of(r: Record, now: DateTime<Utc>) -> Entry {
    let mut entry = Entry::new(r.username, r.password);
    entry.created = now;
    entry.notes = r.notes;
    if let Some(o) = r.origin {
        entry.rotated_at = o.rotated_at;
        entry.verified_at = o.verified_at;
    }
    // Earlier passwords keep their order; one the file gives no date for counts as replaced now.
    entry.history = r
        .history
        .into_iter()
        .filter(|(p, _)| !p.is_empty() && *p != entry.password)
        .map(|(password, at)| HistoryItem {
            password,
            replaced_at: at.unwrap_or(now),
        })
        .collect();
    entry
}

/// A date as exports write it (RFC 3339), `never` and blanks being none.
pub fn date(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: usize, title: &str, user: &str, pass: &str) -> Record {
        Record {
            title: title.into(),
            username: user.into(),
            ..Record::new(
                Location {
                    unit: "line",
                    number: n,
                },
                Password::new(pass),
            )
        }
    }

    #[test]
    fn slugs_are_names_vault_set_takes() {
        assert_eq!(slug("Office Printer (2nd floor)"), "office-printer-2nd-floor");
        assert_eq!(slug("  .hidden "), "hidden");
        assert_eq!(slug("ACME\\Administrator"), "acme-administrator");
        assert_eq!(slug("---"), "");
        assert!(crate::inventory::is_valid_name(&slug("Ünïcode Ñame")));
    }

    #[test]
    fn duplicates_and_empty_passwords_are_reported_by_line() {
        let parsed = Parsed {
            records: vec![
                rec(2, "Core switch", "admin", "a"),
                rec(3, "core switch", "admin", "b"),
                rec(4, "Printer", "admin", ""),
                rec(5, "NAS", "root\nevil", "c"),
                rec(6, "", "", "d"),
            ],
            ..Parsed::default()
        };
        let plan = prepare(parsed, Utc::now());
        assert_eq!(plan.entries.len(), 1);
        assert_eq!(plan.entries[0].key, "core-switch/admin");
        let bad: Vec<String> = plan.bad.iter().map(|b| b.to_string()).collect();
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(bad[0].starts_with("line 3: duplicate: line 2"), "{bad:?}");
        assert_eq!(bad[1], "line 4: empty password");
        assert!(bad[2].starts_with("line 5: username"), "{bad:?}");
        assert!(bad[3].starts_with("line 6: no title"), "{bad:?}");
        assert!(!bad.iter().any(|b| b.contains('c') && b.contains("evil\n")));
    }

    #[test]
    fn a_crowded_group_names_its_targets_by_title() {
        let mut a = rec(1, "Printer 1", "admin", "a");
        let mut b = rec(2, "Printer 2", "admin", "b");
        let mut c = rec(3, "fw", "root", "c");
        a.group = Some("Printers".into());
        b.group = Some("Printers".into());
        c.group = Some("Firewall".into());
        let plan = prepare(
            Parsed {
                records: vec![a, b, c],
                ..Parsed::default()
            },
            Utc::now(),
        );
        let keys: Vec<&str> = plan.entries.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["printer-1/admin", "printer-2/admin", "firewall/root"]);
        assert!(plan.entries[2].guesses.iter().any(|g| g.contains("from its group")));
    }
}
