//! Admin-membership review: who holds admin rights on each target, who may dial in, what is risky
//! about them, and what changed since an earlier review. It works from discovery snapshots alone,
//! so a security reviewer needs neither the vault's keys nor the network.
//!
//! - [`snapshot`]: the snapshots `keyreeve discover` saves, and how a review finds them.
//! - [`rules`]: one file per audit rule; each turns a target's snapshots into findings.
//! - [`report`]: the review as Markdown, for the reviewer's file.
//! - [`html`]: the review as one self-contained HTML page for the client, with drawings.
//!
//! Accepted findings (`[[review.accept]]` in the policy) stay in the report, marked, but no longer
//! count; an acceptance past its `until` day stops covering its finding.

pub mod due;
pub mod html;
pub mod report;
pub mod roster;
pub mod rules;
pub mod snapshot;
pub mod vault_index;

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::hint::Hint;
use crate::policy::ReviewPolicy;
use snapshot::{AccountRecord, InVault, Snapshot};

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("cannot read snapshot {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write snapshot {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: damaged snapshot: {message}", path.display())]
    Damaged {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl Hint for ReviewError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ReviewError::Read { .. } | ReviewError::Write { .. } => {
                "check that state/snapshots exists and that you may read and write it".into()
            }
            ReviewError::Damaged { .. } => {
                "move the file aside (snapshots are only records) and run `keyreeve discover` again".into()
            }
        })
    }
}

/// How much a finding matters. `info` never changes the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One target as a review sees it: its newest snapshot and the one it is compared with.
#[derive(Debug, Clone)]
pub struct TargetReview {
    /// `CLIENT/TARGET`.
    pub target: String,
    /// The inventory's kind (`cisco-ios`, `active-directory`, ...).
    pub kind: String,
    pub current: Option<Snapshot>,
    pub baseline: Option<Snapshot>,
    /// The snapshots taken after `baseline` and before `current`, oldest first: what happened
    /// in between (an admin added and removed again).
    pub between: Vec<Snapshot>,
    /// The last discovery, when it failed after `current` was taken.
    pub failed_since: Option<Snapshot>,
}

impl TargetReview {
    /// An Active Directory target: the only kind with delegation, Protected Users, krbtgt.
    pub fn is_active_directory(&self) -> bool {
        crate::inventory::TargetKind::parse(&self.kind) == Some(crate::inventory::TargetKind::ActiveDirectory)
    }

    pub fn is_directory(&self) -> bool {
        crate::inventory::TargetKind::parse(&self.kind).is_some_and(|k| k.is_directory())
    }

    /// The accounts of the newest snapshot (none when there is none).
    pub fn accounts(&self) -> &[AccountRecord] {
        self.current.as_ref().map(|s| s.accounts.as_slice()).unwrap_or_default()
    }

    /// `CLIENT/TARGET/ACCOUNT`.
    pub fn subject(&self, account: &AccountRecord) -> String {
        format!("{}/{}", self.target, account.account.name)
    }
}

/// What a rule found, before the review stamps its rule and severity on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `CLIENT/TARGET/ACCOUNT`, or `CLIENT/TARGET` for the target as a whole.
    pub subject: String,
    pub message: String,
    pub hint: String,
}

/// One finding of a review.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub subject: String,
    pub message: String,
    pub hint: String,
    /// Present when the policy accepts this finding: it is reported but does not count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
}

/// Why a finding was accepted, and until when.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<chrono::NaiveDate>,
    /// `file:line` of the acceptance.
    pub by: String,
}

/// What the review needs besides the snapshots.
pub struct ReviewContext<'a> {
    pub now: DateTime<Utc>,
    pub policy: &'a ReviewPolicy,
}

/// An account with admin rights or remote access, for the reviewer's roster.
#[derive(Debug, Clone, Serialize)]
pub struct RosterEntry {
    pub account: String,
    /// How it holds its rights: `privilege 15`, `via app-admins -> Domain Admins`.
    pub how: String,
    pub admin: bool,
    pub enabled: bool,
    pub dial_in: bool,
    pub in_vault: InVault,
    /// Directory accounts: type, how the right is held, times, Protected Users, delegation.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub directory: Option<roster::DirectoryFacts>,
}

/// One target's part of the review.
#[derive(Debug, Clone, Serialize)]
pub struct TargetSummary {
    pub target: String,
    pub kind: String,
    /// When its newest snapshot was taken; absent when it has none.
    pub taken_at: Option<DateTime<Utc>>,
    /// When the snapshot it was compared with was taken.
    pub baseline_taken_at: Option<DateTime<Utc>>,
    pub roster: Vec<RosterEntry>,
    /// AD: what the review of this domain rests on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<roster::Scope>,
    /// AD: who is in each privileged group.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<roster::GroupView>,
    /// Who can reach the network from outside (and who is denied despite a group).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remote_access: Vec<roster::RemoteAccess>,
}

/// The result of a review.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub generated_at: DateTime<Utc>,
    /// The time changes are counted from (each target's baseline is its newest snapshot at or
    /// before it, else its first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    pub targets: Vec<TargetSummary>,
    /// Most severe first.
    pub findings: Vec<Finding>,
    /// Acceptances in the policy that covered no finding of this review: expired, or about
    /// something fixed or gone. Worth tidying, as `file:line: what`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unused_acceptances: Vec<String>,
}

impl Review {
    /// Findings that count: not accepted, and at or above `at_least`.
    pub fn open_findings(&self, at_least: Severity) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| f.accepted.is_none() && f.severity >= at_least)
    }

    /// How many unaccepted findings each severity has, most severe first.
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        [Severity::High, Severity::Medium, Severity::Low, Severity::Info]
            .into_iter()
            .map(|s| {
                (
                    s,
                    self.findings
                        .iter()
                        .filter(|f| f.severity == s && f.accepted.is_none())
                        .count(),
                )
            })
            .collect()
    }
}

/// How far in the future a snapshot may claim to be (clocks of a team's laptops disagree a
/// little); one further ahead was written by a clock that is wrong and is not trusted as current.
const CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(10);

/// Each target's newest snapshot, the one it is compared with, and every snapshot between them.
/// The baseline is the newest snapshot taken at or before `since` (the current one itself when
/// nothing was taken since), else the target's first snapshot: changes are then counted from
/// when keyreeve first saw the target, and the report says so.
pub fn gather<'a>(
    store: &snapshot::SnapshotStore,
    targets: impl IntoIterator<Item = &'a crate::inventory::Target>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Vec<TargetReview>, ReviewError> {
    let mut out = Vec::new();
    // Guided targets are never discovered: the vault-based rules and `status` cover them.
    for t in targets.into_iter().filter(|t| !t.kind.is_manual()) {
        let current = store.newest(&t.client, &t.name, Some(now + CLOCK_SKEW))?;
        let baseline = match &current {
            None => None,
            Some(now) if since >= now.taken_at => Some(now.clone()),
            Some(now) => match store.newest(&t.client, &t.name, Some(since))? {
                Some(then) => Some(then),
                None => store
                    .oldest(&t.client, &t.name)?
                    .filter(|first| first.taken_at < now.taken_at),
            },
        };
        let between = match (&baseline, &current) {
            (Some(from), Some(to)) => store.between(&t.client, &t.name, from.taken_at, to.taken_at)?,
            _ => Vec::new(),
        };
        let failed_since = store
            .last_failure(&t.client, &t.name)?
            .filter(|f| current.as_ref().is_none_or(|c| f.taken_at > c.taken_at));
        out.push(TargetReview {
            target: t.path(),
            kind: t.kind.as_str().to_string(),
            current,
            baseline,
            between,
            failed_since,
        });
    }
    Ok(out)
}

/// Runs every rule over every target and applies the policy's acceptances.
pub fn review(targets: &[TargetReview], ctx: &ReviewContext<'_>) -> Review {
    review_with_vault(targets, &[], ctx)
}

/// [`review`], with the vault-entry rules run over `vault` (every selected client's entries).
pub fn review_with_vault(targets: &[TargetReview], vault: &[due::Assessed], ctx: &ReviewContext<'_>) -> Review {
    let today = ctx.now.date_naive();
    let mut findings = Vec::new();
    let mut used = vec![false; ctx.policy.accept.len()];
    let per_target = targets.iter().flat_map(|target| {
        rules::ALL
            .iter()
            .flat_map(move |rule| rule.graded(target, ctx).into_iter().map(move |(f, s)| (*rule, f, s)))
    });
    let per_vault = rules::ALL.iter().flat_map(|rule| {
        rule.check_vault(vault, ctx)
            .into_iter()
            .map(move |f| (*rule, f, rule.severity()))
    });
    for (rule, found, severity) in per_target.chain(per_vault) {
        let covering = ctx
            .policy
            .accept
            .iter()
            .position(|a| a.covers(rule.id(), &found.subject, today));
        let accepted = covering.map(|i| {
            used[i] = true;
            let a = &ctx.policy.accept[i];
            Accepted {
                reason: a.reason.clone(),
                until: a.until,
                by: a.origin.clone(),
            }
        });
        findings.push(Finding {
            rule: rule.id(),
            severity,
            subject: found.subject,
            message: found.message,
            hint: found.hint,
            accepted,
        });
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.subject.cmp(&b.subject))
            .then_with(|| a.rule.cmp(b.rule))
    });
    let unused_acceptances = ctx
        .policy
        .accept
        .iter()
        .zip(used)
        .filter(|(_, used)| !used)
        .map(|(a, _)| {
            let state = match a.until {
                Some(until) if until < today => format!("expired on {until}"),
                _ => "covers no finding".to_string(),
            };
            format!("{}: {} on {} {state}", a.origin, a.rule, a.subject)
        })
        .collect();
    Review {
        generated_at: ctx.now,
        since: None,
        targets: targets.iter().map(summary).collect(),
        findings,
        unused_acceptances,
    }
}

fn summary(t: &TargetReview) -> TargetSummary {
    let roster = t
        .accounts()
        .iter()
        .filter(|a| a.account.admin || may_dial_in(a))
        .map(|a| RosterEntry {
            account: a.account.name.clone(),
            how: a.account.privilege.clone(),
            admin: a.account.admin,
            enabled: a.account.enabled,
            dial_in: may_dial_in(a),
            in_vault: a.in_vault,
            directory: roster::directory_facts(t, a),
        })
        .collect();
    TargetSummary {
        target: t.target.clone(),
        kind: t.kind.clone(),
        taken_at: t.current.as_ref().map(|s| s.taken_at),
        baseline_taken_at: t.baseline.as_ref().map(|s| s.taken_at),
        roster,
        scope: roster::scope(t),
        groups: roster::groups(t),
        remote_access: roster::remote_access(t),
    }
}

/// The directory flags of an account (`password-never-expires`, ...); none for devices.
pub fn flags(a: &AccountRecord) -> Vec<&str> {
    strings(a, "flags")
}

/// A list-of-strings detail of an account (`flags`, `service_principal_names`, ...).
pub fn strings<'a>(a: &'a AccountRecord, key: &str) -> Vec<&'a str> {
    a.account
        .details
        .get(key)
        .and_then(|v| v.as_array())
        .map(|items| items.iter().filter_map(|i| i.as_str()).collect())
        .unwrap_or_default()
}

/// A text detail of an account (`sid`, `password_form`, `password`).
pub fn text<'a>(a: &'a AccountRecord, key: &str) -> Option<&'a str> {
    a.account.details.get(key).and_then(|v| v.as_str())
}

/// A time the directory keeps about an account (`pwd_last_set`, `last_logon`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    At(DateTime<Utc>),
    /// The directory says it never happened.
    Never,
    /// The snapshot does not say (a device, or an unreadable value).
    Unknown,
}

/// A time detail of an account: RFC 3339 (AD, as discovery converts it) or LDAP
/// GeneralizedTime (`20240101120000Z`, OpenLDAP's `pwdChangedTime` as stored).
pub fn time(a: &AccountRecord, key: &str) -> When {
    match a.account.details.get(key) {
        Some(serde_json::Value::Null) => When::Never,
        Some(serde_json::Value::String(s)) => parse_time(s).map(When::At).unwrap_or(When::Unknown),
        _ => When::Unknown,
    }
}

pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let digits = s.strip_suffix('Z')?;
    let (whole, fraction) = digits.split_once(['.', ',']).unwrap_or((digits, ""));
    let t = chrono::NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S").ok()?;
    let nanos = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").get(..9)?.parse::<i64>().ok()?
    };
    Some(t.and_utc() + chrono::Duration::nanoseconds(nanos))
}

/// Whether the account is switched off for good (AD `disabled`; a device or host account that
/// cannot log in). A *locked* directory account is not: a lockout ends by itself, so every risk
/// of the account still applies.
pub fn disabled(a: &AccountRecord) -> bool {
    match a.account.details.get("disabled").and_then(|v| v.as_bool()) {
        Some(d) => d,
        None => !a.account.enabled,
    }
}

/// A person's or a service's account: the kinds whose password someone chose and keeps.
/// Computers and managed service accounts change their own long random passwords, and a foreign
/// principal's password lives in another domain.
pub fn has_chosen_password(a: &AccountRecord) -> bool {
    use crate::connector::AccountKind;
    matches!(a.account.kind, AccountKind::User | AccountKind::Service) && !flags(a).contains(&"smartcard-required")
}

/// Whether two snapshots' records are the same account: by SID where both have one (an AD
/// rename keeps it), else by DN (OpenLDAP may hold one uid in two OUs), else by name.
pub fn same_account(a: &AccountRecord, b: &AccountRecord) -> bool {
    for key in ["sid", "dn"] {
        if let (Some(x), Some(y)) = (text(a, key), text(b, key)) {
            return x.eq_ignore_ascii_case(y);
        }
    }
    a.account.name == b.account.name
}

/// Whether the account may dial in / use the VPN: it has remote-access reasons
/// (msNPAllowDialin TRUE, a remote-access group) and no explicit msNPAllowDialin FALSE, which
/// denies it whatever its groups.
pub fn may_dial_in(a: &AccountRecord) -> bool {
    !strings(a, "remote_access_reasons").is_empty()
        && a.account.details.get("dial_in") != Some(&serde_json::Value::Bool(false))
}

/// How the account's remote access is decided, for the "who can reach the network from
/// outside" roster: allowed by its own msNPAllowDialin TRUE, left to the NPS policy (a
/// remote-access group member without the attribute), or denied by an explicit FALSE despite a
/// remote-access group. `None`: not a remote-access account at all.
pub fn remote_access_state(a: &AccountRecord) -> Option<&'static str> {
    if strings(a, "remote_access_reasons").is_empty() {
        return None;
    }
    Some(match a.account.details.get("dial_in").and_then(|v| v.as_bool()) {
        Some(true) => "allowed (msNPAllowDialin TRUE)",
        Some(false) => "denied (msNPAllowDialin FALSE, despite its group)",
        None => "controlled by NPS policy (no msNPAllowDialin)",
    })
}

/// The domain facts of a target's newest snapshot (AD only).
pub fn domain(t: &TargetReview) -> Option<&crate::connector::ldap::domain::DomainFacts> {
    t.current.as_ref().and_then(|s| s.domain.as_ref())
}

/// A number detail of an account (`supported_encryption_types`, `sid_history`).
pub fn number(a: &AccountRecord, key: &str) -> Option<u64> {
    a.account.details.get(key).and_then(|v| v.as_u64())
}

/// A yes/no detail of an account (`protected_user`, `domain_controller`); absent is no.
pub fn yes(a: &AccountRecord, key: &str) -> bool {
    a.account.details.get(key).and_then(|v| v.as_bool()).unwrap_or(false)
}

/// The account's type as a reviewer names it: user, service, computer, gMSA, foreign.
pub fn account_type(a: &AccountRecord) -> &'static str {
    use crate::connector::AccountKind;
    match a.account.kind {
        AccountKind::User => "user",
        AccountKind::Service => "service",
        AccountKind::Computer => "computer",
        AccountKind::ManagedServiceAccount => "gMSA",
        AccountKind::ForeignPrincipal => "foreign",
        AccountKind::EnableSecret => "enable secret",
        AccountKind::Group => "group",
    }
}

/// krbtgt (RID 502): the KDC's own key, reviewed by its own rule only.
pub fn is_krbtgt(a: &AccountRecord) -> bool {
    text(a, "sid").is_some_and(|sid| sid.ends_with("-502"))
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Snapshots built in code, for the rules' own tests.
    use super::*;
    use crate::connector::{AccountInfo, AccountKind};

    pub fn device_account(name: &str, admin: bool, in_vault: InVault) -> AccountRecord {
        AccountRecord {
            account: AccountInfo {
                name: name.into(),
                kind: AccountKind::User,
                privilege: if admin { "privilege 15" } else { "privilege 1" }.into(),
                admin,
                enabled: true,
                details: Default::default(),
            },
            in_vault,
            verified: None,
            verify_hint: None,
            flagged: in_vault == InVault::No,
        }
    }

    /// A directory account as the AD connector reports it (through the connector's own
    /// `to_account_info`, so the details' names and forms are the ones snapshots hold), with
    /// `set` overriding: flags, pwd_last_set, last_logon, service_principal_names,
    /// remote_access_reasons, paths, sid, must_change_password, well_known_name.
    pub fn ad_account(name: &str, privileged: bool, set: serde_json::Value) -> AccountRecord {
        use crate::connector::ldap::DirectoryAccount;
        let list = |key: &str| -> Vec<String> {
            set[key]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        let text = |key: &str| set[key].as_str().map(str::to_string);
        let flags = list("flags");
        let disabled = flags.iter().any(|f| f == "disabled");
        let locked = flags.iter().any(|f| f == "locked");
        let account = DirectoryAccount {
            name: name.into(),
            well_known_name: text("well_known_name"),
            dn: format!("CN={name},CN=Users,DC=lab,DC=test"),
            kind: AccountKind::User,
            object_class: vec!["user".into()],
            sid: text("sid"),
            enabled: !disabled && !locked,
            disabled,
            locked,
            pwd_last_set: text("pwd_last_set"),
            must_change_password: set["must_change_password"] == true,
            last_logon: text("last_logon"),
            user_account_control: Some(512),
            flags,
            admin_count: None,
            protected_user: false,
            service_principal_names: list("service_principal_names"),
            dial_in: None,
            privileged,
            paths: if privileged && list("paths").is_empty() {
                vec!["member of Domain Admins".into()]
            } else {
                list("paths")
            },
            privileged_groups: Vec::new(),
            service_reasons: Vec::new(),
            remote_access_reasons: list("remote_access_reasons"),
            unresolved: false,
            ad: Default::default(),
        };
        let mut account = account.to_account_info();
        // Any other key is a detail as discovery writes it (`dial_in`, `protected_user`,
        // `allowed_to_delegate_to`, `held`, ...).
        const BUILT: &[&str] = &[
            "flags",
            "well_known_name",
            "sid",
            "pwd_last_set",
            "must_change_password",
            "last_logon",
            "service_principal_names",
            "paths",
            "remote_access_reasons",
        ];
        if let Some(map) = set.as_object() {
            for (k, v) in map.iter().filter(|(k, _)| !BUILT.contains(&k.as_str())) {
                account.details.insert(k.clone(), v.clone());
            }
        }
        AccountRecord {
            account,
            in_vault: InVault::No,
            verified: None,
            verify_hint: None,
            flagged: false,
        }
    }

    /// The same account as another kind (a computer, a managed service account).
    pub fn kind(mut a: AccountRecord, kind: AccountKind) -> AccountRecord {
        a.account.kind = kind;
        a
    }

    pub fn target(kind: &str, accounts: Vec<AccountRecord>) -> TargetReview {
        TargetReview {
            target: "acme/t1".into(),
            kind: kind.into(),
            current: Some(snapshot(Utc::now(), accounts)),
            baseline: None,
            between: Vec::new(),
            failed_since: None,
        }
    }

    pub fn snapshot(at: DateTime<Utc>, accounts: Vec<AccountRecord>) -> Snapshot {
        Snapshot {
            target: "acme/t1".into(),
            kind: "x".into(),
            taken_at: at,
            error: None,
            hint: None,
            accounts,
            domain: None,
            snapshot: None,
        }
    }

    /// What `rule` finds on `t` under the default review policy, as subjects.
    pub fn subjects(rule: &dyn rules::Rule, t: &TargetReview) -> Vec<String> {
        let policy = ReviewPolicy::default();
        let ctx = ReviewContext {
            now: Utc::now(),
            policy: &policy,
        };
        rule.check(t, &ctx).into_iter().map(|f| f.subject).collect()
    }

    /// [`subjects`] with each finding's graded severity.
    pub fn graded(rule: &dyn rules::Rule, t: &TargetReview, policy: &ReviewPolicy) -> Vec<(String, Severity)> {
        let ctx = ReviewContext {
            now: Utc::now(),
            policy,
        };
        rule.graded(t, &ctx).into_iter().map(|(f, s)| (f.subject, s)).collect()
    }

    /// A target whose snapshot carries `domain` facts.
    pub fn domain_target(
        accounts: Vec<AccountRecord>,
        domain: crate::connector::ldap::domain::DomainFacts,
    ) -> TargetReview {
        let mut t = target("active-directory", accounts);
        if let Some(s) = t.current.as_mut() {
            s.domain = Some(domain);
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use crate::policy::Acceptance;

    #[test]
    fn findings_are_sorted_most_severe_first_and_acceptances_hold_until_their_day() {
        let t = target(
            "cisco-ios",
            vec![
                device_account("netops", true, InVault::No),
                device_account("admin", true, InVault::Yes),
            ],
        );
        let now = Utc::now();
        let today = now.date_naive();
        let mut policy = ReviewPolicy::default();
        policy.accept.push(Acceptance {
            rule: "unmanaged-admin".into(),
            subject: "acme/*/netops".into(),
            reason: "the client's own NOC account".into(),
            until: Some(today),
            origin: "policies/review.toml:3".into(),
        });
        let ctx = ReviewContext { now, policy: &policy };
        let r = review(std::slice::from_ref(&t), &ctx);
        let netops = r.findings.iter().find(|f| f.subject == "acme/t1/netops").unwrap();
        assert_eq!(netops.rule, "unmanaged-admin");
        assert_eq!(netops.accepted.as_ref().unwrap().by, "policies/review.toml:3");
        assert_eq!(
            r.open_findings(Severity::Low)
                .filter(|f| f.rule == "unmanaged-admin")
                .count(),
            0
        );
        assert!(r.findings.windows(2).all(|w| w[0].severity >= w[1].severity));
        assert_eq!(r.targets[0].roster.len(), 2);

        // The day after `until`, the same finding counts again.
        let later = ReviewContext {
            now: now + chrono::Duration::days(1),
            policy: &policy,
        };
        let r = review(std::slice::from_ref(&t), &later);
        assert!(r.open_findings(Severity::High).any(|f| f.subject == "acme/t1/netops"));
        assert_eq!(
            r.unused_acceptances,
            [format!(
                "policies/review.toml:3: unmanaged-admin on acme/*/netops expired on {today}"
            )]
        );
    }

    #[test]
    fn gather_picks_the_baseline_by_since_and_distrusts_snapshots_from_the_future() {
        use crate::inventory::Inventory;
        let inv = Inventory::parse(
            "[clients.acme]\n[[clients.acme.targets]]\nname = \"rtr1\"\nkind = \"cisco-ios\"\naddress = \"127.0.0.1\"\nlogin = \"admin\"\n",
            std::path::Path::new("keyreeve.toml"),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = snapshot::SnapshotStore::new(dir.path());
        let now = Utc::now();
        let day = chrono::Duration::days(1);
        // Each different, so that none is a repeat the store would fold away.
        for (i, at) in [now - day * 20, now - day * 15, now - day * 10, now + day * 3]
            .into_iter()
            .enumerate()
        {
            let mut s = snapshot(at, vec![device_account(&format!("a{i}"), true, InVault::No)]);
            store.save("acme", "rtr1", &mut s).unwrap();
        }
        let taken = |since| {
            let t = gather(&store, inv.targets(), since, now).unwrap().remove(0);
            let between: Vec<_> = t.between.iter().map(|s| s.taken_at).collect();
            (t.current.map(|s| s.taken_at), t.baseline.map(|s| s.taken_at), between)
        };
        // The snapshot dated three days ahead is not current.
        assert_eq!(
            taken(now - day * 20),
            (Some(now - day * 10), Some(now - day * 20), vec![now - day * 15])
        );
        assert_eq!(
            taken(now - day * 12),
            (Some(now - day * 10), Some(now - day * 15), vec![])
        );
        // Nothing taken since: compared with itself, so nothing changed.
        assert_eq!(
            taken(now - day * 5),
            (Some(now - day * 10), Some(now - day * 10), vec![])
        );
        // Nothing as old as `since`: compared with the first snapshot.
        assert_eq!(
            taken(now - day * 30),
            (Some(now - day * 10), Some(now - day * 20), vec![now - day * 15])
        );
    }
}
