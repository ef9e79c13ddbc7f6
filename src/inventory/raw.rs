//! The inventory as written: parsed with spans so that validation can point at lines.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{is_valid_name, Client, Inventory, InventoryError, LoginMethod, ScriptTarget, Target, TargetKind};
use super::{Category, Guided};

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
    login: Option<Spanned<String>>,
    #[serde(default)]
    login_method: LoginMethod,
    enable: Option<Spanned<String>>,
    host_key: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<u64>>,
    command_timeout: Option<Spanned<u64>>,
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
    category: Option<Spanned<String>>,
    accounts: Option<Spanned<Vec<String>>>,
    instructions: Option<Spanned<String>>,
    changer: Option<Spanned<String>>,
    params: Option<Spanned<toml::Table>>,
}

/// The longest `connect_timeout` / `command_timeout`, an hour: deadlines are computed as now plus
/// the timeout, and a longer wait is a hung target, not a slow one.
const MAX_TIMEOUT_SECS: u64 = 3600;

/// The 1-based line of byte `offset` in `text` (any offset: past the end, or inside a character).
/// Scans `text` up to `offset`: for one message; a whole file's lines go through [`LineIndex`].
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let bytes = text.as_bytes();
    bytes[..offset.min(bytes.len())].iter().filter(|b| **b == b'\n').count() + 1
}

/// Where each line of a text starts, found in one pass, so that the line of every target of a
/// large inventory costs a binary search instead of a rescan of the file before it.
struct LineIndex {
    /// Byte offsets of the `\n` ending each line but the last.
    newlines: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        LineIndex {
            newlines: memchr::memchr_iter(b'\n', text.as_bytes()).collect(),
        }
    }

    /// The 1-based line of byte `offset`, as [`line_of`] counts it.
    fn line(&self, offset: usize) -> usize {
        self.newlines.partition_point(|&nl| nl < offset) + 1
    }
}

pub(super) fn parse(text: &str, path: &Path) -> Result<Inventory, InventoryError> {
    let lines = LineIndex::new(text);
    let invalid = |offset: usize, message: String| InventoryError::Invalid {
        path: path.to_path_buf(),
        line: lines.line(offset),
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
        let mut names: HashSet<String> = HashSet::with_capacity(raw_client.targets.len());
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
            if !names.insert(name.clone()) {
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
            let guided = guided_part(&t, kind, &name, at, &invalid)?;
            let login = match (&t.login, kind.is_manual()) {
                (Some(login), true) => {
                    return Err(invalid(
                        login.span().start,
                        format!("manual target `{name}` takes no `login`: keyreeve never logs in to it, a person changes its `accounts`"),
                    ))
                }
                (None, true) => String::new(),
                (None, false) => return Err(invalid(at, format!("target `{name}` needs `login`"))),
                (Some(login), false) => {
                    if !is_valid_name(login.get_ref()) {
                        return Err(invalid(
                            login.span().start,
                            format!("login `{}` is not a valid account name", login.get_ref()),
                        ));
                    }
                    login.get_ref().clone()
                }
            };
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
            } else if kind.is_manual() {
                let url = match &t.url {
                    Some(u) if u.get_ref().chars().any(char::is_control) || !u.get_ref().contains("://") => {
                        return Err(invalid(
                            u.span().start,
                            format!(
                                "url `{}` is not a URL on one line (e.g. https://printer1/)",
                                crate::escape::terminal(u.get_ref())
                            ),
                        ))
                    }
                    u => u.as_ref().map(|u| u.get_ref().clone()),
                };
                let address = t.address.clone().unwrap_or_default();
                if address.chars().any(char::is_control) {
                    return Err(invalid(
                        at,
                        format!("target `{name}`: the address holds a control character"),
                    ));
                }
                (address, t.port.unwrap_or(0), url)
            } else {
                let address = t
                    .address
                    .clone()
                    .ok_or_else(|| invalid(at, format!("target `{name}` needs `address`")))?;
                // A changer reaches its target however it likes: no port unless the inventory says.
                let default_port = if kind == TargetKind::Script { 0 } else { 22 };
                (address, t.port.unwrap_or(default_port), None)
            };
            let script = script_target(kind, &name, at, t.changer, t.params, &invalid)?;
            if address.is_empty() && !kind.is_manual() {
                return Err(invalid(at, format!("target `{name}` has an empty address")));
            }
            let seconds = |field: &str, value: Option<Spanned<u64>>, default: u64| match value {
                None => Ok(Duration::from_secs(default)),
                Some(v) if (1..=MAX_TIMEOUT_SECS).contains(v.get_ref()) => Ok(Duration::from_secs(*v.get_ref())),
                Some(v) => Err(invalid(
                    v.span().start,
                    format!(
                        "{field} = {} is out of range 1..={MAX_TIMEOUT_SECS} (seconds)",
                        v.get_ref()
                    ),
                )),
            };
            let connect_timeout = seconds("connect_timeout", t.connect_timeout, 10)?;
            let default_command = if kind == TargetKind::Script { 60 } else { 30 };
            let command_timeout = seconds("command_timeout", t.command_timeout, default_command)?;
            targets.push(Target {
                client: client_name.clone(),
                name,
                kind,
                address,
                port,
                login,
                login_method: t.login_method,
                enable: t.enable.map(Spanned::into_inner),
                host_key: t.host_key.map(Spanned::into_inner),
                connect_timeout,
                command_timeout,
                tags: t.tags,
                dependants: t.dependants,
                url,
                base_dn: t.base_dn,
                bind_dn: t.bind_dn,
                ca_file: t.ca_file.map(Into::into),
                extra_groups: t.extra_groups,
                guided,
                script,
                line: lines.line(at),
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

/// The guided part of a manual target, checked; the fields of that part on any other kind are
/// refused at their line.
fn guided_part(
    t: &RawTarget,
    kind: TargetKind,
    name: &str,
    at: usize,
    invalid: &dyn Fn(usize, String) -> InventoryError,
) -> Result<Option<Guided>, InventoryError> {
    if !kind.is_manual() {
        let stray = [
            t.category.as_ref().map(|c| ("category", c.span().start)),
            t.accounts.as_ref().map(|a| ("accounts", a.span().start)),
            t.instructions.as_ref().map(|i| ("instructions", i.span().start)),
        ];
        if let Some((field, offset)) = stray.into_iter().flatten().next() {
            return Err(invalid(
                offset,
                format!("`{field}` is for `kind = \"manual\"` targets only; `{name}` is {kind}"),
            ));
        }
        return Ok(None);
    }
    let category = t.category.as_ref().ok_or_else(|| {
        invalid(
            at,
            format!("manual target `{name}` needs `category` (one of {})", Category::names()),
        )
    })?;
    let category = Category::parse(category.get_ref()).ok_or_else(|| {
        invalid(
            category.span().start,
            format!(
                "unknown category `{}`; the categories: {}",
                crate::escape::terminal(category.get_ref()),
                Category::names()
            ),
        )
    })?;
    let accounts = t.accounts.as_ref().ok_or_else(|| {
        invalid(
            at,
            format!("manual target `{name}` needs `accounts = [\"admin\"]`: the accounts keyreeve keeps"),
        )
    })?;
    let accounts_at = accounts.span().start;
    if accounts.get_ref().is_empty() {
        return Err(invalid(
            accounts_at,
            format!("manual target `{name}`: `accounts` is empty"),
        ));
    }
    let mut seen = HashSet::new();
    for account in accounts.get_ref() {
        if !is_valid_name(account) {
            return Err(invalid(
                accounts_at,
                format!(
                    "account `{}` is not a valid account name",
                    crate::escape::terminal(account)
                ),
            ));
        }
        if !seen.insert(account) {
            return Err(invalid(accounts_at, format!("account `{account}` is listed twice")));
        }
    }
    Ok(Some(Guided {
        category,
        accounts: accounts.get_ref().clone(),
        instructions: t.instructions.as_ref().map(|i| i.get_ref().clone()).unwrap_or_default(),
    }))
}

/// A script target's changer and params, checked as written: a relative path that stays inside
/// the workspace (whether the file is an executable is checked where the workspace is known,
/// [`ScriptTarget::resolve`]). Other kinds may not carry them.
fn script_target(
    kind: TargetKind,
    name: &str,
    at: usize,
    changer: Option<Spanned<String>>,
    params: Option<Spanned<toml::Table>>,
    invalid: &dyn Fn(usize, String) -> InventoryError,
) -> Result<Option<ScriptTarget>, InventoryError> {
    if kind != TargetKind::Script {
        if let Some(field) = changer.as_ref().map(|c| c.span().start) {
            return Err(invalid(
                field,
                format!("`changer` belongs to kind = \"script\" targets only (`{name}` is {kind})"),
            ));
        }
        if let Some(field) = params.as_ref().map(|p| p.span().start) {
            return Err(invalid(
                field,
                format!("`params` belongs to kind = \"script\" targets only (`{name}` is {kind})"),
            ));
        }
        return Ok(None);
    }
    let changer = changer.ok_or_else(|| {
        invalid(
            at,
            format!("script target `{name}` needs `changer = \"changers/NAME\"` (a path in the workspace)"),
        )
    })?;
    let path = std::path::PathBuf::from(changer.get_ref());
    let shown = crate::escape::terminal(changer.get_ref());
    let inside = !changer.get_ref().is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir))
        && path.components().any(|c| matches!(c, std::path::Component::Normal(_)));
    if !inside {
        return Err(invalid(
            changer.span().start,
            format!("changer `{shown}` must be a path relative to the workspace that stays inside it (no `/` at the start, no `..`)"),
        ));
    }
    let params = match params {
        None => serde_json::Map::new(),
        Some(p) => {
            let start = p.span().start;
            match toml_to_json(toml::Value::Table(p.into_inner())) {
                serde_json::Value::Object(map) => map,
                _ => return Err(invalid(start, "`params` must be a table of values".into())),
            }
        }
    };
    Ok(Some(ScriptTarget { changer: path, params }))
}

/// TOML values as the JSON a changer reads (dates become their RFC 3339 text).
fn toml_to_json(value: toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f).map_or(J::Null, J::Number),
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hint::Hint;

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

    /// A timeout becomes a deadline (now plus the timeout): one of 2^64-1 seconds used to pass
    /// `inventory check` and then panic in every command that connected.
    #[test]
    fn timeouts_beyond_an_hour_or_of_zero_are_refused_at_their_line() {
        let target = "[[clients.acme.targets]]\nname = \"x\"\nkind = \"linux\"\naddress = \"h\"\nlogin = \"root\"\n";
        for field in ["connect_timeout", "command_timeout"] {
            for value in ["18446744073709551615", "3601", "0"] {
                let err = parse_str(&format!("{target}{field} = {value}\n")).unwrap_err();
                let shown = err.to_string();
                assert!(
                    shown.starts_with("keyreeve.toml:6: ")
                        && shown.contains(&format!("{field} = {value} is out of range")),
                    "{shown}"
                );
                assert!(err.hint().is_some());
            }
            let inv = parse_str(&format!("{target}{field} = 3600\n")).unwrap();
            let t = inv.targets().next().unwrap();
            assert_eq!(t.connect_timeout.max(t.command_timeout), Duration::from_secs(3600));
        }
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

    /// A script target: changer and free params kept, no default port, a 60 s command timeout;
    /// a changer path leaving the workspace, or changer/params on another kind, refused at its line.
    #[test]
    fn script_targets_take_a_changer_inside_the_workspace_and_free_params() {
        let t = "[[clients.a.targets]]\nname = \"db\"\nkind = \"script\"\naddress = \"h\"\nlogin = \"admin\"\n";
        let inv = parse_str(&format!(
            "{t}changer = \"changers/pg.py\"\n[clients.a.targets.params]\ndatabase = \"app\"\nports = [1, 2]\nssl = true\n"
        ))
        .unwrap();
        let db = inv.target("a", "db").unwrap();
        let script = db.script.as_ref().unwrap();
        assert_eq!(script.changer, Path::new("changers/pg.py"));
        assert_eq!(
            serde_json::Value::Object(script.params.clone()),
            serde_json::json!({"database": "app", "ports": [1, 2], "ssl": true})
        );
        assert_eq!((db.port, db.command_timeout), (0, Duration::from_secs(60)));
        for bad in ["/usr/bin/true", "../x.sh", "changers/../../x.sh", "", "."] {
            let err = parse_str(&format!("{t}changer = \"{bad}\"\n")).unwrap_err().to_string();
            assert!(err.starts_with("keyreeve.toml:6: changer `"), "{bad}: {err}");
        }
        let err = parse_str(t).unwrap_err().to_string();
        assert!(
            err.starts_with("keyreeve.toml:1: ") && err.contains("needs `changer"),
            "{err}"
        );
        let linux = t.replace("\"script\"", "\"linux\"");
        let err = parse_str(&format!("{linux}changer = \"c.sh\"\n"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("keyreeve.toml:6: `changer` belongs to"), "{err}");
        let err = parse_str(&format!("{linux}[clients.a.targets.params]\nx = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`params` belongs to"), "{err}");
    }

    #[test]
    fn duplicate_target_is_refused() {
        let t = "[[clients.a.targets]]\nname = \"x\"\nkind = \"linux\"\naddress = \"h\"\nlogin = \"root\"\n";
        let err = parse_str(&format!("{t}{t}")).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }

    #[test]
    fn line_index_counts_lines_as_line_of_does() {
        let text = "a\n\nbc\né\n";
        let index = LineIndex::new(text);
        for offset in 0..text.len() + 3 {
            assert_eq!(index.line(offset), line_of(text, offset), "offset {offset}");
        }
        assert_eq!(LineIndex::new("").line(5), 1);
    }

    /// An inventory of `n` targets under clients of 1,000 each.
    fn large_inventory(n: usize) -> String {
        let mut text = String::new();
        for i in 0..n {
            if i % 1000 == 0 {
                text.push_str(&format!("[clients.c{}]\n", i / 1000));
            }
            text.push_str(&format!(
                "# rack {i}\n[[clients.c{}.targets]]\nname = \"dev{i}\"\nkind = \"cisco-ios\"\naddress = \"10.0.0.1\"\nlogin = \"admin\"\n",
                i / 1000
            ));
        }
        text
    }

    /// Every command loads the inventory: 60,000 targets (6 MB) must load in seconds. Finding each
    /// target's line by rescanning the file, and duplicates by a linear search, took minutes here
    /// (quadratic); the bound leaves a margin of about 10x over the linear load on a loaded machine.
    #[test]
    fn a_large_inventory_loads_in_linear_time() {
        let n = 60_000;
        let text = large_inventory(n);
        let started = std::time::Instant::now();
        let inv = parse_str(&text).expect("the large inventory is valid");
        let took = started.elapsed();
        assert_eq!(inv.targets().count(), n);
        let last = inv.target("c59", "dev59999").unwrap();
        assert_eq!(last.line, text.lines().count() - 4, "the last target's line");
        assert!(took < std::time::Duration::from_secs(30), "{n} targets took {took:?}");
    }

    #[test]
    fn duplicate_target_in_a_large_client_names_its_line() {
        let mut text = large_inventory(3000);
        text.push_str(
            "[[clients.c2.targets]]\nname = \"dev2500\"\nkind = \"linux\"\naddress = \"h\"\nlogin = \"root\"\n",
        );
        let err = parse_str(&text).unwrap_err().to_string();
        let line = text.lines().count() - 3;
        assert!(err.starts_with(&format!("keyreeve.toml:{line}:")), "{err}");
        assert!(err.contains("`c2/dev2500` is listed twice"), "{err}");
    }
}
