//! The part of `keyreeve scan` beyond SSH: its options (ports per probe, the SNMP community), the
//! report of each device found (its services, the guessed category and how sure), the guided
//! (`manual`) stanzas it proposes, and what `--add` writes for them. The probing itself is in
//! the library (keyreeve::scan).

use std::io::{IsTerminal, Read};
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use keyreeve::escape::terminal as shown;
use keyreeve::scan::{Confidence, Device, Ports};
use keyreeve::Password;
use zeroize::Zeroizing;

#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// Probe SSH only (no web, IPP, JetDirect, SIP or SNMP).
    #[arg(long)]
    pub ssh_only: bool,
    /// HTTP ports to probe (`GET /`: server, title).
    #[arg(long, value_delimiter = ',', default_value = "80,8080", value_name = "PORTS")]
    pub http_ports: Vec<u16>,
    /// HTTPS ports to probe (also the certificate's subject).
    #[arg(long, value_delimiter = ',', default_value = "443,8443", value_name = "PORTS")]
    pub https_ports: Vec<u16>,
    /// IPP ports to probe (printers).
    #[arg(long, value_delimiter = ',', default_value = "631", value_name = "PORTS")]
    pub ipp_ports: Vec<u16>,
    /// JetDirect (raw printing) ports to probe; nothing is ever sent to them.
    #[arg(long, value_delimiter = ',', default_value = "9100", value_name = "PORTS")]
    pub jetdirect_ports: Vec<u16>,
    /// SIP ports to probe over UDP with OPTIONS (phones, PBXs).
    #[arg(long, value_delimiter = ',', default_value = "5060", value_name = "PORTS")]
    pub sip_ports: Vec<u16>,
    /// SNMP ports to probe (only with a community).
    #[arg(long, value_delimiter = ',', default_value = "161", value_name = "PORTS")]
    pub snmp_ports: Vec<u16>,
    /// Probe SNMP (sysDescr) with a read-only community, asked on the terminal or read as one
    /// line from stdin. Off by default.
    #[arg(long)]
    pub snmp_community: bool,
    /// Probe SNMP with the community on the first line of this file.
    #[arg(long, value_name = "FILE", conflicts_with = "snmp_community")]
    pub snmp_community_file: Option<PathBuf>,
}

impl ServiceArgs {
    pub fn ports(&self) -> Ports {
        Ports {
            http: self.http_ports.clone(),
            https: self.https_ports.clone(),
            ipp: self.ipp_ports.clone(),
            jetdirect: self.jetdirect_ports.clone(),
            sip: self.sip_ports.clone(),
            snmp: self.snmp_ports.clone(),
        }
    }

    /// The community, read as the other secrets are (never from argv or the environment).
    pub fn community(&self) -> Result<Option<Password>> {
        let text = if let Some(file) = &self.snmp_community_file {
            Zeroizing::new(
                keyreeve::safe_fs::read_existing_text(file, keyreeve::safe_fs::Limit::KEY_FILE)
                    .with_context(|| format!("cannot read the SNMP community from {}", file.display()))?,
            )
        } else if self.snmp_community {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                Zeroizing::new(rpassword::prompt_password("SNMP community: ").context("cannot read from the terminal")?)
            } else {
                let mut buf = Zeroizing::new(String::new());
                stdin
                    .lock()
                    .read_to_string(&mut buf)
                    .context("cannot read the SNMP community from stdin")?;
                buf
            }
        } else {
            return Ok(None);
        };
        let community = text.lines().next().unwrap_or("").trim_end_matches('\r');
        if community.is_empty() {
            bail!("the SNMP community is empty");
        }
        Ok(Some(Password::new(community)))
    }
}

/// Whether a device found by the service probes gets a guided target of its own: not when the
/// address runs SSH and the services say nothing more than "a web page" (its SSH stanza covers it).
pub fn proposes_target(d: &Device, ssh_ips: &[IpAddr]) -> bool {
    !ssh_ips.contains(&d.ip) || !matches!(d.category, "web-portal" | "other")
}

/// The target name of a device: its address and category, e.g. `10-0-20-40-printer`.
pub fn target_name(d: &Device) -> String {
    format!("{}-{}", d.ip.to_string().replace([':', '.'], "-"), d.category)
}

/// The report of one device and, when it gets a target, its stanza.
pub fn report(client: &str, d: &Device, ssh_ips: &[IpAddr]) -> String {
    let mut s = format!(
        "# {}  {} ({} confidence): {}\n",
        d.ip,
        d.category,
        d.confidence.as_str(),
        shown(&d.why)
    );
    for svc in &d.services {
        s.push_str(&format!(
            "#   {}/{}: {} -> {} ({})\n",
            svc.protocol,
            svc.port,
            shown(&svc.why),
            svc.category,
            svc.confidence.as_str()
        ));
    }
    if !proposes_target(d, ssh_ips) {
        s.push_str("#   (its SSH stanza above covers it)\n");
        return s;
    }
    if d.confidence == Confidence::Low {
        s.push_str("#   a weak guess: check the device before adding it\n");
    }
    let text = stanza(client, d, "admin");
    s.push_str(&text);
    s
}

/// The `[[clients.C.targets]]` table of a guided target for `d`.
pub fn table(d: &Device, login: &str) -> toml_edit::Table {
    use toml_edit::value;
    let mut t = toml_edit::Table::new();
    t.decor_mut().set_prefix(format!(
        "\n# found by `keyreeve scan`: {} ({} confidence)\n",
        d.why.replace(['\n', '\r'], " "),
        d.confidence.as_str()
    ));
    t.insert("name", value(target_name(d)));
    t.insert("kind", value(d.kind));
    t.insert("category", value(d.category));
    if let Some(url) = &d.url {
        t.insert("url", value(url));
    }
    t.insert("address", value(d.ip.to_string()));
    let mut accounts = toml_edit::Array::new();
    accounts.push(login);
    t.insert("accounts", value(accounts));
    t
}

fn stanza(client: &str, d: &Device, login: &str) -> String {
    let path = std::path::Path::new("scan");
    let text = keyreeve::inventory::edit::add_client("", path, client)
        .and_then(|text| {
            keyreeve::inventory::edit::add_tables(&text, path, client, vec![(target_name(d), table(d, login))])
        })
        .unwrap_or_default();
    let text = text.trim_start();
    text.split_once('\n')
        .map(|(_, rest)| rest.trim_start())
        .unwrap_or(text)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyreeve::scan::{classify, jetdirect::RawPort, Detail, Service};

    #[test]
    fn a_device_becomes_a_guided_target_with_its_category_and_url() {
        let svc = |protocol: &'static str, port: u16, category: &'static str| Service {
            port,
            protocol,
            detail: Detail::Raw(RawPort {
                silent: true,
                said: None,
            }),
            category,
            confidence: Confidence::Medium,
            why: "w".into(),
        };
        let d = classify(
            "10.0.20.40".parse().unwrap(),
            vec![svc("https", 443, "printer"), svc("jetdirect", 9100, "printer")],
        );
        let text = stanza("acme", &d, "admin");
        let doc: toml::Value = toml::from_str(&text).unwrap();
        let t = &doc["clients"]["acme"]["targets"][0];
        assert_eq!(t["name"].as_str(), Some("10-0-20-40-printer"));
        assert_eq!(t["kind"].as_str(), Some("manual"));
        assert_eq!(t["category"].as_str(), Some("printer"));
        assert_eq!(t["url"].as_str(), Some("https://10.0.20.40/"));
        assert_eq!(t["address"].as_str(), Some("10.0.20.40"));
        assert!(text.starts_with("# found by `keyreeve scan`"), "{text}");
        // On an address that runs SSH, a bare web page adds no second target.
        let web = classify("10.0.20.9".parse().unwrap(), vec![svc("http", 80, "web-portal")]);
        assert!(!proposes_target(&web, &["10.0.20.9".parse().unwrap()]));
        assert!(proposes_target(&d, &["10.0.20.40".parse().unwrap()]));
    }
}
