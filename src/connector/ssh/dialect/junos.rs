//! Juniper Junos: the password is typed at the no-echo `New password:` / `Retype new password:`
//! questions (so the CLI never parses it), the change is activated with `commit confirmed N` so
//! that the device reverts by itself if keyreeve disappears, and it is kept with a plain `commit`
//! after a fresh login proved it. Rollback from the open session is `rollback 1` + `commit`.
//! A login that lands in the FreeBSD shell (root: `%` or `root@h:RE:0% `) is recognised by its
//! prompt and taken into the CLI with `cli` before anything else.

use std::sync::LazyLock;

use regex::Regex;

use super::common::{self, re};
use super::{ChangeState, Dialect, Shell};
use crate::connector::{
    AccountInfo, ChangeMethod, ConnectorError, ConnectorResult, Credentials, PasswordRules, Verification,
};
use crate::inventory::TargetKind;
use crate::secret::{Password, REDACTED};

pub struct Junos;

/// Minutes after which an unconfirmed commit reverts by itself.
pub const CONFIRM_MINUTES: u32 = 5;

static ERRORS: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(error:|syntax error|unknown command|invalid (value|numeric)|missing argument|warning: .*(not|fail))|commit failed",
    )
});
/// Someone else's uncommitted edits would be committed with ours: refuse.
static FOREIGN_CHANGES: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)configuration has been changed but not committed|users currently editing"));
static NEW_PASSWORD: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)new password:\s*\z"));
static RETYPE_PASSWORD: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)retype new password:\s*\z"));
static UNCOMMITTED_EXIT: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)exit with uncommitted changes\?.*\z"));
/// The FreeBSD shell's prompt: `%`, `root@h% `, `root@h:RE:0% ` (never a CLI prompt).
static UNIX_SHELL_PROMPT: LazyLock<Regex> = LazyLock::new(|| re(r"(?:\A|[\r\n])(?:[\w@+\-.:/\[\]]+)?% ?\z"));

/// The CLI's own prompts (operational `>` and configuration `#`), without the shell's `%`.
fn cli_prompt() -> Regex {
    re(r"(?:\A|[\r\n])[\w@+\-.:/\[\]]+[>#] ?\z")
}

static LOGIN_LINE: LazyLock<Regex> =
    LazyLock::new(|| re(r#"^set system login user "?([^"\s]+)"? (class|uid|authentication|full-name)\b\s*(.*)$"#));
static CLASS_PERMISSIONS: LazyLock<Regex> =
    LazyLock::new(|| re(r#"^set system login class "?([^"\s]+)"? permissions (\S+)"#));

const LIST_LOGIN: &str = "show configuration system login | display set";
const LIST_ROOT: &str = "show configuration system root-authentication | display set";

fn parse_accounts(login: &str, root: &str) -> Vec<AccountInfo> {
    let mut all_permission_classes: Vec<String> = vec!["super-user".into()];
    for caps in login.lines().filter_map(|l| CLASS_PERMISSIONS.captures(l.trim_end())) {
        if &caps[2] == "all" {
            all_permission_classes.push(caps[1].to_string());
        }
    }
    let mut users: Vec<(String, Option<String>)> = Vec::new();
    for caps in login.lines().filter_map(|l| LOGIN_LINE.captures(l.trim_end())) {
        let name = caps[1].to_string();
        let idx = match users.iter().position(|u| u.0 == name) {
            Some(i) => i,
            None => {
                users.push((name, None));
                users.len() - 1
            }
        };
        if &caps[2] == "class" {
            users[idx].1 = Some(caps[3].trim_matches('"').to_string());
        }
    }
    let mut accounts: Vec<AccountInfo> = users
        .into_iter()
        .map(|(name, class)| {
            let class = class.unwrap_or_else(|| "none".into());
            let admin = all_permission_classes.contains(&class);
            common::user_account(&name, format!("class {class}"), admin)
        })
        .collect();
    if root.lines().any(|l| l.starts_with("set system root-authentication ")) {
        accounts.push(common::user_account("root", "root-authentication".into(), true));
    }
    accounts
}

fn list(shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
    let login = common::run(shell, LIST_LOGIN, &ERRORS, &[])?;
    let root = common::run(shell, LIST_ROOT, &ERRORS, &[])?;
    Ok(parse_accounts(&login, &root))
}

fn set_command(account: &str) -> String {
    if account == "root" {
        "set system root-authentication plain-text-password".into()
    } else {
        format!("set system login user {account} authentication plain-text-password")
    }
}

/// Leaves configuration mode, discarding what is not committed.
fn exit_discarding(shell: &mut dyn Shell) -> ConnectorResult<()> {
    let _ = shell.command("rollback 0");
    let (q, _) = shell.command_expect("exit configuration-mode", &[&UNCOMMITTED_EXIT])?;
    if q.is_some() {
        shell.command("yes")?;
    }
    Ok(())
}

fn abandon<T>(shell: &mut dyn Shell, err: ConnectorError) -> ConnectorResult<T> {
    let _ = exit_discarding(shell);
    Err(err)
}

impl Dialect for Junos {
    fn kind(&self) -> TargetKind {
        TargetKind::Junos
    }

    fn prompt(&self) -> Regex {
        // Any mode, the FreeBSD shell's bare `%` included: it may be the first prompt after login.
        re(r"(?:\A|[\r\n])(?:[\w@+\-.:/\[\]]+[>#%]|%) ?\z")
    }

    fn pager(&self) -> Option<(Regex, &'static str)> {
        Some((re(r"[ \t]*---\(more(?: \d+%)?\)---\s*\z"), " "))
    }

    fn setup(&self, shell: &mut dyn Shell, _login: &Credentials) -> ConnectorResult<()> {
        // From here on only CLI prompts end a command; a shell prompt is a question to handle.
        // An empty line shows where the login landed: root lands in the FreeBSD shell.
        shell.set_prompt(cli_prompt());
        let (at_shell, _) = shell.command_expect("", &[&UNIX_SHELL_PROMPT])?;
        if at_shell.is_some() {
            let (still, out) = shell.command_expect("cli", &[&UNIX_SHELL_PROMPT])?;
            if still.is_some() {
                return Err(common::unexpected(
                    shell.target(),
                    "starting the Junos CLI from the shell with `cli`",
                    &out,
                    &[],
                ));
            }
            common::check(shell.target(), "starting the Junos CLI with `cli`", &out, &ERRORS, &[])?;
        }
        for line in [
            "set cli screen-length 0",
            "set cli screen-width 511",
            "set cli complete-on-space off",
        ] {
            common::run(shell, line, &ERRORS, &[])?;
        }
        Ok(())
    }

    fn list_accounts(&self, shell: &mut dyn Shell) -> ConnectorResult<Vec<AccountInfo>> {
        list(shell)
    }

    fn password_rules(&self, _account: &str, _method: ChangeMethod) -> PasswordRules {
        PasswordRules {
            min_len: 6,
            max_len: 128,
            // Typed at a no-echo question, never parsed by the CLI.
            forbidden: String::new(),
            // At least one change of case or character class.
            min_classes: 2,
            no_leading_digit: false,
        }
    }

    fn describe_change(&self, account: &str, _method: ChangeMethod) -> Vec<String> {
        vec![
            "configure".into(),
            set_command(account),
            format!("New password: {REDACTED}"),
            format!("Retype new password: {REDACTED}"),
            format!("commit confirmed {CONFIRM_MINUTES}"),
            "(after verification) commit".into(),
        ]
    }

    fn change_password(
        &self,
        shell: &mut dyn Shell,
        account: &str,
        method: ChangeMethod,
        _old: &Password,
        new: &Password,
    ) -> ConnectorResult<ChangeState> {
        let target = shell.target().to_string();
        if method == ChangeMethod::EnableSecret {
            return Err(ConnectorError::Unsupported {
                target,
                kind: self.kind().to_string(),
                operation: "an enable secret".into(),
            });
        }
        if !list(shell)?.iter().any(|a| a.name == account) {
            return Err(ConnectorError::Protocol {
                target,
                detail: format!("no login `{account}` in the configuration"),
            });
        }
        let out = common::run(shell, "configure", &ERRORS, &[])?;
        if FOREIGN_CHANGES.is_match(&out) {
            return abandon(
                shell,
                common::unexpected(&target, "entering configuration mode", &out, &[]),
            );
        }
        let set = set_command(account);
        let (q, out) = shell.command_expect(&set, &[&NEW_PASSWORD])?;
        if q.is_none() {
            return abandon(
                shell,
                common::unexpected(&target, &format!("running `{set}`"), &out, &[]),
            );
        }
        let (q, out) = shell.secret_expect(new, &[&RETYPE_PASSWORD])?;
        if q.is_none() {
            let err = common::check(&target, "typing the new password", &out, &ERRORS, &[new])
                .err()
                .unwrap_or_else(|| common::unexpected(&target, "typing the new password", &out, &[new]));
            return abandon(shell, err);
        }
        let out = shell.command_secret(new)?;
        if let Err(e) = common::check(&target, "retyping the new password", &out, &ERRORS, &[new]) {
            return abandon(shell, e);
        }
        let commit = format!("commit confirmed {CONFIRM_MINUTES}");
        let out = match common::run(shell, &commit, &ERRORS, &[new]) {
            Ok(out) => out,
            Err(e) => return abandon(shell, e),
        };
        if !out.contains("commit complete") {
            return abandon(
                shell,
                common::unexpected(&target, &format!("running `{commit}`"), &out, &[]),
            );
        }
        Ok(ChangeState::default())
    }

    fn save(&self, shell: &mut dyn Shell, state: &ChangeState) -> ConnectorResult<()> {
        if state.fresh_session {
            // A fresh session confirming a commit that an interrupted session left pending.
            common::run(shell, "configure", &ERRORS, &[])?;
        }
        let out = common::run(shell, "commit", &ERRORS, &[])?;
        if !out.contains("commit complete") {
            return Err(common::unexpected(shell.target(), "confirming the commit", &out, &[]));
        }
        exit_discarding(shell)
    }

    fn rollback(
        &self,
        shell: &mut dyn Shell,
        state: &ChangeState,
        _account: &str,
        _old: &Password,
    ) -> ConnectorResult<()> {
        if state.fresh_session {
            common::run(shell, "configure", &ERRORS, &[])?;
        }
        // If this fails too, the confirmed commit still expires and the device reverts by itself.
        common::run(shell, "rollback 1", &ERRORS, &[])?;
        let out = common::run(shell, "commit", &ERRORS, &[])?;
        if !out.contains("commit complete") {
            return Err(common::unexpected(shell.target(), "committing the rollback", &out, &[]));
        }
        exit_discarding(shell)
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
    use super::super::common::fake::{cmd, secret, FakeShell, Step, PAGER_KEY};
    use super::*;

    const OP: &str = "netops@srx300> ";
    const CF: &str = "\r\n[edit]\r\nnetops@srx300# ";

    fn listing() -> Vec<Step> {
        vec![
            cmd(
                LIST_LOGIN,
                &format!(
                    "{LIST_LOGIN}\r\nset system login class noc idle-timeout 30\r\n\
                     set system login class noc permissions all\r\n\
                     set system login user netops uid 2001\r\n\
                     set system login user netops class super-user\r\n\
                     set system login user netops authentication encrypted-password \"$6$abc$def\"\r\n\
                     ---(more)---{PAGER_KEY}\r                                        \r\
                     set system login user viewer uid 2002\r\n\
                     set system login user viewer class read-only\r\n\
                     set system login user viewer authentication encrypted-password \"$6$ghi$jkl\"\r\n\
                     set system login user oncall uid 2003\r\n\
                     set system login user oncall class noc\r\n\r\n{OP}"
                ),
            ),
            cmd(
                LIST_ROOT,
                &format!("{LIST_ROOT}\r\nset system root-authentication encrypted-password \"$6$rrr$sss\"\r\n\r\n{OP}"),
            ),
        ]
    }

    #[test]
    fn lists_classes_custom_all_permission_classes_and_root() {
        let d = Junos;
        let mut sh = FakeShell::new(&d, listing());
        let accounts = d.list_accounts(&mut sh).unwrap();
        sh.finish();
        let summary: Vec<(&str, &str, bool)> = accounts
            .iter()
            .map(|a| (a.name.as_str(), a.privilege.as_str(), a.admin))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("netops", "class super-user", true),
                ("viewer", "class read-only", false),
                ("oncall", "class noc", true),
                ("root", "root-authentication", true),
            ]
        );
    }

    fn change_steps(account: &str, set: &str) -> Vec<Step> {
        let mut steps = listing();
        steps.extend([
            cmd("configure", &format!("configure\r\nEntering configuration mode\r\n{CF}")),
            cmd(set, &format!("{set}\r\nNew password:")),
            secret("Jun0s pass!?", "\r\nRetype new password:"),
            secret("Jun0s pass!?", &format!("\r\n{CF}")),
            cmd(
                "commit confirmed 5",
                &format!("commit confirmed 5\r\ncommit confirmed will be automatically rolled back in 5 minutes unless confirmed\r\ncommit complete\r\n\r\n# commit confirmed will be rolled back in 5 minutes\r\n{CF}"),
            ),
        ]);
        let _ = account;
        steps
    }

    #[test]
    fn change_types_the_password_twice_and_commits_confirmed_then_save_commits() {
        let d = Junos;
        let mut steps = change_steps(
            "viewer",
            "set system login user viewer authentication plain-text-password",
        );
        steps.extend([
            cmd("commit", &format!("commit\r\ncommit complete\r\n{CF}")),
            cmd("rollback 0", &format!("rollback 0\r\nload complete\r\n{CF}")),
            cmd(
                "exit configuration-mode",
                &format!("exit configuration-mode\r\nExiting configuration mode\r\n\r\n{OP}"),
            ),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let state = d
            .change_password(
                &mut sh,
                "viewer",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Jun0s pass!?"),
            )
            .unwrap();
        d.save(&mut sh, &state).unwrap();
        sh.finish();
    }

    #[test]
    fn root_password_rollback_is_rollback_one_and_commit() {
        let d = Junos;
        let mut steps = change_steps("root", "set system root-authentication plain-text-password");
        steps.extend([
            cmd("rollback 1", &format!("rollback 1\r\nload complete\r\n{CF}")),
            cmd("commit", &format!("commit\r\ncommit complete\r\n{CF}")),
            cmd("rollback 0", &format!("rollback 0\r\nload complete\r\n{CF}")),
            cmd("exit configuration-mode", &format!("exit configuration-mode\r\n{OP}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let state = d
            .change_password(
                &mut sh,
                "root",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Jun0s pass!?"),
            )
            .unwrap();
        d.rollback(&mut sh, &state, "root", &Password::new("o")).unwrap();
        sh.finish();
    }

    #[test]
    fn a_password_judged_too_simple_is_rejected_and_discarded() {
        let d = Junos;
        let mut steps = listing();
        let set = "set system login user viewer authentication plain-text-password";
        steps.extend([
            cmd("configure", &format!("configure\r\nEntering configuration mode\r\n{CF}")),
            cmd(set, &format!("{set}\r\nNew password:")),
            secret("aaaaaa", "\r\nRetype new password:"),
            secret("aaaaaa", &format!("\r\nerror: require change of case, digits or punctuation\r\n{CF}")),
            cmd("rollback 0", &format!("rollback 0\r\nload complete\r\n{CF}")),
            cmd(
                "exit configuration-mode",
                "exit configuration-mode\r\nThe configuration has been changed but not committed\r\nExit with uncommitted changes? [yes,no] (yes) ",
            ),
            cmd("yes", &format!("yes\r\nExiting configuration mode\r\n\r\n{OP}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let e = d
            .change_password(
                &mut sh,
                "viewer",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("aaaaaa"),
            )
            .unwrap_err();
        assert!(e.is_password_rejected(), "{e}");
        sh.finish();
    }

    #[test]
    fn a_failed_commit_is_reported_and_the_candidate_discarded() {
        let d = Junos;
        let mut steps = listing();
        let set = "set system login user viewer authentication plain-text-password";
        steps.extend([
            cmd("configure", &format!("configure\r\nEntering configuration mode\r\n{CF}")),
            cmd(set, &format!("{set}\r\nNew password:")),
            secret("Abcdef1", "\r\nRetype new password:"),
            secret("Abcdef1", &format!("\r\n{CF}")),
            cmd(
                "commit confirmed 5",
                &format!("commit confirmed 5\r\n[edit system]\r\n  'login'\r\n    Missing mandatory statement: 'class'\r\nerror: commit failed: (missing mandatory statements)\r\n{CF}"),
            ),
            cmd("rollback 0", &format!("rollback 0\r\nload complete\r\n{CF}")),
            cmd("exit configuration-mode", &format!("exit configuration-mode\r\n{OP}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let e = d
            .change_password(
                &mut sh,
                "viewer",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("Abcdef1"),
            )
            .unwrap_err();
        assert!(matches!(e, ConnectorError::UnexpectedOutput { .. }), "{e}");
        assert!(e.to_string().contains("commit failed"), "{e}");
        sh.finish();
    }

    #[test]
    fn someone_elses_uncommitted_changes_stop_the_change() {
        let d = Junos;
        let mut steps = listing();
        steps.extend([
            cmd(
                "configure",
                &format!("configure\r\nUsers currently editing the configuration:\r\n  alice terminal pts/1 (pid 1234) on since 2026-11-27 10:00:00 UTC\r\nThe configuration has been changed but not committed\r\nEntering configuration mode\r\n{CF}"),
            ),
            cmd("rollback 0", &format!("rollback 0\r\n{CF}")),
            cmd("exit configuration-mode", &format!("exit configuration-mode\r\n{OP}")),
        ]);
        let mut sh = FakeShell::new(&d, steps);
        let e = d
            .change_password(
                &mut sh,
                "viewer",
                ChangeMethod::AdminReset,
                &Password::new("o"),
                &Password::new("n"),
            )
            .unwrap_err();
        assert!(e.to_string().contains("changed but not committed"), "{e}");
        sh.finish();
    }

    #[test]
    fn save_from_a_fresh_session_confirms_the_pending_commit() {
        let d = Junos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd(
                    "configure",
                    &format!("configure\r\nEntering configuration mode\r\n[edit]\r\n  'commit confirmed' must be confirmed by issuing 'commit' before the rollback\r\n{CF}"),
                ),
                cmd("commit", &format!("commit\r\ncommit complete\r\n{CF}")),
                cmd("rollback 0", &format!("rollback 0\r\nload complete\r\n{CF}")),
                cmd("exit configuration-mode", &format!("exit configuration-mode\r\n{OP}")),
            ],
        );
        let fresh = ChangeState {
            fresh_session: true,
            ..ChangeState::default()
        };
        d.save(&mut sh, &fresh).unwrap();
        sh.finish();
    }

    fn cli_setup_steps(prompt: &str) -> Vec<Step> {
        vec![
            cmd(
                "set cli screen-length 0",
                &format!("set cli screen-length 0\r\nScreen length set to 0\r\n\r\n{prompt}"),
            ),
            cmd(
                "set cli screen-width 511",
                &format!("set cli screen-width 511\r\nScreen width set to 511\r\n\r\n{prompt}"),
            ),
            cmd(
                "set cli complete-on-space off",
                &format!("set cli complete-on-space off\r\nDisabling complete-on-space\r\n\r\n{prompt}"),
            ),
        ]
    }

    fn login(user: &str) -> Credentials {
        Credentials {
            username: user.into(),
            method: crate::inventory::LoginMethod::Password,
            secret: Password::new("x"),
            enable: None,
        }
    }

    #[test]
    fn setup_recognises_the_shell_by_its_prompt_whatever_the_login_name() {
        for shell_prompt in ["root@srx300:RE:0% ", "% ", "root@srx300% "] {
            let d = Junos;
            let mut steps = vec![
                cmd("", &format!("\r\n{shell_prompt}")),
                cmd("cli", "cli\r\n\r\n{primary:node0}\r\nlab@srx300> "),
            ];
            steps.extend(cli_setup_steps("{primary:node0}\r\nlab@srx300> "));
            let mut sh = FakeShell::new(&d, steps);
            // A renamed super-user whose login shell is sh lands there just like root.
            d.setup(&mut sh, &login("lab")).unwrap();
            sh.finish();
        }
    }

    #[test]
    fn setup_does_not_send_cli_when_the_login_is_already_in_the_cli() {
        let d = Junos;
        let mut steps = vec![cmd("", "\r\n\r\nroot@srx300> ")];
        steps.extend(cli_setup_steps("root@srx300> "));
        let mut sh = FakeShell::new(&d, steps);
        d.setup(&mut sh, &login("root")).unwrap();
        sh.finish();
    }

    #[test]
    fn a_shell_without_the_cli_is_reported_not_waited_on() {
        let d = Junos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd("", "\r\nroot@srx300:RE:0% "),
                cmd("cli", "cli\r\ncli: Command not found.\r\nroot@srx300:RE:0% "),
            ],
        );
        let e = d.setup(&mut sh, &login("root")).unwrap_err();
        assert!(matches!(e, ConnectorError::UnexpectedOutput { .. }), "{e}");
        assert!(e.to_string().contains("cli: Command not found."), "{e}");
        sh.finish();
    }

    #[test]
    fn setup_leaves_the_root_shell_and_sets_the_cli_up() {
        let d = Junos;
        let mut sh = FakeShell::new(
            &d,
            vec![
                cmd("", "\r\nroot@srx300:RE:0% "),
                cmd("cli", "cli\r\nroot@srx300> "),
                cmd(
                    "set cli screen-length 0",
                    "set cli screen-length 0\r\nScreen length set to 0\r\n\r\nroot@srx300> ",
                ),
                cmd(
                    "set cli screen-width 511",
                    "set cli screen-width 511\r\nScreen width set to 511\r\n\r\nroot@srx300> ",
                ),
                cmd(
                    "set cli complete-on-space off",
                    "set cli complete-on-space off\r\nDisabling complete-on-space\r\n\r\nroot@srx300> ",
                ),
            ],
        );
        let login = Credentials {
            username: "root".into(),
            method: crate::inventory::LoginMethod::Password,
            secret: Password::new("x"),
            enable: None,
        };
        d.setup(&mut sh, &login).unwrap();
        sh.finish();
    }

    #[test]
    fn prompts() {
        let p = Junos.prompt();
        for ok in [
            "oxidized> ",
            "netops@srx300> ",
            "[edit]\nnetops@srx300# ",
            "root@srx:RE:0% ",
            "% ",
            "{master:0}\nroot@srx> ",
        ] {
            assert!(p.is_match(ok), "{ok:?}");
        }
        assert!(!p.is_match("New password:"));
        // Once set up, the shell's prompt no longer ends a CLI command.
        assert!(!cli_prompt().is_match("root@srx:RE:0% ") && !cli_prompt().is_match("% "));
        assert!(cli_prompt().is_match("[edit]\nroot@srx# "));
        for shell in ["root@srx:RE:0% ", "% ", "\nroot@srx% "] {
            assert!(UNIX_SHELL_PROMPT.is_match(shell), "{shell:?}");
        }
        assert!(!UNIX_SHELL_PROMPT.is_match("root@srx> ") && !UNIX_SHELL_PROMPT.is_match("  /dev/ada0  45% "));
    }
}
