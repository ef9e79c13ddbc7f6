//! Due tracking end to end: one client with an emulated device (rotated automatically), three
//! guided printers and a web portal handed over long ago, and a password stored for a target the
//! inventory does not hold. `status` counts them by what they are and who changes them, `review`
//! (without keys) finds the overdue and the untracked ones, and `serve` answers `/v1/due` and
//! `keyreeve_accounts_due`.

#[path = "common/guided.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{printer_stanza, text, World, CLIENT};
use keyreeve::keys::KeyRing;
use keyreeve::serve::{self, ServeConfig};
use keyreeve::workspace::Workspace;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn portal_stanza() -> String {
    format!(
        "[[clients.{CLIENT}.targets]]\nname = \"isp-portal\"\nkind = \"manual\"\ncategory = \"web-portal\"\n\
         url = \"https://portal.isp.example/\"\naccounts = [\"acme-admin\"]\n\n"
    )
}

/// Three printers (one listing an account with no vault entry) and a portal, all 400 days old and
/// never rotated; the lab device's entry was rotated yesterday; `gone/admin` has no target.
fn world() -> World {
    let stanzas = format!(
        "{}{}{}{}",
        printer_stanza("printer1", &["admin"]),
        printer_stanza("printer2", &["admin"]),
        printer_stanza("printer3", &["admin", "service"]),
        portal_stanza()
    );
    let w = World::new(&stanzas, vec![World::device("fw1")]);
    for key in [
        "printer1/admin",
        "printer2/admin",
        "printer3/admin",
        "isp-portal/acme-admin",
        "gone/admin",
    ] {
        w.store(key, "Handed-over-2019", 400);
    }
    // The device was rotated yesterday: not due.
    w.update(|doc| {
        doc.entries.get_mut("fw1/admin").unwrap().rotated_at = Some(chrono::Utc::now() - chrono::Duration::days(1))
    });
    w
}

#[test]
fn status_counts_every_entry_by_what_it_is_and_who_changes_it() {
    let w = world();
    let out = w.run(&["status", "--client", CLIENT, "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let client = &json[0];
    let row = |what: &str| {
        client["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["what"] == what)
            .unwrap_or_else(|| panic!("no row {what}: {client}"))
            .clone()
    };
    let printer = row("printer");
    assert_eq!(
        (
            &printer["guided"],
            &printer["automatic"],
            &printer["due_now"],
            &printer["never_rotated"]
        ),
        (&3.into(), &0.into(), &3.into(), &3.into())
    );
    assert_eq!(row("web-portal")["guided"], 1);
    assert_eq!(row("junos")["automatic"], 1);
    assert_eq!(row("untracked")["untracked"], 1);
    let total = &client["total"];
    assert_eq!(
        (&total["automatic"], &total["guided"], &total["untracked"]),
        (&1.into(), &4.into(), &1.into())
    );
    assert_eq!(row("junos")["due_now"], 0);
    assert_eq!(total["due_now"], 5, "{client}");
    assert_eq!(total["scripted"], 0);
    assert_eq!(client["not_in_vault"], serde_json::json!(["acme/printer3/service"]));
    assert_eq!(client["due"].as_array().unwrap().len(), 5);

    // After a verify, the device row says when; the table shows the same counts.
    let out = w.run(&["verify", "--client", CLIENT]);
    assert!(out.status.success(), "{}", text(&out));
    let out = w.run(&["status"]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let junos = table.lines().find(|l| l.trim_start().starts_with("junos")).unwrap();
    assert!(junos.ends_with(&today), "{table}");
    let printers = table.lines().find(|l| l.trim_start().starts_with("printer")).unwrap();
    assert!(
        printers.split_whitespace().collect::<Vec<_>>()[..7] == ["printer", "0", "3", "0", "0", "3", "3"],
        "{table}"
    );
    assert!(
        table.contains("due: acme/gone/admin (untracked, untracked): never rotated by keyreeve"),
        "{table}"
    );
    assert!(table.contains("not in the vault: acme/printer3/service"), "{table}");
}

/// The review reads no vault: the index every vault write leaves is enough to say what is overdue
/// (with its kind and category) and what is untracked.
#[test]
fn review_finds_overdue_and_untracked_entries_without_keys() {
    let w = world();
    let review = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_keyreeve"));
        cmd.arg("--workspace")
            .arg(&w.ws)
            .arg("--identity")
            .arg(w.root.join("no-such-identity"))
            .arg("review");
        cmd.args(args).output().unwrap()
    };
    let out = review(&["--json", "--fail-on", "never"]);
    assert!(out.status.success(), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = json["findings"].as_array().unwrap();
    let of = |rule: &str| -> Vec<String> {
        findings
            .iter()
            .filter(|f| f["rule"] == rule)
            .map(|f| f["subject"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        of("rotation-overdue"),
        [
            "acme/gone/admin",
            "acme/isp-portal/acme-admin",
            "acme/printer1/admin",
            "acme/printer2/admin",
            "acme/printer3/admin"
        ]
    );
    assert_eq!(of("untracked-credential"), ["acme/gone/admin"]);
    let printer = findings.iter().find(|f| f["subject"] == "acme/printer1/admin").unwrap();
    assert!(
        printer["message"]
            .as_str()
            .unwrap()
            .starts_with("printer (guided, manual): never rotated"),
        "{printer}"
    );
    // Not a finding: the device's entry is fresh; guided targets are never "unreviewed".
    assert!(findings
        .iter()
        .all(|f| f["subject"] != "acme/fw1/admin" || f["rule"] != "rotation-overdue"));
    assert!(findings
        .iter()
        .all(|f| !(f["rule"] == "unreviewed-target" && f["subject"].as_str().unwrap().contains("printer"))));
    let out = review(&["--fail-on", "never"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("Overdue: 3 printer, 1 untracked, 1 web-portal."),
        "{table}"
    );
}

fn http(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (
        status,
        raw.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default(),
    )
}

#[test]
fn serve_answers_due_and_counts_due_accounts_by_client_and_kind() {
    let w = world();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let config = ServeConfig {
        workspace: Workspace::open(&w.ws).unwrap(),
        keys: KeyRing::locate(Some(&w.identity)),
        client: None,
        every: Duration::from_secs(3600),
        verify: false,
        concurrency: 4,
        compare_days: None,
        token_digest: serve::token_digest(TOKEN.as_bytes()),
        loopback: true,
        min_run_gap: Duration::ZERO,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = rt.spawn(serve::serve(config, listener, async move {
        let _ = stopped.await;
    }));
    let deadline = Instant::now() + Duration::from_secs(60);
    let due = loop {
        let (code, body) = http(&addr, "/v1/due");
        assert_eq!(code, 200, "{body}");
        let due: serde_json::Value = serde_json::from_str(&body).unwrap();
        if !due["as_of"].is_null() {
            break due;
        }
        assert!(Instant::now() < deadline, "no run within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(due["count"], 5, "{due}");
    let printer = due["due"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["path"] == "acme/printer2/admin")
        .unwrap();
    assert_eq!(
        (&printer["kind"], &printer["category"], &printer["management"]),
        (&"manual".into(), &"printer".into(), &"guided".into())
    );
    assert!(!due.to_string().contains("Handed-over-2019"), "a password in /v1/due");
    let (code, metrics) = http(&addr, "/metrics");
    assert_eq!(code, 200);
    for line in [
        "keyreeve_accounts_due{client=\"acme\",kind=\"manual\"} 4",
        "keyreeve_accounts_due{client=\"acme\",kind=\"junos\"} 0",
        "keyreeve_accounts_due{client=\"acme\",kind=\"untracked\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} not in:\n{metrics}");
    }
    let _ = stop.send(());
    rt.block_on(service).unwrap().unwrap();
}
