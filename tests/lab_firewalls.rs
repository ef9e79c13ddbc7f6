//! The emulated pfSense, OPNsense, PAN-OS, SonicOS and UniFi devices as a terminal sees them:
//! menus, banners, questions, paging, progress and refusals as device-cli.md documents them, and
//! nothing it does not (the dialects' own tests are in tests/dialects_firewalls.rs).

mod common;

use std::time::{Duration, Instant};

use common::{connect, Term};
use keyreeve::inventory::TargetKind;
use keyreeve::lab::{DeviceSpec, Lab, LabAccount, LabConfig, LabDeviceInfo};
use keyreeve::Password;

const ADMIN_PW: &str = "Adm1n-Secret.42";
const OPS_PW: &str = "Net0ps+Secret";
const MON_PW: &str = "M0nitor_only";

fn lab_of(kind: TargetKind, time_scale: f64) -> (Lab, LabDeviceInfo) {
    lab_with_users(kind, time_scale, 0)
}

/// A device with `extra` more read-only users (`user1`...), for output longer than a screen.
fn lab_with_users(kind: TargetKind, time_scale: f64, extra: usize) -> (Lab, LabDeviceInfo) {
    let lab = Lab::start(LabConfig {
        devices: vec![DeviceSpec {
            name: "fw1".into(),
            kind,
            accounts: [
                LabAccount::new(keyreeve::lab::default_login(kind), Password::new(ADMIN_PW), 15),
                LabAccount::new("netops", Password::new(OPS_PW), 15),
                LabAccount::new("monitor", Password::new(MON_PW), 1),
            ]
            .into_iter()
            .chain((1..=extra).map(|i| LabAccount::new(format!("user{i}"), Password::new(MON_PW), 1)))
            .collect(),
            enable_secret: None,
            port: 0,
        }],
        time_scale,
        auth_rejection_time: Duration::from_millis(20),
        ..LabConfig::default()
    })
    .expect("lab missing: the built-in device lab did not start on 127.0.0.1");
    let info = lab.devices().remove(0);
    (lab, info)
}

const PF_MENU: &str = r"Enter an option: $";
const PF_SHELL: &str = r"\[2\.7\.2-RELEASE\]\[admin@fw1\.lab\.example\]/root: $";

#[test]
fn pfsense_menu_shell_and_changepassword() {
    let (lab, fw) = lab_of(TargetKind::Pfsense, 1.0);
    let (mut t, greeting) = Term::open_with_greeting(&fw, "admin", ADMIN_PW, PF_MENU);
    assert!(
        greeting.contains("8) Shell") && greeting.contains("*** Welcome to pfSense"),
        "{greeting}"
    );
    t.cmd("8", PF_SHELL);
    let xml = t.cmd("cat /cf/conf/config.xml", PF_SHELL);
    assert!(
        xml.contains("<name>admins</name>") && xml.contains("<groupname>admins</groupname>"),
        "{xml}"
    );
    // A mismatch changes nothing.
    t.cmd("pfSsh.php playback changepassword netops", "New Password: $");
    t.cmd("Mism4tch-one", "Confirm New Password: $");
    let out = t.cmd("Mism4tch-two", PF_SHELL);
    assert!(out.contains("New and Confirm passwords did not match."), "{out}");
    assert!(lab.running_password_works("fw1", "netops", &Password::new(OPS_PW)));
    // Typed without echo and trimmed; saved at once (write_config).
    t.cmd("pfSsh.php playback changepassword netops", "New Password: $");
    t.cmd("  Trimm3d-pass  ", "Confirm New Password: $");
    let out = t.cmd("Trimm3d-pass", PF_SHELL);
    assert!(!out.contains("Trimm3d"), "echoed: {out}");
    assert!(lab.saved_password_works("fw1", "netops", &Password::new("Trimm3d-pass")));
    // `exit` goes back to the menu; an empty line there logs the session out.
    t.cmd("exit", PF_MENU);
    t.write("\r");
    assert!(
        t.closed(Duration::from_secs(3)),
        "an empty line at the menu must log out"
    );
}

const OPN_ROOT: &str = r"root@fw1:~ # $";

#[test]
fn opnsense_root_menu_and_password_script_others_get_a_shell() {
    let (lab, fw) = lab_of(TargetKind::Opnsense, 1.0);
    let (mut t, greeting) = Term::open_with_greeting(&fw, "root", ADMIN_PW, r"Enter an option: $");
    assert!(
        greeting.contains("8) Shell") && greeting.contains("3) Reset the root password"),
        "{greeting}"
    );
    t.cmd("8", OPN_ROOT);
    t.cmd(
        "/usr/local/opnsense/scripts/shell/password.php",
        r"Do you want to proceed\? \[y/N\]: $",
    );
    t.cmd("y", "Type a new password: $");
    t.cmd("R00t-pass.new   ", "Confirm new password: $");
    t.cmd("R00t-pass.new", OPN_ROOT);
    // Trailing blanks stripped.
    assert!(lab.saved_password_works("fw1", "root", &Password::new("R00t-pass.new")));
    // Another user: no menu, and no password script.
    let mut t = Term::open(&fw, "netops", OPS_PW, r"netops@fw1:~ % $");
    let out = t.cmd("/usr/local/opnsense/scripts/shell/password.php", r"netops@fw1:~ % $");
    assert!(out.contains("Permission denied"), "{out}");
}

const PA_OP: &str = r"admin@fw1> $";
const PA_CONF: &str = r"\[edit\]\r\nadmin@fw1# $";

#[test]
fn panos_accept_question_commit_progress_in_scaled_time() {
    // 5 s of device time in 1 s.
    let (lab, fw) = lab_of(TargetKind::Panos, 5.0);
    let mut t = Term::open(&fw, "admin", ADMIN_PW, r"Do you accept \[yes/no\]\? $");
    t.cmd("yes", PA_OP);
    t.cmd("set cli scripting-mode on", PA_OP);
    t.cmd("configure", PA_CONF);
    let users = t.cmd("show mgt-config users", PA_CONF);
    assert!(
        users.contains("superuser yes;") && users.contains("superreader yes;") && users.contains("phash $1$"),
        "{users}"
    );
    t.cmd("set mgt-config users netops password", r"Enter password   : $");
    t.cmd("Pal0-Alto.new", r"Confirm password : $");
    let out = t.cmd("Pal0-Alto.new", PA_CONF);
    assert!(!out.contains("Pal0-Alto"), "echoed: {out}");
    // A candidate, not in force until the commit completes.
    assert!(!lab.running_password_works("fw1", "netops", &Password::new("Pal0-Alto.new")));
    let started = Instant::now();
    t.write("commit\r");
    t.expect(r"Commit job \d+ is in progress");
    let progress = t.expect("55%");
    assert!(
        !lab.running_password_works("fw1", "netops", &Password::new("Pal0-Alto.new")),
        "{progress}"
    );
    let done = t.expect(PA_CONF);
    assert!(
        done.contains("100%") && done.contains("Configuration committed successfully"),
        "{done}"
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert!(lab.saved_password_works("fw1", "netops", &Password::new("Pal0-Alto.new")));
    let out = t.cmd("set mgt-config users netops phash not-a-hash", PA_CONF);
    assert!(out.contains("Invalid syntax."), "{out}");
}

#[test]
fn sonicos_asks_the_password_itself_pages_and_refuses_compromised_passwords() {
    let (lab, fw) = lab_with_users(TargetKind::Sonicos, 1.0, 6);
    // The SSH layer takes any password: the OS asks, and denies.
    let (mut t, greeting) = Term::open_with_greeting(&fw, "admin", "anything", "Password:$");
    assert!(greeting.contains("Using username 'admin'."), "{greeting}");
    t.cmd("wrong-1", r"Access denied\r\nPassword:$");
    t.cmd("wrong-2", r"Access denied\r\nPassword:$");
    t.write("wrong-3\r");
    assert!(t.closed(Duration::from_secs(3)), "three wrong answers end the session");

    let mut t = Term::open(&fw, "admin", "anything", "Password:$");
    t.cmd(ADMIN_PW, r"admin@fw1> $");
    let paged = t.cmd("show current-config", "--MORE--$");
    assert!(paged.contains("administration"), "{paged}");
    t.write("q");
    t.expect(r"admin@fw1> $");
    t.cmd("no cli pager session", r"admin@fw1> $");
    let config = t.cmd("show current-config", r"admin@fw1> $");
    assert!(
        config.contains("admin name admin") && config.contains("member-of \"Administrators\""),
        "{config}"
    );
    t.cmd("configure", r"config\(fw1\)# $");
    t.cmd("user local", r"\(config-user-local\)# $");
    t.cmd("user netops", r"\(config-local-user\[netops\]\)# $");
    let out = t.cmd("password Password123", r"\(config-local-user\[netops\]\)# $");
    assert!(
        out.contains("known to have possibly been compromised, please choose another"),
        "{out}"
    );
    t.cmd("password Fresh-S0nic.pw", r"\(config-local-user\[netops\]\)# $");
    assert!(
        !lab.running_password_works("fw1", "netops", &Password::new("Fresh-S0nic.pw")),
        "in force before commit"
    );
    let out = t.cmd("commit", r"\(config-local-user\[netops\]\)# $");
    assert!(out.contains("% Changes made."), "{out}");
    assert!(lab.running_password_works("fw1", "netops", &Password::new("Fresh-S0nic.pw")));
}

#[test]
fn unifi_shows_its_device_accounts_in_system_cfg() {
    let (_lab, fw) = lab_of(TargetKind::Unifi, 1.0);
    let (mut t, greeting) = Term::open_with_greeting(&fw, "admin", ADMIN_PW, r"fw1-BZ\.v6\.6\.55# $");
    assert!(greeting.contains("BusyBox") && greeting.contains("UniFi"), "{greeting}");
    let cfg = t.cmd("cat /tmp/system.cfg", r"fw1-BZ\.v6\.6\.55# $");
    assert!(
        cfg.contains("users.1.name=admin") && cfg.contains("users.1.password=$6$"),
        "{cfg}"
    );
    assert!(connect(&fw, "admin", "not-the-password").is_err());
}
