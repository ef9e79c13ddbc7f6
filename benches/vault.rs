//! Vault benchmark: vaults of 1,000 / 10,000 / 100,000 entries; open+get, set (a full
//! re-encrypting write) and list, side by side with stock `age -d` of the same file, the floor.
//! Run: `cargo bench --bench vault` (needs Debian's `age`). Figures go to BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyreeve::inventory::Inventory;
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::secret::Password;
use keyreeve::vault::{Entry, HistoryItem, Vault, VaultError, VaultPath};
use keyreeve::workspace::Workspace;

const BIN: &str = env!("CARGO_BIN_EXE_keyreeve");
const CLIENT: &str = "bench";

struct Bench {
    _dir: tempfile::TempDir,
    root: PathBuf,
    key: PathBuf,
}

fn setup(n: usize) -> Bench {
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
    let now = chrono::Utc::now();
    Vault::new(&ws, &inv, &keys)
        .update(CLIENT, |doc| {
            for i in 0..n {
                // Realistic entries: a 24-character password, one earlier password, metadata.
                let mut e = Entry::new("admin", Password::new(format!("Xq7-pW2.mK9^vT4~bN6@{i:04}")));
                e.notes = format!("core router {i}");
                e.rotated_at = Some(now);
                e.verified_at = Some(now);
                e.history.push(HistoryItem {
                    password: Password::new(format!("Old-Pass.word{i:08}xyz")),
                    replaced_at: now,
                });
                doc.entries.insert(format!("host{i:06}/admin"), e);
            }
            Ok::<_, VaultError>(())
        })
        .expect("build vault");
    Bench { _dir: dir, root, key }
}

/// The median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn process(b: &Bench, program: &Path, args: &[&str], stdin: Option<&str>) {
    let mut c = Command::new(program);
    c.args(args)
        .env("KEYREEVE_WORKSPACE", &b.root)
        .env("KEYREEVE_IDENTITY", &b.key)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    let mut child = c.spawn().expect("spawn");
    if let Some(s) = stdin {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("stdin");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn main() {
    let age = PathBuf::from("/usr/bin/age");
    assert!(age.is_file(), "stock `age` is missing: apt-get install age");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("machine: {cores} cores, {cpu}");
    println!("times in ms, median of the runs shown; processes are whole CLI invocations\n");
    println!(
        "| entries | file MB | runs | `age -d` (floor) | open+get in-process | `vault get` CLI | open (whole document) in-process | set in-process | `vault set` CLI | list in-process | `vault list --json` CLI |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (n, runs) in [(1_000usize, 15usize), (10_000, 9), (100_000, 3)] {
        let b = setup(n);
        let ws = Workspace::open(&b.root).expect("workspace");
        let inv = Inventory::load(&ws.inventory_file()).expect("inventory");
        let file = ws.vault_file(CLIENT);
        let size = std::fs::metadata(&file).expect("vault").len() as f64 / 1e6;
        let probe = format!("host{:06}/admin", n / 2);
        let probe_path = format!("{CLIENT}/{probe}");
        let file_s = file.to_str().expect("utf-8 path").to_string();
        let key_s = b.key.to_str().expect("utf-8 path").to_string();

        let age_d = median(runs, || {
            process(&b, &age, &["-d", "-i", &key_s, "-o", "/dev/null", &file_s], None)
        });
        let probe_vault_path = VaultPath::parse(&probe_path).expect("path");
        let open_get = median(runs, || {
            let keys = KeyRing::with_identity_file(Some(b.key.clone()));
            let e = Vault::new(&ws, &inv, &keys)
                .get(&probe_vault_path)
                .expect("get")
                .expect("entry");
            assert!(!e.password.is_empty());
        });
        let get_cli = median(runs, || {
            process(&b, Path::new(BIN), &["vault", "get", &probe_path], None)
        });
        let open_all = median(runs, || {
            let keys = KeyRing::with_identity_file(Some(b.key.clone()));
            let doc = Vault::new(&ws, &inv, &keys).load(CLIENT).expect("load");
            assert!(!doc.entries[&probe].password.is_empty());
        });
        let mut i = 0;
        let set = median(runs, || {
            let keys = KeyRing::with_identity_file(Some(b.key.clone()));
            i += 1;
            Vault::new(&ws, &inv, &keys)
                .update(CLIENT, |doc| {
                    let e = doc.entries.get_mut(&probe).expect("entry");
                    e.replace_password(Password::new(format!("new-password-{i}")), chrono::Utc::now());
                    Ok::<_, VaultError>(())
                })
                .expect("set");
        });
        let set_cli = median(runs, || {
            process(&b, Path::new(BIN), &["vault", "set", &probe_path], Some("cli-password"))
        });
        let list = median(runs, || {
            let keys = KeyRing::with_identity_file(Some(b.key.clone()));
            let doc = Vault::new(&ws, &inv, &keys).load(CLIENT).expect("load");
            let shown: usize = doc
                .entries
                .iter()
                .map(|(k, e)| k.len() + e.username.len() + e.history.len())
                .sum();
            assert!(shown > 0);
        });
        let list_cli = median(runs, || process(&b, Path::new(BIN), &["vault", "list", "--json"], None));
        println!(
            "| {n} | {size:.1} | {runs} | {} | {} | {} | {} | {} | {} | {} | {} |",
            ms(age_d),
            ms(open_get),
            ms(get_cli),
            ms(open_all),
            ms(set),
            ms(set_cli),
            ms(list),
            ms(list_cli)
        );
        eprintln!(
            "{n} entries: open+get / age -d = {:.2}x in-process, {:.2}x CLI",
            open_get.as_secs_f64() / age_d.as_secs_f64(),
            get_cli.as_secs_f64() / age_d.as_secs_f64()
        );
    }
}
