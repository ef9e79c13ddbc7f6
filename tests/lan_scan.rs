//! `keyreeve scan` beyond SSH, through the real binary against real services on loopback started
//! by the lab scripts (nginx over HTTP and HTTPS, CUPS as an IPP server, snmpd, a SIPp endpoint;
//! the lab's sshd too), each service's guessed category asserted; and hostile answers (garbage,
//! a slow-loris, a header without end, garbage datagrams) that must neither crash nor hang it;
//! and `scan --add`, whose guided targets load, pass `inventory check` and are planned.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const LAB_HINT: &str = "the test lab is not running: start it with `sudo tests/lab/up.sh` \
     (or tests/lab/web.sh, cups.sh, snmpd.sh, sip.sh)";

fn lab_dir() -> PathBuf {
    PathBuf::from(std::env::var("KEYREEVE_LAB_DIR").unwrap_or_else(|_| "/tmp/keyreeve-lab".into()))
}

fn require_lab() {
    for port in [18080, 18443, 8631, 2222] {
        assert!(
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok(),
            "nothing listens on 127.0.0.1:{port}: {LAB_HINT}"
        );
    }
    assert!(lab_dir().join("snmpd/community").is_file(), "{LAB_HINT}");
}

/// Runs `keyreeve scan ARGS --json`, killed (and failed) if it has not finished in `limit`.
fn scan(args: &[&str], limit: Duration) -> Value {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyreeve"))
        .arg("scan")
        .args(args)
        .arg("--json")
        .env_remove("KEYREEVE_WORKSPACE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("keyreeve scan {args:?} hung (killed after {limit:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scan failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"))
}

fn service<'a>(device: &'a Value, protocol: &str, port: u16) -> Option<&'a Value> {
    device["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["protocol"] == protocol && s["port"] == port)
}

/// A TCP port that accepts and never says a word, as a printer's raw port.
fn silent_listener() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

#[test]
fn lab_services_get_their_category_and_kind() {
    require_lab();
    let jetdirect = silent_listener().to_string();
    let community = lab_dir().join("snmpd/community");
    let v = scan(
        &[
            "127.0.0.1",
            "--ports",
            "2222",
            "--no-host-keys",
            "--timeout",
            "5",
            "--http-ports",
            "18080,8631",
            "--https-ports",
            "18443",
            "--ipp-ports",
            "8631",
            "--sip-ports",
            "5070",
            "--snmp-ports",
            "16161",
            "--jetdirect-ports",
            &jetdirect,
            "--snmp-community-file",
            community.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let ssh = &v["ssh"][0];
    assert_eq!(
        (ssh["address"].as_str(), ssh["kind"].as_str()),
        (Some("127.0.0.1:2222"), Some("linux")),
        "{v:#}"
    );
    let devices = v["devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1, "{v:#}");
    let d = &devices[0];

    let web = service(d, "http", 18080).unwrap_or_else(|| panic!("nginx not seen: {v:#}"));
    assert_eq!(web["category"], "web-portal");
    assert_eq!(web["confidence"], "low");
    assert_eq!(web["detail"]["title"], "Lab Portal Login");
    assert!(
        web["detail"]["server"].as_str().unwrap().starts_with("nginx"),
        "{web:#}"
    );

    let tls = service(d, "https", 18443).unwrap_or_else(|| panic!("nginx over TLS not seen: {v:#}"));
    assert_eq!(
        tls["detail"]["cert_subject"], "O=Lab Devices, CN=lab-portal.lab.test",
        "{tls:#}"
    );
    assert_eq!(tls["category"], "web-portal");

    let ipp = service(d, "ipp", 8631).unwrap_or_else(|| panic!("CUPS not seen over IPP: {v:#}"));
    assert_eq!(
        (ipp["category"].as_str(), ipp["confidence"].as_str()),
        (Some("printer"), Some("high"))
    );
    assert_eq!(ipp["detail"]["make_and_model"], "Local Raw Printer", "{ipp:#}");
    assert_eq!(ipp["detail"]["status"], 0, "CUPS-Get-Default names the default queue");
    let cups_web = service(d, "http", 8631).unwrap_or_else(|| panic!("CUPS not seen over HTTP: {v:#}"));
    assert!(
        cups_web["detail"]["server"].as_str().unwrap().starts_with("CUPS/"),
        "{cups_web:#}"
    );
    assert_eq!(
        (cups_web["category"].as_str(), cups_web["confidence"].as_str()),
        (Some("printer"), Some("medium"))
    );

    let sip = service(d, "sip", 5070).unwrap_or_else(|| panic!("SIPp not seen: {v:#}"));
    assert_eq!(
        (sip["category"].as_str(), sip["confidence"].as_str()),
        (Some("voip"), Some("high"))
    );
    assert_eq!(sip["detail"]["server"], "LabPBX/1.0 (sipp)");
    assert_eq!(sip["detail"]["status"], "SIP/2.0 200 OK");

    let snmp = service(d, "snmp", 16161).unwrap_or_else(|| panic!("snmpd not seen: {v:#}"));
    assert_eq!(snmp["detail"]["sys_descr"], "HP ETHERNET MULTI-ENVIRONMENT");
    assert_eq!(snmp["detail"]["sys_name"], "lab-printer");
    assert_eq!(
        (snmp["category"].as_str(), snmp["confidence"].as_str()),
        (Some("printer"), Some("high"))
    );

    let raw = service(d, "jetdirect", jetdirect.parse().unwrap()).unwrap_or_else(|| panic!("raw port not seen: {v:#}"));
    assert_eq!(
        (raw["category"].as_str(), raw["confidence"].as_str()),
        (Some("printer"), Some("low"))
    );

    // The device as a whole: a guided printer target, managed over HTTPS.
    assert_eq!(
        (d["kind"].as_str(), d["category"].as_str(), d["confidence"].as_str()),
        (Some("manual"), Some("printer"), Some("high"))
    );
    assert_eq!(d["url"], "https://127.0.0.1:18443/");
}

#[test]
fn snmp_is_off_without_a_community_and_silent_with_a_wrong_one() {
    require_lab();
    let base = ["127.0.0.1", "--ssh-only", "--timeout", "2"];
    let v = scan(&base, Duration::from_secs(30));
    assert_eq!(v["devices"].as_array().unwrap().len(), 0, "{v:#}");
    let none = [
        "127.0.0.1",
        "--ports",
        "1",
        "--timeout",
        "1",
        "--http-ports",
        "1",
        "--https-ports",
        "1",
        "--ipp-ports",
        "1",
        "--jetdirect-ports",
        "1",
        "--sip-ports",
        "1",
        "--snmp-ports",
        "16161",
    ];
    let v = scan(&none, Duration::from_secs(30));
    assert_eq!(
        v["devices"].as_array().unwrap().len(),
        0,
        "no community, no SNMP: {v:#}"
    );
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), "not-the-community\n").unwrap();
    let mut args = none.to_vec();
    args.extend(["--snmp-community-file", wrong.path().to_str().unwrap()]);
    let v = scan(&args, Duration::from_secs(30));
    assert_eq!(
        v["devices"].as_array().unwrap().len(),
        0,
        "a wrong community gets no answer: {v:#}"
    );
}

/// A TCP listener that answers every connection with `serve`.
fn tcp(serve: fn(TcpStream)) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || serve(s));
        }
    });
    port
}

/// A UDP socket that answers every datagram with garbage.
fn udp_garbage() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = s.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((_, from)) = s.recv_from(&mut buf) {
            let _ = s.send_to(b"\x30\x82\xff\xff\x02\x01\x01SIP/2.0\x00\xfe garbage", from);
            let _ = s.send_to(&[0xff; 1400], from);
        }
    });
    port
}

#[test]
fn hostile_answers_neither_crash_nor_hang_the_scan() {
    let garbage = tcp(|mut s| {
        let mut b = [0u8; 512];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"\x00\xff\x1b[2J\xe2\x80\xae not http at all\r\n\r\n");
    });
    let slow_loris = tcp(|mut s| {
        let mut b = [0u8; 512];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nServer: slow");
        for _ in 0..600 {
            if s.write_all(b"w").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let endless_header = tcp(|mut s| {
        let mut b = [0u8; 512];
        let _ = s.read(&mut b);
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/ipp\r\nX-Big: ");
        let chunk = [b'a'; 65536];
        for _ in 0..1000 {
            if s.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let talker = tcp(|mut s| {
        let _ = s.write_all(b"SSH-2.0-NotAPrinter\r\n");
        std::thread::sleep(Duration::from_secs(5));
    });
    let (garbage, slow_loris, endless_header, talker, udp) = (
        garbage.to_string(),
        slow_loris.to_string(),
        endless_header.to_string(),
        talker.to_string(),
        udp_garbage().to_string(),
    );
    let http_ports = format!("{garbage},{slow_loris},{endless_header}");
    let https_ports = format!("{garbage},{slow_loris}");
    let ipp_ports = format!("{garbage},{endless_header},{slow_loris}");
    let community = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(community.path(), "public\n").unwrap();
    let v = scan(
        &[
            "127.0.0.1",
            "--ports",
            &garbage,
            "--no-host-keys",
            "--timeout",
            "2",
            "--http-ports",
            &http_ports,
            "--https-ports",
            &https_ports,
            "--ipp-ports",
            &ipp_ports,
            "--jetdirect-ports",
            &talker,
            "--sip-ports",
            &udp,
            "--snmp-ports",
            &udp,
            "--snmp-community-file",
            community.path().to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(v["ssh"].as_array().unwrap().len(), 0, "{v:#}");
    let d = &v["devices"][0];
    let sp: u16 = slow_loris.parse().unwrap();
    let eh: u16 = endless_header.parse().unwrap();
    let gp: u16 = garbage.parse().unwrap();
    // What answered like HTTP is kept, cut at the deadline or the size limit; the rest is not.
    let slow = service(d, "http", sp).unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(slow["detail"]["status"], 200);
    assert!(
        slow["detail"]["server"].as_str().unwrap().starts_with("slow"),
        "{slow:#}"
    );
    assert!(slow["detail"]["server"].as_str().unwrap().len() <= 200);
    assert_eq!(service(d, "http", eh).unwrap()["detail"]["status"], 200);
    assert!(service(d, "http", gp).is_none(), "{v:#}");
    assert!(
        service(d, "https", gp).is_none() && service(d, "https", sp).is_none(),
        "{v:#}"
    );
    assert!(
        service(d, "ipp", eh).is_none() && service(d, "ipp", gp).is_none(),
        "{v:#}"
    );
    assert!(
        service(d, "sip", udp.parse().unwrap()).is_none() && service(d, "snmp", udp.parse().unwrap()).is_none(),
        "{v:#}"
    );
    let raw = service(d, "jetdirect", talker.parse().unwrap()).unwrap();
    assert_eq!(raw["category"], "other", "a port that talks is no printer's: {raw:#}");
}

/// `keyreeve` with a fresh workspace holding an empty client `c`.
fn workspace_with_client(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let bin = env!("CARGO_BIN_EXE_keyreeve");
    let identity = dir.join("id.txt");
    let out = Command::new(bin)
        .args(["identity", "new", "-o"])
        .arg(&identity)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let public = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let root = dir.join("ws");
    let out = Command::new(bin)
        .arg("init")
        .arg(&root)
        .args(["-r", &public])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut inv = std::fs::OpenOptions::new()
        .append(true)
        .open(root.join("keyreeve.toml"))
        .unwrap();
    inv.write_all(b"\n[clients.c]\n").unwrap();
    (root, identity)
}

#[test]
fn scan_add_writes_guided_targets_that_load_and_plan() {
    require_lab();
    let tmp = tempfile::tempdir().unwrap();
    let (root, identity) = workspace_with_client(tmp.path());
    let keyreeve = |args: &[&str], stdin: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keyreeve"))
            .arg("--workspace")
            .arg(&root)
            .args(args)
            .env_remove("KEYREEVE_WORKSPACE")
            .env("KEYREEVE_IDENTITY", &identity)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, shown) = keyreeve(
        &[
            "scan",
            "127.0.0.1",
            "--ports",
            "1",
            "--timeout",
            "5",
            "--http-ports",
            "18080,8631",
            "--https-ports",
            "18443",
            "--ipp-ports",
            "8631",
            "--add",
            "c",
            "--yes",
        ],
        "",
    );
    assert!(ok, "{shown}");
    let inv_file = root.join("keyreeve.toml");
    let inv = keyreeve::inventory::Inventory::load(&inv_file).unwrap_or_else(|e| panic!("{e}: {shown}"));
    let printer = inv
        .target("c", "127-0-0-1-printer")
        .unwrap_or_else(|e| panic!("{e}: {shown}"));
    assert!(printer.kind.is_manual(), "{shown}");

    let (_, shown) = keyreeve(&["inventory", "check"], "");
    assert!(
        !shown.contains("127-0-0-1-printer"),
        "a guided target needs no login: {shown}"
    );
    let (ok, shown) = keyreeve(&["vault", "set", "c/127-0-0-1-printer/admin"], "Printer-pass-1");
    assert!(ok, "{shown}");
    let (ok, shown) = keyreeve(&["plan", "--client", "c", "--all"], "");
    assert!(ok, "{shown}");
    assert!(
        shown.contains("c/127-0-0-1-printer/admin") && shown.contains("guided: changed by hand"),
        "{shown}"
    );
}
