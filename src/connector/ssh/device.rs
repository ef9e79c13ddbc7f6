//! The connector for network devices: the session engine plus one vendor [`Dialect`]. It logs in,
//! lets the dialect set the shell up (paging off, privileged mode), and hands it the shell to list
//! accounts or change a password; verification is always a FRESH login, never the open session.

use std::collections::HashMap;

use super::dialect::{ChangeState, Dialect};
use super::session::{Auth, Endpoint, SshSession, SshShell};
use crate::connector::{
    AccountInfo, ChangeMethod, ChangeSession, ConnectContext, Connector, ConnectorError, ConnectorResult, Credentials,
    PasswordRules, Verification,
};
use crate::inventory::Target;
use crate::secret::Password;

/// A network device reached over SSH and driven through its dialect.
pub struct DeviceConnector {
    endpoint: Endpoint,
    /// The vault account name of the enable secret, if the device has one.
    enable_account: Option<String>,
    dialect: std::sync::Arc<dyn Dialect>,
}

impl DeviceConnector {
    pub fn new(target: &Target, ctx: &ConnectContext, dialect: Box<dyn Dialect>) -> Self {
        DeviceConnector {
            endpoint: Endpoint::new(target, ctx),
            enable_account: target.enable.clone(),
            dialect: std::sync::Arc::from(dialect),
        }
    }

    fn is_enable(&self, account: &str) -> bool {
        self.enable_account.as_deref() == Some(account)
    }

    /// Logs in as `username` with `auth`, opens the shell and waits for the first prompt.
    fn shell(&self, username: &str, auth: Auth<'_>, extra_secrets: &[&Password]) -> ConnectorResult<SshShell> {
        let wire_user = self.dialect.login_username(username);
        let session = SshSession::login(&self.endpoint, &wire_user, auth)?;
        let mut shell = session.into_shell(self.dialect.prompt(), self.dialect.pager())?;
        for s in extra_secrets {
            shell.add_secret(s);
        }
        Ok(shell)
    }

    /// A shell logged in with the current credentials and set up by the dialect.
    fn login_shell(&self, login: &Credentials) -> ConnectorResult<SshShell> {
        let enable: Vec<&Password> = login.enable.iter().collect();
        let mut shell = self.shell(&login.username, Auth::new(login.method, &login.secret), &enable)?;
        self.dialect.setup(&mut shell, login)?;
        Ok(shell)
    }
}

impl Connector for DeviceConnector {
    fn name(&self) -> &str {
        &self.endpoint.name
    }

    fn password_rules(&self, account: &str) -> PasswordRules {
        let method = if self.is_enable(account) {
            ChangeMethod::EnableSecret
        } else {
            ChangeMethod::AdminReset
        };
        self.dialect.password_rules(account, method)
    }

    fn change_method(&self, login_user: &str, account: &str) -> ChangeMethod {
        if self.is_enable(account) {
            ChangeMethod::EnableSecret
        } else if login_user == account {
            ChangeMethod::SelfChange
        } else {
            ChangeMethod::AdminReset
        }
    }

    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String> {
        self.dialect.describe_change(account, method)
    }

    fn list_accounts(&self, login: &Credentials) -> ConnectorResult<Vec<AccountInfo>> {
        let mut shell = self.login_shell(login)?;
        let accounts = self.dialect.list_accounts(&mut shell);
        shell.close();
        accounts
    }

    fn open(&self, login: &Credentials) -> ConnectorResult<Box<dyn ChangeSession>> {
        let shell = self.login_shell(login)?;
        Ok(Box::new(DeviceChangeSession {
            dialect: self.dialect.clone(),
            shell,
            changes: HashMap::new(),
            last_change: None,
        }))
    }

    fn verify(&self, login: &Credentials, account: &str, password: &Password) -> ConnectorResult<Verification> {
        if self.is_enable(account) {
            let mut shell = self.shell(&login.username, Auth::new(login.method, &login.secret), &[password])?;
            // Set up without the stored enable secret: only the candidate may open privileged mode.
            let plain = Credentials {
                enable: None,
                ..login.clone()
            };
            self.dialect.setup(&mut shell, &plain)?;
            let result = self.dialect.verify_enable(&mut shell, password);
            shell.close();
            return result;
        }
        SshSession::try_password(&self.endpoint, &self.dialect.login_username(account), password)
    }
}

/// A logged-in device shell held open across change, verify and save or rollback.
pub struct DeviceChangeSession {
    dialect: std::sync::Arc<dyn Dialect>,
    shell: SshShell,
    changes: HashMap<String, ChangeState>,
    last_change: Option<String>,
}

impl ChangeSession for DeviceChangeSession {
    fn change_password(
        &mut self,
        account: &str,
        method: ChangeMethod,
        old: &Password,
        new: &Password,
    ) -> ConnectorResult<()> {
        self.shell.add_secret(old);
        self.shell.add_secret(new);
        let state = self
            .dialect
            .change_password(&mut self.shell, account, method, old, new)?;
        self.changes.insert(account.to_string(), state);
        self.last_change = Some(account.to_string());
        Ok(())
    }

    fn save(&mut self) -> ConnectorResult<()> {
        let empty = ChangeState {
            fresh_session: true,
            ..ChangeState::default()
        };
        let state = self
            .last_change
            .as_ref()
            .and_then(|a| self.changes.get(a))
            .unwrap_or(&empty);
        self.dialect.save(&mut self.shell, state)?;
        self.changes.clear();
        self.last_change = None;
        Ok(())
    }

    fn rollback(&mut self, account: &str, old: &Password) -> ConnectorResult<()> {
        self.shell.add_secret(old);
        let state = self.changes.remove(account).ok_or_else(|| ConnectorError::Protocol {
            target: super::dialect::Shell::target(&self.shell).to_string(),
            detail: format!("no unsaved change of `{account}` to roll back in this session"),
        })?;
        self.dialect.rollback(&mut self.shell, &state, account, old)
    }
}
