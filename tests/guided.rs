//! Guided targets (`kind = "manual"`) end to end through the binary: the inventory's checks, the
//! policy's category rules, plans with steps in place of commands, apply's guided steps (yes,
//! no, failed, no answer, no terminal, --skip-manual) after the automatic rotations of the
//! in-process device lab, `vault confirm|reject`, and `verify`.

#[path = "common/guided.rs"]
mod common;

use std::path::Path;

use common::{printer_stanza, text, World, CLIENT};
use keyreeve::inventory::Inventory;
use keyreeve::policy::{generate, Policy};
use keyreeve::vault::EntryState;

const OLD: &str = "Handed-over-2019";

#[test]
fn manual_targets_are_checked_with_the_file_and_line() {
    let head = "[clients.acme]\n[[clients.acme.targets]]\nname = \"p1\"\nkind = \"manual\"\n";
    let ok = Inventory::parse(
        &format!("{head}category = \"web-portal\"\naccounts = [\"admin\", \"ops\"]\ninstructions = \"\"\"\nline one\nline two\n\"\"\"\n"),
        Path::new("keyreeve.toml"),
    )
    .unwrap();
    let t = ok.target("acme", "p1").unwrap();
    let guided = t.guided.as_ref().unwrap();
    assert_eq!(guided.accounts, ["admin", "ops"]);
    assert_eq!(guided.instructions.lines().count(), 2);
    assert_eq!(t.category().unwrap().as_str(), "web-portal");
    for (bad, line, says) in [
        (format!("{head}category = \"printer\"\n"), 2, "needs `accounts"),
        (format!("{head}category = \"printer\"\naccounts = []\n"), 6, "`accounts` is empty"),
        (format!("{head}category = \"fax\"\naccounts = [\"a\"]\n"), 5, "unknown category `fax`"),
        (format!("{head}accounts = [\"a\"]\n"), 2, "needs `category`"),
        (format!("{head}category = \"nas\"\naccounts = [\"a\"]\nlogin = \"root\"\n"), 7, "takes no `login`"),
        (format!("{head}category = \"nas\"\naccounts = [\"a\", \"a\"]\n"), 6, "listed twice"),
        (format!("{head}category = \"nas\"\naccounts = [\"a\"]\nurl = \"printer1\"\n"), 7, "is not a URL"),
        (
            "[clients.acme]\n[[clients.acme.targets]]\nname = \"r\"\nkind = \"cisco-ios\"\naddress = \"h\"\nlogin = \"a\"\ncategory = \"printer\"\n".into(),
            7,
            "for `kind = \"manual\"` targets only",
        ),
    ] {
        let err = Inventory::parse(&bad, Path::new("keyreeve.toml")).unwrap_err().to_string();
        assert!(err.starts_with(&format!("keyreeve.toml:{line}: ")), "{err}");
        assert!(err.contains(says), "{err}");
    }
}

/// Printers that take at most 8 characters of letters and digits: a rule by category says so,
/// a rule by target overrides it, and other kinds keep the defaults.
#[test]
fn policy_rules_by_category_and_target_make_short_small_alphabet_passwords() {
    let inv = Inventory::parse(
        &format!(
            "[clients.acme]\n{}{}",
            printer_stanza("p1", &["admin"]),
            printer_stanza("p2", &["admin"])
        ),
        Path::new("keyreeve.toml"),
    )
    .unwrap();
    let mut policy = Policy::default();
    policy
        .add_text(
            "[[rules]]\ncategory = \"printer\"\nlength = 8\nupper = false\nsymbols = \"\"\n\n\
             [[rules]]\ntarget = \"p2\"\nlength = 12\n",
            Path::new("policies/printers.toml"),
        )
        .unwrap();
    let p1 = policy.effective_on(inv.target("acme", "p1").unwrap(), "admin");
    assert_eq!(p1.decided_by, ["policies/printers.toml:1"]);
    for _ in 0..100 {
        let pw = generate(&p1.composition, &Default::default()).unwrap();
        let s = pw.expose();
        assert_eq!(s.len(), 8, "{s}");
        assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()), "{s}");
    }
    let p2 = policy.effective_on(inv.target("acme", "p2").unwrap(), "admin");
    assert_eq!(p2.composition.length, 12);
    assert!(p2.composition.symbols.is_empty() && !p2.composition.upper);
    let other = policy.effective("acme", keyreeve::inventory::TargetKind::Linux, "p1", "admin");
    assert_eq!(other.composition.length, 24);
    let err = Policy::default()
        .add_text(
            "[[rules]]\n\ncategory = \"printers\"\nlength = 8\n",
            Path::new("p.toml"),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("p.toml:3: ") && err.contains("unknown category"),
        "{err}"
    );
}

#[test]
fn plan_lists_due_guided_accounts_with_their_steps_and_no_secret() {
    let w = World::new(&printer_stanza("printer1", &["admin", "service"]), Vec::new());
    w.store("printer1/admin", OLD, 400);
    let plan = w.plan("plan.json", &[]);
    let shown = std::fs::read_to_string(&plan).unwrap();
    assert!(!shown.contains(OLD), "the plan holds the password");
    let json: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let item = &json["items"][0];
    assert_eq!(item["path"], "acme/printer1/admin");
    assert_eq!(item["kind"], "manual");
    let steps: Vec<&str> = item["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(steps[0], "open https://printer1.acme.example/");
    assert!(
        steps.iter().any(|s| s.contains("Security > Administrator password")),
        "{steps:?}"
    );
    assert!(steps.iter().any(|s| s.contains("********")), "{steps:?}");
    let skipped = &json["skipped"][0];
    assert_eq!(skipped["path"], "acme/printer1/service");
    assert!(skipped["reason"]
        .as_str()
        .unwrap()
        .contains("vault set acme/printer1/service"));
    // The same due rules as automatic ones: a fresh, rotated entry is not due.
    w.update(|doc| doc.entries.get_mut("printer1/admin").unwrap().rotated_at = Some(chrono::Utc::now()));
    let out = w.run(&["plan", "--client", CLIENT, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let due: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(due["items"].as_array().unwrap().len(), 0, "{due}");
}

/// One plan with an emulated device and a guided printer: the device rotates first, then the
/// step is shown (only where --show-password-to says) and "yes" stores the shown password,
/// audited as a rotation with method `manual`; no password reaches the output or the audit log.
#[test]
fn apply_runs_automatic_rotations_first_then_the_guided_step_and_yes_stores_it() {
    let w = World::new(&printer_stanza("printer1", &["admin"]), vec![World::device("fw1")]);
    w.store("printer1/admin", OLD, 400);
    let device_old = w.entry("fw1/admin").password;
    let plan = w.plan("plan.json", &[]);
    let steps = w.root.join("steps.txt");
    let out = w.run_with_input(
        &[
            "apply",
            plan.to_str().unwrap(),
            "--yes",
            "--show-password-to",
            steps.to_str().unwrap(),
        ],
        "yes\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let shown = std::fs::read_to_string(&steps).unwrap();
    assert!(
        shown.contains("Open:         https://printer1.acme.example/"),
        "{shown}"
    );
    assert!(
        shown.contains("  Security > Administrator password: type the new one twice."),
        "{shown}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&steps).unwrap().permissions().mode() & 0o777, 0o600);
    let new = World::shown_password(&steps).unwrap();
    let entry = w.entry("printer1/admin");
    assert_eq!(entry.password.expose(), new);
    assert_eq!(entry.history[0].password.expose(), OLD);
    assert!(entry.rotated_at.is_some() && entry.state == EntryState::Current);
    let device_new = w.entry("fw1/admin").password;
    assert_ne!(device_new, device_old);
    assert!(w
        .lab
        .as_ref()
        .unwrap()
        .running_password_works("fw1", "admin", &device_new));
    let audit = w.audit_log();
    let device_at = audit.find("acme/fw1/admin").unwrap();
    let guided = audit
        .lines()
        .find(|l| l.contains("acme/printer1/admin") && l.contains("rotation.apply"))
        .unwrap();
    assert!(
        guided.contains("\"method\":\"manual\"") && guided.contains("\"rotated\""),
        "{guided}"
    );
    assert!(
        device_at < audit.find(guided).unwrap(),
        "the automatic rotation runs first"
    );
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [OLD, new.as_str(), device_old.expose(), device_new.expose()] {
        assert!(!printed.contains(secret), "a password reached apply's output");
        assert!(!audit.contains(secret), "a password reached the audit log");
    }
    assert_eq!(w.journal_records(), 0);
}

#[test]
fn no_or_failed_keeps_the_old_password_current_and_the_new_one_in_history() {
    let w = World::new(&printer_stanza("printer1", &["admin", "ops"]), Vec::new());
    w.store("printer1/admin", OLD, 400);
    w.store("printer1/ops", "Ops-old-password", 400);
    for (account, answer, old) in [("admin", "no\n", OLD), ("ops", "failed\n", "Ops-old-password")] {
        let plan = w.plan(&format!("{account}.json"), &[&format!("printer1/{account}")]);
        let steps = w.root.join(format!("{account}-steps.txt"));
        let out = w.run_with_input(
            &[
                "apply",
                plan.to_str().unwrap(),
                "--yes",
                "--show-password-to",
                steps.to_str().unwrap(),
            ],
            answer,
        );
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let new = World::shown_password(&steps).unwrap();
        let entry = w.entry(&format!("printer1/{account}"));
        assert_eq!(entry.password.expose(), old, "{account}");
        assert_eq!(entry.state, EntryState::Current);
        assert!(entry.pending.is_none() && entry.rotated_at.is_none());
        assert!(
            entry.history.iter().any(|h| h.password.expose() == new),
            "the new password was dropped"
        );
    }
    assert_eq!(w.journal_records(), 0);
}

/// Without a terminal nothing is shown (nor changed) unless a flag names where the password may
/// go; `--skip-manual` leaves the step for later.
#[test]
fn without_a_terminal_the_step_is_refused_and_skip_manual_leaves_it() {
    use std::os::unix::process::CommandExt;
    let w = World::new(&printer_stanza("printer1", &["admin"]), Vec::new());
    w.store("printer1/admin", OLD, 400);
    let plan = w.plan("plan.json", &[]);
    let mut cmd = w.cmd(&["apply", plan.to_str().unwrap(), "--yes"]);
    // A new session has no controlling terminal, even when the test runs on one.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--show-password-to"),
        "{}",
        text(&out)
    );
    let entry = w.entry("printer1/admin");
    assert_eq!((entry.password.expose(), entry.state), (OLD, EntryState::Current));
    assert!(entry.history.is_empty());
    assert_eq!(w.journal_records(), 0);

    let out = w.run(&["apply", plan.to_str().unwrap(), "--yes", "--skip-manual"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("left for later"),
        "{}",
        text(&out)
    );
    let entry = w.entry("printer1/admin");
    assert_eq!((entry.password.expose(), entry.history.len()), (OLD, 0));
}

/// No answer (the input closed) leaves both passwords pending; `vault confirm` and `vault reject`
/// settle them later, audited.
#[test]
fn no_answer_stays_pending_until_vault_confirm_or_reject() {
    let w = World::new(&printer_stanza("printer1", &["admin", "ops"]), Vec::new());
    w.store("printer1/admin", OLD, 400);
    w.store("printer1/ops", "Ops-old-password", 400);
    let plan = w.plan("plan.json", &[]);
    let steps = w.root.join("steps.txt");
    let out = w.run_with_input(
        &[
            "apply",
            plan.to_str().unwrap(),
            "--yes",
            "--show-password-to",
            steps.to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("vault confirm acme/printer1/"),
        "{}",
        text(&out)
    );
    let shown = std::fs::read_to_string(&steps).unwrap();
    let passwords: Vec<&str> = shown.lines().filter_map(|l| l.strip_prefix("New password: ")).collect();
    assert_eq!(passwords.len(), 2, "{shown}");
    for key in ["printer1/admin", "printer1/ops"] {
        let e = w.entry(key);
        assert_eq!(e.state, EntryState::Pending, "{key}");
    }
    assert_eq!(w.journal_records(), 2);
    // A second plan skips them; confirm and reject settle them.
    let out = w.run(&["vault", "confirm", "acme/printer1/admin"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = w.run(&["vault", "reject", "acme/printer1/ops"]);
    assert!(out.status.success(), "{}", text(&out));
    let admin = w.entry("printer1/admin");
    assert_eq!(admin.state, EntryState::Current);
    assert_eq!(admin.password.expose(), passwords[0]);
    assert_eq!(admin.history[0].password.expose(), OLD);
    let ops = w.entry("printer1/ops");
    assert_eq!(ops.password.expose(), "Ops-old-password");
    assert!(ops.history.iter().any(|h| h.password.expose() == passwords[1]));
    assert_eq!(w.journal_records(), 0);
    let audit = w.audit_log();
    assert!(
        audit.contains("rotation.confirm") && audit.contains("rotation.reject"),
        "{audit}"
    );
    // Nothing is left to settle: a second confirm says so, and a device account is refused.
    let out = w.run(&["vault", "confirm", "acme/printer1/admin"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no guided rotation waiting"),
        "{}",
        text(&out)
    );
}

#[test]
fn verify_reports_guided_accounts_as_not_verifiable_with_their_age() {
    let w = World::new(&printer_stanza("printer1", &["admin"]), Vec::new());
    w.store("printer1/admin", OLD, 40);
    let out = w.run(&["verify", "--client", CLIENT]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("acme/printer1/admin: not verifiable (changed by hand): never rotated, stored 40 days ago"),
        "{shown}"
    );
    assert!(!w.audit_log().contains("verify.mismatch"));
}

/// The README's first command shows a guided target, answering its own prompt, and ends with
/// the status screen.
#[test]
fn the_demo_shows_a_guided_step_and_the_status_screen() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .args(["demo", "--devices", "2"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let guided = &stdout[stdout
        .find("=== Guided step: demo/office-printer/admin ===")
        .expect("no guided step")..];
    assert!(
        guided.contains("Open:         https://office-printer.demo.example/"),
        "{guided}"
    );
    assert!(
        guided.contains("[yes/no/failed]: yes   (answered by the demo)"),
        "{guided}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("demo/office-printer/admin: rotated"),
        "{}",
        text(&out)
    );
    assert!(
        stdout.contains("demo/office-printer/admin: not verifiable (changed by hand): last rotated"),
        "{stdout}"
    );
    let status = &stdout[stdout.find("== 8. Status").expect("no status screen")..];
    let printer = status.lines().find(|l| l.trim_start().starts_with("printer")).unwrap();
    assert_eq!(
        printer.split_whitespace().take(7).collect::<Vec<_>>(),
        ["printer", "0", "1", "0", "0", "0", "0"]
    );
    assert!(status.lines().any(|l| l.trim_start().starts_with("total")), "{status}");
}

/// On a terminal (a pseudo-terminal from script(1)) the step is shown there and answered there,
/// with no flag; the password shown is the one stored.
#[test]
fn on_a_terminal_the_step_is_shown_and_answered_there() {
    let w = World::new(&printer_stanza("printer1", &["admin"]), Vec::new());
    w.store("printer1/admin", OLD, 400);
    let plan = w.plan("plan.json", &[]);
    let line = format!(
        "'{}' --workspace '{}' --identity '{}' apply '{}' --yes",
        env!("CARGO_BIN_EXE_keyreeve"),
        w.ws.display(),
        w.identity.display(),
        plan.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("TERM", "dumb")
        .env("SHELL", "/bin/sh")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("script(1) from util-linux");
    let mut stdin = child.stdin.take().unwrap();
    // Typed once the question is on the screen: wait for the journal to hold the rotation.
    let start = std::time::Instant::now();
    while w.journal_records() == 0 {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "apply never started the step"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    std::io::Write::write_all(&mut stdin, b"yes\n").unwrap();
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let screen = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    assert!(out.status.success(), "{}", text(&out));
    let new = screen
        .lines()
        .find_map(|l| l.strip_prefix("New password: "))
        .unwrap_or_else(|| panic!("no password on the terminal: {screen}"))
        .trim()
        .to_string();
    let entry = w.entry("printer1/admin");
    assert_eq!(entry.password.expose(), new);
    assert_eq!(entry.history[0].password.expose(), OLD);
}
