//! Rotation policy: how old a password may get, how new ones are made (length, character classes,
//! later intersected with what the target can take), what is excluded, when rotation may run, and
//! in which order. Read from `policies/*.toml` in name order, validated into [`Policy`]; every
//! error names the file and line. Checks only ever see the validated form.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::hint::Hint;
use crate::inventory::{line_of, Category, Target, TargetKind};

pub mod generate;
pub mod window;

pub use generate::{generate, Composition};
pub use window::Window;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl Hint for PolicyError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            PolicyError::Read { .. } => {
                "policies/ is created by `keyreeve init`; check it exists and is readable".into()
            }
            PolicyError::Invalid { .. } => "fix the line shown; policies/default.toml documents every setting".into(),
        })
    }
}

/// What the policy says about directories: which accounts count as service accounts and which
/// groups grant remote (VPN / RRAS) access, beyond the well-known ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryPolicy {
    /// Glob patterns (`*`, `?`) on sAMAccountName / uid marking service accounts, e.g. `svc-*`.
    pub service_account_patterns: Vec<String>,
    /// Organizational units (DN suffixes) whose accounts are service accounts.
    pub service_account_ous: Vec<String>,
    /// Groups (DNs or names) whose members may dial in remotely.
    pub remote_access_groups: Vec<String>,
    /// Glob patterns on an AD user's description marking service accounts, e.g. `*service*`.
    pub service_account_descriptions: Vec<String>,
    /// userAccountControl flags (as discovery names them: `password-never-expires`,
    /// `trusted-to-auth-for-delegation`, ...) marking an AD user as a service account.
    pub service_account_flags: Vec<String>,
}

impl Default for DirectoryPolicy {
    fn default() -> Self {
        DirectoryPolicy {
            service_account_patterns: vec!["svc-*".into(), "svc_*".into(), "sa-*".into()],
            service_account_ous: Vec::new(),
            remote_access_groups: Vec::new(),
            service_account_descriptions: Vec::new(),
            service_account_flags: Vec::new(),
        }
    }
}

/// One `[defaults]` or `[[rules]]` table as written. Kept flat (no serde flatten) so that unknown
/// keys are reported at their own line.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    client: Option<String>,
    kind: Option<Spanned<String>>,
    /// Guided targets' category (`printer`, `voip`, ...).
    category: Option<Spanned<String>>,
    target: Option<String>,
    account: Option<String>,
    /// `[defaults]`: a list of CLIENT/TARGET/ACCOUNT patterns; a rule: `true` to exclude.
    exclude: Option<Spanned<toml::Value>>,
    max_age_days: Option<Spanned<u32>>,
    revealed_is_due: Option<bool>,
    length: Option<usize>,
    lower: Option<bool>,
    upper: Option<bool>,
    digits: Option<bool>,
    symbols: Option<String>,
    windows: Option<Vec<Spanned<String>>>,
    priority: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicyFile {
    defaults: Option<Spanned<RawSection>>,
    #[serde(default)]
    rules: Vec<Spanned<RawSection>>,
    directory: Option<DirectoryPolicy>,
    review: Option<RawReview>,
}

/// `[review]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReview {
    max_admin_password_age_days: Option<Spanned<u32>>,
    dormant_admin_days: Option<Spanned<u32>>,
    max_snapshot_age_days: Option<Spanned<u32>>,
    compare_days: Option<Spanned<u32>>,
    krbtgt_max_password_age_days: Option<Spanned<u32>>,
    stale_computer_days: Option<Spanned<u32>>,
    max_domain_admins: Option<Spanned<u32>>,
    min_password_length: Option<Spanned<u32>>,
    require_password_complexity: Option<bool>,
    max_password_age_days: Option<Spanned<u32>>,
    require_lockout: Option<bool>,
    #[serde(default)]
    accept: Vec<Spanned<RawAcceptance>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAcceptance {
    rule: String,
    account: String,
    reason: String,
    until: Option<String>,
}

/// What the policy says about admin-membership reviews (`keyreeve review`): its thresholds, and
/// the findings a reviewer has accepted, each with a reason and usually an end date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReviewPolicy {
    /// An admin password older than this is a finding.
    pub max_admin_password_age_days: u32,
    /// An enabled admin account not used for this long is a finding.
    pub dormant_admin_days: u32,
    /// A target whose newest snapshot is older than this was not reviewed.
    pub max_snapshot_age_days: u32,
    /// Changes are counted over this many days unless a review says otherwise (`--since`).
    pub compare_days: u32,
    /// A krbtgt password older than this is a finding (`krbtgt-password-old`).
    pub krbtgt_max_password_age_days: u32,
    /// An enabled computer with neither a logon nor a password change for this long is stale.
    pub stale_computer_days: u32,
    /// More distinct accounts than this in Domain Admins, Enterprise Admins and Administrators
    /// is a finding (`too-many-admins`).
    pub max_domain_admins: u32,
    /// The domain password policy's baseline (`domain-password-policy`).
    pub min_password_length: u32,
    pub require_password_complexity: bool,
    /// When set: passwords that expire later than this (or never) are a finding.
    pub max_password_age_days: Option<u32>,
    /// Account lockout must be on (a threshold above 0).
    pub require_lockout: bool,
    pub accept: Vec<Acceptance>,
}

impl Default for ReviewPolicy {
    fn default() -> Self {
        ReviewPolicy {
            max_admin_password_age_days: 365,
            dormant_admin_days: 90,
            max_snapshot_age_days: 30,
            compare_days: 30,
            krbtgt_max_password_age_days: 180,
            stale_computer_days: 90,
            max_domain_admins: 5,
            min_password_length: 14,
            require_password_complexity: true,
            max_password_age_days: None,
            require_lockout: true,
            accept: Vec::new(),
        }
    }
}

/// A finding a reviewer accepted: which rule, for which `CLIENT/TARGET/ACCOUNT` (or
/// `CLIENT/TARGET`) pattern, why, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acceptance {
    pub rule: String,
    pub subject: String,
    pub reason: String,
    /// The last day the acceptance holds; after it the finding counts again.
    pub until: Option<chrono::NaiveDate>,
    /// `file:line` of the `[[review.accept]]` entry.
    pub origin: String,
}

impl Acceptance {
    /// Whether this acceptance covers `rule` on `subject` on `today`.
    pub fn covers(&self, rule: &str, subject: &str, today: chrono::NaiveDate) -> bool {
        self.rule == rule && path_match(&self.subject, subject) && self.until.is_none_or(|u| today <= u)
    }
}

/// The settings that apply to one account after every matching rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Effective {
    pub max_age_days: u32,
    pub revealed_is_due: bool,
    #[serde(skip)]
    pub composition: Composition,
    pub windows: Vec<Window>,
    pub excluded: bool,
    pub priority: i32,
    /// `file:line` of every rule that matched, for the plan's "why".
    pub decided_by: Vec<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    client: Option<String>,
    kind: Option<TargetKind>,
    category: Option<Category>,
    target: Option<String>,
    account: Option<String>,
    exclude: Option<bool>,
    settings: Settings,
    origin: String,
}

#[derive(Debug, Clone, Default)]
struct Settings {
    max_age_days: Option<u32>,
    revealed_is_due: Option<bool>,
    length: Option<usize>,
    lower: Option<bool>,
    upper: Option<bool>,
    digits: Option<bool>,
    symbols: Option<String>,
    windows: Option<Vec<Window>>,
    priority: Option<i32>,
}

/// The validated policy of a workspace.
#[derive(Debug, Clone)]
pub struct Policy {
    base: Effective,
    exclude: Vec<String>,
    rules: Vec<Rule>,
    pub directory: DirectoryPolicy,
    pub review: ReviewPolicy,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            base: Effective {
                max_age_days: 90,
                revealed_is_due: true,
                composition: Composition::default(),
                windows: Vec::new(),
                excluded: false,
                priority: 100,
                decided_by: Vec::new(),
            },
            exclude: Vec::new(),
            rules: Vec::new(),
            directory: DirectoryPolicy::default(),
            review: ReviewPolicy::default(),
        }
    }
}

/// `*` matches any run of characters (spaces included), `?` one character: fnmatch without
/// FNM_PATHNAME, which is also how sudoers matches command-line arguments.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Matches `CLIENT/TARGET/ACCOUNT` against a pattern whose `*` stays within one segment.
fn path_match(pattern: &str, path: &str) -> bool {
    let ps: Vec<&str> = pattern.split('/').collect();
    let xs: Vec<&str> = path.split('/').collect();
    ps.len() == xs.len() && ps.iter().zip(&xs).all(|(p, x)| glob_match(p, x))
}

impl Policy {
    /// Reads every `*.toml` in `dir` in name order. A missing directory gives the built-in defaults.
    pub fn load_dir(dir: &Path) -> Result<Policy, PolicyError> {
        let mut policy = Policy::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(policy),
            Err(source) => {
                return Err(PolicyError::Read {
                    path: dir.to_path_buf(),
                    source,
                })
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut defaults_seen: Option<PathBuf> = None;
        for file in files {
            let text = crate::safe_fs::read_existing_text(&file, crate::safe_fs::Limit::POLICY).map_err(|source| {
                PolicyError::Read {
                    path: file.clone(),
                    source,
                }
            })?;
            policy.add_file(&text, &file, &mut defaults_seen)?;
        }
        Ok(policy)
    }

    /// Validates one policy file's text into this policy; `path` names it in errors.
    pub fn add_text(&mut self, text: &str, path: &Path) -> Result<(), PolicyError> {
        self.add_file(text, path, &mut None)
    }

    fn add_file(&mut self, text: &str, path: &Path, defaults_seen: &mut Option<PathBuf>) -> Result<(), PolicyError> {
        let invalid = |offset: usize, message: String| PolicyError::Invalid {
            path: path.to_path_buf(),
            line: line_of(text, offset),
            message,
        };
        let raw: RawPolicyFile = toml::from_str(text)
            .map_err(|e| invalid(e.span().map(|s| s.start).unwrap_or(0), e.message().to_string()))?;
        if let Some(d) = raw.defaults {
            let at = d.span().start;
            if let Some(first) = defaults_seen {
                return Err(invalid(at, format!("[defaults] is already set in {}", first.display())));
            }
            *defaults_seen = Some(path.to_path_buf());
            let d = d.into_inner();
            if d.client.is_some()
                || d.kind.is_some()
                || d.category.is_some()
                || d.target.is_some()
                || d.account.is_some()
            {
                return Err(invalid(
                    at,
                    "[defaults] applies to every account: client, kind, target and account belong in [[rules]]".into(),
                ));
            }
            let exclude = d.exclude.clone();
            let settings = validate_settings(d, text, path, at)?;
            apply(&mut self.base, &settings, None);
            if let Some(ex) = exclude {
                let ex_at = ex.span().start;
                let ex: Vec<String> = ex.into_inner().try_into().map_err(|_| {
                    invalid(
                        ex_at,
                        "exclude in [defaults] is a list of CLIENT/TARGET/ACCOUNT patterns".into(),
                    )
                })?;
                for pattern in &ex {
                    if pattern.split('/').count() != 3 {
                        return Err(invalid(
                            at,
                            format!("exclude pattern `{pattern}` must be CLIENT/TARGET/ACCOUNT (with `*` globs)"),
                        ));
                    }
                }
                self.exclude = ex;
            }
        }
        for r in raw.rules {
            let at = r.span().start;
            let r = r.into_inner();
            let kind = match r.kind.clone() {
                Some(k) => Some(
                    TargetKind::parse(k.get_ref())
                        .ok_or_else(|| invalid(k.span().start, format!("unknown target kind `{}`", k.get_ref())))?,
                ),
                None => None,
            };
            let category = match r.category.clone() {
                Some(c) => Some(Category::parse(c.get_ref()).ok_or_else(|| {
                    invalid(
                        c.span().start,
                        format!(
                            "unknown category `{}`; the categories: {}",
                            c.get_ref(),
                            Category::names()
                        ),
                    )
                })?),
                None => None,
            };
            if r.client.is_none() && kind.is_none() && category.is_none() && r.target.is_none() && r.account.is_none() {
                return Err(invalid(
                    at,
                    "a rule needs at least one of client, kind, category, target, account (use [defaults] for all)"
                        .into(),
                ));
            }
            let exclude = match r.exclude.clone() {
                Some(v) => Some(
                    v.get_ref()
                        .as_bool()
                        .ok_or_else(|| invalid(v.span().start, "exclude in a rule is `true` or `false`".into()))?,
                ),
                None => None,
            };
            let (client, target, account) = (r.client.clone(), r.target.clone(), r.account.clone());
            let settings = validate_settings(r, text, path, at)?;
            self.rules.push(Rule {
                client,
                kind,
                category,
                target,
                account,
                exclude,
                settings,
                origin: format!("{}:{}", path.display(), line_of(text, at)),
            });
        }
        if let Some(d) = raw.directory {
            self.directory = d;
        }
        if let Some(r) = raw.review {
            self.add_review(r, text, path)?;
        }
        Ok(())
    }

    fn add_review(&mut self, raw: RawReview, text: &str, path: &Path) -> Result<(), PolicyError> {
        let review = &mut self.review;
        let days = |field: &'static str, value: Option<Spanned<u32>>, least: u32| {
            value.map(|v| bounded_days(field, v, least, text, path)).transpose()
        };
        if let Some(d) = days("max_admin_password_age_days", raw.max_admin_password_age_days, 1)? {
            review.max_admin_password_age_days = d;
        }
        // lastLogonTimestamp replicates up to 14 days late: a shorter window calls active admins
        // dormant.
        if let Some(d) = days("dormant_admin_days", raw.dormant_admin_days, 14)? {
            review.dormant_admin_days = d;
        }
        if let Some(d) = days("max_snapshot_age_days", raw.max_snapshot_age_days, 1)? {
            review.max_snapshot_age_days = d;
        }
        if let Some(d) = days("compare_days", raw.compare_days, 1)? {
            review.compare_days = d;
        }
        if let Some(d) = days("krbtgt_max_password_age_days", raw.krbtgt_max_password_age_days, 1)? {
            review.krbtgt_max_password_age_days = d;
        }
        // lastLogonTimestamp replicates up to 14 days late, as for dormant admins.
        if let Some(d) = days("stale_computer_days", raw.stale_computer_days, 14)? {
            review.stale_computer_days = d;
        }
        if let Some(d) = days("max_password_age_days", raw.max_password_age_days, 1)? {
            review.max_password_age_days = Some(d);
        }
        if let Some(n) = raw.max_domain_admins {
            review.max_domain_admins = *n.get_ref();
        }
        if let Some(n) = raw.min_password_length {
            let len = *n.get_ref();
            if len > 255 {
                return Err(PolicyError::Invalid {
                    path: path.to_path_buf(),
                    line: line_of(text, n.span().start),
                    message: format!("min_password_length = {len} is out of range 0..=255 (AD's own limit)"),
                });
            }
            review.min_password_length = len;
        }
        if let Some(b) = raw.require_password_complexity {
            review.require_password_complexity = b;
        }
        if let Some(b) = raw.require_lockout {
            review.require_lockout = b;
        }
        for entry in raw.accept {
            let at = entry.span().start;
            let invalid = |message: String| PolicyError::Invalid {
                path: path.to_path_buf(),
                line: line_of(text, at),
                message,
            };
            let entry = entry.into_inner();
            if !crate::review::rules::is_known(&entry.rule) {
                return Err(invalid(format!(
                    "unknown review rule `{}`; the rules are: {}",
                    entry.rule,
                    crate::review::rules::ids().join(", ")
                )));
            }
            if !matches!(entry.account.split('/').count(), 2 | 3) {
                return Err(invalid(format!(
                    "account `{}` must be CLIENT/TARGET/ACCOUNT, or CLIENT/TARGET for a target's findings (with `*` globs)",
                    entry.account
                )));
            }
            if entry.reason.trim().is_empty() {
                return Err(invalid("an accepted finding needs a reason".into()));
            }
            let until = match &entry.until {
                Some(day) => Some(
                    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
                        .map_err(|_| invalid(format!("until `{day}` is not a date (YYYY-MM-DD)")))?,
                ),
                None => None,
            };
            review.accept.push(Acceptance {
                rule: entry.rule,
                subject: entry.account,
                reason: entry.reason,
                until,
                origin: format!("{}:{}", path.display(), line_of(text, at)),
            });
        }
        Ok(())
    }

    /// The settings for one account.
    pub fn effective(&self, client: &str, kind: TargetKind, target: &str, account: &str) -> Effective {
        self.effective_for(client, Some(kind), None, target, account)
    }

    /// The settings for one account of an inventory target: rules naming its guided category
    /// apply too.
    pub fn effective_on(&self, target: &Target, account: &str) -> Effective {
        self.effective_for(
            &target.client,
            Some(target.kind),
            target.category(),
            &target.name,
            account,
        )
    }

    /// The settings for an account of a target the inventory does not hold: rules that name a
    /// target kind do not apply.
    pub fn effective_kindless(&self, client: &str, target: &str, account: &str) -> Effective {
        self.effective_for(client, None, None, target, account)
    }

    fn effective_for(
        &self,
        client: &str,
        kind: Option<TargetKind>,
        category: Option<Category>,
        target: &str,
        account: &str,
    ) -> Effective {
        let mut eff = self.base.clone();
        let path = format!("{client}/{target}/{account}");
        if self.exclude.iter().any(|p| path_match(p, &path)) {
            eff.excluded = true;
            eff.decided_by.push("[defaults] exclude".into());
        }
        for rule in &self.rules {
            let matches = rule.client.as_deref().is_none_or(|c| glob_match(c, client))
                && rule.kind.is_none_or(|k| Some(k) == kind)
                && rule.category.is_none_or(|c| Some(c) == category)
                && rule.target.as_deref().is_none_or(|t| glob_match(t, target))
                && rule.account.as_deref().is_none_or(|a| glob_match(a, account));
            if matches {
                apply(&mut eff, &rule.settings, rule.exclude);
                eff.decided_by.push(rule.origin.clone());
            }
        }
        eff
    }
}

/// The longest day count a policy may set: a century. Days become times (now minus the count),
/// and a count beyond any calendar would make that arithmetic overflow.
pub const MAX_DAYS: u32 = 36_525;

/// `days` days before `now`, or None when that is before any date chrono can hold: every
/// "N days ago" is computed here, checked, never by a subtraction that panics.
pub fn days_before(now: chrono::DateTime<chrono::Utc>, days: u32) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::Duration::try_days(i64::from(days)).and_then(|d| now.checked_sub_signed(d))
}

/// A day count within `least..=MAX_DAYS`, or an error at its own line.
fn bounded_days(field: &str, value: Spanned<u32>, least: u32, text: &str, path: &Path) -> Result<u32, PolicyError> {
    let days = *value.get_ref();
    if (least..=MAX_DAYS).contains(&days) {
        return Ok(days);
    }
    let why = if matches!(field, "dormant_admin_days" | "stale_computer_days") && days < least {
        ": Active Directory's last logon time may be 14 days behind, so use at least 14".to_string()
    } else {
        String::new()
    };
    Err(PolicyError::Invalid {
        path: path.to_path_buf(),
        line: line_of(text, value.span().start),
        message: format!("{field} = {days} is out of range {least}..={MAX_DAYS} (a century){why}"),
    })
}

fn validate_settings(raw: RawSection, text: &str, path: &Path, at: usize) -> Result<Settings, PolicyError> {
    let invalid = |offset: usize, message: String| PolicyError::Invalid {
        path: path.to_path_buf(),
        line: line_of(text, offset),
        message,
    };
    if let Some(len) = raw.length {
        if !(8..=256).contains(&len) {
            return Err(invalid(at, format!("length {len} is out of range 8..=256")));
        }
    }
    let max_age_days = raw
        .max_age_days
        .map(|d| bounded_days("max_age_days", d, 1, text, path))
        .transpose()?;
    if let Some(sym) = &raw.symbols {
        if let Some(c) = sym.chars().find(|c| !c.is_ascii_graphic() || c.is_ascii_alphanumeric()) {
            return Err(invalid(
                at,
                format!("symbols may hold only printable ASCII punctuation, not {c:?}"),
            ));
        }
    }
    let windows = match raw.windows {
        Some(ws) => Some(
            ws.into_iter()
                .map(|w| Window::parse(w.get_ref()).map_err(|m| invalid(w.span().start, m)))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    Ok(Settings {
        max_age_days,
        revealed_is_due: raw.revealed_is_due,
        length: raw.length,
        lower: raw.lower,
        upper: raw.upper,
        digits: raw.digits,
        symbols: raw.symbols,
        windows,
        priority: raw.priority,
    })
}

fn apply(eff: &mut Effective, s: &Settings, exclude: Option<bool>) {
    if let Some(v) = s.max_age_days {
        eff.max_age_days = v;
    }
    if let Some(v) = s.revealed_is_due {
        eff.revealed_is_due = v;
    }
    if let Some(v) = s.length {
        eff.composition.length = v;
    }
    if let Some(v) = s.lower {
        eff.composition.lower = v;
    }
    if let Some(v) = s.upper {
        eff.composition.upper = v;
    }
    if let Some(v) = s.digits {
        eff.composition.digits = v;
    }
    if let Some(v) = &s.symbols {
        eff.composition.symbols = v.clone();
    }
    if let Some(v) = &s.windows {
        eff.windows = v.clone();
    }
    if let Some(v) = s.priority {
        eff.priority = v;
    }
    if let Some(v) = exclude {
        eff.excluded = v;
    }
}

#[cfg(test)]
mod tests;
