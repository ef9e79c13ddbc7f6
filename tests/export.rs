//! End-to-end tests of handover vaults (`keyreeve export`, `import`, `offboard`) and of the audit
//! log they write to (`keyreeve log`, `keyreeve log verify`), through the real binary.

use std::path::Path;

use assert_cmd::Command;
use keyreeve::workspace::Workspace;

fn keyreeve(workspace: &Path) -> Command {
    let mut cmd = Command::cargo_bin("keyreeve").unwrap();
    cmd.arg("--workspace").arg(workspace).env_remove("KEYREEVE_WORKSPACE");
    cmd
}

#[test]
fn log_verify_names_the_first_changed_line_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keyreeve.toml"), "").unwrap();
    let ws = Workspace::open(tmp.path()).unwrap();
    for i in 0..4 {
        keyreeve::audit_log::record(
            &ws,
            Some("age1examplekey"),
            "vault.get",
            &format!("acme/rtr{i}/admin"),
            serde_json::json!({"n": i}),
        )
        .unwrap();
    }
    let out = keyreeve(tmp.path()).args(["log"]).output().unwrap();
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("acme/rtr3/admin") && table.contains("vault.get"),
        "{table}"
    );

    let out = keyreeve(tmp.path()).args(["log", "--json"]).output().unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[1]["subject"], "acme/rtr1/admin");

    keyreeve(tmp.path()).args(["log", "verify"]).assert().code(0);

    let log = ws.audit_log_file();
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("acme/rtr1/admin", "acme/rtr7/admin", 1)).unwrap();
    let out = keyreeve(tmp.path()).args(["log", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(said.contains("first bad line 2"), "{said}");
}
