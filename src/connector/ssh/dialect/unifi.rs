//! Ubiquiti UniFi access points and switches: their SSH credentials belong to the UniFi
//! controller, which sets them at adoption and pushes them again at every provisioning, so a
//! password changed on the device would be undone at the next provisioning or reboot (the device
//! keeps its configuration in `/tmp/system.cfg`, in RAM). keyreeve therefore discovers the
//! device account (`users.N.name` in `/tmp/system.cfg`, read in the device's Linux shell; the
//! shell's prompt is unconfirmed, any line ending in `#` or `$` is taken) and never changes it on
//! the device: a rotation is planned as a guided step in the controller (Settings > Site >
//! Device Authentication, "Device SSH Authentication" in newer versions), see
//! `rotation::controller_managed`.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct Unifi;

pub(crate) const SYSTEM_CFG: &str = "/tmp/system.cfg";

/// What discovery says of every UniFi device account.
pub const CONTROLLER_OWNED: &str =
    "device SSH account set by the UniFi controller; a change on the device is undone at the next provisioning";

static ERRORS: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)no such file|not found|permission denied|can't open"));
static USER_LINE: LazyLock<Regex> = LazyLock::new(|| re(r"^users\.(\d+)\.(name|status)=(.*)$"));

fn parse(cfg: &str) -> Vec<AccountInfo> {
    let mut users: Vec<(String, Option<String>, bool)> = Vec::new();
    for c in cfg.lines().filter_map(|l| USER_LINE.captures(l.trim())) {
        let idx = c[1].to_string();
        let pos = match users.iter().position(|u| u.0 == idx) {
            Some(p) => p,
            None => {
                users.push((idx, None, true));
                users.len() - 1
            }
        };
        match &c[2] {
            "name" => users[pos].1 = Some(c[3].trim().to_string()),
            _ => users[pos].2 = c[3].trim() != "disabled",
        }
    }
    users
        .into_iter()
        .filter_map(|(_, name, enabled)| {
            let name = name.filter(|n| !n.is_empty())?;
            let mut a = common::user_account(&name, CONTROLLER_OWNED.into(), true);
            a.enabled = enabled;
            a.details.insert(
                "managed_by".into(),
                serde_json::Value::String("unifi-controller".into()),
            );
            Some(a)
        })
        .collect()
}

impl Unifi {
    fn refuse(&self, shell: &dyn Shell) -> ConnectorError {
        ConnectorError::Unsupported {
            target: shell.target().to_string(),
            kind: self.kind().to_string(),
            operation: "a password change on the device (the UniFi controller owns it and undoes it at the next provisioning: change it in the controller)".into(),
        }
    }
}

impl Dialect for Unifi {
    fn kind(&self) -> TargetKind {
        TargetKind::Unifi
    }

    fn prompt(&self) -> Regex {
        // BusyBox's `UAP-AC-Lite-BZ.v6.6.55# ` and the like (unconfirmed).
        re(r"(?:\A|\n)[^\n=]*[#$] ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        None
    }

    fn setup(&self, _shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        let out = common::run(shell, &format!("cat {SYSTEM_CFG}"), &ERRORS, &[])?;
        Ok(parse(&out))
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            forbidden: common::outside_safe_alphabet(),
            ..PasswordRules::default()
        }
    }

    fn describe_change(&self, _account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![format!(
            "(never on the device) UniFi controller: Settings > Site > Device Authentication: SSH password {REDACTED}, Apply"
        )]
    }

    fn change_password(
        &self,
        shell: &mut dyn Shell,
        _account: &str,
        _method: ChangeMethod,
        _old: &Password,
        _new: &Password,
    ) -> ConnectorResult<ChangeState> {
        Err(self.refuse(shell))
    }

    fn save(&self, shell: &mut dyn Shell, _state: &ChangeState) -> ConnectorResult<()> {
        Err(self.refuse(shell))
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        _state: &ChangeState,
        _account: &str,
        _old: &Password,
    ) -> ConnectorResult<()> {
        Err(self.refuse(shell))
    }

    fn verify_enable(&self, shell: &mut dyn Shell, _candidate: &Password) -> ConnectorResult<Verification> {
        Err(ConnectorError::Unsupported {
            target: shell.target().to_string(),
            kind: self.kind().to_string(),
            operation: "an enable secret".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::fake::FakeShell;
    use super::*;

    #[test]
    fn lists_the_device_account_as_controller_owned_and_never_changes_it() {
        let cfg = "aaa.1.status=disabled\nusers.status=enabled\nusers.1.name=siteadmin\nusers.1.password=<removed>\nusers.1.status=enabled\nusers.2.name=\n";
        let a = parse(cfg);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].name, "siteadmin");
        assert!(a[0].admin && a[0].privilege.contains("undone at the next provisioning"));
        let d = Unifi;
        let mut sh = FakeShell::new(&d, vec![]);
        let e = d
            .change_password(
                &mut sh,
                "siteadmin",
                ChangeMethod::SelfChange,
                &Password::new("o"),
                &Password::new("n"),
            )
            .unwrap_err();
        assert!(
            matches!(e, ConnectorError::Unsupported { .. }) && e.to_string().contains("controller"),
            "{e}"
        );
        sh.finish();
    }
}
