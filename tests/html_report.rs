//! `keyreeve review --format html -o FILE` rendered by a real browser (Debian's headless
//! `chromium`, installed by tests/lab/up.sh): the page shows findings, the roster and the
//! drawings of 500 admins, hostile names appear as text and never as markup, and the page loads
//! nothing from anywhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::Utc;
use keyreeve::connector::{AccountInfo, AccountKind};
use keyreeve::keys::new_identity_file;
use keyreeve::review::snapshot::{AccountRecord, InVault, Snapshot, SnapshotStore};
use keyreeve::workspace::Workspace;

const HOSTILE: &str = "<script>document.title='pwned'</script>\"q'uote";
const HOSTILE_GROUP: &str = "<img src=x onerror=alert(1)>-admins";

fn chromium() -> PathBuf {
    let path = PathBuf::from("/usr/bin/chromium");
    assert!(
        path.exists(),
        "chromium missing: run tests/lab/up.sh as root (it installs Debian's chromium)"
    );
    path
}

/// A workspace whose one target has a snapshot of `admins` admins (some through nested groups,
/// some in two privileged groups) and one hostile name.
fn workspace_with_admins(admins: usize) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let identity = tmp.path().join("identity.txt");
    let public = new_identity_file(&identity, None).unwrap();
    let ws = tmp.path().join("ws");
    let out = Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .args(["init", ws.to_str().unwrap(), "--recipient", &public])
        .output()
        .unwrap();
    assert!(out.status.success(), "init: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(
        ws.join("keyreeve.toml"),
        "[clients.acme]\n[[clients.acme.targets]]\nname = \"dc1\"\nkind = \"cisco-ios\"\naddress = \"127.0.0.1\"\nlogin = \"admin\"\n",
    )
    .unwrap();
    let mut accounts = Vec::new();
    for i in 0..admins {
        let how = match i % 3 {
            0 => "member of Domain Admins".to_string(),
            1 => format!("via team-{} -> ops-admins -> Domain Admins", i % 7),
            _ => format!("via srv-{} -> Administrators; member of Enterprise Admins", i % 5),
        };
        accounts.push(record(&format!("adm{i:03}"), &how));
    }
    accounts.push(record(HOSTILE, &format!("via {HOSTILE_GROUP} -> Domain Admins")));
    let mut snap = Snapshot {
        target: "acme/dc1".into(),
        kind: "cisco-ios".into(),
        taken_at: Utc::now(),
        error: None,
        hint: None,
        accounts,
        snapshot: None,
        domain: None,
    };
    let store = SnapshotStore::of_workspace(&Workspace::open(&ws).unwrap());
    store.save("acme", "dc1", &mut snap).unwrap();
    (tmp, ws)
}

fn record(name: &str, how: &str) -> AccountRecord {
    AccountRecord {
        account: AccountInfo {
            name: name.into(),
            kind: AccountKind::User,
            privilege: how.into(),
            admin: true,
            enabled: true,
            details: Default::default(),
        },
        in_vault: InVault::No,
        verified: None,
        verify_hint: None,
        flagged: true,
    }
}

fn review_html(ws: &Path, out: &Path) {
    let run = Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .args(["--workspace", ws.to_str().unwrap(), "review", "--format", "html", "-o"])
        .arg(out)
        .output()
        .unwrap();
    // Exit 1: the unmanaged admins are findings.
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
}

/// Runs headless chromium on the file with a fresh profile and no network use of its own.
fn browser(dir: &Path, page: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The text a person sees: the DOM without tags, script, style and title, entities decoded.
fn visible_text(dom: &str) -> String {
    let mut out = String::new();
    let mut rest = dom;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        let skip_to = ["<style", "<script", "<title"]
            .iter()
            .find(|t| rest.starts_with(**t))
            .map(|t| format!("</{}>", &t[1..]));
        let end = match skip_to {
            Some(close) => rest.find(&close).map(|i| i + close.len()),
            None => rest.find('>').map(|i| i + 1),
        };
        match end {
            Some(e) => rest = &rest[e..],
            None => break,
        }
        out.push(' ');
    }
    out.push_str(rest);
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[test]
fn a_500_admin_review_renders_in_chromium_with_hostile_names_as_text() {
    let (tmp, ws) = workspace_with_admins(500);
    let page = tmp.path().join("review.html");
    review_html(&ws, &page);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Content-Security-Policy"));
    assert!(
        !html.contains("<script") && !html.contains("<img"),
        "markup from a name"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "a reference out of the file"
    );
    // One drawing per admin and privileged group it reaches: 500 + the hostile one + the
    // Enterprise Admins paths of every third.
    assert_eq!(html.matches("<svg").count(), 500 + 1 + 166);

    let dom = String::from_utf8(browser(tmp.path(), &page, &["--dump-dom"]).stdout).unwrap();
    // No script ran and nothing became an element: the title is still the review's.
    assert!(
        dom.contains("<title>Admin access review: every client</title>"),
        "{}",
        &dom[..500.min(dom.len())]
    );
    assert!(!dom.contains("<script") && !dom.contains("<img"));
    let text = visible_text(&dom);
    for expected in [
        "Findings and what to do",
        "unmanaged-admin",
        "acme/dc1/adm000",
        "adm499",
        "team-1",
        "ops-admins",
        "Enterprise Admins: 166 accounts",
        "Domain Admins: 335 accounts",
        HOSTILE,
        HOSTILE_GROUP,
    ] {
        assert!(text.contains(expected), "`{expected}` is not in the page's text");
    }

    let shot = tmp.path().join("shot.png");
    browser(
        tmp.path(),
        &page,
        &["--window-size=1200,1600", &format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1200, 1600));
    // A blank page compresses to a few kilobytes; text and tables do not.
    assert!(png.len() > 40_000, "screenshot of {} bytes looks blank", png.len());
    if let Some(keep) = std::env::var_os("KEYREEVE_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

#[test]
fn a_small_review_shows_every_list_and_drawing_unfolded() {
    let (tmp, ws) = workspace_with_admins(4);
    let page = tmp.path().join("review.html");
    review_html(&ws, &page);
    let html = std::fs::read_to_string(&page).unwrap();
    // Findings, roster and drawings: nothing folded at this size.
    assert!(!html.contains("<details>"), "a short list is folded");
    // adm000 and adm003 (member of), adm001 (three steps), adm002 (two groups), the hostile one.
    assert_eq!(html.matches("<svg").count(), 4 + 1 + 1);
    let shot = tmp.path().join("small.png");
    browser(
        tmp.path(),
        &page,
        &["--window-size=1000,2400", &format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 40_000, "screenshot of {} bytes looks blank", png.len());
    if let Some(keep) = std::env::var_os("KEYREEVE_KEEP_SMALL_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}
