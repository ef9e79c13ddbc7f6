//! Benchmark (not a test): `keyreeve discover` over N emulated devices at several concurrencies,
//! measuring wall time and the peak memory (max RSS) of the keyreeve process. It starts the
//! device lab in this process, writes a workspace with its inventory and an age-encrypted vault
//! holding every device's credentials, then runs the real binary under `/usr/bin/time`.
//!
//! Run: `cargo bench --bench discover` (release build), or with options:
//! `cargo bench --bench discover -- --devices 500 --concurrency 1,8,32`.
//! Figures go to BENCHMARKS.md, section "Discover".

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use keyreeve::inventory::Inventory;
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{Lab, LabConfig, ENABLE_ACCOUNT};
use keyreeve::vault::{Entry, Vault};
use keyreeve::workspace::Workspace;

const CLIENT: &str = "bench";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let devices: usize = arg("--devices").and_then(|v| v.parse().ok()).unwrap_or(500);
    let concurrencies: Vec<usize> = arg("--concurrency")
        .unwrap_or_else(|| "1,8,32".into())
        .split(',')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    let bin = std::env::var("KEYREEVE_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_keyreeve").to_string());

    let config = LabConfig::generated(devices, &[]);
    let specs = config.devices.clone();
    let started = Instant::now();
    let lab = Lab::start(config).expect("the device lab starts");
    eprintln!("lab: {devices} devices up in {:.1}s", started.elapsed().as_secs_f64());

    let dir = tempfile::tempdir().expect("temporary directory");
    let id = dir.path().join("identity.txt");
    let public = new_identity_file(&id, None).expect("identity");
    let root = dir.path().join("ws");
    let ws = Workspace::at_unchecked(&root);
    ws.create_layout().expect("workspace layout");
    let toml = format!(
        "[workspace]\nrecipients = [\"{public}\"]\n\n[clients.{CLIENT}]\n{}",
        lab.inventory_toml(CLIENT)
    );
    std::fs::write(ws.inventory_file(), &toml).expect("inventory");
    let ws = Workspace::open(&root).expect("workspace");
    let inv = Inventory::parse(&toml, Path::new("keyreeve.toml")).expect("inventory parses");
    let keys = KeyRing::with_identity_file(Some(id.clone()));
    Vault::new(&ws, &inv, &keys)
        .update(CLIENT, |doc| {
            for spec in &specs {
                for account in &spec.accounts {
                    doc.entries.insert(
                        format!("{}/{}", spec.name, account.name),
                        Entry::new(account.name.clone(), account.password.clone()),
                    );
                }
                if let Some(secret) = &spec.enable_secret {
                    doc.entries.insert(
                        format!("{}/{ENABLE_ACCOUNT}", spec.name),
                        Entry::new(ENABLE_ACCOUNT, secret.clone()),
                    );
                }
            }
            Ok::<_, keyreeve::vault::VaultError>(())
        })
        .expect("vault written");

    let kinds: std::collections::BTreeSet<&str> = specs.iter().map(|s| s.kind.as_str()).collect();
    println!("| devices | kinds | concurrency | wall time | per device | peak RSS of keyreeve | targets ok | accounts found |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    for c in concurrencies {
        let out_file = dir.path().join(format!("discover-{c}.json"));
        let time_file = dir.path().join(format!("time-{c}.txt"));
        let started = Instant::now();
        let status = Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%e %M")
            .arg("-o")
            .arg(&time_file)
            .arg(&bin)
            .arg("--workspace")
            .arg(&root)
            .arg("--identity")
            .arg(&id)
            .args(["discover", "--json", "--concurrency", &c.to_string()])
            .stdout(std::fs::File::create(&out_file).expect("output file"))
            .status()
            .expect("keyreeve runs under /usr/bin/time");
        let wall = started.elapsed().as_secs_f64();
        let time = std::fs::read_to_string(&time_file).unwrap_or_default();
        let max_rss_kb: u64 = time.split_whitespace().last().and_then(|v| v.parse().ok()).unwrap_or(0);
        let reports: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out_file).expect("output")).unwrap_or_default();
        let ok = reports
            .as_array()
            .map(|r| r.iter().filter(|t| t["error"].is_null()).count())
            .unwrap_or(0);
        let accounts: usize = reports
            .as_array()
            .map(|r| r.iter().map(|t| t["accounts"].as_array().map_or(0, Vec::len)).sum())
            .unwrap_or(0);
        if ok != devices {
            let first_error = reports
                .as_array()
                .and_then(|r| r.iter().find_map(|t| t["error"].as_str().map(str::to_string)));
            eprintln!("concurrency {c}: exit {status}, {ok}/{devices} ok; first error: {first_error:?}");
        }
        println!(
            "| {devices} | {} | {c} | {wall:.1} s | {:.0} ms | {:.1} MiB | {ok}/{devices} | {accounts} |",
            kinds.iter().copied().collect::<Vec<_>>().join(", "),
            wall * 1000.0 / devices as f64,
            max_rss_kb as f64 / 1024.0
        );
    }
    lab.stop();
}
