//! Rotation benchmark: rotate (change, verify, save) the login account of N emulated devices
//! (default 500, round-robin over every kind that rotates on the device and needs no enable
//! secret) with `keyreeve apply` at concurrency 1, 8 and 32; wall time and the apply
//! process's peak memory. Run: `cargo bench --bench rotate` (`KEYREEVE_BENCH_DEVICES=N`,
//! `KEYREEVE_BENCH_CONCURRENCY=1,8,32`). The device lab runs in this process, on the same cores.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyreeve::inventory::{Inventory, TargetKind};
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{DeviceSpec, Lab, LabAccount, LabConfig};
use keyreeve::vault::{Entry, Vault};
use keyreeve::workspace::Workspace;

const BIN: &str = env!("CARGO_BIN_EXE_keyreeve");

fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
}

fn run_once(devices: usize, concurrency: usize) -> (Duration, u64, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let identity = tmp.path().join("id.txt");
    let public = new_identity_file(&identity, None).unwrap();
    let ws_dir = tmp.path().join("ws");
    assert!(Command::new(BIN)
        .args(["init", ws_dir.to_str().unwrap(), "--recipient", &public])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success());
    // Round-robin over every emulated kind whose login account rotates on the device (a UniFi
    // device's is a guided step in its controller) and needs no enable secret (IOS reaches
    // privilege 15 without one).
    let kinds: Vec<TargetKind> = keyreeve::lab::EMULATED_KINDS
        .iter()
        .copied()
        .filter(|k| !keyreeve::rotation::guided::is_guided(*k))
        .filter(|k| !keyreeve::lab::has_enable(*k) || *k == TargetKind::CiscoIos)
        .collect();
    let specs: Vec<DeviceSpec> = (0..devices)
        .map(|i| {
            let kind = kinds[i % kinds.len()];
            DeviceSpec {
                name: format!("r{i:04}"),
                kind,
                accounts: vec![LabAccount::new(
                    keyreeve::lab::default_login(kind),
                    keyreeve::lab::random_password(),
                    15,
                )],
                enable_secret: None,
                port: 0,
            }
        })
        .collect();
    let lab = Lab::start(LabConfig {
        devices: specs.clone(),
        // PAN-OS commits in half a second; Junos's `commit confirmed 5` still leaves 30 s.
        time_scale: 10.0,
        ..LabConfig::default()
    })
    .unwrap();
    let inv_file = ws_dir.join("keyreeve.toml");
    let mut toml = std::fs::read_to_string(&inv_file).unwrap();
    toml.push_str(&format!("\n[clients.bench]\n\n{}", lab.inventory_toml("bench")));
    std::fs::write(&inv_file, toml).unwrap();
    let ws = Workspace::open(&ws_dir).unwrap();
    let inv = Inventory::load(&ws.inventory_file()).unwrap();
    let keys = KeyRing::locate(Some(&identity));
    Vault::new(&ws, &inv, &keys)
        .update("bench", |doc| {
            for s in &specs {
                let login = &s.accounts[0];
                doc.entries.insert(
                    format!("{}/{}", s.name, login.name),
                    Entry::new(&login.name, login.password.clone()),
                );
            }
            Ok::<(), keyreeve::vault::VaultError>(())
        })
        .unwrap();
    let plan = tmp.path().join("plan.json");
    let common = |c: &mut Command| {
        c.arg("--workspace").arg(&ws_dir).arg("--identity").arg(&identity);
    };
    let mut p = Command::new(BIN);
    common(&mut p);
    assert!(p
        .args(["plan", "--all", "--client", "bench", "-o"])
        .arg(&plan)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success());
    let mut a = Command::new(BIN);
    common(&mut a);
    let start = Instant::now();
    let mut child = a
        .args([
            "apply",
            plan.to_str().unwrap(),
            "--yes",
            "--json",
            "--concurrency",
            &concurrency.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut peak = 0;
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    while child.try_wait().unwrap().is_none() {
        peak = peak.max(peak_kib(pid).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let out = reader.join().unwrap();
    let rotated = out.matches("\"outcome\": \"rotated\"").count();
    drop(lab);
    let _ = Path::new("");
    (elapsed, peak, rotated)
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that cheap.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let devices: usize = std::env::var("KEYREEVE_BENCH_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let levels: Vec<usize> = std::env::var("KEYREEVE_BENCH_CONCURRENCY")
        .unwrap_or_else(|_| "1,8,32".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    println!("| devices | concurrency | wall time | per device | peak RSS of apply | rotated |");
    println!("|---|---|---|---|---|---|");
    for c in levels {
        let (t, peak, rotated) = run_once(devices, c);
        println!(
            "| {devices} | {c} | {:.1} s | {:.1} ms | {:.1} MiB | {rotated}/{devices} |",
            t.as_secs_f64(),
            t.as_secs_f64() * 1000.0 / devices as f64,
            peak as f64 / 1024.0
        );
    }
}
