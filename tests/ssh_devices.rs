//! The SSH session engine's own behaviour against the emulated device lab (an IOS device): the
//! pager answered, the echo and the prompt stripped, secrets redacted, and every failure naming
//! the target: unexpected prompt with the last lines seen, a device that hangs, one that talks
//! nonsense, a wrong host key, a wrong password, a closed port. Per-dialect end-to-end tests live
//! with the dialects.

use std::time::{Duration, Instant};

use keyreeve::connector::ssh::dialect::Shell;
use keyreeve::connector::ssh::session::{Auth, Endpoint, SshSession, SshShell};
use keyreeve::connector::{ConnectorError, Verification};
use keyreeve::inventory::TargetKind;
use keyreeve::lab::{DeviceSpec, Fault, Lab, LabAccount, LabConfig, LabDeviceInfo};
use keyreeve::Password;
use regex::Regex;

const ADMIN_PW: &str = "Adm1n-Secret.42";
const ENABLE_PW: &str = "En4ble%Secret";
const MONITOR_PW: &str = "M0nitor_only";

fn start_lab() -> (Lab, LabDeviceInfo) {
    let lab = Lab::start(LabConfig {
        devices: vec![DeviceSpec {
            name: "r1".into(),
            kind: TargetKind::CiscoIos,
            accounts: vec![
                LabAccount::new("admin", Password::new(ADMIN_PW), 15),
                LabAccount::new("netops", Password::new("Net0ps+Secret"), 15),
                LabAccount::new("monitor", Password::new(MONITOR_PW), 1),
            ],
            enable_secret: Some(Password::new(ENABLE_PW)),
            port: 0,
        }],
        auth_rejection_time: Duration::from_millis(50),
        ..LabConfig::default()
    })
    .expect("the device lab starts");
    let info = lab.devices().remove(0);
    (lab, info)
}

fn endpoint(info: &LabDeviceInfo, pin: Option<&str>, command_timeout: Duration) -> (tempfile::TempDir, Endpoint) {
    let dir = tempfile::tempdir().unwrap();
    let ep = Endpoint {
        name: "lab/r1".into(),
        address: info.address.clone(),
        port: info.port,
        connect_timeout: Duration::from_secs(3),
        command_timeout,
        pinned_host_key: Some(pin.unwrap_or(&info.host_key_fingerprint).to_string()),
        known_hosts: dir.path().join("known_hosts"),
        trust_on_first_use: false,
    };
    (dir, ep)
}

fn prompt() -> Regex {
    Regex::new(r"(?m)^[\w.-]+(\([\w-]+\))?[>#]$").unwrap()
}

fn pager() -> Option<(Regex, &'static str)> {
    Some((Regex::new(r"--More--\s*$").unwrap(), " "))
}

/// A shell of `monitor`, a privilege-1 account that needs `enable` for privileged commands.
fn shell(ep: &Endpoint) -> SshShell {
    let monitor = Password::new(MONITOR_PW);
    SshSession::login(ep, "monitor", Auth::Password(&monitor))
        .unwrap()
        .into_shell(prompt(), pager(), &[])
        .unwrap()
}

/// Enters privileged mode the IOS way, answering `Password:` with the enable secret.
fn enable(sh: &mut SshShell) {
    let question = Regex::new(r"Password:\s*$").unwrap();
    let (q, out) = sh.command_expect("enable", &[&question]).unwrap();
    assert_eq!(q, Some(0), "enable asks for the secret: {out:?}");
    let (q, out) = sh.secret_expect(&Password::new(ENABLE_PW), &[&question]).unwrap();
    assert_eq!(q, None, "privileged prompt after the secret: {out}");
}

#[test]
fn pages_are_answered_and_echo_and_prompt_stripped() {
    let (lab, info) = start_lab();
    let (_d, ep) = endpoint(&info, None, Duration::from_secs(10));
    let mut sh = shell(&ep);
    enable(&mut sh);
    // A short page, so that the running configuration needs several `--More--` answers.
    sh.command("terminal length 5").unwrap();
    let config = sh.command("show running-config").unwrap();
    assert!(!config.contains("More"), "pager text left in the output:\n{config}");
    assert!(!config.starts_with("show running-config"), "echo left in:\n{config}");
    assert!(!config.trim_end().ends_with("r1#"), "prompt left in:\n{config}");
    for user in ["username admin", "username netops", "username monitor"] {
        assert!(config.contains(user), "{user} missing from:\n{config}");
    }
    assert!(config.lines().count() > 15, "several pages were read:\n{config}");
    assert_eq!(config.lines().last().map(str::trim), Some("end"), "{config}");
    assert!(!config.contains('\r') && !config.contains('\u{1b}'));

    // Paging off, the same text.
    sh.command("terminal length 0").unwrap();
    assert_eq!(sh.command("show running-config").unwrap(), config);
    sh.close();
    lab.stop();
}

#[test]
fn secrets_sent_are_redacted_from_everything_captured() {
    let (lab, info) = start_lab();
    let (_d, ep) = endpoint(&info, None, Duration::from_secs(10));
    let mut sh = shell(&ep);
    enable(&mut sh);
    let new = Password::new("N3w-Secret.Value");
    sh.add_secret(&new);
    sh.command("configure terminal").unwrap();
    let line = Password::new(format!("username netops privilege 15 secret {}", new.expose()));
    let out = sh.command_secret(&line).unwrap();
    assert!(!out.contains(new.expose()), "{out}");
    // A mistyped command echoing the secret back: the device's complaint is redacted too.
    let bad = Password::new(format!("usernme netops secret {}", new.expose()));
    let out = sh.command_secret(&bad).unwrap();
    assert!(!out.contains(new.expose()), "{out}");
    assert!(!sh.last_lines().contains(new.expose()));
    sh.command("end").unwrap();
    assert!(
        lab.running_password_works("r1", "netops", &new),
        "the secret line reached the device intact"
    );
    sh.close();
    lab.stop();
}

#[test]
fn an_unexpected_question_fails_with_the_last_lines_seen() {
    let (lab, info) = start_lab();
    let (_d, ep) = endpoint(&info, None, Duration::from_secs(2));
    let mut sh = shell(&ep);
    enable(&mut sh);
    let started = Instant::now();
    let err = sh.command("copy running-config startup-config").unwrap_err();
    let took = started.elapsed();
    match &err {
        ConnectorError::UnexpectedOutput {
            target,
            during,
            last_lines,
        } => {
            assert_eq!(target, "lab/r1");
            assert!(during.contains("copy running-config startup-config"), "{during}");
            assert!(
                last_lines.contains("Destination filename [startup-config]?"),
                "{last_lines}"
            );
        }
        e => panic!("expected an unexpected prompt, got {e}"),
    }
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );

    // The same question, expected, is answered.
    let (_d, ep) = endpoint(&info, None, Duration::from_secs(10));
    let mut sh = shell(&ep);
    enable(&mut sh);
    let dest = Regex::new(r"Destination filename \[startup-config\]\?").unwrap();
    let (q, out) = sh
        .command_expect("copy running-config startup-config", &[&dest])
        .unwrap();
    assert_eq!(q, Some(0), "{out}");
    let out = sh.command("").unwrap();
    assert!(out.contains("[OK]"), "{out}");
    lab.stop();
}

#[test]
fn a_hung_device_times_out_naming_the_target_and_command() {
    let (lab, info) = start_lab();
    let (_d, ep) = endpoint(&info, None, Duration::from_secs(2));
    let mut sh = shell(&ep);
    lab.set_fault("r1", Fault::Hang).unwrap();
    let started = Instant::now();
    let err = sh.command("show version").unwrap_err();
    let took = started.elapsed();
    let msg = err.to_string();
    assert!(msg.starts_with("lab/r1: "), "{msg}");
    assert!(msg.contains("show version"), "{msg}");
    assert!(
        matches!(
            err,
            ConnectorError::Timeout { .. } | ConnectorError::UnexpectedOutput { .. }
        ),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(5),
        "{took:?}"
    );
    lab.stop();
}

#[test]
fn a_device_talking_nonsense_is_reported_with_what_it_said() {
    let (lab, info) = start_lab();
    lab.set_fault("r1", Fault::Nonsense).unwrap();
    let (_d, ep) = endpoint(&info, None, Duration::from_secs(2));
    let admin = Password::new(ADMIN_PW);
    let err = SshSession::login(&ep, "admin", Auth::Password(&admin))
        .unwrap()
        .into_shell(prompt(), pager(), &[])
        .err()
        .expect("no prompt ever comes");
    match err {
        ConnectorError::UnexpectedOutput { target, last_lines, .. } => {
            assert_eq!(target, "lab/r1");
            assert!(last_lines.contains("DIAGNOSTIC MODE"), "{last_lines}");
        }
        e => panic!("expected unexpected output, got {e}"),
    }
    lab.stop();
}

#[test]
fn login_failures_name_what_happened() {
    let (lab, info) = start_lab();
    let admin = Password::new(ADMIN_PW);

    // A wrong pin: refused before authenticating; the device never saw a password attempt.
    let (_d, ep) = endpoint(
        &info,
        Some("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        Duration::from_secs(5),
    );
    let err = SshSession::login(&ep, "admin", Auth::Password(&admin)).err().unwrap();
    assert!(matches!(err, ConnectorError::HostKeyMismatch { .. }), "{err}");
    assert_eq!(
        SshSession::try_password(&ep, "admin", &admin)
            .err()
            .map(|e| e.to_string()),
        Some(err.to_string())
    );

    let (_d, ep) = endpoint(&info, None, Duration::from_secs(5));
    let wrong = Password::new("not-the-password");
    match SshSession::login(&ep, "admin", Auth::Password(&wrong)).err().unwrap() {
        ConnectorError::AuthFailed { target, user } => {
            assert_eq!((target.as_str(), user.as_str()), ("lab/r1", "admin"))
        }
        e => panic!("expected auth failed, got {e}"),
    }
    assert_eq!(
        SshSession::try_password(&ep, "admin", &wrong).unwrap(),
        Verification::Rejected
    );
    assert_eq!(
        SshSession::try_password(&ep, "admin", &admin).unwrap(),
        Verification::Accepted
    );

    lab.set_fault("r1", Fault::RefuseConnections).unwrap();
    let err = SshSession::login(&ep, "admin", Auth::Password(&admin)).err().unwrap();
    assert!(matches!(err, ConnectorError::Unreachable { .. }), "{err}");
    assert!(err.to_string().starts_with("lab/r1: "));
    lab.stop();
}

/// The generic device connector (engine + the IOS dialect) as the rest of keyreeve sees it.
fn device_connector(
    lab: &Lab,
) -> (
    tempfile::TempDir,
    Box<dyn keyreeve::connector::Connector>,
    keyreeve::inventory::Target,
) {
    let text = format!("[clients.lab]\n{}", lab.inventory_toml("lab"));
    let inv = keyreeve::inventory::Inventory::parse(&text, std::path::Path::new("lab.toml")).unwrap();
    let target = inv.target("lab", "r1").unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let ctx = keyreeve::connector::ConnectContext {
        known_hosts: dir.path().join("known_hosts"),
        workspace_root: dir.path().to_path_buf(),
        trust_on_first_use: false,
        directory: Default::default(),
    };
    let conn = keyreeve::connector::for_target(&target, &ctx).unwrap();
    (dir, conn, target)
}

fn admin_login(target: &keyreeve::inventory::Target) -> keyreeve::connector::Credentials {
    keyreeve::connector::Credentials {
        username: target.login.clone(),
        method: keyreeve::inventory::LoginMethod::Password,
        secret: Password::new(ADMIN_PW),
        enable: Some(Password::new(ENABLE_PW)),
    }
}

#[test]
fn the_device_connector_lists_changes_verifies_by_fresh_login_and_rolls_back() {
    use keyreeve::connector::ChangeMethod;
    let (lab, _info) = start_lab();
    let (_d, conn, target) = device_connector(&lab);
    let login = admin_login(&target);

    let accounts = conn.list_accounts(&login).unwrap();
    let admin = |n: &str| accounts.iter().find(|a| a.name == n).map(|a| a.admin);
    assert_eq!(admin("admin"), Some(true), "{accounts:?}");
    assert_eq!(admin("netops"), Some(true), "{accounts:?}");
    assert_eq!(admin("monitor"), Some(false), "{accounts:?}");

    let old = Password::new("Net0ps+Secret");
    let new = Password::new("Fr3sh-Net0ps.pw");
    assert_eq!(conn.change_method("admin", "netops"), ChangeMethod::AdminReset);
    let mut session = conn.open(&login).unwrap();
    session
        .change_password("netops", ChangeMethod::AdminReset, &old, &new)
        .unwrap();
    // Verification is a fresh login, not the open session.
    assert_eq!(conn.verify(&login, "netops", &new).unwrap(), Verification::Accepted);
    assert_eq!(conn.verify(&login, "netops", &old).unwrap(), Verification::Rejected);
    session.rollback("netops", &old).unwrap();
    assert!(lab.running_password_works("r1", "netops", &old));
    assert!(!lab.running_password_works("r1", "netops", &new));
    assert_eq!(conn.verify(&login, "netops", &old).unwrap(), Verification::Accepted);
    drop(session);

    // The enable secret is verified by a fresh login with the login account, then `enable`.
    let enable = target.enable.clone().expect("the lab IOS has an enable secret");
    assert_eq!(conn.change_method("admin", &enable), ChangeMethod::EnableSecret);
    assert_eq!(
        conn.verify(&login, &enable, &Password::new(ENABLE_PW)).unwrap(),
        Verification::Accepted
    );
    assert_eq!(
        conn.verify(&login, &enable, &Password::new("Wr0ng-enable")).unwrap(),
        Verification::Rejected
    );
    lab.stop();
}

#[test]
fn the_device_connector_refuses_a_wrong_pin_and_names_the_target() {
    let (lab, _info) = start_lab();
    let text = format!("[clients.lab]\n{}", lab.inventory_toml("lab"))
        .lines()
        .map(|l| {
            if l.starts_with("host_key") {
                "host_key = \"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let inv = keyreeve::inventory::Inventory::parse(&text, std::path::Path::new("lab.toml")).unwrap();
    let target = inv.target("lab", "r1").unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let ctx = keyreeve::connector::ConnectContext {
        known_hosts: dir.path().join("known_hosts"),
        workspace_root: dir.path().to_path_buf(),
        trust_on_first_use: true,
        directory: Default::default(),
    };
    let conn = keyreeve::connector::for_target(&target, &ctx).unwrap();
    let err = conn.list_accounts(&admin_login(&target)).unwrap_err();
    assert!(matches!(err, ConnectorError::HostKeyMismatch { .. }), "{err}");
    assert!(err.to_string().starts_with("lab/r1: host key"), "{err}");
    assert!(
        !dir.path().join("known_hosts").exists(),
        "a pinned target never records a key"
    );
    lab.stop();
}

#[test]
fn login_questions_are_answered_before_the_first_prompt() {
    // A RouterOS on first boot asks about its license between login and the first prompt.
    let mut config = LabConfig::generated(1, &[TargetKind::Routeros]);
    config.first_boot = true;
    config.auth_rejection_time = Duration::from_millis(50);
    let spec = config.devices[0].clone();
    let lab = Lab::start(config).expect("the device lab starts");
    let text = format!("[clients.lab]\n{}", lab.inventory_toml("lab"));
    let inv = keyreeve::inventory::Inventory::parse(&text, std::path::Path::new("lab.toml")).unwrap();
    let target = inv.target("lab", &spec.name).unwrap().clone();
    let dir = tempfile::tempdir().unwrap();
    let ctx = keyreeve::connector::ConnectContext {
        known_hosts: dir.path().join("known_hosts"),
        workspace_root: dir.path().to_path_buf(),
        trust_on_first_use: false,
        directory: Default::default(),
    };
    let conn = keyreeve::connector::for_target(&target, &ctx).unwrap();
    let login = keyreeve::connector::Credentials {
        username: spec.accounts[0].name.clone(),
        method: keyreeve::inventory::LoginMethod::Password,
        secret: spec.accounts[0].password.clone(),
        enable: None,
    };
    let accounts = conn.list_accounts(&login).unwrap();
    let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    for account in &spec.accounts {
        assert!(names.contains(&account.name.as_str()), "{names:?}");
    }
    lab.stop();
}
