//! `keyreeve scan CIDR`: find SSH services in a network range, read their banners and host keys,
//! guess each one's dialect and print inventory stanzas to paste into keyreeve.toml. It also
//! finds what has no SSH (web pages, printers, phones: `scan_services`) and proposes guided
//! targets for them. It sends no credentials; concurrency and a timeout bound it, and ranges
//! larger than a /16 are refused. With `--add CLIENT` it adds what it found to keyreeve.toml
//! instead, with the guessed kind and the host key pinned, once the list was confirmed (on a
//! terminal, or by `--yes`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ipnet::IpNet;
use keyreeve::connector::ssh::session::{fetch_host_key, Endpoint};
use keyreeve::inventory::TargetKind;
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

use super::{Global, Outcome};

/// More addresses than this (a /16) are refused: a scan is for one site, not the internet.
const MAX_ADDRESSES: u128 = 65_536;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The range to scan, e.g. `10.0.20.0/24` or one address.
    pub cidr: String,
    /// Ports to try, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "22")]
    pub ports: Vec<u16>,
    /// Connections at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds to wait for a connection and its banner (1 to 3600).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// The client name to put in the stanzas.
    #[arg(long, default_value = "CLIENT")]
    pub client: String,
    /// Do not read host keys (banners only).
    #[arg(long, conflicts_with = "add")]
    pub no_host_keys: bool,
    /// Add the services found to this client in keyreeve.toml (kind guessed, host key pinned),
    /// after showing the list.
    #[arg(long, value_name = "CLIENT", conflicts_with = "client")]
    pub add: Option<String>,
    /// The login account of the added targets.
    #[arg(long, default_value = "admin", requires = "add")]
    pub login: String,
    /// With --add: add without asking (the list is still printed).
    #[arg(long, requires = "add")]
    pub yes: bool,
    /// Print what was found as JSON.
    #[arg(long, conflicts_with = "add")]
    pub json: bool,
    #[command(flatten)]
    pub services: super::scan_services::ServiceArgs,
}

/// One SSH service found.
#[derive(Debug, Clone)]
pub struct Found {
    pub addr: SocketAddr,
    pub banner: String,
    pub guess: Guess,
    pub fingerprint: Option<String>,
}

/// What a banner says about the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess {
    pub kind: Option<TargetKind>,
    /// Why, and what else it might be.
    pub note: &'static str,
}

/// SSH server names of firewalls and UniFi devices, with how sure the guess is: no recorded
/// session confirms them, so each note says so.
const FIREWALL_BANNERS: &[(&str, TargetKind, &str)] = &[
    (
        "paloaltonetworks",
        TargetKind::Panos,
        "Palo Alto PAN-OS (likely: the server names Palo Alto Networks; unconfirmed on a recorded session)",
    ),
    (
        "sonicwall",
        TargetKind::Sonicos,
        "SonicWall SonicOS (likely: the server names SonicWall; unconfirmed on a recorded session)",
    ),
];

/// The firewall or UniFi kind an SSH server name announces, if one of [`FIREWALL_BANNERS`].
fn firewall_guess(software: &str) -> Option<Guess> {
    FIREWALL_BANNERS
        .iter()
        .find(|(word, _, _)| software.starts_with(word))
        .map(|(_, kind, note)| Guess {
            kind: Some(*kind),
            note,
        })
}

/// Guesses the dialect from an SSH identification string.
pub fn guess_dialect(banner: &str) -> Guess {
    let b = banner.to_ascii_lowercase();
    let software = b
        .strip_prefix("ssh-2.0-")
        .or_else(|| b.strip_prefix("ssh-1.99-"))
        .unwrap_or(&b);
    if let Some(guess) = firewall_guess(software) {
        return guess;
    }
    let (kind, note) = if let Some((kind, note)) = switch_and_host_banners(software) {
        (Some(kind), note)
    } else if software.starts_with("cisco") {
        (
            Some(TargetKind::CiscoIos),
            "Cisco SSH server: IOS/IOS-XE, or an ASA (cisco-asa)",
        )
    } else if software.starts_with("rosssh") {
        (Some(TargetKind::Routeros), "MikroTik RouterOS")
    } else if software.starts_with("fortissh") {
        (Some(TargetKind::Fortios), "FortiGate FortiOS")
    } else if software.starts_with("openssh") {
        if software.contains("freebsd") {
            (
                Some(TargetKind::Linux),
                "OpenSSH on FreeBSD: a FreeBSD host, or a pfSense or OPNsense firewall (pfsense, opnsense): check the device",
            )
        } else if ["debian", "ubuntu", "raspbian", "el7", "el8", "el9"]
            .iter()
            .any(|d| software.contains(d))
        {
            (Some(TargetKind::Linux), "OpenSSH with a distribution suffix")
        } else {
            (
                Some(TargetKind::Linux),
                "plain OpenSSH: Linux, or cisco-nxos, junos, arista-eos, vyos, aruba-aoscx, esxi, synology-dsm, pfsense, opnsense: check the device",
            )
        }
    } else if software.starts_with("dropbear") {
        (
            Some(TargetKind::Linux),
            "dropbear: an embedded Linux, or a UniFi access point or switch (unifi: its controller owns the password)",
        )
    } else {
        (None, "unknown SSH server: no dialect guessed")
    };
    Guess { kind, note }
}

/// Banners of the Aruba switches, ESXi and Synology DSM, with how sure each guess is. AOS-CX,
/// ESXi and DSM run plain OpenSSH (no distinctive banner; the plain OpenSSH note names them);
/// only the first prompt after a login would tell them apart, and a scan sends no credentials.
fn switch_and_host_banners(software: &str) -> Option<(TargetKind, &'static str)> {
    const BANNERS: &[(&str, TargetKind, &str)] = &[(
        "mocana ssh",
        TargetKind::ArubaAoss,
        "Mocana SSH: likely an HPE Aruba AOS-S/ProCurve switch (unconfirmed; other embedded devices use it too)",
    )];
    BANNERS
        .iter()
        .find(|(prefix, _, _)| software.starts_with(prefix))
        .map(|(_, kind, note)| (*kind, *note))
}

/// Parses the range and refuses one larger than a /16.
pub fn addresses(cidr: &str) -> Result<Vec<IpAddr>> {
    let net: IpNet = match cidr.parse() {
        Ok(n) => n,
        Err(_) => {
            let ip: IpAddr = cidr
                .parse()
                .with_context(|| format!("`{cidr}` is neither an address nor a CIDR range"))?;
            IpNet::from(ip)
        }
    };
    let host_bits = u32::from(net.max_prefix_len() - net.prefix_len());
    if host_bits >= 128 || 1u128 << host_bits > MAX_ADDRESSES {
        bail!("{net} holds more than {MAX_ADDRESSES} addresses; scan at most a /16 (IPv4) or /112 (IPv6) at once");
    }
    Ok(match net {
        // A /31 or /32 has no network or broadcast address to skip.
        IpNet::V4(n) if n.prefix_len() >= 31 => n.hosts().map(IpAddr::V4).collect(),
        n => n.hosts().collect(),
    })
}

async fn read_banner(addr: SocketAddr, timeout: Duration) -> Option<String> {
    let work = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let mut buf = Vec::with_capacity(256);
        let mut byte = [0u8; 256];
        // Servers may send lines before the identification string (RFC 4253 4.2).
        loop {
            let n = stream.read(&mut byte).await.ok()?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&byte[..n]);
            let text = String::from_utf8_lossy(&buf);
            if let Some(line) = text.lines().find(|l| l.starts_with("SSH-")) {
                if text.contains('\n') {
                    return Some(line.trim().to_string());
                }
            }
            if buf.len() > 8192 {
                break;
            }
        }
        None
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

/// Scans every address and port; returns the SSH services found, in address order.
pub async fn scan(
    addrs: Vec<IpAddr>,
    ports: &[u16],
    concurrency: usize,
    timeout: Duration,
    host_keys: bool,
) -> Vec<Found> {
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = Vec::new();
    for ip in addrs {
        for &port in ports {
            let limit = limit.clone();
            tasks.push(tokio::spawn(async move {
                let _permit = limit.acquire_owned().await.ok()?;
                let addr = SocketAddr::new(ip, port);
                let banner = read_banner(addr, timeout).await?;
                let fingerprint = if host_keys {
                    let endpoint = Endpoint {
                        name: addr.to_string(),
                        address: ip.to_string(),
                        port,
                        connect_timeout: timeout,
                        command_timeout: timeout,
                        pinned_host_key: None,
                        known_hosts: std::path::PathBuf::new(),
                        trust_on_first_use: false,
                    };
                    tokio::task::spawn_blocking(move || fetch_host_key(&endpoint).ok().map(|k| k.fingerprint()))
                        .await
                        .ok()
                        .flatten()
                } else {
                    None
                };
                Some(Found {
                    addr,
                    guess: guess_dialect(&banner),
                    banner,
                    fingerprint,
                })
            }));
        }
    }
    let mut found = Vec::new();
    for t in tasks {
        if let Ok(Some(f)) = t.await {
            found.push(f);
        }
    }
    found
}

/// The target name a found service gets: its address and port, e.g. `10-0-20-1-22`.
pub fn target_name(f: &Found) -> String {
    format!("{}-{}", f.addr.ip().to_string().replace([':', '.'], "-"), f.addr.port())
}

/// An inventory stanza for one service.
pub fn stanza(client: &str, f: &Found) -> String {
    let ip = f.addr.ip().to_string();
    let name = target_name(f);
    let mut s = format!("# {}  {}  ({})\n", f.addr, f.banner, f.guess.note);
    let comment = if f.guess.kind.is_none() { "# " } else { "" };
    s.push_str(&format!("{comment}[[clients.{client}.targets]]\n"));
    s.push_str(&format!("{comment}name = \"{name}\"\n"));
    s.push_str(&format!(
        "{comment}kind = \"{}\"\n",
        f.guess.kind.map(|k| k.as_str()).unwrap_or("?")
    ));
    s.push_str(&format!("{comment}address = \"{ip}\"\n"));
    if f.addr.port() != 22 {
        s.push_str(&format!("{comment}port = {}\n", f.addr.port()));
    }
    s.push_str(&format!("{comment}login = \"admin\"\n"));
    if let Some(fp) = &f.fingerprint {
        s.push_str("# host key as seen by this scan: compare it with the device's console before trusting it\n");
        s.push_str(&format!("{comment}host_key = \"{fp}\"\n"));
    }
    s
}

pub fn run(g: &Global, args: Args) -> Result<Outcome> {
    let client = args.add.as_deref().unwrap_or(&args.client);
    if !keyreeve::inventory::is_valid_name(client) {
        bail!("`{}` is not a valid client name", client.escape_debug());
    }
    // Check the workspace before scanning, so that a mistake costs no scan.
    let workspace = match &args.add {
        Some(client) => {
            let (ws, inventory) = super::context::load_inventory(g)?;
            inventory.client(client)?;
            Some(ws)
        }
        None => None,
    };
    if args.ports.is_empty() {
        bail!("--ports names no port");
    }
    let addrs = addresses(&args.cidr)?;
    let count = addrs.len() * args.ports.len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let community = args.services.community()?.map(Arc::new);
    let devices = if args.services.ssh_only {
        Vec::new()
    } else {
        rt.block_on(keyreeve::scan::probe_all(
            &addrs,
            &args.services.ports(),
            args.concurrency,
            timeout,
            community,
        ))
    };
    let found = rt.block_on(scan(addrs, &args.ports, args.concurrency, timeout, !args.no_host_keys));
    eprintln!(
        "scanned {count} address:port pairs in {}: {} SSH services, {} devices by their other services",
        args.cidr,
        found.len(),
        devices.len()
    );
    let ssh_ips: Vec<IpAddr> = found.iter().map(|f| f.addr.ip()).collect();
    if args.json {
        let ssh: Vec<serde_json::Value> = found
            .iter()
            .map(|f| {
                serde_json::json!({
                    "address": f.addr.to_string(), "banner": f.banner,
                    "kind": f.guess.kind.map(|k| k.as_str()), "note": f.guess.note,
                    "host_key": f.fingerprint,
                })
            })
            .collect();
        let json = serde_json::json!({ "ssh": ssh, "devices": devices });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(Outcome::Success);
    }
    match (&workspace, &args.add) {
        (Some(ws), Some(client)) => add(ws, client, &args, &found, &devices),
        _ => {
            for f in &found {
                println!("{}", stanza(&args.client, f));
            }
            for d in &devices {
                println!("{}", super::scan_services::report(&args.client, d, &ssh_ips));
            }
            Ok(Outcome::Success)
        }
    }
}

/// Adds the services found to `client`: those with a guessed kind and a host key, not listed yet
/// (by name or by address and port).
fn add(
    ws: &keyreeve::workspace::Workspace,
    client: &str,
    args: &Args,
    found: &[Found],
    devices: &[keyreeve::scan::Device],
) -> Result<Outcome> {
    use keyreeve::inventory::edit::{self, NewTarget};

    let file = ws.inventory_file();
    let text = keyreeve::safe_fs::read_existing_text(&file, keyreeve::safe_fs::Limit::INVENTORY)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let inventory = keyreeve::inventory::Inventory::parse(&text, &file)?;
    let listed = &inventory.client(client)?.targets;
    let mut new = Vec::new();
    let mut skipped = 0;
    for f in found {
        let name = target_name(f);
        let why_not = if listed
            .iter()
            .any(|t| t.name == name || (t.address == f.addr.ip().to_string() && t.port == f.addr.port()))
        {
            Some("already in the inventory".to_string())
        } else if f.guess.kind.is_none() {
            Some(format!("no kind guessed from `{}`", f.banner.escape_debug()))
        } else if f.fingerprint.is_none() {
            Some("its host key could not be read".to_string())
        } else {
            None
        };
        if let Some(why) = why_not {
            println!("  skip {:<22} {}", f.addr, why);
            skipped += 1;
            continue;
        }
        let (Some(kind), Some(fingerprint)) = (f.guess.kind, f.fingerprint.clone()) else {
            continue;
        };
        println!(
            "  add  {:<22} {client}/{name:<20} {:<11} {fingerprint}  ({})",
            f.addr,
            kind.as_str(),
            f.guess.note
        );
        new.push(NewTarget {
            name,
            kind,
            address: Some(f.addr.ip().to_string()),
            port: Some(f.addr.port()).filter(|p| *p != 22),
            login: args.login.clone(),
            enable: None,
            host_key: Some(fingerprint),
            url: None,
            base_dn: None,
            comment: Some(format!(
                "found by `keyreeve scan`: {} ({})",
                f.banner.escape_debug(),
                f.guess.note
            )),
        });
    }
    let ssh_ips: Vec<IpAddr> = found.iter().map(|f| f.addr.ip()).collect();
    let mut guided = Vec::new();
    for d in devices
        .iter()
        .filter(|d| super::scan_services::proposes_target(d, &ssh_ips))
    {
        let name = super::scan_services::target_name(d);
        let ip = d.ip.to_string();
        if listed.iter().any(|t| t.name == name || t.address == ip) {
            println!("  skip {ip:<22} already in the inventory");
            skipped += 1;
            continue;
        }
        println!(
            "  add  {ip:<22} {client}/{name:<20} manual {} ({} confidence: {})",
            d.category,
            d.confidence.as_str(),
            d.why.escape_debug()
        );
        guided.push((name, super::scan_services::table(d, &args.login)));
    }
    if new.is_empty() && guided.is_empty() {
        println!("Nothing to add to `{client}` ({skipped} skipped).");
        return Ok(Outcome::Success);
    }
    if !args.yes
        && !super::target::confirm(
            &format!(
                "Add these {} targets to `{client}`, pinning the host keys shown (compare them with the devices' consoles)?",
                new.len() + guided.len()
            ),
            "pass --yes to add them",
        )?
    {
        bail!("nothing was added");
    }
    let guided_count = guided.len();
    let new_text = edit::add_targets(&text, &file, client, &new)?;
    let new_text = edit::add_tables(&new_text, &file, client, guided)?;
    edit::write(&file, &new_text)?;
    println!(
        "Added {} targets to `{client}` in {} ({skipped} skipped). Check each kind and category: a scan only suggests them.",
        new.len() + guided_count,
        file.display()
    );
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_dialects_from_banners() {
        let kind = |b: &str| guess_dialect(b).kind;
        assert_eq!(kind("SSH-2.0-Cisco-1.25"), Some(TargetKind::CiscoIos));
        assert_eq!(kind("SSH-2.0-ROSSSH"), Some(TargetKind::Routeros));
        assert_eq!(kind("SSH-2.0-FortiSSH_7.4"), Some(TargetKind::Fortios));
        assert_eq!(kind("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"), Some(TargetKind::Linux));
        assert_eq!(kind("SSH-2.0-OpenSSH_7.5"), Some(TargetKind::Linux));
        assert!(guess_dialect("SSH-2.0-OpenSSH_7.5").note.contains("junos"));
        assert_eq!(kind("SSH-2.0-Mocana SSH 6.3"), Some(TargetKind::ArubaAoss));
        assert!(guess_dialect("SSH-1.99-Mocana SSH 5.8").note.contains("likely"));
        assert!(guess_dialect("SSH-2.0-OpenSSH_9.3").note.contains("esxi"));
        assert_eq!(kind("SSH-2.0-HUAWEI-1.5"), None);
        assert_eq!(kind("SSH-2.0-PaloAltoNetworks_0.2"), Some(TargetKind::Panos));
        assert_eq!(kind("SSH-2.0-SonicWall_SSH"), Some(TargetKind::Sonicos));
        assert!(guess_dialect("SSH-2.0-SonicWall_SSH").note.contains("unconfirmed"));
        assert!(guess_dialect("SSH-2.0-dropbear_2019.78").note.contains("unifi"));
        assert!(guess_dialect("SSH-2.0-OpenSSH_9.7 FreeBSD-20240318")
            .note
            .contains("pfsense"));
    }

    #[test]
    fn refuses_ranges_larger_than_a_slash_16() {
        assert_eq!(addresses("127.0.0.1/32").unwrap().len(), 1);
        assert_eq!(addresses("127.0.0.1").unwrap().len(), 1);
        assert_eq!(addresses("127.0.0.0/30").unwrap().len(), 2);
        assert_eq!(addresses("127.0.0.0/16").unwrap().len(), 65_534);
        assert!(addresses("127.0.0.0/15").is_err());
        assert!(addresses("::/0").is_err());
        assert!(addresses("nonsense").is_err());
    }

    #[test]
    fn stanza_comments_out_unknown_kinds() {
        let f = Found {
            addr: "127.0.0.1:2222".parse().unwrap(),
            banner: "SSH-2.0-HUAWEI-1.5".into(),
            guess: guess_dialect("SSH-2.0-HUAWEI-1.5"),
            fingerprint: None,
        };
        let s = stanza("acme", &f);
        assert!(s.contains("# [[clients.acme.targets]]"), "{s}");
        let f = Found {
            banner: "SSH-2.0-ROSSSH".into(),
            guess: guess_dialect("SSH-2.0-ROSSSH"),
            fingerprint: Some("SHA256:abc".into()),
            ..f
        };
        let s = stanza("acme", &f);
        let parsed = keyreeve::inventory::Inventory::parse(&s, std::path::Path::new("scan")).unwrap();
        let t = parsed.target("acme", "127-0-0-1-2222").unwrap();
        assert_eq!((t.kind, t.port), (TargetKind::Routeros, 2222));
        assert_eq!(t.host_key.as_deref(), Some("SHA256:abc"));
    }
}
