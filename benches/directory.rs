//! Directory benchmark (not a test): the full privileged-group discovery of keyreeve against the
//! benchmark DC that tests/lab/populate-bench.sh starts on 127.0.0.2 (20,000 users and 2,000
//! nested groups under Domain Admins), side by side with `ldapsearch` pulling the same attributes
//! of the same objects in one paged search: the floor any LDAP client pays. Runs alternate so that
//! both see the same machine load. Figures go to BENCHMARKS.md ("Directory").
//!
//! `cargo bench --bench directory` (BENCH_RUNS=N to change the number of runs, default 5).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keyreeve::connector::ldap::{self, ad};
use keyreeve::connector::{ConnectContext, Credentials};
use keyreeve::inventory::{LoginMethod, Target, TargetKind};
use keyreeve::policy::DirectoryPolicy;
use keyreeve::Password;

const URL: &str = "ldaps://127.0.0.2:636";
const BASE: &str = "DC=lab,DC=test";

fn main() {
    let lab = std::env::var_os("KEYREEVE_LAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/keyreeve-lab"));
    let pw_file = lab.join("samba-bench/admin.pw");
    let populated = lab.join("samba-bench/populated").exists();
    let up = std::net::TcpStream::connect_timeout(&([127, 0, 0, 2], 636).into(), Duration::from_secs(2)).is_ok();
    let admin = match (std::fs::read_to_string(&pw_file), up && populated) {
        (Ok(pw), true) => Password::new(pw.trim().to_string()),
        _ => panic!("lab missing: run tests/lab/populate-bench.sh as root (benchmark DC on 127.0.0.2)"),
    };
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let target = Target {
        client: "bench".into(),
        name: "dc".into(),
        kind: TargetKind::ActiveDirectory,
        address: "127.0.0.2".into(),
        port: 636,
        login: "Administrator".into(),
        login_method: LoginMethod::Password,
        enable: None,
        host_key: None,
        connect_timeout: Duration::from_secs(10),
        command_timeout: Duration::from_secs(300),
        tags: vec![],
        dependants: BTreeMap::new(),
        url: Some(URL.into()),
        base_dn: Some(BASE.into()),
        bind_dn: None,
        ca_file: Some(PathBuf::from("ca/ca.crt")),
        extra_groups: vec![],
        script: None,
        guided: None,
        line: 1,
    };
    let ctx = ConnectContext {
        known_hosts: lab.join("known_hosts"),
        workspace_root: lab.clone(),
        trust_on_first_use: false,
        directory: DirectoryPolicy::default(),
    };
    let login = Credentials {
        username: "Administrator".into(),
        method: LoginMethod::Password,
        secret: admin,
        enable: None,
    };
    let filter = "(|(objectClass=user)(objectClass=group)(objectClass=foreignSecurityPrincipal))";
    let ldapsearch = |out: Stdio| {
        let mut cmd = Command::new("ldapsearch");
        cmd.env("LDAPTLS_CACERT", lab.join("ca/ca.crt"))
            .args([
                "-LLL",
                "-o",
                "ldif-wrap=no",
                "-H",
                URL,
                "-x",
                "-D",
                "Administrator@lab.test",
                "-y",
            ])
            .arg(&pw_file)
            .args(["-b", BASE, "-E", "pr=500/noprompt", filter])
            .args(ad::ATTRS)
            .stdout(out)
            .stderr(Stdio::null());
        cmd
    };

    let mut ours = Vec::new();
    let mut floor = Vec::new();
    let mut report = None;
    for run in 0..runs {
        let t = Instant::now();
        let r = ldap::discover_directory(&target, &ctx, &login).expect("discovery");
        ours.push(t.elapsed());
        let t = Instant::now();
        let status = ldapsearch(Stdio::null()).status().expect("ldapsearch");
        floor.push(t.elapsed());
        assert!(status.success(), "ldapsearch failed");
        eprintln!("run {run}: keyreeve {:?}, ldapsearch {:?}", ours[run], floor[run]);
        report = Some(r);
    }
    let report = report.expect("at least one run");
    let out = ldapsearch(Stdio::piped()).output().expect("ldapsearch");
    let entries = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("dn:"))
        .count();
    let da = report
        .privileged_groups
        .iter()
        .find(|g| g.name == "Domain Admins")
        .expect("Domain Admins");
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (m_ours, m_floor) = (median(&mut ours), median(&mut floor));
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_else(|| "?".into());
    println!("runs: {runs}");
    println!(
        "keyreeve discovery: median {:.2} s, min {:.2} s; {} accounts reported, {} effective members of Domain Admins, {} nested groups; peak RSS {} kB",
        m_ours.as_secs_f64(),
        ours[0].as_secs_f64(),
        report.accounts.len(),
        da.effective_members,
        da.nested_groups.len(),
        hwm
    );
    println!(
        "ldapsearch (same attributes, every user/group/FSP, paged): median {:.2} s, min {:.2} s; {entries} entries",
        m_floor.as_secs_f64(),
        floor[0].as_secs_f64()
    );
    println!("ratio (median): {:.2}x", m_ours.as_secs_f64() / m_floor.as_secs_f64());
}
