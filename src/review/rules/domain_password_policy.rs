//! The domain's own password and lockout policy against the policy's baseline (`[review]`:
//! min_password_length 14, complexity and lockout on; expiry only when max_password_age_days is
//! set). One finding per weaker setting, so that each can be fixed or accepted on its own.

use super::{Found, ReviewContext, Rule, Severity, TargetReview};
use crate::review::domain;

pub struct DomainPasswordPolicy;

impl Rule for DomainPasswordPolicy {
    fn id(&self) -> &'static str {
        "domain-password-policy"
    }
    fn severity(&self) -> Severity {
        Severity::Medium
    }
    fn summary(&self) -> &'static str {
        "the domain's minimum length, complexity, maximum age or lockout threshold weaker than the [review] baseline"
    }
    fn check(&self, t: &TargetReview, ctx: &ReviewContext<'_>) -> Vec<Found> {
        let Some(p) = domain(t).and_then(|d| d.password_policy.as_ref()) else {
            return Vec::new();
        };
        let r = ctx.policy;
        let found = |message: String, hint: &str| Found {
            subject: t.target.clone(),
            message,
            hint: format!("{hint} (Default Domain Policy, or a fine-grained password policy for admins)"),
        };
        let mut out = Vec::new();
        if let Some(len) = p.min_length.filter(|len| *len < r.min_password_length) {
            out.push(found(
                format!(
                    "minimum password length {len}, below the baseline {}",
                    r.min_password_length
                ),
                &format!("set the minimum password length to at least {}", r.min_password_length),
            ));
        }
        if r.require_password_complexity && p.complexity == Some(false) {
            out.push(found(
                "password complexity is off".into(),
                "turn password complexity on",
            ));
        }
        if let Some(max) = r.max_password_age_days {
            match p.max_age_days {
                Some(days) if days <= u64::from(max) => {}
                Some(days) => out.push(found(
                    format!("passwords expire after {days} days, the baseline is {max}"),
                    &format!("set the maximum password age to {max} days or less"),
                )),
                None => out.push(found(
                    format!("passwords never expire, the baseline is {max} days"),
                    &format!("set the maximum password age to {max} days or less"),
                )),
            }
        }
        if r.require_lockout && p.lockout_threshold == Some(0) {
            out.push(found(
                "account lockout is off: passwords can be guessed without limit".into(),
                "set an account lockout threshold (e.g. 10 attempts)",
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::ldap::domain::{DomainFacts, PasswordPolicy};
    use crate::policy::ReviewPolicy;
    use crate::review::test_support::*;

    fn with(p: PasswordPolicy) -> TargetReview {
        domain_target(
            vec![],
            DomainFacts {
                password_policy: Some(p),
                ..DomainFacts::default()
            },
        )
    }

    #[test]
    fn each_weaker_setting_is_one_finding() {
        let samba_default = PasswordPolicy {
            min_length: Some(7),
            complexity: Some(true),
            max_age_days: Some(42),
            lockout_threshold: Some(0),
            history_length: Some(24),
            read: true,
        };
        let policy = ReviewPolicy::default();
        let ctx = ReviewContext {
            now: chrono::Utc::now(),
            policy: &policy,
        };
        let messages: Vec<String> = DomainPasswordPolicy
            .check(&with(samba_default.clone()), &ctx)
            .into_iter()
            .map(|f| f.message)
            .collect();
        assert_eq!(
            messages,
            [
                "minimum password length 7, below the baseline 14",
                "account lockout is off: passwords can be guessed without limit"
            ]
        );
        let strong = PasswordPolicy {
            min_length: Some(14),
            lockout_threshold: Some(10),
            max_age_days: None,
            ..samba_default
        };
        assert!(DomainPasswordPolicy.check(&with(strong.clone()), &ctx).is_empty());
        let expiring = ReviewPolicy {
            max_password_age_days: Some(365),
            ..ReviewPolicy::default()
        };
        let ctx = ReviewContext {
            now: chrono::Utc::now(),
            policy: &expiring,
        };
        let found = DomainPasswordPolicy.check(&with(strong), &ctx);
        assert_eq!(found[0].message, "passwords never expire, the baseline is 365 days");
    }
}
