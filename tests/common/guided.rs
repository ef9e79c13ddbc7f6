//! Setup shared by the tests of guided targets and due tracking (tests/guided.rs,
//! tests/guided_crash.rs, tests/status.rs): a temporary workspace made by `keyreeve init`, a
//! client with guided (`kind = "manual"`) targets and, when asked, emulated devices of the
//! in-process lab, and the vault entries they start from.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use chrono::{Duration, Utc};
use keyreeve::inventory::Inventory;
use keyreeve::keys::{new_identity_file, KeyRing};
use keyreeve::lab::{DeviceSpec, Lab, LabAccount, LabConfig};
use keyreeve::secret::Password;
use keyreeve::vault::{Entry, Vault, VaultDocument};
use keyreeve::workspace::Workspace;

pub const CLIENT: &str = "acme";

/// A guided printer with multi-line instructions.
pub fn printer_stanza(name: &str, accounts: &[&str]) -> String {
    let accounts: Vec<String> = accounts.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "[[clients.{CLIENT}.targets]]\nname = \"{name}\"\nkind = \"manual\"\ncategory = \"printer\"\n\
         url = \"https://{name}.acme.example/\"\naccounts = [{}]\ninstructions = \"\"\"\n\
         Log in to the web page as the account below.\nSecurity > Administrator password: type the new one twice.\n\"\"\"\n\n",
        accounts.join(", ")
    )
}

pub struct World {
    pub tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub ws: PathBuf,
    pub identity: PathBuf,
    pub lab: Option<Lab>,
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

impl World {
    /// A workspace with `stanzas` under client acme, plus one lab device per spec.
    pub fn new(stanzas: &str, devices: Vec<DeviceSpec>) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let identity = root.join("identity.txt");
        let public = new_identity_file(&identity, None).unwrap();
        let ws = root.join("ws");
        let out = Command::new(env!("CARGO_BIN_EXE_keyreeve"))
            .args(["init", ws.to_str().unwrap(), "--recipient", &public])
            .output()
            .unwrap();
        assert!(out.status.success(), "init: {}", text(&out));
        let mut toml = std::fs::read_to_string(ws.join("keyreeve.toml")).unwrap();
        toml.push_str(&format!("\n[clients.{CLIENT}]\n\n{stanzas}"));
        let mut initial = Vec::new();
        let lab = if devices.is_empty() {
            None
        } else {
            for d in &devices {
                for a in &d.accounts {
                    initial.push((format!("{}/{}", d.name, a.name), a.password.clone()));
                }
            }
            let lab = Lab::start(LabConfig {
                devices,
                time_scale: 1.0,
                ..LabConfig::default()
            })
            .unwrap();
            toml.push_str(&lab.inventory_toml(CLIENT));
            Some(lab)
        };
        std::fs::write(ws.join("keyreeve.toml"), toml).unwrap();
        let w = World {
            tmp,
            root,
            ws,
            identity,
            lab,
        };
        w.update(|doc| {
            for (key, pw) in initial {
                let account = key.split('/').nth(1).unwrap().to_string();
                doc.entries.insert(key, Entry::new(account, pw));
            }
        });
        w
    }

    /// One admin device of the lab.
    pub fn device(name: &str) -> DeviceSpec {
        DeviceSpec {
            name: name.into(),
            kind: keyreeve::inventory::TargetKind::Junos,
            accounts: vec![LabAccount::new("admin", keyreeve::lab::random_password(), 15)],
            enable_secret: None,
            port: 0,
        }
    }

    pub fn update(&self, f: impl FnOnce(&mut VaultDocument)) {
        let ws = Workspace::open(&self.ws).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&self.identity));
        Vault::new(&ws, &inv, &keys)
            .update(CLIENT, |doc| {
                f(doc);
                Ok::<(), keyreeve::vault::VaultError>(())
            })
            .unwrap();
    }

    /// Stores `password` for `key` (TARGET/ACCOUNT), handed over `days_ago` days ago.
    pub fn store(&self, key: &str, password: &str, days_ago: i64) {
        let account = key.split('/').nth(1).unwrap().to_string();
        let pw = Password::new(password);
        self.update(|doc| {
            let mut e = Entry::new(account, pw);
            e.created = Utc::now() - Duration::days(days_ago);
            doc.entries.insert(key.to_string(), e);
        });
    }

    pub fn doc(&self) -> VaultDocument {
        let ws = Workspace::open(&self.ws).unwrap();
        let inv = Inventory::load(&ws.inventory_file()).unwrap();
        let keys = KeyRing::locate(Some(&self.identity));
        Vault::new(&ws, &inv, &keys).load(CLIENT).unwrap()
    }

    pub fn entry(&self, key: &str) -> Entry {
        self.doc()
            .entries
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("no vault entry {key}"))
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_keyreeve"));
        c.arg("--workspace")
            .arg(&self.ws)
            .arg("--identity")
            .arg(&self.identity)
            .args(args);
        c.stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs `args` with `input` on stdin.
    pub fn run_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        // The command may end before reading everything: a broken pipe is no failure here.
        let _ = stdin.write_all(input.as_bytes());
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    /// A plan of every account of the client (`--all`), or of `accounts`.
    pub fn plan(&self, name: &str, accounts: &[&str]) -> PathBuf {
        let file = self.root.join(name);
        let mut args = vec!["plan", "--all", "-o", file.to_str().unwrap()];
        let paths: Vec<String> = accounts.iter().map(|a| format!("{CLIENT}/{a}")).collect();
        for p in &paths {
            args.push("--account");
            args.push(p);
        }
        if accounts.is_empty() {
            args.extend(["--client", CLIENT]);
        }
        let out = self.run(&args);
        assert!(out.status.success(), "plan: {}", text(&out));
        file
    }

    /// The new password a guided step showed in `file` (its `New password:` line).
    pub fn shown_password(file: &std::path::Path) -> Option<String> {
        let shown = std::fs::read_to_string(file).ok()?;
        shown
            .lines()
            .filter_map(|l| l.strip_prefix("New password: "))
            .next_back()
            .map(|p| p.trim().to_string())
    }

    pub fn journal_records(&self) -> usize {
        std::fs::read_dir(self.ws.join("state/journal"))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".age"))
                    .count()
            })
            .unwrap_or(0)
    }

    pub fn audit_log(&self) -> String {
        std::fs::read_to_string(self.ws.join("state/audit.log")).unwrap_or_default()
    }
}
