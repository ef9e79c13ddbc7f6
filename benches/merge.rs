//! Merge benchmark: the git merge driver on two 10,000-entry vaults that each changed 100
//! entries since their common base (10 of them on both sides, so 10 conflicts kept as
//! candidates). Times the in-process merge (decrypt three versions, merge, encrypt) and the whole
//! `keyreeve merge-driver` process as git runs it, with the process's peak memory.
//! Run: `cargo bench --bench merge` (`KEYREEVE_BENCH_ENTRIES=N` for another size).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyreeve::inventory::Inventory;
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::secret::Password;
use keyreeve::vault::{merge, Entry, HistoryItem, Vault, VaultError};
use keyreeve::workspace::Workspace;

const BIN: &str = env!("CARGO_BIN_EXE_keyreeve");
const CLIENT: &str = "bench";
const CHANGES: usize = 100;
const BOTH_SIDES: usize = 10;

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// The peak resident memory of the largest child waited for so far, in KiB.
fn children_peak_kib() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_maxrss
}

fn main() {
    let n: usize = std::env::var("KEYREEVE_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("ws");
    let key = dir.path().join("identity.txt");
    let public = new_identity_file(&key, None).expect("identity");
    let ws = Workspace::at_unchecked(&root);
    ws.create_layout().expect("layout");
    std::fs::write(
        ws.inventory_file(),
        format!("[workspace]\nrecipients = [\"{public}\"]\n\n[clients.{CLIENT}]\n"),
    )
    .expect("inventory");
    let inv = Inventory::load(&ws.inventory_file()).expect("inventory");
    let keys = KeyRing::with_identity_file(Some(key.clone()));
    let vault = Vault::new(&ws, &inv, &keys);
    let now = chrono::Utc::now();
    let write = |change: &dyn Fn(&mut keyreeve::vault::VaultDocument)| -> Vec<u8> {
        vault
            .update(CLIENT, |doc| {
                change(doc);
                Ok::<_, VaultError>(())
            })
            .expect("vault write");
        std::fs::read(ws.vault_file(CLIENT)).expect("vault file")
    };
    let base = write(&|doc| {
        for i in 0..n {
            let mut e = Entry::new("admin", Password::new(format!("Xq7-pW2.mK9^vT4~bN6@{i:04}")));
            e.notes = format!("core router {i}");
            e.rotated_at = Some(now);
            e.history.push(HistoryItem {
                password: Password::new(format!("Old-Pass.word{i:08}xyz")),
                replaced_at: now,
            });
            doc.entries.insert(format!("host{i:06}/admin"), e);
        }
    });
    let rotate = |from: usize, tag: &'static str| {
        move |doc: &mut keyreeve::vault::VaultDocument| {
            for i in from..from + CHANGES {
                let e = doc.entries.get_mut(&format!("host{i:06}/admin")).expect("entry");
                e.replace_password(Password::new(format!("{tag}-New.pass{i:08}")), chrono::Utc::now());
            }
        }
    };
    let ours = write(&rotate(0, "ours"));
    std::fs::write(ws.vault_file(CLIENT), &base).expect("reset to base");
    let theirs = write(&rotate(CHANGES - BOTH_SIDES, "theirs"));
    let file = Path::new("vaults/bench.age");

    let (_, report) = merge::merge_sealed(&keys, &inv, CLIENT, file, &base, &ours, &theirs).expect("merge");
    assert_eq!(report.conflicts.len(), BOTH_SIDES);
    assert_eq!(report.from_theirs.len(), CHANGES - BOTH_SIDES);
    let runs = 7;
    let in_process = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                merge::merge_sealed(&keys, &inv, CLIENT, file, &base, &ours, &theirs).expect("merge");
                t.elapsed()
            })
            .collect(),
    );

    for (name, bytes) in [("base", &base), ("ours", &ours), ("theirs", &theirs)] {
        std::fs::write(root.join(format!(".merge_file_{name}")), bytes).expect("merge input");
    }
    let cli = median(
        (0..runs)
            .map(|_| {
                std::fs::write(root.join(".merge_file_ours"), &ours).expect("ours again");
                let t = Instant::now();
                let status = Command::new(BIN)
                    .current_dir(&root)
                    .arg("--identity")
                    .arg(&key)
                    .args([
                        "merge-driver",
                        ".merge_file_base",
                        ".merge_file_ours",
                        ".merge_file_theirs",
                        "vaults/bench.age",
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .expect("merge-driver runs");
                assert!(status.success());
                t.elapsed()
            })
            .collect(),
    );
    let peak = children_peak_kib();
    println!("| entries | file MB | changes per side | on both sides | runs | merge in-process | `merge-driver` process | peak RSS of the process |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {n} | {:.1} | {CHANGES} | {BOTH_SIDES} | {runs} | {:.1} ms | {:.1} ms | {:.1} MiB |",
        base.len() as f64 / 1e6,
        in_process.as_secs_f64() * 1e3,
        cli.as_secs_f64() * 1e3,
        peak as f64 / 1024.0
    );
}
