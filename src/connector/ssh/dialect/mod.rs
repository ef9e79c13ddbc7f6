//! What a network operating system's CLI is like, one file per dialect: prompts, paging,
//! privileged mode, how to list accounts, change a password, save, roll back, and which characters
//! its CLI cannot take. A dialect drives a [`Shell`]: an interactive session that the SSH engine
//! provides (and tests fake with captured output).

use regex::Regex;

use crate::connector::{AccountInfo, ChangeMethod, ConnectorResult, Credentials, PasswordRules, Verification};
use crate::inventory::TargetKind;
use crate::secret::Password;

mod common;
mod config_xml;

pub mod arista_eos;
pub mod aruba_aoscx;
pub mod aruba_aoss;
pub mod cisco_asa;
pub mod cisco_ios;
pub mod cisco_nxos;
pub mod esxi;
pub mod fortios;
pub mod junos;
pub mod opnsense;
pub mod panos;
pub mod pfsense;
mod posix_shell;
pub mod routeros;
pub mod sonicos;
pub mod synology_dsm;
pub mod unifi;
pub mod vyos;

/// An interactive shell on a device, positioned at a prompt. Implemented by the SSH engine.
///
/// Output returned by these methods has line endings normalised to `\n`, ANSI escapes stripped,
/// the echoed command and the trailing prompt removed, pagers answered, and every secret the shell
/// was ever given replaced by `********`.
pub trait Shell {
    /// `CLIENT/TARGET`, for errors.
    fn target(&self) -> &str;

    /// Sends `line` and reads until the prompt; returns the output.
    fn command(&mut self, line: &str) -> ConnectorResult<String>;

    /// Sends `line` (which holds a secret: it is never logged or shown) and reads until the prompt.
    fn command_secret(&mut self, line: &Password) -> ConnectorResult<String>;

    /// Sends `line`, then reads until the prompt or one of `questions`; returns which question
    /// matched (None for the prompt) and the output so far.
    fn command_expect(&mut self, line: &str, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)>;

    /// Like [`Shell::command_expect`] for a line holding a secret (e.g. the answer to a
    /// `New password:` question, or a command with the password in it).
    fn secret_expect(&mut self, line: &Password, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)>;

    /// Changes the prompt pattern (e.g. after `enable` or entering configuration mode is handled by
    /// the general pattern, but some dialects change it entirely).
    fn set_prompt(&mut self, prompt: Regex);
}

/// What the dialect remembers between a change and its save or rollback (e.g. the old hash line).
#[derive(Debug, Default)]
pub struct ChangeState {
    /// Configuration lines that restore the previous state (may hold password hashes, never
    /// plaintext passwords).
    pub restore_lines: Vec<String>,
    /// A checkpoint or session name created for the change.
    pub checkpoint: Option<String>,
    /// The device ended the session as part of the change (FortiOS logs an admin out when its own
    /// password changes, after `end` has already saved it). `save` then has nothing left to do;
    /// a rollback needs a fresh session logged in with the new password, because the old one no
    /// longer works.
    pub session_ended: bool,
    /// `save` runs in a fresh session that made no change itself: `recover` (after a crash)
    /// proved the new password works and needs it made permanent from wherever the device is
    /// (e.g. Junos: enter configuration mode and confirm the pending `commit confirmed`).
    pub fresh_session: bool,
    /// The password the change set, for dialects whose rollback command must name the password
    /// in force (SonicOS's built-in administrator: `old-password NEW new-password OLD`).
    pub password_set: Option<Password>,
}

/// One vendor's CLI.
pub trait Dialect: Send + Sync {
    fn kind(&self) -> TargetKind;

    /// Regex for the prompt at the end of the buffer, any mode (user, privileged, config).
    fn prompt(&self) -> Regex;

    /// Regex for the pager prompt (e.g. `--More--`) and the key that answers it.
    fn pager(&self) -> Option<(Regex, &'static str)>;

    /// The username to send at SSH login (RouterOS appends `+ct511w4098h`).
    fn login_username(&self, username: &str) -> String {
        username.to_string()
    }

    /// Questions a device may ask between authentication and its first prompt, with the exact
    /// keys that answer each (the engine writes them as they are, Enter included): FortiOS
    /// `(Press 'a' to accept):` -> `a\n`, RouterOS's license `[Y/n]` -> `n\n`. The engine answers
    /// them while it waits for the first prompt.
    fn login_questions(&self) -> Vec<(Regex, &'static str)> {
        Vec::new()
    }

    /// The OS's own password question after SSH authentication (SonicOS asks `Password:` in the
    /// shell); `prompt()` must also match it, so that the engine stops there. None: the SSH
    /// login is the login.
    fn shell_password_question(&self) -> Option<Regex> {
        None
    }

    /// Answers [`Dialect::shell_password_question`] with `password`, once; Ok(false) when the OS
    /// refused it (it is never sent twice).
    fn answer_shell_password(&self, _shell: &mut dyn Shell, _password: &Password) -> ConnectorResult<bool> {
        Ok(true)
    }

    /// After login: answer banners, disable paging, enter privileged mode with `login.enable`.
    fn setup(&self, shell: &mut dyn Shell, login: &Credentials) -> ConnectorResult<()>;

    /// Lists local accounts with their privilege; marks the administrative ones.
    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>>;

    /// Characters and lengths this CLI can take for `account`'s password.
    fn password_rules(&self, account: &str, method: ChangeMethod) -> PasswordRules;

    /// The commands a change sends, secrets as `********`.
    fn describe_change(&self, account: &str, method: ChangeMethod) -> Vec<String>;

    /// Changes the password in the open session, unsaved where the OS allows it, and returns what
    /// is needed to roll back.
    fn change_password(
        &self,
        shell: &mut dyn Shell,
        account: &str,
        method: ChangeMethod,
        old: &Password,
        new: &Password,
    ) -> ConnectorResult<ChangeState>;

    /// Makes the change permanent (write memory, commit, confirm).
    fn save(&self, shell: &mut dyn Shell, state: &ChangeState) -> ConnectorResult<()>;

    /// Undoes the unsaved change from the still-open session.
    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        account: &str,
        old: &Password,
    ) -> ConnectorResult<()>;

    /// In a fresh session set up with the login account, tries `enable` with `candidate`.
    fn verify_enable(&self, shell: &mut dyn Shell, candidate: &Password) -> ConnectorResult<Verification>;
}

/// Refuses an account name that is not a plain name ([`crate::inventory::is_valid_name`], what a
/// vault path can hold), before anything is sent. Dialects put account names into CLI command
/// lines, where a line break would end the line and a space, quote or `?` would change what it
/// means; each dialect also looks the name up in its listing first, but that is a property of
/// each dialect, not a rule. Names reach a connector from the vault and from plans, files that
/// others may have written; the name is shown escaped.
pub fn check_account_name(target: &str, account: &str) -> ConnectorResult<()> {
    if crate::inventory::is_valid_name(account) {
        return Ok(());
    }
    Err(crate::connector::ConnectorError::Unsafe {
        target: target.to_string(),
        reason: format!(
            "account name {} is not a plain name (letters, digits, `-_.@$`); nothing was sent",
            account.escape_debug()
        ),
    })
}

/// The dialect of a network-device kind; `None` for kinds that are not network devices (linux,
/// directories).
pub fn for_kind(kind: TargetKind) -> Option<Box<dyn Dialect>> {
    Some(match kind {
        TargetKind::CiscoIos => Box::new(cisco_ios::CiscoIos),
        TargetKind::CiscoNxos => Box::new(cisco_nxos::CiscoNxos),
        TargetKind::CiscoAsa => Box::new(cisco_asa::CiscoAsa),
        TargetKind::Junos => Box::new(junos::Junos),
        TargetKind::AristaEos => Box::new(arista_eos::AristaEos),
        TargetKind::Routeros => Box::new(routeros::RouterOs),
        TargetKind::Fortios => Box::new(fortios::FortiOs),
        TargetKind::Vyos => Box::new(vyos::Vyos),
        TargetKind::ArubaAoscx => Box::new(aruba_aoscx::ArubaAoscx),
        TargetKind::ArubaAoss => Box::new(aruba_aoss::ArubaAoss),
        TargetKind::Esxi => Box::new(esxi::Esxi),
        TargetKind::SynologyDsm => Box::new(synology_dsm::SynologyDsm),
        TargetKind::Pfsense => Box::new(pfsense::PfSense),
        TargetKind::Opnsense => Box::new(opnsense::OpnSense),
        TargetKind::Panos => Box::new(panos::PanOs),
        TargetKind::Sonicos => Box::new(sonicos::SonicOs),
        TargetKind::Unifi => Box::new(unifi::Unifi),
        TargetKind::Linux
        | TargetKind::ActiveDirectory
        | TargetKind::Ldap
        | TargetKind::Manual
        | TargetKind::Script => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_network_kind_has_its_dialect_and_only_those() {
        for kind in TargetKind::ALL {
            match for_kind(kind) {
                Some(d) => assert_eq!(d.kind(), kind),
                None => assert!(matches!(
                    kind,
                    TargetKind::Linux
                        | TargetKind::ActiveDirectory
                        | TargetKind::Ldap
                        | TargetKind::Manual
                        | TargetKind::Script
                )),
            }
        }
    }

    #[test]
    fn every_described_change_shows_where_the_secret_goes() {
        for kind in TargetKind::ALL {
            let Some(d) = for_kind(kind) else { continue };
            for method in [
                ChangeMethod::AdminReset,
                ChangeMethod::SelfChange,
                ChangeMethod::EnableSecret,
            ] {
                let lines = d.describe_change("netops", method);
                assert!(!lines.is_empty(), "{kind}");
                let has_enable = matches!(
                    kind,
                    TargetKind::CiscoIos | TargetKind::CiscoAsa | TargetKind::AristaEos
                );
                if method != ChangeMethod::EnableSecret || has_enable {
                    assert!(
                        lines.iter().any(|l| l.contains(crate::secret::REDACTED)),
                        "{kind} {method:?}: {lines:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_prompt_pattern_is_anchored_at_the_end() {
        for kind in TargetKind::ALL {
            let Some(d) = for_kind(kind) else { continue };
            let p = d.prompt().as_str().to_string();
            assert!(p.ends_with(r"\z"), "{kind}: {p}");
        }
    }
}
