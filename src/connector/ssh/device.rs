//! The connector for network devices: the session engine plus one vendor [`Dialect`]. It logs in,
//! lets the dialect set the shell up (paging off, privileged mode), and hands it the shell to list
//! accounts or change a password; verification is always a FRESH login, never the open session.
//! Every error the dialect returns leaves through [`SshShell::mask`]: no fragment of a password
//! the session holds, in any form the device echoed it, reaches an error.

use std::collections::HashMap;
use std::sync::Arc;

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
    inner: Arc<Device>,
}

/// What a connector and its open change sessions share.
struct Device {
    endpoint: Endpoint,
    /// The vault account name of the enable secret, if the device has one.
    enable_account: Option<String>,
    dialect: Box<dyn Dialect>,
}

impl DeviceConnector {
    pub fn new(target: &Target, ctx: &ConnectContext, dialect: Box<dyn Dialect>) -> Self {
        DeviceConnector {
            inner: Arc::new(Device {
                endpoint: Endpoint::new(target, ctx),
                enable_account: target.enable.clone(),
                dialect,
            }),
        }
    }
}

impl Device {
    fn is_enable(&self, account: &str) -> bool {
        self.enable_account.as_deref() == Some(account)
    }

    /// Logs in as `username` with `auth`, opens the shell and waits for the first prompt.
    fn shell(&self, username: &str, auth: Auth<'_>, extra_secrets: &[&Password]) -> ConnectorResult<SshShell> {
        let wire_user = self.dialect.login_username(username);
        let session = SshSession::login(&self.endpoint, &wire_user, auth)?;
        let questions = self.dialect.login_questions();
        let mut shell = session.into_shell(self.dialect.prompt(), self.dialect.pager(), &questions)?;
        for s in extra_secrets {
            shell.add_secret(s);
        }
        self.answer_shell_password(&mut shell, username, auth)?;
        Ok(shell)
    }

    /// Where the OS asks the password itself after SSH authentication (SonicOS), answers it once.
    fn answer_shell_password(&self, shell: &mut SshShell, username: &str, auth: Auth<'_>) -> ConnectorResult<()> {
        let Some(question) = self.dialect.shell_password_question() else {
            return Ok(());
        };
        if !shell.ended_with(&question) {
            return Ok(());
        }
        let Auth::Password(password) = auth else {
            return Err(ConnectorError::Unsupported {
                target: self.endpoint.name.clone(),
                kind: self.dialect.kind().to_string(),
                operation: "a private-key login (the device asks a password after SSH)".into(),
            });
        };
        let answered = self.dialect.answer_shell_password(shell, password);
        match answered.map_err(|e| shell.mask(e))? {
            true => Ok(()),
            false => Err(ConnectorError::AuthFailed {
                target: self.endpoint.name.clone(),
                user: username.to_string(),
            }),
        }
    }

    /// A shell logged in with the current credentials and set up by the dialect.
    fn login_shell(&self, login: &Credentials) -> ConnectorResult<SshShell> {
        let enable: Vec<&Password> = login.enable.iter().collect();
        let mut shell = self.shell(&login.username, Auth::new(login.method, &login.secret), &enable)?;
        let set_up = self.dialect.setup(&mut shell, login);
        set_up.map_err(|e| shell.mask(e))?;
        Ok(shell)
    }
}

impl Connector for DeviceConnector {
    fn name(&self) -> &str {
        &self.inner.endpoint.name
    }

    fn password_rules(&self, account: &str) -> PasswordRules {
        let method = if self.inner.is_enable(account) {
            ChangeMethod::EnableSecret
        } else {
            ChangeMethod::AdminReset
        };
        self.inner.dialect.password_rules(account, method)
    }

    fn change_method(&self, login_user: &str, account: &str) -> ChangeMethod {
        if self.inner.is_enable(account) {
            ChangeMethod::EnableSecret
        } else if login_user == account {
            ChangeMethod::SelfChange
        } else {
            ChangeMethod::AdminReset
        }
    }

    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String> {
        self.inner.dialect.describe_change(account, method)
    }

    fn list_accounts(&self, login: &Credentials) -> ConnectorResult<Vec<AccountInfo>> {
        let mut shell = self.inner.login_shell(login)?;
        let accounts = self.inner.dialect.list_accounts(&mut shell).map_err(|e| shell.mask(e));
        shell.close();
        accounts
    }

    fn open(&self, login: &Credentials) -> ConnectorResult<Box<dyn ChangeSession>> {
        let shell = self.inner.login_shell(login)?;
        Ok(Box::new(DeviceChangeSession {
            device: self.inner.clone(),
            login: login.clone(),
            shell: Some(shell),
            changes: HashMap::new(),
            last_change: None,
        }))
    }

    fn verify(&self, login: &Credentials, account: &str, password: &Password) -> ConnectorResult<Verification> {
        if self.inner.is_enable(account) {
            let mut shell = self
                .inner
                .shell(&login.username, Auth::new(login.method, &login.secret), &[password])?;
            // Set up without the stored enable secret: only the candidate may open privileged mode.
            let plain = Credentials {
                enable: None,
                ..login.clone()
            };
            let set_up = self.inner.dialect.setup(&mut shell, &plain);
            let result = set_up
                .and_then(|_| self.inner.dialect.verify_enable(&mut shell, password))
                .map_err(|e| shell.mask(e));
            shell.close();
            return result;
        }
        if self.inner.dialect.shell_password_question().is_some() {
            // The SSH layer does not judge the password there: only the OS's own question does.
            return match self.inner.shell(account, Auth::Password(password), &[]) {
                Ok(shell) => {
                    shell.close();
                    Ok(Verification::Accepted)
                }
                Err(ConnectorError::AuthFailed { .. }) => Ok(Verification::Rejected),
                Err(e) => Err(e),
            };
        }
        SshSession::try_password(
            &self.inner.endpoint,
            &self.inner.dialect.login_username(account),
            password,
        )
    }
}

/// A logged-in device shell held open across change, verify and save or rollback.
pub struct DeviceChangeSession {
    device: Arc<Device>,
    /// The credentials the session logged in with (for a fresh session when the device ended it).
    login: Credentials,
    /// None once the device ended the session (see [`ChangeState::session_ended`]).
    shell: Option<SshShell>,
    /// Per account: what the dialect needs to save or roll back, and the password it was set to.
    changes: HashMap<String, (ChangeState, Password)>,
    last_change: Option<String>,
}

impl DeviceChangeSession {
    fn target(&self) -> String {
        self.device.endpoint.name.clone()
    }

    fn shell(&mut self) -> ConnectorResult<&mut SshShell> {
        let target = self.target();
        self.shell.as_mut().ok_or_else(|| ConnectorError::Protocol {
            target,
            detail: "the device ended the session after the password change".into(),
        })
    }
}

impl ChangeSession for DeviceChangeSession {
    fn change_password(
        &mut self,
        account: &str,
        method: ChangeMethod,
        old: &Password,
        new: &Password,
    ) -> ConnectorResult<()> {
        super::dialect::check_account_name(&self.target(), account)?;
        let device = self.device.clone();
        let shell = self.shell()?;
        shell.add_secret(old);
        shell.add_secret(new);
        let changed = device.dialect.change_password(shell, account, method, old, new);
        let state = changed.map_err(|e| shell.mask(e))?;
        if state.session_ended {
            if let Some(shell) = self.shell.take() {
                shell.close();
            }
        }
        self.changes.insert(account.to_string(), (state, new.clone()));
        self.last_change = Some(account.to_string());
        Ok(())
    }

    fn save(&mut self) -> ConnectorResult<()> {
        let device = self.device.clone();
        let pending = self.last_change.as_ref().and_then(|a| self.changes.get(a));
        match pending {
            // The device saved the change itself before it ended the session.
            Some((state, _)) if state.session_ended => {}
            Some((state, _)) => {
                let state = ChangeState {
                    restore_lines: state.restore_lines.clone(),
                    checkpoint: state.checkpoint.clone(),
                    session_ended: false,
                    fresh_session: false,
                    password_set: state.password_set.clone(),
                };
                let shell = self.shell()?;
                let saved = device.dialect.save(shell, &state);
                saved.map_err(|e| shell.mask(e))?;
            }
            // A fresh session settling an interrupted change.
            None => {
                let fresh = ChangeState {
                    fresh_session: true,
                    ..ChangeState::default()
                };
                let shell = self.shell()?;
                let saved = device.dialect.save(shell, &fresh);
                saved.map_err(|e| shell.mask(e))?
            }
        }
        self.changes.clear();
        self.last_change = None;
        Ok(())
    }

    fn rollback(&mut self, account: &str, old: &Password) -> ConnectorResult<()> {
        let device = self.device.clone();
        let Some((state, new)) = self.changes.remove(account) else {
            return Err(ConnectorError::Protocol {
                target: self.target(),
                detail: format!("no unsaved change of `{account}` to roll back in this session"),
            });
        };
        if !state.session_ended {
            let shell = self.shell()?;
            shell.add_secret(old);
            let rolled_back = device.dialect.rollback(shell, &state, account, old);
            return rolled_back.map_err(|e| shell.mask(e));
        }
        // The device logged the session out with the change: roll back from a fresh one, logged
        // in with the new password when the login account is the one that changed.
        let mut login = self.login.clone();
        if account == login.username {
            login.secret = new.clone();
            login.method = crate::inventory::LoginMethod::Password;
        }
        // A device that logs sessions out after a change may still be doing so when the fresh
        // session arrives (FortiOS): one more fresh login after a pause, never a second change.
        let mut fresh = match device.login_shell(&login) {
            Err(ConnectorError::Protocol { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(500));
                device.login_shell(&login)?
            }
            other => other?,
        };
        fresh.add_secret(old);
        fresh.add_secret(&new);
        let result = device
            .dialect
            .rollback(&mut fresh, &state, account, old)
            .map_err(|e| fresh.mask(e));
        fresh.close();
        result
    }
}
