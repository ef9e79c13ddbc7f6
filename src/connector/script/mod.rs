//! Scripted targets (`kind = "script"`): anything with an API or a CLI keyreeve has no dialect
//! for, through a changer program of the workspace's own, spoken to by the protocol of
//! docs/changers.md. One verb argument (`list`, `change`, `verify`, `rollback`), one JSON document
//! on stdin, secrets never in argv or the environment; exit 0 done, 3 the target refused the new
//! password, 4 wrong credentials, anything else a failure. The rotation engine drives it like any
//! other connector, so the journal, fresh-login verification, rollback and recover hold as they
//! do for built-in kinds.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{
    AccountInfo, AccountKind, ChangeMethod, ChangeSession, ConnectContext, Connector, ConnectorError, ConnectorResult,
    Credentials, PasswordRules, Verification,
};
use crate::inventory::Target;
use crate::secret::Password;

mod process;
use process::Ended;

/// Exit code: the target refused the new password (its policy).
pub const EXIT_REFUSED: i32 = 3;
/// Exit code: the login credentials were refused.
pub const EXIT_WRONG_CREDENTIALS: i32 = 4;

/// A request larger than a pipe's buffer could block keyreeve on a changer that never reads it.
const REQUEST_LIMIT: usize = 60 << 10;

/// The connector of a script target.
pub fn connector(target: &Target, ctx: &ConnectContext) -> ConnectorResult<Box<dyn Connector>> {
    let refuse = |reason: String| ConnectorError::Protocol {
        target: target.path(),
        detail: format!("keyreeve.toml:{}: {reason}", target.line),
    };
    let script = target
        .script
        .as_ref()
        .ok_or_else(|| refuse("a script target needs `changer`".into()))?;
    let changer = script.resolve(&ctx.workspace_root).map_err(refuse)?;
    Ok(Box::new(ScriptConnector(Arc::new(Changer {
        target: target.path(),
        target_name: target.name.clone(),
        address: target.address.clone(),
        port: (target.port != 0).then_some(target.port),
        params: script.params.clone(),
        shown: script.changer.to_string_lossy().into_owned(),
        program: changer,
        dir: ctx.workspace_root.clone(),
        timeout: target.command_timeout,
    }))))
}

/// Everything needed to run the changer of one target.
struct Changer {
    /// `CLIENT/TARGET`, for messages.
    target: String,
    /// The target's own name, for the request.
    target_name: String,
    address: String,
    port: Option<u16>,
    params: serde_json::Map<String, serde_json::Value>,
    /// The changer as the inventory names it, for messages.
    shown: String,
    program: PathBuf,
    dir: PathBuf,
    timeout: Duration,
}

#[derive(Serialize)]
struct TargetJson<'a> {
    name: &'a str,
    address: &'a str,
    port: Option<u16>,
    params: &'a serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct LoginJson<'a> {
    username: &'a str,
    password: &'a Password,
}

/// The document on the changer's stdin. The passwords are serialized straight into a zeroizing
/// buffer, never into an intermediate `serde_json::Value`.
#[derive(Serialize)]
struct Request<'a> {
    verb: &'a str,
    target: TargetJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a str>,
    login: LoginJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_password: Option<&'a Password>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_password: Option<&'a Password>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a Password>,
}

#[derive(Deserialize)]
struct ListReply {
    accounts: Vec<ListedAccount>,
}

#[derive(Deserialize)]
struct ListedAccount {
    name: String,
    admin: bool,
    #[serde(default)]
    privilege: String,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct VerifyReply {
    accepted: bool,
}

/// One request's passwords, for the request and for masking what the changer says.
#[derive(Default)]
struct Secrets<'a> {
    old: Option<&'a Password>,
    new: Option<&'a Password>,
    password: Option<&'a Password>,
}

impl Changer {
    /// Runs `verb` and returns its stdout, or the error its exit code means.
    fn call(
        &self,
        verb: &str,
        account: Option<&str>,
        login: &Credentials,
        secrets: Secrets<'_>,
    ) -> ConnectorResult<Vec<u8>> {
        let request = Request {
            verb,
            target: TargetJson {
                name: &self.target_name,
                address: &self.address,
                port: self.port,
                params: &self.params,
            },
            account,
            login: LoginJson {
                username: &login.username,
                password: &login.secret,
            },
            old_password: secrets.old,
            new_password: secrets.new,
            password: secrets.password,
        };
        // Measured first, then written into a buffer of exactly that size: no reallocation
        // leaves an unzeroized copy of a password behind.
        let mut size = ByteCount(0);
        let measured = serde_json::to_writer(&mut size, &request);
        if measured.is_err() || size.0 > REQUEST_LIMIT {
            return Err(self.protocol(format!(
                "the request to the changer is over {} KiB (shorten `params`)",
                REQUEST_LIMIT >> 10
            )));
        }
        let mut input = Zeroizing::new(Vec::with_capacity(size.0 + 1));
        serde_json::to_writer(&mut *input, &request)
            .map_err(|e| self.protocol(format!("cannot write the request: {e}")))?;
        input.push(b'\n');
        let mask: Vec<&Password> = [Some(&login.secret), secrets.old, secrets.new, secrets.password]
            .into_iter()
            .flatten()
            .collect();
        let ended = process::run(&self.program, verb, &self.dir, &input, self.timeout)
            .map_err(|e| self.protocol(format!("cannot run changer `{}`: {e}", self.shown)))?;
        drop(input);
        let said = |stderr: &[u8]| -> String {
            let text = String::from_utf8_lossy(stderr);
            let masked = crate::secret::mask_fragments(text.trim_end(), &mask);
            crate::escape::terminal_lines(&masked).into_owned()
        };
        match ended {
            Ended::TimedOut { stderr } => {
                let stderr = said(&stderr);
                if !stderr.is_empty() {
                    tracing::warn!(target: "keyreeve::changer", "{}: changer `{}` {verb} (killed): {stderr}", self.target, self.shown);
                }
                Err(ConnectorError::Timeout {
                    target: self.target.clone(),
                    seconds: self.timeout.as_secs(),
                    during: format!(
                        "running changer `{}` {verb} (killed with its process group)",
                        self.shown
                    ),
                })
            }
            Ended::Exited { code, stdout, stderr } => {
                let stderr = said(&stderr);
                match code {
                    Some(0) => {
                        if !stderr.is_empty() {
                            tracing::warn!(target: "keyreeve::changer", "{}: changer `{}` {verb}: {stderr}", self.target, self.shown);
                        }
                        Ok(stdout)
                    }
                    Some(EXIT_REFUSED) => Err(ConnectorError::PasswordRejected {
                        target: self.target.clone(),
                        reason: or_nothing(stderr),
                    }),
                    Some(EXIT_WRONG_CREDENTIALS) => {
                        if !stderr.is_empty() {
                            tracing::warn!(target: "keyreeve::changer", "{}: changer `{}` {verb}: {stderr}", self.target, self.shown);
                        }
                        Err(ConnectorError::AuthFailed {
                            target: self.target.clone(),
                            user: login.username.clone(),
                        })
                    }
                    other => {
                        let status = other.map_or("was killed by a signal".to_string(), |c| format!("exited with {c}"));
                        Err(self.protocol(format!(
                            "changer `{}` {verb} {status}: {}",
                            self.shown,
                            or_nothing(stderr)
                        )))
                    }
                }
            }
        }
    }

    fn protocol(&self, detail: String) -> ConnectorError {
        ConnectorError::Protocol {
            target: self.target.clone(),
            detail,
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(&self, verb: &str, stdout: &[u8]) -> ConnectorResult<T> {
        serde_json::from_slice(stdout).map_err(|e| {
            self.protocol(format!(
                "changer `{}` {verb} printed no valid answer on stdout ({e}); see docs/changers.md",
                self.shown
            ))
        })
    }
}

/// A writer that only counts what it is given.
struct ByteCount(usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn or_nothing(stderr: String) -> String {
    if stderr.is_empty() {
        "(nothing on stderr)".into()
    } else {
        stderr
    }
}

struct ScriptConnector(Arc<Changer>);

impl Connector for ScriptConnector {
    fn name(&self) -> &str {
        &self.0.target
    }

    fn password_rules(&self, _account: &str) -> PasswordRules {
        PasswordRules::default()
    }

    fn change_method(&self, login_user: &str, account: &str) -> ChangeMethod {
        if login_user == account {
            ChangeMethod::SelfChange
        } else {
            ChangeMethod::AdminReset
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![format!(
            "{} change   # stdin: {{\"account\": \"{account}\", \"login\": {{..., \"password\": \"********\"}}, \"old_password\": \"********\", \"new_password\": \"********\"}}",
            self.0.shown
        )]
    }

    fn list_accounts(&self, login: &Credentials) -> ConnectorResult<Vec<AccountInfo>> {
        let stdout = self.0.call("list", None, login, Secrets::default())?;
        let reply: ListReply = self.0.parse("list", &stdout)?;
        Ok(reply
            .accounts
            .into_iter()
            .map(|a| AccountInfo {
                name: a.name,
                kind: AccountKind::User,
                privilege: a.privilege,
                admin: a.admin,
                enabled: a.enabled,
                details: Default::default(),
            })
            .collect())
    }

    fn open(&self, login: &Credentials) -> ConnectorResult<Box<dyn ChangeSession>> {
        Ok(Box::new(ScriptSession {
            changer: self.0.clone(),
            login: login.clone(),
            changed: None,
        }))
    }

    fn verify(&self, login: &Credentials, account: &str, password: &Password) -> ConnectorResult<Verification> {
        let secrets = Secrets {
            password: Some(password),
            ..Secrets::default()
        };
        let stdout = self.0.call("verify", Some(account), login, secrets)?;
        let reply: VerifyReply = self.0.parse("verify", &stdout)?;
        Ok(if reply.accepted {
            Verification::Accepted
        } else {
            Verification::Rejected
        })
    }
}

/// A changer keeps no session: each verb is a run of its own. What the session remembers is
/// which password the change set, for the rollback's request and the login after a self-change.
struct ScriptSession {
    changer: Arc<Changer>,
    login: Credentials,
    changed: Option<Password>,
}

impl ChangeSession for ScriptSession {
    fn change_password(
        &mut self,
        account: &str,
        method: ChangeMethod,
        old: &Password,
        new: &Password,
    ) -> ConnectorResult<()> {
        let secrets = Secrets {
            old: Some(old),
            new: Some(new),
            password: None,
        };
        self.changer.call("change", Some(account), &self.login, secrets)?;
        self.changed = Some(new.clone());
        if method == ChangeMethod::SelfChange {
            self.login.secret = new.clone();
        }
        Ok(())
    }

    fn save(&mut self) -> ConnectorResult<()> {
        Ok(())
    }

    fn rollback(&mut self, account: &str, old: &Password) -> ConnectorResult<()> {
        let Some(new) = self.changed.clone() else {
            return Ok(());
        };
        let secrets = Secrets {
            old: Some(old),
            new: Some(&new),
            password: None,
        };
        self.changer.call("rollback", Some(account), &self.login, secrets)?;
        if self.login.username == account {
            self.login.secret = old.clone();
        }
        Ok(())
    }
}
