//! What an imported credential's target probably is, from its URL, title, group and notes: an
//! SSH dialect only when the record says both "SSH" and which system, otherwise a guided
//! (`manual`) target with the category its words suggest. Every proposal says why, so that the
//! summary shows each guess and nothing is guessed silently.

use super::Record;

/// A target proposed for keyreeve.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub target: String,
    /// `manual`, or an SSH dialect (`linux`, `cisco-ios`, ...), or what a keyreeve export named.
    pub kind: String,
    /// For `manual`: printer, voip, wireless, nas, hypervisor, av-console, web-portal,
    /// remote-support, vpn, database, other.
    pub category: Option<&'static str>,
    pub url: Option<String>,
    pub address: Option<String>,
    pub port: Option<u16>,
    /// The names of the accounts imported for it (the ACCOUNT of TARGET/ACCOUNT).
    pub accounts: Vec<String>,
    /// Why this kind and category, in words.
    pub why: String,
}

/// Words that name a category of guided target, most specific first.
const CATEGORIES: &[(&str, &[&str])] = &[
    (
        "printer",
        &[
            "printer",
            "laserjet",
            "officejet",
            "mfp",
            "kyocera",
            "ricoh",
            "brother",
            "xerox",
            "lexmark",
            "konica",
            "epson",
            "canon",
            "jetdirect",
            "cups",
            "ipp://",
        ],
    ),
    (
        "voip",
        &[
            "voip",
            "pbx",
            "sip:",
            "sip ",
            "phone",
            "yealink",
            "polycom",
            "snom",
            "grandstream",
            "3cx",
            "asterisk",
            "freepbx",
            "telephon",
        ],
    ),
    (
        "remote-support",
        &[
            "teamviewer",
            "anydesk",
            "screenconnect",
            "connectwise",
            "splashtop",
            "rustdesk",
            "remote support",
        ],
    ),
    (
        "av-console",
        &[
            "antivirus",
            "anti-virus",
            "eset",
            "sophos",
            "bitdefender",
            "kaspersky",
            "trend micro",
            "sentinelone",
            "crowdstrike",
            "defender",
            "malwarebytes",
        ],
    ),
    (
        "hypervisor",
        &[
            "esxi",
            "vcenter",
            "vsphere",
            "proxmox",
            "hyper-v",
            "xenserver",
            "hypervisor",
        ],
    ),
    (
        "nas",
        &["nas", "synology", "qnap", "truenas", "netapp", "storage", "san "],
    ),
    (
        "wireless",
        &[
            "wifi",
            "wi-fi",
            "wireless",
            "wlan",
            "access point",
            "unifi",
            "ruckus",
            "meraki",
        ],
    ),
    (
        "vpn",
        &["vpn", "openvpn", "wireguard", "anyconnect", "globalprotect", "ipsec"],
    ),
    (
        "database",
        &["database", "sql", "mysql", "mariadb", "postgres", "oracle", "mongodb"],
    ),
];

/// Words that name a system keyreeve rotates over SSH, with its kind.
const DIALECTS: &[(&str, &[&str])] = &[
    ("cisco-asa", &["asa ", "adaptive security"]),
    ("cisco-nxos", &["nx-os", "nxos", "nexus"]),
    ("cisco-ios", &["ios-xe", "cisco ios", "catalyst", "cisco"]),
    ("junos", &["junos", "juniper", "srx"]),
    ("arista-eos", &["arista"]),
    ("routeros", &["mikrotik", "routeros"]),
    ("fortios", &["fortigate", "fortios"]),
    ("vyos", &["vyos", "edgeos", "edgerouter"]),
    (
        "linux",
        &[
            "linux",
            "ubuntu",
            "debian",
            "centos",
            "rhel",
            "red hat",
            "rocky",
            "alma",
            "raspbian",
            "raspberry",
        ],
    ),
];

/// The parts of a URL a proposal uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// Reads `scheme://host:port/...` or a bare `host[:port]`; none for text that names no host.
pub fn parse_url(text: &str) -> Option<Url> {
    let text = text.trim();
    if text.is_empty() || text.chars().any(char::is_whitespace) {
        return None;
    }
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, text),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h.to_string(), after.strip_prefix(':').and_then(|p| p.parse().ok()))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p.parse().ok()?)),
            _ => (authority.to_string(), None),
        }
    };
    let plausible = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    // A bare word ("printer") is a title, not a host: without a scheme, ask for a dot or colon.
    if !plausible || (scheme.is_none() && !host.contains(['.', ':'])) {
        return None;
    }
    Some(Url { scheme, host, port })
}

/// The host named by a record's URL.
pub fn host_of(url: &str) -> Option<String> {
    parse_url(url).map(|u| u.host)
}

/// The guided-target category `words` (lower case) suggest, and the word that did.
pub fn category_in(words: &str) -> Option<(&'static str, &'static str)> {
    first_match(words, CATEGORIES)
}

fn first_match(words: &str, table: &[(&'static str, &[&'static str])]) -> Option<(&'static str, &'static str)> {
    table
        .iter()
        .find_map(|(name, keys)| keys.iter().find(|k| words.contains(*k)).map(|k| (*name, *k)))
}

/// Adds `account` to the proposal for `target`, proposing one from `r` if there is none yet.
pub fn add(proposals: &mut Vec<Proposal>, target: &str, account: &str, r: &Record) {
    if let Some(p) = proposals.iter_mut().find(|p| p.target == target) {
        if !p.accounts.iter().any(|a| a == account) {
            p.accounts.push(account.to_string());
        }
        return;
    }
    let mut p = propose(target, r);
    p.accounts = vec![account.to_string()];
    proposals.push(p);
}

/// The proposal for a target first seen in `r`.
pub fn propose(target: &str, r: &Record) -> Proposal {
    let accounts = if r.username.is_empty() {
        vec![]
    } else {
        vec![r.username.clone()]
    };
    if let Some(o) = &r.origin {
        if let Some(kind) = &o.kind {
            let url = parse_url(&r.url);
            return Proposal {
                target: target.into(),
                kind: kind.clone(),
                category: None,
                url: url
                    .as_ref()
                    .filter(|u| u.scheme.as_deref().is_some_and(|s| s.starts_with("ldap")))
                    .map(|_| r.url.clone()),
                address: o.address.clone().filter(|a| !a.is_empty()),
                port: o.port,
                accounts,
                why: format!("kind `{kind}` as the keyreeve export names it"),
            };
        }
    }
    let url = parse_url(&r.url);
    let words = format!(
        "{} {} {} {} ",
        r.title,
        r.group.as_deref().unwrap_or(""),
        r.url,
        r.notes
    )
    .to_lowercase();
    let scheme = url.as_ref().and_then(|u| u.scheme.clone());
    let address = url.as_ref().map(|u| u.host.clone());
    let says_ssh = scheme.as_deref() == Some("ssh") || words.contains("ssh");
    let manual = |category: &'static str, why: String| Proposal {
        target: target.into(),
        kind: "manual".into(),
        category: Some(category),
        url: scheme
            .as_deref()
            .filter(|s| !matches!(*s, "ssh" | "telnet"))
            .map(|_| r.url.trim().to_string()),
        address: address.clone(),
        port: None,
        accounts: accounts.clone(),
        why,
    };
    let dialect = first_match(&words, DIALECTS);
    if let (true, Some(host), Some((kind, word))) = (says_ssh, &address, dialect) {
        return Proposal {
            target: target.into(),
            kind: kind.into(),
            category: None,
            url: None,
            address: Some(host.clone()),
            port: url.as_ref().and_then(|u| u.port).filter(|p| *p != 22),
            accounts,
            why: format!("SSH, and the record names `{}`", word.trim()),
        };
    }
    if let Some((category, word)) = first_match(&words, CATEGORIES) {
        return manual(category, format!("the record names `{}`", word.trim()));
    }
    let dialect_note = |base: String| match dialect {
        Some((kind, word)) => format!(
            "{base}; it names `{}`: if it has SSH, kind `{kind}` rotates it automatically",
            word.trim()
        ),
        None => base,
    };
    match scheme.as_deref() {
        Some("https") | Some("http") => manual("web-portal", dialect_note("a web address".into())),
        Some("ssh") => manual(
            "other",
            format!(
                "ssh:// but no system named: `keyreeve scan {}` can guess its dialect",
                address.as_deref().unwrap_or("ADDRESS")
            ),
        ),
        _ => manual("other", dialect_note("nothing in the record names its kind".into())),
    }
}

impl Proposal {
    /// The `[[clients.C.targets]]` table for keyreeve.toml, with the reason as a comment above it.
    /// `manual` targets get the shared guided-target fields (category, url or address, accounts);
    /// the others an address and a login.
    pub fn to_table(&self) -> toml_edit::Table {
        use toml_edit::value;
        let mut t = toml_edit::Table::new();
        t.decor_mut()
            .set_prefix(format!("\n# imported: {}\n", self.why.replace(['\n', '\r'], " ")));
        t.insert("name", value(&self.target));
        t.insert("kind", value(&self.kind));
        if self.kind == "manual" {
            if let Some(c) = self.category {
                t.insert("category", value(c));
            }
            if let Some(url) = &self.url {
                t.insert("url", value(url));
            }
            if let (Some(a), None) = (&self.address, &self.url) {
                t.insert("address", value(a));
            }
            let mut accounts = toml_edit::Array::new();
            for a in &self.accounts {
                accounts.push(a.as_str());
            }
            t.insert("accounts", value(accounts));
        } else {
            if let Some(url) = &self.url {
                t.insert("url", value(url));
            }
            if let Some(a) = &self.address {
                t.insert("address", value(a));
            }
            if let Some(p) = self.port.filter(|p| *p != 22) {
                t.insert("port", value(i64::from(p)));
            }
            t.insert(
                "login",
                value(self.accounts.first().map(String::as_str).unwrap_or("admin")),
            );
        }
        t
    }
}

/// The keyreeve.toml lines that add `proposals` to `client`, as `--write-inventory` would.
pub fn fragment(client: &str, proposals: &[Proposal]) -> String {
    let path = std::path::Path::new("keyreeve.toml");
    let tables = proposals.iter().map(|p| (p.target.clone(), p.to_table())).collect();
    let text = crate::inventory::edit::add_client("", path, client)
        .and_then(|text| crate::inventory::edit::add_tables(&text, path, client, tables))
        .unwrap_or_default();
    // The client is in keyreeve.toml already: its own header pasted twice would break the file.
    let text = text.trim_start();
    text.split_once('\n')
        .filter(|(head, _)| head.starts_with("[clients."))
        .map(|(_, rest)| rest.trim_start())
        .unwrap_or(text)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::super::{Location, Record};
    use super::*;
    use crate::secret::Password;

    fn rec(title: &str, url: &str, notes: &str) -> Record {
        Record {
            title: title.into(),
            url: url.into(),
            notes: notes.into(),
            username: "admin".into(),
            ..Record::new(
                Location {
                    unit: "line",
                    number: 2,
                },
                Password::new("x"),
            )
        }
    }

    fn guess(title: &str, url: &str, notes: &str) -> (String, Option<&'static str>) {
        let p = propose("t", &rec(title, url, notes));
        (p.kind, p.category)
    }

    #[test]
    fn urls_are_read_without_inventing_hosts() {
        let u = parse_url("https://admin@10.0.0.5:8443/login").unwrap();
        assert_eq!(
            (u.scheme.as_deref(), u.host.as_str(), u.port),
            (Some("https"), "10.0.0.5", Some(8443))
        );
        assert_eq!(parse_url("ssh://[fe80::1]:2222").unwrap().host, "fe80::1");
        assert_eq!(parse_url("printer").map(|u| u.host), None);
        assert_eq!(parse_url("nas.acme.lan").unwrap().host, "nas.acme.lan");
        assert_eq!(parse_url("see the binder"), None);
    }

    #[test]
    fn ssh_dialects_only_when_the_record_says_ssh_and_names_the_system() {
        assert_eq!(
            guess("Core switch", "ssh://10.0.0.2", "Cisco Catalyst 9300"),
            ("cisco-ios".into(), None)
        );
        assert_eq!(guess("web1", "ssh://10.0.0.9", "Ubuntu 22.04"), ("linux".into(), None));
        // SSH, but which system? Not guessed: a guided target until a scan tells.
        let p = propose("t", &rec("box", "ssh://10.0.0.3", ""));
        assert_eq!((p.kind.as_str(), p.category), ("manual", Some("other")));
        assert!(p.why.contains("keyreeve scan 10.0.0.3"), "{}", p.why);
        assert_eq!(p.address.as_deref(), Some("10.0.0.3"));
        // A FortiGate's web login is a web portal, with a word on SSH.
        let p = propose("t", &rec("FortiGate", "https://10.0.0.1", ""));
        assert_eq!((p.kind.as_str(), p.category), ("manual", Some("web-portal")));
        assert!(p.why.contains("fortios"), "{}", p.why);
    }

    #[test]
    fn categories_from_words_and_web_addresses() {
        assert_eq!(
            guess("HP LaserJet 2nd floor", "http://10.0.0.40", ""),
            ("manual".into(), Some("printer"))
        );
        assert_eq!(guess("Yealink T46 reception", "", ""), ("manual".into(), Some("voip")));
        assert_eq!(
            guess("Synology", "https://nas.acme.lan:5001", ""),
            ("manual".into(), Some("nas"))
        );
        assert_eq!(
            guess("ISP portal", "https://my.isp.example", ""),
            ("manual".into(), Some("web-portal"))
        );
        assert_eq!(guess("Alarm code", "", ""), ("manual".into(), Some("other")));
        let p = propose("t", &rec("Registrar", "https://registrar.example/login", ""));
        assert_eq!(p.url.as_deref(), Some("https://registrar.example/login"));
    }

    #[test]
    fn the_fragment_holds_the_guided_fields_and_says_why() {
        let printer = propose("printer-1", &rec("HP LaserJet", "http://10.0.0.40", ""));
        let web1 = propose("web1", &rec("web1", "ssh://10.0.0.9:2222", "Debian"));
        let text = fragment("acme", &[printer, web1]);
        assert!(text.contains("# imported: the record names `laserjet`"), "{text}");
        let doc: toml::Value = toml::from_str(&text).unwrap();
        let targets = doc["clients"]["acme"]["targets"].as_array().unwrap();
        assert_eq!(targets[0]["kind"].as_str(), Some("manual"));
        assert_eq!(targets[0]["category"].as_str(), Some("printer"));
        assert_eq!(targets[0]["url"].as_str(), Some("http://10.0.0.40"));
        assert_eq!(targets[0]["accounts"].as_array().unwrap()[0].as_str(), Some("admin"));
        // An SSH kind is a target the inventory of this build already takes.
        let ssh_only = fragment(
            "acme",
            &[propose("web1", &rec("web1", "ssh://10.0.0.9:2222", "Debian"))],
        );
        let inv = crate::inventory::Inventory::parse(&ssh_only, std::path::Path::new("keyreeve.toml")).unwrap();
        let t = inv.target("acme", "web1").unwrap();
        assert_eq!(
            (t.kind.as_str(), t.port, t.address.as_str()),
            ("linux", 2222, "10.0.0.9")
        );
    }
}
