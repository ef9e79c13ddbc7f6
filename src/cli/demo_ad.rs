//! The demo's Active Directory part. The demo runs on emulated network devices and has no domain
//! controller, so its review of a domain rests on an EXAMPLE snapshot embedded here, clearly
//! labelled as such (target `example-dc`, domain `example.invalid`, an inventory comment saying
//! so): the accounts and domain facts a new client's domain typically shows, built through the
//! same types discovery writes, so the review's AD rules and report run on it unchanged.

use anyhow::Result;
use chrono::{Duration, Utc};

use keyreeve::connector::ldap::domain::{Computer, DomainFacts, GroupScope, Guest, Krbtgt, PasswordPolicy};
use keyreeve::connector::ldap::{AdDetails, DirectoryAccount};
use keyreeve::connector::AccountKind;
use keyreeve::review::snapshot::{AccountRecord, InVault, Snapshot, SnapshotStore};
use keyreeve::workspace::Workspace;

/// The example domain controller's target name.
pub const TARGET: &str = "example-dc";

/// The inventory lines of the example target (never contacted: discovery and rotation of the
/// demo run before it is added).
pub fn inventory_toml(client: &str) -> String {
    format!(
        "\n# EXAMPLE ONLY: no such domain controller exists; the demo's review of it rests on an example\n\
         # snapshot embedded in keyreeve (src/cli/demo_ad.rs), not on a discovery.\n\
         [[clients.{client}.targets]]\nname = \"{TARGET}\"\nkind = \"active-directory\"\n\
         url = \"ldaps://dc1.example.invalid\"\nbase_dn = \"DC=example,DC=invalid\"\nlogin = \"keyreeve-svc\"\n"
    )
}

fn ago(days: i64) -> Option<String> {
    Some((Utc::now() - Duration::days(days)).to_rfc3339())
}

fn account(name: &str, kind: AccountKind, paths: &[&str], groups: &[&str]) -> DirectoryAccount {
    DirectoryAccount {
        name: name.into(),
        well_known_name: None,
        dn: format!("CN={name},OU=Staff,DC=example,DC=invalid"),
        kind,
        object_class: vec!["user".into()],
        sid: None,
        enabled: true,
        disabled: false,
        locked: false,
        pwd_last_set: ago(200),
        must_change_password: false,
        last_logon: ago(3),
        user_account_control: Some(512),
        flags: Vec::new(),
        admin_count: (!paths.is_empty()).then_some(1),
        protected_user: false,
        service_principal_names: Vec::new(),
        dial_in: None,
        privileged: !paths.is_empty(),
        paths: paths.iter().map(|s| s.to_string()).collect(),
        privileged_groups: groups.iter().map(|s| s.to_string()).collect(),
        service_reasons: Vec::new(),
        remote_access_reasons: Vec::new(),
        unresolved: false,
        ad: AdDetails {
            held: (!paths.is_empty()).then(|| {
                if paths[0].starts_with("member of") {
                    "direct".to_string()
                } else {
                    "nested".to_string()
                }
            }),
            ..AdDetails::default()
        },
    }
}

/// The example snapshot: a domain with the findings a reviewer meets in a new client's AD.
pub fn example_snapshot(client: &str) -> Snapshot {
    const DA: &[&str] = &["Domain Admins", "Administrators"];
    let mut administrator = account(
        "Administrator",
        AccountKind::User,
        &["member of Domain Admins", "member of Administrators"],
        DA,
    );
    administrator.pwd_last_set = ago(1400);
    administrator.flags = vec!["password-never-expires".into()];
    let mut lead = account(
        "helpdesk-lead",
        AccountKind::User,
        &[
            "via IT-Admins -> Domain Admins",
            "via IT-Admins -> Domain Admins -> Administrators",
        ],
        DA,
    );
    lead.dial_in = Some(true);
    lead.remote_access_reasons = vec!["msNPAllowDialin TRUE".into()];
    let mut backup = account(
        "svc_backup",
        AccountKind::Service,
        &["member of Backup Operators"],
        &["Backup Operators"],
    );
    backup.service_reasons = vec!["name matches svc_*".into()];
    let mut sql = account(
        "SQL01$",
        AccountKind::Computer,
        &["member of Domain Admins"],
        &["Domain Admins"],
    );
    sql.object_class = vec!["computer".into()];
    let mut former = account("j.doe-adm", AccountKind::User, &[], &[]);
    former.admin_count = Some(1);
    former.ad.review_reasons = vec!["adminCount=1".into()];
    let mut app = account("APP01$", AccountKind::Computer, &[], &[]);
    app.flags = vec!["trusted-for-delegation".into()];
    app.ad.review_reasons = vec!["trusted for delegation".into()];
    let mut vpn = account("m.smith", AccountKind::User, &[], &[]);
    vpn.remote_access_reasons = vec!["member of VPN-Users".into()];
    let accounts = [administrator, lead, backup, sql, former, app, vpn]
        .iter()
        .map(|a| AccountRecord {
            account: a.to_account_info(),
            in_vault: InVault::No,
            verified: None,
            verify_hint: None,
            flagged: false,
        })
        .collect();
    let group = |name: &str, reason: &str, nested: &[&str]| GroupScope {
        name: name.into(),
        reason: reason.into(),
        nested_groups: nested.iter().map(|s| s.to_string()).collect(),
        effective_members: 0,
    };
    let computer = |name: &str, days: i64, dc: bool| Computer {
        name: name.into(),
        dn: format!("CN={},OU=Servers,DC=example,DC=invalid", name.trim_end_matches('$')),
        enabled: true,
        domain_controller: dc,
        last_logon: ago(days),
        pwd_last_set: ago(days),
        ..Computer::default()
    };
    Snapshot {
        target: format!("{client}/{TARGET}"),
        kind: "active-directory".into(),
        taken_at: Utc::now(),
        error: None,
        hint: None,
        accounts,
        domain: Some(DomainFacts {
            domain: "example.invalid (EXAMPLE snapshot embedded in keyreeve, not discovered)".into(),
            base_dn: "DC=example,DC=invalid".into(),
            domain_controller: Some("dc1.example.invalid".into()),
            bind_account: Some("keyreeve-svc@example.invalid".into()),
            privileged_groups: vec![
                group(
                    "Domain Admins",
                    "well-known RID 512",
                    &["IT-Admins (member of Domain Admins)"],
                ),
                group(
                    "Administrators",
                    "builtin SID S-1-5-32-544",
                    &["Domain Admins (member of Administrators)"],
                ),
                group("Backup Operators", "builtin SID S-1-5-32-551", &[]),
            ],
            remote_access_groups: vec!["VPN-Users".into()],
            password_policy: Some(PasswordPolicy {
                min_length: Some(8),
                complexity: Some(true),
                max_age_days: Some(42),
                lockout_threshold: Some(0),
                history_length: Some(24),
                read: true,
            }),
            krbtgt: Some(Krbtgt {
                pwd_last_set: ago(2100),
            }),
            guest: Some(Guest {
                name: "Guest".into(),
                enabled: false,
            }),
            computers: vec![
                computer("APP01$", 1, false),
                computer("DC1$", 1, true),
                computer("OLD-PC17$", 400, false),
                computer("SQL01$", 1, false),
            ],
            ..DomainFacts::default()
        }),
        snapshot: None,
    }
}

/// Saves the example snapshot where discovery would have saved it.
pub fn save(ws: &Workspace, client: &str) -> Result<()> {
    let mut snapshot = example_snapshot(client);
    SnapshotStore::of_workspace(ws).save(client, TARGET, &mut snapshot)?;
    Ok(())
}
