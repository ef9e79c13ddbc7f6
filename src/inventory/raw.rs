//! The inventory as written: parsed with spans so that validation can point at lines.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{is_valid_name, Client, Inventory, InventoryError, LoginMethod, Target, TargetKind};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInventory {
    #[serde(default)]
    workspace: RawWorkspace,
    #[serde(default)]
    clients: BTreeMap<String, Spanned<RawClient>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWorkspace {
    #[serde(default)]
    recipients: Vec<String>,
    #[serde(default)]
    passphrase: bool,
    #[serde(default)]
    armor: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    #[serde(default)]
    recipients: Vec<String>,
    #[serde(default)]
    targets: Vec<Spanned<RawTarget>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Spanned<String>,
    kind: Spanned<String>,
    address: Option<String>,
    port: Option<u16>,
    login: Spanned<String>,
    #[serde(default)]
    login_method: LoginMethod,
    enable: Option<Spanned<String>>,
    host_key: Option<Spanned<String>>,
    connect_timeout: Option<u64>,
    command_timeout: Option<u64>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    dependants: BTreeMap<String, Vec<String>>,
    url: Option<Spanned<String>>,
    base_dn: Option<String>,
    bind_dn: Option<String>,
    ca_file: Option<String>,
    #[serde(default)]
    extra_groups: Vec<String>,
}

/// The 1-based line of byte `offset` in `text` (any offset: past the end, or inside a character).
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let bytes = text.as_bytes();
    bytes[..offset.min(bytes.len())].iter().filter(|b| **b == b'\n').count() + 1
}

pub(super) fn parse(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
    let invalid = |offset: usize, message: String| InventoryError::Invalid {
        path: path.to_path_buf(),
        line: line_of(text, offset),
        message,
    };
    let raw: RawInventory = toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        invalid(offset, e.message().to_string())
    })?;

    let mut clients = BTreeMap::new();
    for (client_name, spanned) in raw.clients {
        let client_at = spanned.span().start;
        if !is_valid_name(&client_name) {
            return Err(invalid(
                client_at,
                format!("client name `{client_name}` may hold only letters, digits, `-`, `_`, `.`"),
            ));
        }
        let raw_client = spanned.into_inner();
        let mut targets: Vec<Target> = Vec::new();
        for t in raw_client.targets {
            let at = t.span().start;
            let t = t.into_inner();
            let name = t.name.get_ref().clone();
            if !is_valid_name(&name) {
                return Err(invalid(
                    t.name.span().start,
                    format!("target name `{name}` may hold only letters, digits, `-`, `_`, `.`"),
                ));
            }
            if targets.iter().any(|o| o.name == name) {
                return Err(invalid(
                    t.name.span().start,
                    format!("target `{client_name}/{name}` is listed twice"),
                ));
            }
            let kind = TargetKind::parse(t.kind.get_ref()).ok_or_else(|| {
                let known: Vec<_> = TargetKind::ALL.iter().map(|k| k.as_str()).collect();
                invalid(
                    t.kind.span().start,
                    format!("unknown kind `{}`; known kinds: {}", t.kind.get_ref(), known.join(", ")),
                )
            })?;
            if !is_valid_name(t.login.get_ref()) {
                return Err(invalid(
                    t.login.span().start,
                    format!("login `{}` is not a valid account name", t.login.get_ref()),
                ));
            }
            // The enable secret's vault account: printed, and part of a vault path.
            if let Some(enable) = t.enable.as_ref().filter(|e| !is_valid_name(e.get_ref())) {
                return Err(invalid(
                    enable.span().start,
                    format!(
                        "enable `{}` is not a valid account name",
                        crate::escape::terminal(enable.get_ref())
                    ),
                ));
            }
            if let Some(hk) = &t.host_key {
                if !hk.get_ref().starts_with("SHA256:") {
                    return Err(invalid(
                        hk.span().start,
                        "host_key must be an OpenSSH SHA256 fingerprint, `SHA256:<base64>`".into(),
                    ));
                }
            }
            let (address, port, url) = if kind.is_directory() {
                let url = t
                    .url
                    .ok_or_else(|| invalid(at, format!("directory target `{name}` needs `url = \"ldaps://HOST\"`")))?;
                let u = url.get_ref();
                let (scheme, rest) = u
                    .split_once("://")
                    .ok_or_else(|| invalid(url.span().start, format!("`{u}` is not an ldap:// or ldaps:// URL")))?;
                let default_port = match scheme {
                    "ldaps" => 636,
                    "ldap" => 389,
                    _ => {
                        return Err(invalid(
                            url.span().start,
                            format!("`{u}`: only ldaps:// and ldap:// (with StartTLS) are supported"),
                        ))
                    }
                };
                let hostport = rest.split('/').next().unwrap_or_default();
                let (host, port) = match hostport.rsplit_once(':') {
                    Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => match p.parse::<u16>() {
                        Ok(p) => (h.trim_matches(['[', ']']).to_string(), p),
                        Err(_) => return Err(invalid(url.span().start, format!("`{u}`: bad port `{p}`"))),
                    },
                    _ => (hostport.to_string(), default_port),
                };
                if t.base_dn.is_none() {
                    return Err(invalid(at, format!("directory target `{name}` needs `base_dn`")));
                }
                (host, port, Some(u.clone()))
            } else {
                let address = t
                    .address
                    .clone()
                    .ok_or_else(|| invalid(at, format!("target `{name}` needs `address`")))?;
                (address, t.port.unwrap_or(22), None)
            };
            if address.is_empty() {
                return Err(invalid(at, format!("target `{name}` has an empty address")));
            }
            targets.push(Target {
                client: client_name.clone(),
                name,
                kind,
                address,
                port,
                login: t.login.into_inner(),
                login_method: t.login_method,
                enable: t.enable.map(Spanned::into_inner),
                host_key: t.host_key.map(Spanned::into_inner),
                connect_timeout: Duration::from_secs(t.connect_timeout.unwrap_or(10)),
                command_timeout: Duration::from_secs(t.command_timeout.unwrap_or(30)),
                tags: t.tags,
                dependants: t.dependants,
                url,
                base_dn: t.base_dn,
                bind_dn: t.bind_dn,
                ca_file: t.ca_file.map(Into::into),
                extra_groups: t.extra_groups,
                line: line_of(text, at),
            });
        }
        clients.insert(
            client_name.clone(),
            Client {
                name: client_name,
                recipients: raw_client.recipients,
                targets,
            },
        );
    }
    Ok(Inventory {
        recipients: raw.workspace.recipients,
        passphrase: raw.workspace.passphrase,
        armor: raw.workspace.armor,
        clients,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Inventory, InventoryError> {
        parse(s, Path::new("keyreeve.toml"))
    }

    #[test]
    fn parses_devices_and_directories() {
        let inv = parse_str(
            r#"
[workspace]
recipients = ["age1xyz"]

[clients.acme]
[[clients.acme.targets]]
name = "core-rtr1"
kind = "cisco-ios"
address = "127.0.0.1"
port = 2201
login = "admin"
enable = "enable"

[[clients.acme.targets]]
name = "dc1"
kind = "active-directory"
url = "ldaps://127.0.0.1:636"
base_dn = "DC=lab,DC=test"
login = "Administrator"
"#,
        )
        .unwrap();
        let rtr = inv.target("acme", "core-rtr1").unwrap();
        assert_eq!(rtr.kind, TargetKind::CiscoIos);
        assert_eq!(rtr.port, 2201);
        assert_eq!(rtr.line, 6);
        let dc = inv.target("acme", "dc1").unwrap();
        assert_eq!((dc.address.as_str(), dc.port), ("127.0.0.1", 636));
    }

    #[test]
    fn unknown_kind_points_at_its_line() {
        let err = parse_str("[clients.acme]\n[[clients.acme.targets]]\nname = \"x\"\nkind = \"cisco-ioss\"\naddress = \"h\"\nlogin = \"a\"\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("keyreeve.toml:4:"), "{msg}");
        assert!(msg.contains("cisco-ioss"), "{msg}");
    }

    #[test]
    fn syntax_error_points_at_its_line() {
        let err = parse_str("[clients.acme]\n\n[[clients.acme.targets]\n").unwrap_err();
        assert!(err.to_string().starts_with("keyreeve.toml:3:"), "{err}");
    }

    /// Every damaged form of a full inventory (cut at every character, one byte at a time swapped
    /// for a character that matters to TOML) parses or names a line inside the file: no panic,
    /// no line that does not exist.
    #[test]
    fn damaged_inventories_are_errors_on_a_real_line() {
        let full = r#"# acme's network
[workspace]
recipients = ["age1xyz"]
armor = false

[clients.acme]
recipients = ["age1abc"]

[[clients.acme.targets]]
name = "core-rtr1"
kind = "cisco-ios"
address = "127.0.0.1"
port = 2201
login = "admin"
enable = "enable"
host_key = "SHA256:HgXH3o1yDCYWcrQmllgrgAbX6qWVqoJJvPnUiUvUQdY"
connect_timeout = 10
command_timeout = 30
tags = ["core", "büro"]
dependants = { admin = ["backup job"] }

[[clients.acme.targets]]
name = "dc1"
kind = "active-directory"
url = "ldaps://127.0.0.1:636"
base_dn = "DC=lab,DC=test"
login = "Administrator"
ca_file = "ca.crt"
extra_groups = ["CN=Tier0,DC=lab,DC=test"]
"#;
        parse_str(full).expect("the full inventory is valid");
        let lines = full.lines().count() + 1;
        let mut errors = 0;
        let mut check = |text: &str| {
            if let Err(InventoryError::Invalid { line, .. }) = parse_str(text) {
                assert!((1..=lines).contains(&line), "line {line} of {lines}: {text}");
                errors += 1;
            }
        };
        for (cut, _) in full.char_indices() {
            check(&full[..cut]);
        }
        for at in 0..full.len() {
            if !full.is_char_boundary(at) || !full.is_char_boundary(at + 1) {
                continue;
            }
            for c in ["\"", "[", "]", "=", "\n", "#", "é", "\\", "{", "0"] {
                check(&format!("{}{c}{}", &full[..at], &full[at + 1..]));
            }
        }
        assert!(errors > 1000, "the damage was noticed: {errors} errors");
    }

    /// `enable` names a vault account, shown by plan and discover: a line break or a terminal
    /// escape in it is refused at its line, and shown escaped.
    #[test]
    fn an_enable_account_that_is_no_name_is_refused_at_its_line() {
        let t = "[[clients.a.targets]]\nname = \"x\"\nkind = \"cisco-ios\"\naddress = \"h\"\nlogin = \"admin\"\n";
        for bad in [r"en\nusername pwned", r"\u001b[2Jenable", "../enable", ""] {
            let err = parse_str(&format!("{t}enable = \"{bad}\"\n")).unwrap_err();
            let msg = err.to_string();
            assert!(msg.starts_with("keyreeve.toml:6: enable `"), "{msg}");
            assert!(!msg.contains(['\n', '\u{1b}']), "{msg:?}");
        }
        let ok = parse_str(&format!("{t}enable = \"enable\"\n")).unwrap();
        assert_eq!(ok.target("a", "x").unwrap().enable.as_deref(), Some("enable"));
    }

    #[test]
    fn duplicate_target_is_refused() {
        let t = "[[clients.a.targets]]\nname = \"x\"\nkind = \"linux\"\naddress = \"h\"\nlogin = \"root\"\n";
        let err = parse_str(&format!("{t}{t}")).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }
}
