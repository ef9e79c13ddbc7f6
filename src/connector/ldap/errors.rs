//! Directory answers turned into [`ConnectorError`]s a technician can act on. Active Directory and
//! Samba put the real reason in the diagnostic text (`data 52e`, `0000052D`, ...); it is read here,
//! in one place, so that a password the policy refused is reported as such (and never retried as
//! is) while a wrong old password or a missing right is not mistaken for it.
//!
//! OpenLDAP's ppolicy overlay says nothing in the text: a locked account's bind gets a bare
//! `invalidCredentials`, like a wrong password. The reason comes only in the password policy
//! response control (draft-behera-ldap-password-policy), which keyreeve therefore asks for on
//! every bind and Password Modify to an `ldap` target ([`ppolicy_request`]) and reads here.
//!
//! Diagnostic texts never carry a password (servers do not echo them), but they are still
//! shortened to their first line.

use ldap3::asn1::{parse_tag, TagClass, PL};
use ldap3::controls::RawControl;
use ldap3::result::{LdapError, LdapResult};

use crate::connector::ConnectorError;

/// What was being done, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Connect,
    Bind,
    Search,
    /// Changing a password (unicodePwd modify or Password Modify).
    PasswordChange,
    /// Changing one's own password, where a wrong old password is possible.
    SelfChange,
    /// Changing an attribute that is not a password (a LAPS expiration time).
    Modify,
}

impl Operation {
    fn during(self) -> &'static str {
        match self {
            Operation::Connect => "connecting",
            Operation::Bind => "binding",
            Operation::Search => "searching",
            Operation::PasswordChange | Operation::SelfChange => "changing a password",
            Operation::Modify => "modifying an entry",
        }
    }
}

/// LDAP result codes keyreeve treats specially (RFC 4511 appendix A).
pub mod rc {
    pub const SUCCESS: u32 = 0;
    pub const OPERATIONS_ERROR: u32 = 1;
    pub const PROTOCOL_ERROR: u32 = 2;
    pub const TIME_LIMIT_EXCEEDED: u32 = 3;
    pub const SIZE_LIMIT_EXCEEDED: u32 = 4;
    pub const AUTH_METHOD_NOT_SUPPORTED: u32 = 7;
    pub const STRONGER_AUTH_REQUIRED: u32 = 8;
    pub const REFERRAL: u32 = 10;
    pub const CONFIDENTIALITY_REQUIRED: u32 = 13;
    pub const CONSTRAINT_VIOLATION: u32 = 19;
    pub const NO_SUCH_OBJECT: u32 = 32;
    pub const INVALID_CREDENTIALS: u32 = 49;
    pub const INSUFFICIENT_ACCESS: u32 = 50;
    pub const BUSY: u32 = 51;
    pub const UNAVAILABLE: u32 = 52;
    pub const UNWILLING_TO_PERFORM: u32 = 53;
}

/// The `data XXX` sub-code Active Directory adds to a failed bind (hex, as AD prints it).
pub fn ad_bind_subcode(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let at = lower.find("data ")?;
    let code: String = lower[at + 5..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    (!code.is_empty()).then_some(code)
}

/// What a failed bind means, from AD's sub-code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindFailure {
    /// Wrong password or unknown account (52e, 525, or any server without sub-codes).
    InvalidCredentials,
    /// The password was right but has expired (532) or must be changed at next logon (773).
    MustChange,
    /// Locked out (775), disabled (533), expired account (701), logon hours or workstation (530, 531).
    Locked,
}

/// Classifies a result-49 text.
pub fn bind_failure(text: &str) -> BindFailure {
    match ad_bind_subcode(text).as_deref() {
        Some("532") | Some("773") => BindFailure::MustChange,
        Some("775") | Some("533") | Some("701") | Some("530") | Some("531") => BindFailure::Locked,
        Some(_) => BindFailure::InvalidCredentials,
        // Servers without AD's sub-codes that say it in words (389-ds, older OpenLDAP builds).
        None => {
            let lower = text.to_ascii_lowercase();
            if lower.contains("account locked") || lower.contains("account is locked") {
                BindFailure::Locked
            } else {
                BindFailure::InvalidCredentials
            }
        }
    }
}

/// Classifies a failed bind's result: the password policy control first (OpenLDAP), then AD's
/// sub-code or the text.
pub fn bind_failure_of(res: &LdapResult) -> BindFailure {
    match ppolicy_error(res) {
        Some(PolicyError::AccountLocked) => BindFailure::Locked,
        Some(PolicyError::PasswordExpired) => BindFailure::MustChange,
        _ => bind_failure(&res.text),
    }
}

/// OID of the password policy request and response control.
pub const PPOLICY_OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// The request control: empty, not critical (a server without a password policy ignores it).
pub fn ppolicy_request() -> RawControl {
    RawControl {
        ctype: PPOLICY_OID.into(),
        crit: false,
        val: None,
    }
}

/// The `error` of a password policy response control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyError {
    PasswordExpired,
    AccountLocked,
    ChangeAfterReset,
    PasswordModNotAllowed,
    MustSupplyOldPassword,
    InsufficientPasswordQuality,
    PasswordTooShort,
    PasswordTooYoung,
    PasswordInHistory,
    Other(u64),
}

impl PolicyError {
    fn from_code(code: u64) -> PolicyError {
        match code {
            0 => PolicyError::PasswordExpired,
            1 => PolicyError::AccountLocked,
            2 => PolicyError::ChangeAfterReset,
            3 => PolicyError::PasswordModNotAllowed,
            4 => PolicyError::MustSupplyOldPassword,
            5 => PolicyError::InsufficientPasswordQuality,
            6 => PolicyError::PasswordTooShort,
            7 => PolicyError::PasswordTooYoung,
            8 => PolicyError::PasswordInHistory,
            n => PolicyError::Other(n),
        }
    }
}

/// The error a password policy response control carries, if the result has one with an error.
pub fn ppolicy_error(res: &LdapResult) -> Option<PolicyError> {
    res.ctrls
        .iter()
        .filter(|c| c.1.ctype == PPOLICY_OID)
        .find_map(|c| c.1.val.as_deref().and_then(parse_ppolicy_value))
}

/// `SEQUENCE { warning [0] ... OPTIONAL, error [1] ENUMERATED OPTIONAL }`: the error, if any.
/// Anything malformed counts as no error (the result code still says what failed).
pub fn parse_ppolicy_value(val: &[u8]) -> Option<PolicyError> {
    let (_, top) = parse_tag(val).ok()?;
    let PL::C(items) = top.payload else {
        return None;
    };
    items.into_iter().find_map(|t| match (t.class, t.id, t.payload) {
        (TagClass::Context, 1, PL::P(bytes)) if !bytes.is_empty() && bytes.len() <= 8 => {
            let code = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            Some(PolicyError::from_code(code))
        }
        _ => None,
    })
}

fn ppolicy_bind_detail(e: PolicyError) -> &'static str {
    match e {
        PolicyError::AccountLocked => {
            "the account is locked by the password policy after too many failed binds (ppolicy accountLocked)"
        }
        PolicyError::PasswordExpired => "the password has expired (ppolicy passwordExpired)",
        _ => "refused by the directory's password policy",
    }
}

fn ad_bind_detail(code: &str) -> &'static str {
    match code {
        "525" => "no such account (AD data 525)",
        "52e" => "invalid credentials (AD data 52e)",
        "530" => "not permitted to log on at this time (AD data 530)",
        "531" => "not permitted to log on from this workstation (AD data 531)",
        "532" => "the password has expired (AD data 532)",
        "533" => "the account is disabled (AD data 533)",
        "701" => "the account has expired (AD data 701)",
        "773" => "the password must be changed at next logon (AD data 773)",
        "775" => "the account is locked out (AD data 775)",
        _ => "refused by the directory",
    }
}

/// First line of the server's diagnostic text, trimmed of NULs and noise.
pub fn short_text(text: &str) -> String {
    let line = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    let line = line.lines().next().unwrap_or_default();
    let mut s: String = line.chars().filter(|c| !c.is_control()).take(300).collect();
    if s.is_empty() {
        s.push_str("no diagnostic text");
    }
    s
}

/// The reason a directory refused a new password, from the password policy control (OpenLDAP),
/// AD/Samba's diagnostic (`0000052D`, Samba's `check_password_restrictions: ...`) or the text.
fn policy_reason(text: &str, policy: Option<PolicyError>) -> String {
    let lower = text.to_ascii_lowercase();
    let what = if let Some(reason) = policy.and_then(quality_reason) {
        reason
    } else if lower.contains("too short") || lower.contains("length") {
        "too short"
    } else if lower.contains("too young") || lower.contains("minimum password age") {
        "changed too recently (minimum password age)"
    } else if lower.contains("history") {
        "used before (password history)"
    } else if lower.contains("complex") || lower.contains("quality") {
        "not complex enough"
    } else {
        "length, complexity, history or minimum age"
    };
    format!(
        "the directory's password policy refused it: {what} [{}]",
        short_text(text)
    )
}

/// Why the password policy control says the new password itself was refused, if it does.
fn quality_reason(policy: PolicyError) -> Option<&'static str> {
    match policy {
        PolicyError::PasswordTooShort => Some("too short"),
        PolicyError::PasswordTooYoung => Some("changed too recently (minimum password age)"),
        PolicyError::PasswordInHistory => Some("used before (password history)"),
        PolicyError::InsufficientPasswordQuality => Some("not complex enough (quality check)"),
        _ => None,
    }
}

/// Whether the password policy control says the new password itself was refused.
fn is_quality_refusal(policy: Option<PolicyError>) -> bool {
    policy.and_then(quality_reason).is_some()
}

/// Whether a diagnostic says the OLD password given in a self-change was wrong.
fn wrong_old_password(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    // OpenLDAP's ppolicy: "Password is in history of old passwords" is about the new one.
    if lower.contains("history") {
        return false;
    }
    // AD: 00000056 (ERROR_INVALID_PASSWORD); Samba: "The old password specified doesn't match";
    // OpenLDAP Password Modify: "unwilling to verify old password".
    lower.starts_with("00000056")
        || lower.contains("old password specified doesn't match")
        || lower.contains("old password")
        || lower.contains("verify old password")
}

/// Maps a non-success LDAP result.
pub fn from_result(target: &str, account: &str, op: Operation, res: &LdapResult) -> ConnectorError {
    let text = short_text(&res.text);
    let lower = res.text.to_ascii_lowercase();
    match res.rc {
        rc::INVALID_CREDENTIALS => {
            let policy = ppolicy_error(res);
            let code = ad_bind_subcode(&res.text);
            let detail = || -> String {
                match (policy, code.as_deref()) {
                    (Some(p @ (PolicyError::AccountLocked | PolicyError::PasswordExpired)), _) => {
                        ppolicy_bind_detail(p).into()
                    }
                    (_, Some(c)) => ad_bind_detail(c).into(),
                    (_, None) => format!("the directory says: {text}"),
                }
            };
            match bind_failure_of(res) {
                BindFailure::InvalidCredentials => ConnectorError::AuthFailed {
                    target: target.into(),
                    user: account.into(),
                },
                BindFailure::MustChange => ConnectorError::PasswordExpired {
                    target: target.into(),
                    account: account.into(),
                    detail: detail(),
                },
                BindFailure::Locked => ConnectorError::AccountLocked {
                    target: target.into(),
                    account: account.into(),
                    detail: detail(),
                },
            }
        }
        rc::CONSTRAINT_VIOLATION | rc::UNWILLING_TO_PERFORM
            if matches!(op, Operation::PasswordChange | Operation::SelfChange) =>
        {
            let policy = ppolicy_error(res);
            if policy == Some(PolicyError::PasswordModNotAllowed) {
                ConnectorError::InsufficientAccess {
                    target: target.into(),
                    detail: format!("the password policy does not let `{account}` change this password [{text}]"),
                }
            } else if op == Operation::SelfChange && !is_quality_refusal(policy) && wrong_old_password(&res.text) {
                ConnectorError::AuthFailed {
                    target: target.into(),
                    user: account.into(),
                }
            } else if res.rc == rc::UNWILLING_TO_PERFORM
                && (lower.starts_with("0000001f") || lower.contains("confidential") || lower.contains("secure"))
            {
                ConnectorError::Unsafe {
                    target: target.into(),
                    reason: format!("the directory requires an encrypted connection for password changes [{text}]"),
                }
            } else {
                ConnectorError::PasswordRejected {
                    target: target.into(),
                    reason: policy_reason(&res.text, policy),
                }
            }
        }
        rc::INSUFFICIENT_ACCESS => ConnectorError::InsufficientAccess {
            target: target.into(),
            detail: format!("{} for `{account}` was refused [{text}]", op.during()),
        },
        rc::STRONGER_AUTH_REQUIRED | rc::CONFIDENTIALITY_REQUIRED => ConnectorError::Unsafe {
            target: target.into(),
            reason: format!("the directory requires a stronger or encrypted connection [{text}]"),
        },
        rc::BUSY | rc::UNAVAILABLE => ConnectorError::Unreachable {
            target: target.into(),
            detail: format!("the directory is busy or unavailable (result {}) [{text}]", res.rc),
        },
        rc::TIME_LIMIT_EXCEEDED => ConnectorError::Timeout {
            target: target.into(),
            seconds: 0,
            during: format!("{} (the server's time limit)", op.during()),
        },
        rc::PROTOCOL_ERROR if op != Operation::Search => ConnectorError::Unsupported {
            target: target.into(),
            kind: "this directory".into(),
            operation: format!("{} (protocol error) [{text}]", op.during()),
        },
        rc::NO_SUCH_OBJECT => ConnectorError::Protocol {
            target: target.into(),
            detail: format!("no such object while {} for `{account}` [{text}]", op.during()),
        },
        code => ConnectorError::Protocol {
            target: target.into(),
            detail: format!("LDAP result {code} while {} for `{account}` [{text}]", op.during()),
        },
    }
}

/// Maps any ldap3 error.
pub fn from_ldap(target: &str, account: &str, op: Operation, timeout_secs: u64, err: LdapError) -> ConnectorError {
    match err {
        LdapError::LdapResult { result } => from_result(target, account, op, &result),
        LdapError::Timeout { .. } => ConnectorError::Timeout {
            target: target.into(),
            seconds: timeout_secs,
            during: op.during().into(),
        },
        LdapError::Rustls { source } => ConnectorError::Tls {
            target: target.into(),
            detail: format!("{source}"),
        },
        LdapError::DNSName { source } => ConnectorError::Tls {
            target: target.into(),
            detail: format!("the host name cannot be checked against a certificate: {source}"),
        },
        LdapError::Io { source } => {
            // rustls handshake failures surface as io errors wrapping a rustls::Error.
            let tls = source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .map(|e| e.to_string());
            match tls {
                Some(detail) => ConnectorError::Tls {
                    target: target.into(),
                    detail: format!("certificate not trusted or handshake failed: {detail}"),
                },
                None if source.kind() == std::io::ErrorKind::TimedOut => ConnectorError::Timeout {
                    target: target.into(),
                    seconds: timeout_secs,
                    during: op.during().into(),
                },
                None => ConnectorError::Unreachable {
                    target: target.into(),
                    detail: format!("{} : {source}", op.during()),
                },
            }
        }
        LdapError::UrlParsing { source } => ConnectorError::Protocol {
            target: target.into(),
            detail: format!("bad directory URL: {source}"),
        },
        other => ConnectorError::Protocol {
            target: target.into(),
            detail: format!("{} : {other}", op.during()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ppolicy(rc: u32, text: &str, value: &[u8]) -> LdapResult {
        let mut r = res(rc, text);
        r.ctrls = vec![ldap3::controls::Control(
            None,
            RawControl {
                ctype: PPOLICY_OID.into(),
                crit: false,
                val: Some(value.to_vec()),
            },
        )];
        r
    }

    #[test]
    fn the_password_policy_control_is_read() {
        // error [1] ENUMERATED accountLocked (1), as slapd's ppolicy overlay sends it.
        assert_eq!(
            parse_ppolicy_value(&[0x30, 0x03, 0x81, 0x01, 0x01]),
            Some(PolicyError::AccountLocked)
        );
        // A warning (graceAuthNsRemaining 2) and no error.
        assert_eq!(parse_ppolicy_value(&[0x30, 0x05, 0xa0, 0x03, 0x81, 0x01, 0x02]), None);
        assert_eq!(
            parse_ppolicy_value(&[0x30, 0x08, 0xa0, 0x03, 0x80, 0x01, 0x10, 0x81, 0x01, 0x06]),
            Some(PolicyError::PasswordTooShort)
        );
        assert_eq!(parse_ppolicy_value(&[0x30, 0x00]), None);
        assert_eq!(parse_ppolicy_value(&[0x30, 0x05, 0x81]), None);
        assert_eq!(parse_ppolicy_value(&[]), None);
    }

    #[test]
    fn an_openldap_lockout_is_named_from_the_control() {
        // slapd sends no text at all: without the control it is a plain wrong password.
        let e = from_result("acme/ol", "bob", Operation::Bind, &res(49, ""));
        assert!(matches!(e, ConnectorError::AuthFailed { .. }), "{e}");
        let locked = with_ppolicy(49, "", &[0x30, 0x03, 0x81, 0x01, 0x01]);
        assert_eq!(bind_failure_of(&locked), BindFailure::Locked);
        let e = from_result("acme/ol", "bob", Operation::Bind, &locked);
        assert!(matches!(e, ConnectorError::AccountLocked { .. }), "{e}");
        assert!(e.to_string().contains("locked by the password policy"), "{e}");
        let expired = with_ppolicy(49, "", &[0x30, 0x03, 0x81, 0x01, 0x00]);
        assert!(matches!(
            from_result("acme/ol", "bob", Operation::Bind, &expired),
            ConnectorError::PasswordExpired { .. }
        ));
        // Servers that say it in words.
        assert_eq!(bind_failure("Account locked"), BindFailure::Locked);
        assert_eq!(bind_failure("invalid credentials"), BindFailure::InvalidCredentials);
    }

    #[test]
    fn an_openldap_quality_refusal_is_a_policy_refusal_with_its_reason() {
        let short = with_ppolicy(
            19,
            "Password fails quality checking policy",
            &[0x30, 0x03, 0x81, 0x01, 0x06],
        );
        let e = from_result("acme/ol", "bob", Operation::SelfChange, &short);
        assert!(e.is_password_rejected(), "{e}");
        assert!(e.to_string().contains("too short"), "{e}");
        // "history of old passwords" is about the new password, not a wrong old one.
        let hist = with_ppolicy(
            19,
            "Password is in history of old passwords",
            &[0x30, 0x03, 0x81, 0x01, 0x08],
        );
        let e = from_result("acme/ol", "bob", Operation::SelfChange, &hist);
        assert!(e.is_password_rejected(), "{e}");
        assert!(e.to_string().contains("password history"), "{e}");
        let e = from_result(
            "acme/ol",
            "bob",
            Operation::SelfChange,
            &res(19, "Password is in history of old passwords"),
        );
        assert!(e.is_password_rejected(), "{e}");
        let e = from_result(
            "acme/ol",
            "bob",
            Operation::SelfChange,
            &with_ppolicy(50, "", &[0x30, 0x03, 0x81, 0x01, 0x03]),
        );
        assert!(matches!(e, ConnectorError::InsufficientAccess { .. }), "{e}");
    }

    fn res(rc: u32, text: &str) -> LdapResult {
        LdapResult {
            rc,
            matched: String::new(),
            text: text.into(),
            refs: vec![],
            ctrls: vec![],
        }
    }

    #[test]
    fn ad_bind_subcodes_map_to_their_meaning() {
        let t = "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 775, v4563\0";
        let e = from_result("acme/dc1", "bob", Operation::Bind, &res(49, t));
        assert!(matches!(e, ConnectorError::AccountLocked { .. }), "{e}");
        assert!(e.to_string().contains("locked out (AD data 775)"), "{e}");

        let t = "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 773, v4563";
        let e = from_result("acme/dc1", "bob", Operation::Bind, &res(49, t));
        assert!(matches!(e, ConnectorError::PasswordExpired { .. }), "{e}");

        let t = "80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data 52e, v4563";
        let e = from_result("acme/dc1", "bob", Operation::Bind, &res(49, t));
        assert!(matches!(e, ConnectorError::AuthFailed { .. }), "{e}");
        let e = from_result("acme/dc1", "bob", Operation::Bind, &res(49, ""));
        assert!(matches!(e, ConnectorError::AuthFailed { .. }), "{e}");
        assert_eq!(bind_failure("data 533"), BindFailure::Locked);
    }

    #[test]
    fn policy_refusals_are_password_rejected_and_say_why() {
        let t = "0000052D: Constraint violation - check_password_restrictions: the password is too short. It should be equal or longer than 7 characters!";
        let e = from_result("acme/dc1", "bob", Operation::PasswordChange, &res(19, t));
        assert!(e.is_password_rejected());
        assert!(e.to_string().contains("too short"), "{e}");

        let t =
            "0000052D: Constraint violation - check_password_restrictions: the password was already used (in history)!";
        let e = from_result("acme/dc1", "bob", Operation::SelfChange, &res(19, t));
        assert!(e.is_password_rejected());
        assert!(e.to_string().contains("password history"), "{e}");

        let t = "0000052D: Constraint violation - check_password_restrictions: the password is too young to change!";
        let e = from_result("acme/dc1", "bob", Operation::SelfChange, &res(19, t));
        assert!(e.to_string().contains("minimum password age"), "{e}");
    }

    #[test]
    fn a_wrong_old_password_is_not_a_policy_refusal() {
        let t = "00000056: Constraint violation - The old password specified doesn't match!";
        let e = from_result("acme/dc1", "bob", Operation::SelfChange, &res(19, t));
        assert!(matches!(e, ConnectorError::AuthFailed { .. }), "{e}");
        let e = from_result(
            "acme/ol",
            "bob",
            Operation::SelfChange,
            &res(53, "unwilling to verify old password"),
        );
        assert!(matches!(e, ConnectorError::AuthFailed { .. }), "{e}");
    }

    #[test]
    fn access_and_confidentiality() {
        let e = from_result(
            "a/b",
            "bob",
            Operation::PasswordChange,
            &res(50, "00002098: insufficient rights"),
        );
        assert!(matches!(e, ConnectorError::InsufficientAccess { .. }), "{e}");
        let e = from_result(
            "a/b",
            "bob",
            Operation::PasswordChange,
            &res(53, "0000001F: SvcErr: DSID-031A12D2"),
        );
        assert!(matches!(e, ConnectorError::Unsafe { .. }), "{e}");
        let e = from_result(
            "a/b",
            "bob",
            Operation::Bind,
            &res(8, "BindSimple: Transport encryption required."),
        );
        assert!(matches!(e, ConnectorError::Unsafe { .. }), "{e}");
    }
}
