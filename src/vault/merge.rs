//! Three-way merge of a client's vault, for the git merge driver (`keyreeve merge-driver`): two
//! technicians who changed the same client on two clones must never lose a password. An entry
//! changed on one side takes that side; one changed on both sides keeps every password that may
//! be in force, as candidates of a merge conflict that `keyreeve verify` settles by logging in
//! with each; one removed on a side and changed on the other is kept and flagged. The recipient
//! sets merge three ways too: a recipient removed on either side is never one of the result.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::{parse_document, Entry, EntryState, HistoryItem, PendingRotation, VaultDocument, VaultError};
use crate::inventory::Inventory;
use crate::keys::{same_recipient, KeyRing};
use crate::secret::Password;

/// The `pending.journal_id` of an entry a merge left with several candidate passwords: no journal
/// record goes with it; `keyreeve verify` (or `recover`) settles it by logging in with each.
pub const MERGE_CONFLICT_ID: &str = "merge";

/// The note put at the head of an entry removed on one side and changed on the other.
pub const KEPT_NOTE: &str = "[kept by a merge: removed on one side, changed on the other; remove it again if meant]";

/// What a merge did, by entry key (`TARGET/ACCOUNT`); never a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeReport {
    /// Changed on both sides to different passwords: every one kept as a candidate.
    pub conflicts: Vec<String>,
    /// Removed on one side, changed on the other: kept, flagged.
    pub kept: Vec<String>,
    /// Taken from the other side (changed, added or removed there only).
    pub from_theirs: Vec<String>,
    /// Recipients removed on one side, absent from the result.
    pub recipients_removed: Vec<String>,
}

/// Whether `entry` holds several passwords a merge could not choose between.
pub fn is_merge_conflict(entry: &Entry) -> bool {
    entry.state == EntryState::Pending
        && entry
            .pending
            .as_ref()
            .is_some_and(|p| p.journal_id == MERGE_CONFLICT_ID)
}

/// Every password a conflicted entry may be in force with, the likeliest first.
pub fn candidates(entry: &Entry) -> Vec<Password> {
    let mut all = vec![entry.password.clone()];
    for c in entry.pending.iter().flat_map(|p| &p.candidates) {
        if !all.contains(c) {
            all.push(c.clone());
        }
    }
    all
}

/// Settles a conflicted entry: `working` (one of its candidates, proven by a login) becomes the
/// password, every other candidate goes to the history.
pub fn settle(entry: &mut Entry, working: &Password, at: DateTime<Utc>) {
    for c in candidates(entry) {
        if &c != working && !entry.history.iter().any(|h| h.password == c) {
            entry.history.push(HistoryItem {
                password: c,
                replaced_at: at,
            });
        }
    }
    entry.password = working.clone();
    entry.state = EntryState::Current;
    entry.pending = None;
    entry.verified_at = Some(at);
    entry.verify_failed_at = None;
}

/// The three-way merge of recipient sets: kept if on both sides, or added by one side; a
/// recipient of the base removed by either side is dropped.
pub fn merge_recipients(base: &[String], ours: &[String], theirs: &[String]) -> Vec<String> {
    let has = |set: &[String], r: &str| set.iter().any(|x| same_recipient(x, r));
    let mut out: Vec<String> = Vec::new();
    for r in ours.iter().chain(theirs) {
        let keep = (has(ours, r) && has(theirs, r)) || !has(base, r);
        if keep && !has(&out, r) {
            out.push(r.clone());
        }
    }
    out
}

/// Merges three versions of a client's document (`base` is None when both sides created it).
pub fn merge_documents(
    base: Option<&VaultDocument>,
    ours: &VaultDocument,
    theirs: &VaultDocument,
    now: DateTime<Utc>,
) -> (VaultDocument, MergeReport) {
    let empty = BTreeMap::new();
    let base_entries = base.map_or(&empty, |b| &b.entries);
    let mut report = MergeReport::default();
    let mut entries = BTreeMap::new();
    let keys: std::collections::BTreeSet<&String> = base_entries
        .keys()
        .chain(ours.entries.keys())
        .chain(theirs.entries.keys())
        .collect();
    for key in keys {
        let (o, a, t) = (base_entries.get(key), ours.entries.get(key), theirs.entries.get(key));
        let merged = if a == t {
            a.cloned()
        } else if a == o {
            report.from_theirs.push(key.clone());
            t.cloned()
        } else if t == o {
            a.cloned()
        } else {
            match (a, t) {
                (Some(a), Some(t)) => {
                    let (e, conflict) = merge_entry(a, t, now);
                    if conflict {
                        report.conflicts.push(key.clone());
                    }
                    Some(e)
                }
                (Some(kept), None) | (None, Some(kept)) => {
                    report.kept.push(key.clone());
                    let mut e = kept.clone();
                    if !e.notes.starts_with(KEPT_NOTE) {
                        e.notes = if e.notes.is_empty() {
                            KEPT_NOTE.to_string()
                        } else {
                            format!("{KEPT_NOTE}\n{}", e.notes)
                        };
                    }
                    Some(e)
                }
                (None, None) => None,
            }
        };
        if let Some(e) = merged {
            entries.insert(key.clone(), e);
        }
    }
    let base_recipients = base.map_or(&[][..], |b| &b.recipients[..]);
    let recipients = merge_recipients(base_recipients, &ours.recipients, &theirs.recipients);
    report.recipients_removed = ours
        .recipients
        .iter()
        .chain(&theirs.recipients)
        .filter(|r| !recipients.iter().any(|x| same_recipient(x, r)))
        .fold(Vec::new(), |mut acc, r| {
            if !acc.iter().any(|x| same_recipient(x, r)) {
                acc.push(r.clone());
            }
            acc
        });
    let doc = VaultDocument {
        format: ours.format.clone(),
        version: ours.version.max(theirs.version),
        client: ours.client.clone(),
        updated_at: now,
        entries,
        recipients,
    };
    (doc, report)
}

/// Both sides changed the entry: one entry holding every password either side may have in
/// force. Returns whether the passwords differ (a conflict to settle by logging in).
fn merge_entry(a: &Entry, t: &Entry, now: DateTime<Utc>) -> (Entry, bool) {
    // The side rotated last most likely holds the password in force: its password goes first.
    let (first, second) = if t.rotated_at > a.rotated_at { (t, a) } else { (a, t) };
    let mut merged = first.clone();
    let mut history: Vec<HistoryItem> = first.history.clone();
    for h in &second.history {
        if !history.iter().any(|x| x.password == h.password) {
            history.push(h.clone());
        }
    }
    history.sort_by_key(|h| h.replaced_at);
    merged.history = history;
    merged.created = a.created.min(t.created);
    merged.rotated_at = a.rotated_at.max(t.rotated_at);
    merged.revealed_at = a.revealed_at.max(t.revealed_at);
    merged.verify_failed_at = a.verify_failed_at.max(t.verify_failed_at);
    if merged.notes.is_empty() {
        merged.notes = second.notes.clone();
    }
    let mut others: Vec<Password> = Vec::new();
    for c in candidates(first).into_iter().skip(1).chain(candidates(second)) {
        if c != first.password && !others.contains(&c) {
            others.push(c);
        }
    }
    if others.is_empty() {
        merged.verified_at = a.verified_at.max(t.verified_at);
        let in_flight = [first, second].into_iter().find(|e| e.state == EntryState::Pending);
        if let Some(e) = in_flight {
            merged.state = e.state;
            merged.pending = e.pending.clone();
        }
        return (merged, false);
    }
    merged.state = EntryState::Pending;
    merged.pending = Some(PendingRotation {
        journal_id: MERGE_CONFLICT_ID.into(),
        started_at: now,
        candidates: others,
    });
    merged.verified_at = None;
    (merged, true)
}

/// Merges three encrypted versions of `client`'s vault file (`base` empty when both sides created
/// it) and returns the result encrypted to the merged recipients. Nothing is written anywhere:
/// the plaintext lives only in memory. `inventory` (the clone's keyreeve.toml) gives the
/// recipients when a version predates the recipient list kept in the document, and the armor.
pub fn merge_sealed(
    keys: &KeyRing,
    inventory: &Inventory,
    client: &str,
    file: &Path,
    base: &[u8],
    ours: &[u8],
    theirs: &[u8],
) -> Result<(Vec<u8>, MergeReport), VaultError> {
    let open = |bytes: &[u8]| -> Result<VaultDocument, VaultError> {
        let plain = keys.decrypt(bytes, file)?;
        parse_document(&plain, client, file)
    };
    let base = if base.is_empty() { None } else { Some(open(base)?) };
    let ours = open(ours)?;
    let theirs = open(theirs)?;
    let (mut doc, report) = merge_documents(base.as_ref(), &ours, &theirs, Utc::now());
    let known = !ours.recipients.is_empty()
        && !theirs.recipients.is_empty()
        && base.as_ref().is_none_or(|b| !b.recipients.is_empty());
    if !known || inventory.passphrase {
        doc.recipients = if inventory.passphrase {
            Vec::new()
        } else {
            keys.recipients_for_client(inventory, client)
        };
    }
    let mut sealing = inventory.clone();
    if !inventory.passphrase {
        sealing.recipients = doc.recipients.clone();
        if let Some(c) = sealing.clients.get_mut(client) {
            c.recipients.clear();
        }
    }
    let sealed = keys.encrypt_to(&sealing, client, Vec::new(), |w| {
        serde_json::to_writer(&mut *w, &doc).map_err(std::io::Error::other)
    })?;
    Ok((sealed, report))
}

/// Merges reveal times (`state/reveals/CLIENT.json`, not secret): the later of each.
pub fn merge_reveals(
    ours: &BTreeMap<String, DateTime<Utc>>,
    theirs: &BTreeMap<String, DateTime<Utc>>,
) -> BTreeMap<String, DateTime<Utc>> {
    let mut out = ours.clone();
    for (k, at) in theirs {
        let slot = out.entry(k.clone()).or_insert(*at);
        *slot = (*slot).max(*at);
    }
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, h, 0, 0).unwrap()
    }

    fn doc(entries: &[(&str, &Entry)], recipients: &[&str]) -> VaultDocument {
        let mut d = VaultDocument::empty("acme");
        for (k, e) in entries {
            d.entries.insert(k.to_string(), (*e).clone());
        }
        d.recipients = recipients.iter().map(|r| r.to_string()).collect();
        d
    }

    fn rotated(e: &Entry, pw: &str, h: u32) -> Entry {
        let mut e = e.clone();
        e.replace_password(Password::new(pw), at(h));
        e
    }

    #[test]
    fn one_sided_changes_are_taken_and_both_sided_ones_keep_every_password() {
        let r1 = Entry::new("admin", Password::new("base-1"));
        let r2 = Entry::new("netops", Password::new("base-2"));
        let base = doc(&[("r1/admin", &r1), ("r1/netops", &r2)], &["a"]);
        let ours = doc(&[("r1/admin", &rotated(&r1, "ours-1", 10)), ("r1/netops", &r2)], &["a"]);
        let theirs = doc(
            &[
                ("r1/admin", &rotated(&r1, "theirs-1", 11)),
                ("r1/netops", &rotated(&r2, "theirs-2", 9)),
            ],
            &["a"],
        );
        let (m, report) = merge_documents(Some(&base), &ours, &theirs, at(12));
        assert_eq!(m.entries["r1/netops"].password.expose(), "theirs-2");
        assert_eq!(report.from_theirs, ["r1/netops"]);
        let admin = &m.entries["r1/admin"];
        assert!(is_merge_conflict(admin));
        assert_eq!(report.conflicts, ["r1/admin"]);
        let all: Vec<_> = candidates(admin).iter().map(|p| p.expose().to_string()).collect();
        assert_eq!(all, ["theirs-1", "ours-1"], "the later rotation goes first");
        assert_eq!(admin.history.len(), 1, "the shared history item once");
        assert_eq!(admin.history[0].password.expose(), "base-1");
        let mut settled = admin.clone();
        settle(&mut settled, &Password::new("ours-1"), at(13));
        assert_eq!(settled.password.expose(), "ours-1");
        assert_eq!(settled.state, EntryState::Current);
        assert!(settled.history.iter().any(|h| h.password.expose() == "theirs-1"));
    }

    #[test]
    fn removed_on_one_side_and_changed_on_the_other_is_kept_and_flagged() {
        let r1 = Entry::new("admin", Password::new("base-1"));
        let base = doc(&[("r1/admin", &r1), ("r2/x", &r1)], &["a"]);
        let ours = doc(&[("r2/x", &r1)], &["a"]);
        let theirs = doc(&[("r1/admin", &rotated(&r1, "new", 3))], &["a"]);
        let (m, report) = merge_documents(Some(&base), &ours, &theirs, at(12));
        assert_eq!(m.entries["r1/admin"].password.expose(), "new");
        assert!(m.entries["r1/admin"].notes.starts_with(KEPT_NOTE));
        assert_eq!(report.kept, ["r1/admin"]);
        assert!(
            !m.entries.contains_key("r2/x"),
            "removed on one side, unchanged on the other"
        );
    }

    #[test]
    fn a_recipient_removed_on_either_side_is_gone() {
        let m = merge_recipients(
            &["a".into(), "b".into(), "c".into()],
            &["a".into(), "c".into(), "d".into()],
            &["a".into(), "b".into(), "e".into()],
        );
        assert_eq!(m, ["a", "d", "e"]);
        let base = doc(&[], &["a", "b"]);
        let ours = doc(&[], &["a"]);
        let theirs = doc(&[("r/x", &Entry::new("x", Password::new("p")))], &["a", "b"]);
        let (m, report) = merge_documents(Some(&base), &ours, &theirs, at(1));
        assert_eq!(m.recipients, ["a"]);
        assert_eq!(report.recipients_removed, ["b"]);
        assert!(m.entries.contains_key("r/x"));
    }

    #[test]
    fn equal_passwords_merge_their_metadata_without_conflict() {
        let r1 = Entry::new("admin", Password::new("same"));
        let mut a = r1.clone();
        a.verified_at = Some(at(5));
        let mut t = r1.clone();
        t.revealed_at = Some(at(6));
        let base = doc(&[("r/a", &r1)], &["a"]);
        let (m, report) = merge_documents(
            Some(&base),
            &doc(&[("r/a", &a)], &["a"]),
            &doc(&[("r/a", &t)], &["a"]),
            at(7),
        );
        assert!(report.conflicts.is_empty());
        let e = &m.entries["r/a"];
        assert_eq!((e.verified_at, e.revealed_at), (Some(at(5)), Some(at(6))));
        assert_eq!(e.state, EntryState::Current);
    }
}
