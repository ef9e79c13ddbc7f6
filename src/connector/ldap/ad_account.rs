//! One Active Directory object as discovery reports it, from its attributes alone: kind
//! (user, service, computer, gMSA, foreign principal), userAccountControl flags, times, service
//! and dial-in classification, and the tier-0 details (delegation, sIDHistory, Kerberos types).
//! Kept apart from `ad.rs`, which walks the groups.

use super::ad::{filetime, rid_of, sid_to_string, KRBTGT_RID, NORMAL_USER_ACCOUNT};
use super::walk::Node;
use super::{glob_match, DirectoryAccount};
use crate::connector::AccountKind;
use crate::policy::DirectoryPolicy;

// userAccountControl bits (MS-ADTS 2.2.16).
const UF_ACCOUNTDISABLE: u32 = 0x2;
const UF_LOCKOUT: u32 = 0x10;
const UF_PASSWD_NOTREQD: u32 = 0x20;
const UF_ENCRYPTED_TEXT_PWD_ALLOWED: u32 = 0x80;
const UF_DONT_EXPIRE_PASSWD: u32 = 0x10000;
const UF_SERVER_TRUST_ACCOUNT: u32 = 0x2000;
const UF_TRUSTED_FOR_DELEGATION: u32 = 0x80000;
const UF_NOT_DELEGATED: u32 = 0x100000;
const UF_SMARTCARD_REQUIRED: u32 = 0x40000;
const UF_DONT_REQUIRE_PREAUTH: u32 = 0x400000;
const UF_PASSWORD_EXPIRED: u32 = 0x800000;
const UF_TRUSTED_TO_AUTH_FOR_DELEGATION: u32 = 0x1000000;

const UAC_FLAGS: &[(u32, &str)] = &[
    (UF_ACCOUNTDISABLE, "disabled"),
    (UF_PASSWD_NOTREQD, "password-not-required"),
    (UF_ENCRYPTED_TEXT_PWD_ALLOWED, "reversible-encryption"),
    (UF_DONT_EXPIRE_PASSWD, "password-never-expires"),
    (UF_SMARTCARD_REQUIRED, "smartcard-required"),
    (UF_TRUSTED_FOR_DELEGATION, "trusted-for-delegation"),
    (UF_NOT_DELEGATED, "not-delegated"),
    (UF_DONT_REQUIRE_PREAUTH, "no-kerberos-preauth"),
    (UF_TRUSTED_TO_AUTH_FOR_DELEGATION, "trusted-to-auth-for-delegation"),
];

/// Names of well-known foreign SIDs, for people reading a report.
fn well_known_sid_name(sid: &str) -> Option<&'static str> {
    Some(match sid {
        "S-1-1-0" => "Everyone",
        "S-1-5-4" => "Interactive",
        "S-1-5-7" => "Anonymous Logon",
        "S-1-5-9" => "Enterprise Domain Controllers",
        "S-1-5-11" => "Authenticated Users",
        "S-1-5-17" => "IUSR",
        _ => return None,
    })
}

pub(super) fn account_from(n: &Node, policy: &DirectoryPolicy) -> DirectoryAccount {
    let e = &n.entry;
    let sid = e.bytes("objectSid").and_then(sid_to_string);
    let uac = e
        .str("userAccountControl")
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| v as u32);
    let computed = e
        .str("msDS-User-Account-Control-Computed")
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| v as u32)
        .unwrap_or(0);
    let lockout_time = e.str("lockoutTime").and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    let mut flags: Vec<String> = UAC_FLAGS
        .iter()
        .filter(|(bit, _)| uac.unwrap_or(0) & bit != 0)
        .map(|(_, name)| name.to_string())
        .collect();
    let locked = computed & UF_LOCKOUT != 0 || (!e.has("msDS-User-Account-Control-Computed") && lockout_time > 0);
    if locked {
        flags.push("locked".into());
    }
    if computed & UF_PASSWORD_EXPIRED != 0 {
        flags.push("password-expired".into());
    }
    let disabled = uac.unwrap_or(0) & UF_ACCOUNTDISABLE != 0;
    let pwd_last_set_raw = e.str("pwdLastSet");
    let spns = e.strs("servicePrincipalName");
    let dial_in = e.str("msNPAllowDialin").map(|v| v.eq_ignore_ascii_case("TRUE"));
    let is_msa = e.is_a("msDS-GroupManagedServiceAccount") || e.is_a("msDS-ManagedServiceAccount");
    let mut service = Vec::new();
    if e.is_a("msDS-GroupManagedServiceAccount") {
        service.push("group managed service account".to_string());
    } else if e.is_a("msDS-ManagedServiceAccount") {
        service.push("managed service account".to_string());
    }
    let is_user =
        e.str("sAMAccountType").as_deref() == Some(NORMAL_USER_ACCOUNT) || (e.is_a("user") && !e.is_a("computer"));
    if is_user && !spns.is_empty() && sid.as_deref().and_then(rid_of) != Some(KRBTGT_RID) {
        service.push("servicePrincipalName".to_string());
    }
    for p in &policy.service_account_patterns {
        if glob_match(p, &n.name) {
            service.push(format!("name matches {p}"));
        }
    }
    if is_user {
        for f in &policy.service_account_flags {
            if flags.iter().any(|have| have == f) {
                service.push(format!("flag {f}"));
            }
        }
        let description = e.str("description").unwrap_or_default();
        for p in &policy.service_account_descriptions {
            if !description.is_empty() && glob_match(p, &description) {
                service.push(format!("description matches {p}"));
            }
        }
    }
    let dn_lower = n.dn.to_ascii_lowercase();
    for ou in &policy.service_account_ous {
        if dn_lower.ends_with(&format!(",{}", ou.to_ascii_lowercase())) {
            service.push(format!("in {ou}"));
        }
    }
    let kind = if n.unresolved || e.is_a("foreignSecurityPrincipal") {
        AccountKind::ForeignPrincipal
    } else if is_msa {
        AccountKind::ManagedServiceAccount
    } else if e.is_a("computer") {
        AccountKind::Computer
    } else if !service.is_empty() {
        AccountKind::Service
    } else {
        AccountKind::User
    };
    let mut remote = Vec::new();
    if dial_in == Some(true) {
        remote.push("msNPAllowDialin TRUE".to_string());
    }
    let number = |name: &str| e.str(name).and_then(|v| v.trim().parse::<i64>().ok()).map(|v| v as u32);
    let delegate_to = e.strs("msDS-AllowedToDelegateTo");
    let rbcd = e.has("msDS-AllowedToActOnBehalfOfOtherIdentity");
    let sid_history = e.strs("sIDHistory").len();
    let primary_group_id = number("primaryGroupID");
    let domain_controller =
        uac.unwrap_or(0) & UF_SERVER_TRUST_ACCOUNT != 0 || matches!(primary_group_id, Some(516 | 521));
    let mut review_reasons = Vec::new();
    if uac.unwrap_or(0) & UF_TRUSTED_FOR_DELEGATION != 0 && !domain_controller {
        review_reasons.push("trusted for delegation".to_string());
    }
    if !delegate_to.is_empty() {
        review_reasons.push("constrained delegation".to_string());
    }
    if rbcd {
        review_reasons.push("resource-based delegation".to_string());
    }
    if sid_history > 0 {
        review_reasons.push("sIDHistory".to_string());
    }
    let name = if kind == AccountKind::ForeignPrincipal {
        e.str("cn").unwrap_or_else(|| n.name.clone())
    } else {
        n.name.clone()
    };
    DirectoryAccount {
        well_known_name: well_known_sid_name(&name).map(str::to_string),
        name,
        dn: n.dn.clone(),
        kind,
        object_class: e.strs("objectClass"),
        sid,
        enabled: !disabled && !locked,
        disabled,
        locked,
        pwd_last_set: pwd_last_set_raw.as_deref().and_then(filetime),
        must_change_password: pwd_last_set_raw.as_deref().map(str::trim) == Some("0"),
        last_logon: e.str("lastLogonTimestamp").as_deref().and_then(filetime),
        user_account_control: uac,
        flags,
        admin_count: e.str("adminCount").and_then(|v| v.parse().ok()),
        protected_user: false,
        service_principal_names: spns,
        dial_in,
        privileged: false,
        paths: Vec::new(),
        privileged_groups: Vec::new(),
        service_reasons: service,
        remote_access_reasons: remote,
        unresolved: n.unresolved,
        ad: super::AdDetails {
            held: None,
            primary_group_id,
            allowed_to_delegate_to: delegate_to,
            resource_based_delegation: rbcd,
            sid_history,
            supported_encryption_types: number("msDS-SupportedEncryptionTypes"),
            dns_host_name: e.str("dNSHostName"),
            domain_controller,
            review_reasons,
        },
    }
}
