//! The linux connector and the SSH engine against a real OpenSSH sshd on 127.0.0.1:2222, started
//! by `tests/lab/sshd.sh` (run as root). Each test uses its own `kr_*` user: /etc/shadow is shared.
//! Secrets reach sshd and chpasswd only through stdin and the SSH protocol, never argv.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyreeve::connector::{
    self, AccountKind, ChangeMethod, ConnectContext, Connector, ConnectorError, Credentials, Verification,
};
use keyreeve::inventory::{Inventory, LoginMethod, Target};
use keyreeve::Password;
use rand::Rng;

const PORT: u16 = 2222;

fn lab_dir() -> PathBuf {
    let base = std::env::var_os("KEYREEVE_LAB_DIR").map_or_else(|| PathBuf::from("/tmp/keyreeve-lab"), PathBuf::from);
    base.join("sshd")
}

/// Panics loudly unless the sshd lab is up.
fn lab() -> PathBuf {
    let dir = lab_dir();
    let up = dir.join("host_key_fingerprint").is_file()
        && std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], PORT).into(), Duration::from_secs(2)).is_ok();
    assert!(
        up,
        "lab missing: run tests/lab/up.sh (or tests/lab/sshd.sh) as root; no sshd on 127.0.0.1:{PORT} with state in {}",
        dir.display()
    );
    dir
}

fn fingerprint() -> String {
    std::fs::read_to_string(lab().join("host_key_fingerprint"))
        .unwrap()
        .trim()
        .to_string()
}

fn target(name: &str, login: &str, method: &str, pin: Option<&str>, port: u16) -> Target {
    let pin = pin.map(|p| format!("host_key = \"{p}\"\n")).unwrap_or_default();
    let text = format!(
        "[clients.lab]\n[[clients.lab.targets]]\nname = \"{name}\"\nkind = \"linux\"\naddress = \"127.0.0.1\"\n\
         port = {port}\nlogin = \"{login}\"\nlogin_method = \"{method}\"\n{pin}connect_timeout = 2\ncommand_timeout = 20\n"
    );
    Inventory::parse(&text, Path::new("keyreeve.toml"))
        .unwrap()
        .target("lab", name)
        .unwrap()
        .clone()
}

struct Ctx {
    _dir: tempfile::TempDir,
    ctx: ConnectContext,
}

fn ctx(trust_on_first_use: bool) -> Ctx {
    let dir = tempfile::tempdir().unwrap();
    let ctx = ConnectContext {
        known_hosts: dir.path().join("known_hosts"),
        workspace_root: dir.path().to_path_buf(),
        trust_on_first_use,
        directory: Default::default(),
    };
    Ctx { _dir: dir, ctx }
}

fn connector_for(t: &Target, c: &Ctx) -> Box<dyn Connector> {
    connector::for_target(t, &c.ctx).unwrap()
}

/// A random password with the special characters a shell or chpasswd could trip on.
fn random_password() -> Password {
    let mut rng = rand::rng();
    let specials = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ ";
    let alnum = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut s: String = (0..14)
        .map(|_| alnum.as_bytes()[rng.random_range(0..alnum.len())] as char)
        .collect();
    for _ in 0..4 {
        let c = specials.as_bytes()[rng.random_range(0..specials.len())] as char;
        s.insert(rng.random_range(1..s.len()), c);
    }
    Password::new(s)
}

/// Sets a lab user's password locally (the test runs as root beside the lab sshd), via stdin.
fn set_password_locally(user: &str, password: &Password) {
    let mut child = Command::new("chpasswd").stdin(Stdio::piped()).spawn().unwrap();
    let line = format!("{user}:{}\n", password.expose());
    child.stdin.take().unwrap().write_all(line.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "chpasswd for {user}");
}

fn root_login() -> Credentials {
    let key = std::fs::read_to_string(lab().join("root_key")).unwrap();
    Credentials {
        username: "root".into(),
        method: LoginMethod::PrivateKey,
        secret: Password::new(key),
        enable: None,
    }
}

fn password_login(user: &str, password: &Password) -> Credentials {
    Credentials {
        username: user.into(),
        method: LoginMethod::Password,
        secret: password.clone(),
        enable: None,
    }
}

fn root_connector(c: &Ctx) -> Box<dyn Connector> {
    connector_for(&target("host", "root", "private-key", Some(&fingerprint()), PORT), c)
}

fn assert_password(conn: &dyn Connector, login: &Credentials, user: &str, pw: &Password, expected: Verification) {
    assert_eq!(conn.verify(login, user, pw).unwrap(), expected, "verify {user}");
}

#[test]
fn lists_accounts_with_privilege_as_root() {
    lab();
    let c = ctx(false);
    let conn = root_connector(&c);
    let accounts = conn.list_accounts(&root_login()).unwrap();
    let by = |n: &str| {
        accounts
            .iter()
            .find(|a| a.name == n)
            .unwrap_or_else(|| panic!("{n} missing from {accounts:?}"))
    };
    assert!(by("root").admin);
    assert_eq!(by("root").privilege, "uid 0");
    assert!(by("kr_sudo").admin);
    assert_eq!(by("kr_sudo").privilege, "group sudo");
    assert!(!by("kr_list").admin);
    assert_eq!(by("kr_list").kind, AccountKind::User);
    // Root reads /etc/shadow, so the password state is known.
    assert!(
        ["set", "locked", "none", "empty"].contains(&by("kr_list").details["password"].as_str().unwrap()),
        "{:?}",
        by("kr_list").details
    );
    assert!(
        !accounts.iter().any(|a| a.name == "daemon"),
        "system accounts are not listed"
    );
}

#[test]
fn root_changes_a_password_verifies_it_and_rolls_back() {
    lab();
    let c = ctx(false);
    let conn = root_connector(&c);
    let root = root_login();
    let user = "kr_root_target";
    let p0 = random_password();
    let p1 = random_password();
    let p2 = random_password();
    set_password_locally(user, &p0);
    assert_eq!(conn.change_method("root", user), ChangeMethod::AdminReset);

    let mut session = conn.open(&root).unwrap();
    session
        .change_password(user, ChangeMethod::AdminReset, &p0, &p1)
        .unwrap();
    assert_password(conn.as_ref(), &root, user, &p1, Verification::Accepted);
    assert_password(conn.as_ref(), &root, user, &p0, Verification::Rejected);
    session.save().unwrap();
    drop(session);

    // A second change, rolled back from the still-open session, restores the previous password.
    let mut session = conn.open(&root).unwrap();
    session
        .change_password(user, ChangeMethod::AdminReset, &p1, &p2)
        .unwrap();
    assert_password(conn.as_ref(), &root, user, &p2, Verification::Accepted);
    session.rollback(user, &p1).unwrap();
    assert_password(conn.as_ref(), &root, user, &p1, Verification::Accepted);
    assert_password(conn.as_ref(), &root, user, &p2, Verification::Rejected);
}

#[test]
fn a_user_changes_its_own_password_and_rolls_back() {
    lab();
    let c = ctx(false);
    let user = "kr_self";
    let p0 = random_password();
    let p1 = random_password();
    set_password_locally(user, &p0);
    let conn = connector_for(&target("host", user, "password", Some(&fingerprint()), PORT), &c);
    assert_eq!(conn.change_method(user, user), ChangeMethod::SelfChange);
    let login = password_login(user, &p0);

    let mut session = conn.open(&login).unwrap();
    session
        .change_password(user, ChangeMethod::SelfChange, &p0, &p1)
        .unwrap();
    assert_password(conn.as_ref(), &login, user, &p1, Verification::Accepted);
    assert_password(conn.as_ref(), &login, user, &p0, Verification::Rejected);
    session.rollback(user, &p0).unwrap();
    assert_password(conn.as_ref(), &login, user, &p0, Verification::Accepted);
    assert_password(conn.as_ref(), &login, user, &p1, Verification::Rejected);

    // A user without sudo cannot reset another account.
    let mut session = conn.open(&login).unwrap();
    let err = session
        .change_password("kr_list", ChangeMethod::AdminReset, &p0, &p1)
        .unwrap_err();
    assert!(matches!(err, ConnectorError::InsufficientAccess { .. }), "{err}");
}

#[test]
fn a_sudo_user_resets_another_account_through_sudo() {
    lab();
    let c = ctx(false);
    let admin_pw = random_password();
    set_password_locally("kr_sudo", &admin_pw);
    let user = "kr_sudo_target";
    let p0 = random_password();
    let p1 = random_password();
    set_password_locally(user, &p0);
    let conn = connector_for(&target("host", "kr_sudo", "password", Some(&fingerprint()), PORT), &c);
    let login = password_login("kr_sudo", &admin_pw);

    // Through sudo the shadow file is readable, and so is every account's sudo rights.
    let accounts = conn.list_accounts(&login).unwrap();
    let target_account = accounts.iter().find(|a| a.name == user).unwrap();
    assert_eq!(target_account.details["password"], "set");
    assert_eq!(account(&accounts, "kr_sudo_user").privilege, "sudoers: ALL as root");
    assert_eq!(account(&accounts, "kr_list").details["sudo"], "none");

    let mut session = conn.open(&login).unwrap();
    session
        .change_password(user, ChangeMethod::AdminReset, &p0, &p1)
        .unwrap();
    assert_password(conn.as_ref(), &login, user, &p1, Verification::Accepted);
    assert_password(conn.as_ref(), &login, user, &p0, Verification::Rejected);
    session.rollback(user, &p0).unwrap();
    assert_password(conn.as_ref(), &login, user, &p0, Verification::Accepted);
    // The login's own password is untouched by sudo's use of it.
    assert_password(conn.as_ref(), &login, "kr_sudo", &admin_pw, Verification::Accepted);
}

/// The accounts `login` discovers on the lab host, by name.
fn discovered(conn: &dyn Connector, login: &Credentials) -> Vec<keyreeve::connector::AccountInfo> {
    conn.list_accounts(login).unwrap()
}

fn account<'a>(accounts: &'a [keyreeve::connector::AccountInfo], name: &str) -> &'a keyreeve::connector::AccountInfo {
    accounts
        .iter()
        .find(|a| a.name == name)
        .unwrap_or_else(|| panic!("{name} missing from {accounts:?}"))
}

/// Sudo rights that no admin group shows (a per-user rule, a rule for the custom group kr_ops)
/// make admins; a rule to run commands only as `nobody` does not.
#[test]
fn discovery_as_root_counts_per_user_and_custom_group_sudoers_rules() {
    lab();
    let c = ctx(false);
    let accounts = discovered(root_connector(&c).as_ref(), &root_login());
    let per_user = account(&accounts, "kr_sudo_user");
    assert!(per_user.admin, "{per_user:?}");
    assert_eq!(per_user.privilege, "sudoers: ALL as root");
    assert_eq!(per_user.details["sudo"]["nopasswd"], true);
    assert!(!per_user.details.contains_key("groups"), "{per_user:?}");
    let by_group = account(&accounts, "kr_sudo_grp");
    assert!(by_group.admin, "{by_group:?}");
    assert_eq!(by_group.privilege, "sudoers: /usr/bin/systemctl as root");
    assert_eq!(by_group.details["sudo"]["nopasswd"], false);
    let as_nobody = account(&accounts, "kr_sudo_nobody");
    assert!(!as_nobody.admin, "{as_nobody:?}");
    assert_eq!(as_nobody.details["sudo"], "not as root");
    let plain = account(&accounts, "kr_list");
    assert!(!plain.admin, "{plain:?}");
    assert_eq!(plain.privilege, "user");
    assert_eq!(plain.details["sudo"], "none");
    assert!(account(&accounts, "kr_sudo").admin);
}

/// A non-root login whose own sudoers rule (NOPASSWD, no admin group) lets it be root: it sees
/// every account's rights and resets another account through `sudo -n ... chpasswd`.
#[test]
fn a_login_with_a_per_user_nopasswd_rule_resets_another_account_through_sudo() {
    lab();
    let c = ctx(false);
    let login_pw = random_password();
    set_password_locally("kr_sudo_user", &login_pw);
    let user = "kr_sudo_user_target";
    let p0 = random_password();
    let p1 = random_password();
    set_password_locally(user, &p0);
    let conn = connector_for(
        &target("host", "kr_sudo_user", "password", Some(&fingerprint()), PORT),
        &c,
    );
    let login = password_login("kr_sudo_user", &login_pw);

    let accounts = discovered(conn.as_ref(), &login);
    assert!(account(&accounts, "kr_sudo_grp").admin, "{accounts:?}");
    assert!(!account(&accounts, "kr_list").admin);
    assert_eq!(account(&accounts, "kr_list").details["sudo"], "none");
    assert_eq!(account(&accounts, user).details["password"], "set");

    let mut session = conn.open(&login).unwrap();
    session
        .change_password(user, ChangeMethod::AdminReset, &p0, &p1)
        .unwrap();
    assert_password(conn.as_ref(), &login, user, &p1, Verification::Accepted);
    assert_password(conn.as_ref(), &login, user, &p0, Verification::Rejected);
    session.rollback(user, &p0).unwrap();
    assert_password(conn.as_ref(), &login, user, &p0, Verification::Accepted);
    assert_password(conn.as_ref(), &login, user, &p1, Verification::Rejected);
}

/// A login whose NOPASSWD rules allow `chpasswd` (and `getent shadow *` for kr_rotator) and
/// nothing else: each runs alone through sudo by the path its rule names; rollback restores the
/// saved hash, or without `getent` sets the old password again.
#[test]
fn a_login_whose_sudo_rules_allow_only_chpasswd_resets_and_rolls_back() {
    lab();
    for (login_user, user, reads_shadow) in [
        ("kr_rotator", "kr_rotator_target", true),
        ("kr_chpasswd_only", "kr_chpasswd_target", false),
    ] {
        let c = ctx(false);
        let login_pw = random_password();
        set_password_locally(login_user, &login_pw);
        let p0 = random_password();
        let p1 = random_password();
        set_password_locally(user, &p0);
        let conn = connector_for(&target("host", login_user, "password", Some(&fingerprint()), PORT), &c);
        let login = password_login(login_user, &login_pw);

        let accounts = discovered(conn.as_ref(), &login);
        let me = account(&accounts, login_user);
        assert!(me.admin, "{me:?}");
        assert!(me.privilege.contains("/usr/sbin/chpasswd"), "{me:?}");
        let expected_state = if reads_shadow {
            "set"
        } else {
            "unknown (shadow not readable)"
        };
        assert_eq!(
            account(&accounts, user).details["password"],
            expected_state,
            "{login_user}"
        );
        // Only root may list other accounts' rights.
        assert_eq!(account(&accounts, "kr_list").privilege, "user (sudo rights unknown)");

        let mut session = conn.open(&login).unwrap();
        session
            .change_password(user, ChangeMethod::AdminReset, &p0, &p1)
            .unwrap_or_else(|e| panic!("{login_user}: {e}"));
        assert_password(conn.as_ref(), &login, user, &p1, Verification::Accepted);
        assert_password(conn.as_ref(), &login, user, &p0, Verification::Rejected);
        session.rollback(user, &p0).unwrap();
        assert_password(conn.as_ref(), &login, user, &p0, Verification::Accepted);
        assert_password(conn.as_ref(), &login, user, &p1, Verification::Rejected);
        // Its own password is not what sudo used.
        assert_password(conn.as_ref(), &login, login_user, &login_pw, Verification::Accepted);
    }
}

/// Changes `user` from p0 to p1 through `login_user` (a password login), checks with fresh logins,
/// rolls back and checks that p0 works again and p1 no longer does.
fn change_then_roll_back_through(login_user: &str, user: &str) {
    let c = ctx(false);
    let login_pw = random_password();
    set_password_locally(login_user, &login_pw);
    let p0 = random_password();
    let p1 = random_password();
    set_password_locally(user, &p0);
    let conn = connector_for(&target("host", login_user, "password", Some(&fingerprint()), PORT), &c);
    let login = password_login(login_user, &login_pw);
    let mut session = conn.open(&login).unwrap();
    session
        .change_password(user, ChangeMethod::AdminReset, &p0, &p1)
        .unwrap_or_else(|e| panic!("{login_user} changing {user}: {e}"));
    assert_password(conn.as_ref(), &login, user, &p1, Verification::Accepted);
    assert_password(conn.as_ref(), &login, user, &p0, Verification::Rejected);
    session
        .rollback(user, &p0)
        .unwrap_or_else(|e| panic!("{login_user} rolling back {user}: {e}"));
    assert_password(conn.as_ref(), &login, user, &p0, Verification::Accepted);
    assert_password(conn.as_ref(), &login, user, &p1, Verification::Rejected);
}

/// `chpasswd ""` allows chpasswd without arguments only, so never `chpasswd -e`: although the
/// login may read the hash, the rollback must set the old password again.
#[test]
fn a_login_allowed_chpasswd_without_arguments_only_rolls_back_with_the_old_password() {
    lab();
    change_then_roll_back_through("kr_chpasswd_noargs", "kr_chpasswd_noargs_target");
}

/// An `ALL` rule that needs a password (the login is in no admin group, so its password is never
/// tried) next to NOPASSWD rules for `chpasswd ""` and getent: only the NOPASSWD commands are usable,
/// so `chpasswd -e` (which only `ALL` would allow, with a password) is not, and the rollback sets
/// the old password again.
#[test]
fn a_login_with_a_password_all_rule_and_nopasswd_chpasswd_uses_the_nopasswd_rule() {
    lab();
    change_then_roll_back_through("kr_sudo_mixed", "kr_sudo_mixed_target");
}

/// A login that cannot be root cannot read sudoers: other accounts' rights are unknown, not "none".
#[test]
fn a_login_without_sudo_reports_other_accounts_sudo_rights_as_unknown() {
    lab();
    let c = ctx(false);
    let pw = random_password();
    set_password_locally("kr_nosudo", &pw);
    let conn = connector_for(&target("host", "kr_nosudo", "password", Some(&fingerprint()), PORT), &c);
    let accounts = discovered(conn.as_ref(), &password_login("kr_nosudo", &pw));
    let per_user = account(&accounts, "kr_sudo_user");
    assert_eq!(per_user.privilege, "user (sudo rights unknown)");
    assert_eq!(per_user.details["sudo"], "unknown (sudoers is readable only as root)");
    // What the groups show is still known.
    assert!(account(&accounts, "kr_sudo").admin);
    assert_eq!(account(&accounts, "kr_sudo").privilege, "group sudo");
    assert_eq!(account(&accounts, "root").privilege, "uid 0");
}

fn sshd_log() -> String {
    std::fs::read_to_string(lab().join("sshd.log")).unwrap_or_default()
}

#[test]
fn a_wrong_host_key_is_refused_before_the_password_is_sent() {
    lab();
    let c = ctx(true);
    let user = "kr_mismatch";
    let pw = random_password();
    set_password_locally(user, &pw);
    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let conn = connector_for(&target("host", user, "password", Some(wrong), PORT), &c);
    let err = conn.list_accounts(&password_login(user, &pw)).unwrap_err();
    match &err {
        ConnectorError::HostKeyMismatch { target, expected, got } => {
            assert_eq!(target, "lab/host");
            assert_eq!(expected, wrong);
            assert_eq!(got, &fingerprint());
        }
        e => panic!("expected a host key mismatch, got {e}"),
    }
    // A fresh login to verify a password is refused the same way.
    assert!(matches!(
        conn.verify(&password_login(user, &pw), user, &pw),
        Err(ConnectorError::HostKeyMismatch { .. })
    ));
    // The correct password never reached sshd: it logs every password attempt for the user.
    std::thread::sleep(Duration::from_millis(300));
    let log = sshd_log();
    assert!(
        !log.contains(&format!("password for {user}")),
        "sshd saw a password attempt for {user}:\n{log}"
    );
    assert!(!format!("{err} {err:?}").contains(pw.expose()));
}

#[test]
fn an_unknown_host_key_is_refused_without_trust_on_first_use_and_recorded_with_it() {
    lab();
    let user = "kr_verify";
    let pw = random_password();
    set_password_locally(user, &pw);
    let t = target("host", user, "password", None, PORT);
    let strict = ctx(false);
    let err = connector_for(&t, &strict)
        .list_accounts(&password_login(user, &pw))
        .unwrap_err();
    assert!(matches!(err, ConnectorError::HostKeyUnknown { .. }), "{err}");
    assert!(!strict.ctx.known_hosts.exists());

    let tofu = ctx(true);
    let conn = connector_for(&t, &tofu);
    conn.list_accounts(&password_login(user, &pw)).unwrap();
    let known = std::fs::read_to_string(&tofu.ctx.known_hosts).unwrap();
    assert!(known.starts_with("[127.0.0.1]:2222 ssh-ed25519 "), "{known}");
    // Another key recorded for the host: refused even with trust on first use.
    let other = "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIPHNwD1rHAE1cfGJgCQ3Vmw2Ri7V9pvt/br07Cvg5/2\n";
    std::fs::write(&tofu.ctx.known_hosts, other).unwrap();
    let err = conn.list_accounts(&password_login(user, &pw)).unwrap_err();
    match err {
        ConnectorError::HostKeyMismatch { expected, got, .. } => {
            assert_eq!(expected, "SHA256:HgXH3o1yDCYWcrQmllgrgAbX6qWVqoJJvPnUiUvUQdY");
            assert_eq!(got, fingerprint());
        }
        e => panic!("expected a host key mismatch, got {e}"),
    }
}

#[test]
fn a_wrong_password_is_auth_failed() {
    lab();
    let c = ctx(false);
    let user = "kr_wrong";
    let pw = random_password();
    set_password_locally(user, &pw);
    let conn = connector_for(&target("host", user, "password", Some(&fingerprint()), PORT), &c);
    let wrong = random_password();
    let err = conn.list_accounts(&password_login(user, &wrong)).unwrap_err();
    match &err {
        ConnectorError::AuthFailed { target, user: u } => {
            assert_eq!(target, "lab/host");
            assert_eq!(u, user);
        }
        e => panic!("expected auth failed, got {e}"),
    }
    assert!(!err.to_string().contains(wrong.expose()));
    assert_password(
        conn.as_ref(),
        &password_login(user, &pw),
        user,
        &wrong,
        Verification::Rejected,
    );
    assert_password(
        conn.as_ref(),
        &password_login(user, &pw),
        user,
        &pw,
        Verification::Accepted,
    );
}

#[test]
fn a_server_that_never_speaks_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let c = ctx(true);
    let conn = connector_for(&target("silent", "root", "password", None, port), &c);
    let started = Instant::now();
    let err = conn
        .list_accounts(&password_login("root", &random_password()))
        .unwrap_err();
    let took = started.elapsed();
    match &err {
        ConnectorError::Timeout {
            target,
            seconds,
            during,
        } => {
            assert_eq!(target, "lab/silent");
            assert_eq!(*seconds, 2);
            assert!(during.contains("handshake"), "{during}");
        }
        e => panic!("expected a timeout, got {e}"),
    }
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "{took:?}"
    );
    assert!(!c.ctx.known_hosts.exists());
    drop(listener);
}

#[test]
fn a_closed_port_is_unreachable() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = ctx(true);
    let conn = connector_for(&target("gone", "root", "password", None, port), &c);
    let err = conn
        .list_accounts(&password_login("root", &random_password()))
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Unreachable { .. }), "{err}");
    assert!(err.to_string().starts_with("lab/gone: "), "{err}");
}

fn keyreeve() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("keyreeve").unwrap();
    cmd.env_remove("KEYREEVE_WORKSPACE");
    cmd
}

/// A workspace with one linux target on the lab sshd, without a pinned key.
fn workspace_with_lab_target() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("keyreeve.toml"),
        "[clients.lab]\n[[clients.lab.targets]]\nname = \"host\"\nkind = \"linux\"\naddress = \"127.0.0.1\"\n\
         port = 2222\nlogin = \"root\"\nlogin_method = \"private-key\"\n",
    )
    .unwrap();
    dir
}

#[test]
fn scan_finds_the_lab_sshd_as_linux() {
    lab();
    let out = keyreeve()
        .args([
            "scan",
            "127.0.0.1/32",
            "--ports",
            "2222",
            "--client",
            "lab",
            "--timeout",
            "3",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("kind = \"linux\""), "{stdout}");
    assert!(
        stdout.contains(&format!("host_key = \"{}\"", fingerprint())),
        "{stdout}"
    );
    // The stanzas are valid inventory.
    let inv = Inventory::parse(&stdout, Path::new("scan output")).unwrap();
    let t = inv.target("lab", "127-0-0-1-2222").unwrap();
    assert_eq!((t.address.as_str(), t.port), ("127.0.0.1", 2222));
}

#[test]
fn scan_refuses_a_range_larger_than_a_slash_16() {
    let out = keyreeve().args(["scan", "127.0.0.0/8"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at most a /16"));
}

#[test]
fn hostkeys_accept_records_the_key_only_when_it_matches() {
    lab();
    let ws = workspace_with_lab_target();
    let known_hosts = ws.path().join("state/known_hosts");
    let wrong = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let out = keyreeve()
        .arg("--workspace")
        .arg(ws.path())
        .args(["hostkeys", "accept", "lab/host", "--fingerprint", wrong])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&fingerprint()));
    assert!(!known_hosts.exists());

    // A stale key recorded for the host is replaced deliberately.
    std::fs::create_dir_all(known_hosts.parent().unwrap()).unwrap();
    std::fs::write(
        &known_hosts,
        "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIPHNwD1rHAE1cfGJgCQ3Vmw2Ri7V9pvt/br07Cvg5/2\n",
    )
    .unwrap();
    let out = keyreeve()
        .arg("--workspace")
        .arg(ws.path())
        .args(["hostkeys", "accept", "host", "--fingerprint", &fingerprint()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("replacing SHA256:HgXH3o1yDCYWcrQmllgrgAbX6qWVqoJJvPnUiUvUQdY"),
        "{stdout}"
    );
    let entries = keyreeve::connector::ssh::hostkeys::read_known_hosts(&known_hosts).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].fingerprint(), fingerprint());

    // The recorded key now lets the connector in without trust on first use.
    let c = Ctx {
        ctx: ConnectContext {
            known_hosts: known_hosts.clone(),
            workspace_root: ws.path().to_path_buf(),
            trust_on_first_use: false,
            directory: Default::default(),
        },
        _dir: tempfile::tempdir().unwrap(),
    };
    let conn = connector_for(&target("host", "root", "private-key", None, PORT), &c);
    assert!(!conn.list_accounts(&root_login()).unwrap().is_empty());

    let out = keyreeve()
        .arg("--workspace")
        .arg(ws.path())
        .args(["hostkeys", "list", "--json"])
        .output()
        .unwrap();
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["status"], "recorded");
    assert_eq!(rows[0]["known"][0], fingerprint());
}

/// Runs keyreeve with stdin, returning the output.
fn keyreeve_stdin(args: &[&str], stdin: &[u8]) -> std::process::Output {
    keyreeve().args(args).write_stdin(stdin.to_vec()).output().unwrap()
}

#[test]
fn discover_lists_flags_verifies_and_saves_snapshots_while_a_failed_target_does_not_stop_it() {
    lab();
    let dir = tempfile::tempdir().unwrap();
    let id = dir.path().join("id.txt");
    let ws = dir.path().join("ws");
    let (id_s, ws_s) = (id.to_str().unwrap(), ws.to_str().unwrap());
    let out = keyreeve()
        .args(["identity", "new", "-o", id_s, "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let public: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let out = keyreeve()
        .args(["init", ws_s, "-r", public["public_key"].as_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let closed_port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut toml = std::fs::read_to_string(ws.join("keyreeve.toml")).unwrap();
    toml.push_str(&format!(
        "\n[clients.lab]\n[[clients.lab.targets]]\nname = \"gone\"\nkind = \"linux\"\naddress = \"127.0.0.1\"\n\
         port = {closed_port}\nlogin = \"root\"\n\n[[clients.lab.targets]]\nname = \"host\"\nkind = \"linux\"\n\
         address = \"127.0.0.1\"\nport = {PORT}\nlogin = \"root\"\nlogin_method = \"private-key\"\nhost_key = \"{}\"\n",
        fingerprint()
    ));
    std::fs::write(ws.join("keyreeve.toml"), toml).unwrap();

    let user = "kr_discover";
    let pw = random_password();
    set_password_locally(user, &pw);
    let key = std::fs::read(lab().join("root_key")).unwrap();
    let common = ["--workspace", ws_s, "--identity", id_s];
    let set = |path: &str, secret: &[u8]| {
        let args: Vec<&str> = common.iter().copied().chain(["vault", "set", path]).collect();
        let out = keyreeve_stdin(&args, secret);
        assert!(out.status.success(), "{out:?}");
    };
    set("lab/host/root", &key);
    set(&format!("lab/host/{user}"), pw.expose().as_bytes());
    // `inventory check` reads the vault and points at the target missing its login entry.
    let args: Vec<&str> = common.iter().copied().chain(["inventory", "check"]).collect();
    let out = keyreeve().args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("keyreeve.toml:") && report.contains("lab/gone: the vault has no entry lab/gone/root"),
        "{report}"
    );
    assert!(!report.contains("lab/host/root for"), "{report}");
    set("lab/gone/root", b"whatever-password");
    let out = keyreeve().args(&args).output().unwrap();
    assert!(out.status.success(), "{out:?}");

    let args: Vec<&str> = common
        .iter()
        .copied()
        .chain(["discover", "--verify", "--json"])
        .collect();
    let out = keyreeve().args(&args).output().unwrap();
    // kr_sudo is an admin the vault does not know, and one target failed: exit 1.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let reports: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let by_target = |t: &str| {
        reports
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["target"] == t)
            .unwrap_or_else(|| panic!("{t} missing: {reports}"))
            .clone()
    };
    let gone = by_target("lab/gone");
    assert!(
        gone["error"]
            .as_str()
            .unwrap()
            .starts_with("lab/gone: connection refused"),
        "{gone}"
    );
    let host = by_target("lab/host");
    assert!(host["error"].is_null(), "{host}");
    let account = |n: &str| {
        host["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == n)
            .unwrap_or_else(|| panic!("{n} missing: {host}"))
            .clone()
    };
    assert_eq!(account(user)["in_vault"], "yes");
    assert_eq!(account(user)["verified"], "accepted");
    assert_eq!(account(user)["flagged"], false);
    assert_eq!(account("root")["in_vault"], "yes");
    assert_eq!(account("kr_sudo")["admin"], true);
    assert_eq!(account("kr_sudo")["flagged"], true);
    assert_eq!(account("kr_list")["in_vault"], "no");

    // One snapshot per target that answered, holding no secret.
    let snapshot = PathBuf::from(host["snapshot"].as_str().unwrap());
    assert!(
        snapshot.starts_with(ws.join("state/snapshots/lab/host")),
        "{}",
        snapshot.display()
    );
    let text = std::fs::read_to_string(&snapshot).unwrap();
    assert!(text.contains(user));
    assert!(!text.contains(pw.expose()));
    assert!(!text.contains("PRIVATE KEY"));
    // The failed target keeps only its last failure, for the review to name, and no snapshot.
    let gone: Vec<_> = std::fs::read_dir(ws.join("state/snapshots/lab/gone"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(gone, ["last-failure.json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(pw.expose()));
}

#[test]
fn a_server_offering_only_keyboard_interactive_gets_the_password_there() {
    lab();
    let c = ctx(false);
    let user = "kr_kbdint";
    let pw = random_password();
    set_password_locally(user, &pw);
    let conn = connector_for(&target("kbd", user, "password", Some(&fingerprint()), 2223), &c);
    let login = password_login(user, &pw);
    let accounts = conn
        .list_accounts(&login)
        .unwrap_or_else(|e| panic!("lab missing (run tests/lab/sshd.sh) or login failed: {e}"));
    assert!(accounts.iter().any(|a| a.name == user));
    assert_password(conn.as_ref(), &login, user, &pw, Verification::Accepted);
    assert_password(conn.as_ref(), &login, user, &random_password(), Verification::Rejected);
    let err = conn
        .list_accounts(&password_login(user, &random_password()))
        .unwrap_err();
    assert!(matches!(err, ConnectorError::AuthFailed { .. }), "{err}");
}
