//! Emulated MikroTik RouterOS: `[admin@h] >` prompts and menus (`/user>`), the login-name suffix
//! `+ct511w4098h`, the license question on the first login, `/user print [detail]
//! [without-paging]`, `/user set [find name="X"] password="Y"` (immediate and persistent),
//! `/user add|remove`, `/password`, quoting with `\"` `\\` `\$` `\?`, `?` help at once, and
//! exec channels as oxidized uses them.

use std::collections::BTreeMap;

use super::config::{self, Conf, DeviceState, Scheme, Secret, User};
use super::{Ctx, DeviceSpec, Echo, Reply, Shell};

pub(crate) fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    let users = spec
        .accounts
        .iter()
        .map(|a| {
            let user = User {
                secret: Secret::Hash(config::hash(Scheme::Sha512Crypt, a.password.expose())),
                privilege: a.privilege,
            };
            (a.name.clone(), user)
        })
        .collect::<BTreeMap<_, _>>();
    (
        Conf {
            hostname: spec.name.clone(),
            users,
            enable: None,
        },
        true,
    )
}

fn group(privilege: u8) -> &'static str {
    match privilege {
        15 => "full",
        5..=14 => "write",
        _ => "read",
    }
}

fn group_privilege(group: &str) -> Option<u8> {
    match group {
        "full" => Some(15),
        "write" => Some(5),
        "read" => Some(1),
        _ => None,
    }
}

/// One word of a RouterOS command line: its text with quotes and escapes resolved, and the
/// 1-based column it starts at.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    column: usize,
}

/// Splits a line RouterOS's way. `[...]` stays one word. Err: the column of the syntax error.
fn split(line: &str) -> Result<Vec<Word>, usize> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut start = 0;
    let mut in_quote = false;
    let mut depth = 0usize;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if cur.is_empty() && !in_quote && depth == 0 && !c.is_whitespace() {
            start = i;
        }
        match c {
            '\\' => match chars.next() {
                Some((_, n)) if in_quote && matches!(n, '"' | '\\' | '$' | '?') => cur.push(n),
                Some((_, n)) if in_quote && n == 'n' => cur.push('\n'),
                Some((_, n)) if !in_quote => cur.push(n),
                Some((j, _)) => return Err(j + 1),
                None => return Err(i + 1),
            },
            '"' if depth == 0 => {
                in_quote = !in_quote;
                if cur.is_empty() && in_quote {
                    start = i;
                }
                // Mark an empty quoted value as present.
                if !in_quote && cur.is_empty() {
                    cur.push('\u{0}');
                }
            }
            '[' if !in_quote => {
                depth += 1;
                cur.push(c);
            }
            ']' if !in_quote => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            c if c.is_whitespace() && !in_quote && depth == 0 => {
                if !cur.is_empty() {
                    out.push(Word {
                        text: std::mem::take(&mut cur).replace('\u{0}', ""),
                        column: start + 1,
                    });
                }
            }
            '"' => cur.push(c),
            c => cur.push(c),
        }
    }
    if in_quote || depth > 0 {
        return Err(line.len() + 1);
    }
    if !cur.is_empty() {
        out.push(Word {
            text: cur.replace('\u{0}', ""),
            column: start + 1,
        });
    }
    Ok(out)
}

/// Resolves an item reference: `[find name="X"]`, `[find where name="X"]`, a name, or an index.
fn items(conf: &Conf, reference: &str) -> Result<Vec<String>, String> {
    if let Some(inner) = reference.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let words = split(inner.trim()).map_err(|c| format!("syntax error (line 1 column {c})"))?;
        let mut it = words.iter().map(|w| w.text.as_str());
        if it.next() != Some("find") {
            return Err("bad command name".into());
        }
        let mut filters = Vec::new();
        for w in it {
            if w == "where" {
                continue;
            }
            match w.split_once('=') {
                Some(("name", v)) => filters.push(v.to_string()),
                Some(("group", _)) | Some(("disabled", _)) => {}
                _ => return Err(format!("expected end of command (line 1 column {})", reference.len())),
            }
        }
        return Ok(conf
            .users
            .keys()
            .filter(|n| filters.iter().all(|f| f == *n))
            .cloned()
            .collect());
    }
    let mut out = Vec::new();
    for part in reference.split(',') {
        if let Ok(i) = part.parse::<usize>() {
            match conf.users.keys().nth(i) {
                Some(n) => out.push(n.clone()),
                None => return Err("no such item".into()),
            }
        } else if conf.users.contains_key(part) {
            out.push(part.to_string());
        } else {
            return Err("no such item".into());
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pending {
    License,
    OldPassword,
    NewPassword { old: String },
    ConfirmPassword { old: String, new: String },
}

pub(crate) struct RouterosShell {
    user: String,
    menu: Vec<String>,
    pending: Option<Pending>,
}

const MENUS: &[&str] = &[
    "user",
    "system",
    "identity",
    "resource",
    "package",
    "update",
    "history",
    "ip",
    "address",
    "interface",
    "password",
];

impl RouterosShell {
    pub(crate) fn new(user: &str, _st: &DeviceState) -> Self {
        RouterosShell {
            user: user.to_string(),
            menu: Vec::new(),
            pending: None,
        }
    }

    /// Whether the logged-in user's group may change users (`full`).
    fn full(&self, ctx: &Ctx) -> bool {
        ctx.state
            .running
            .users
            .get(&self.user)
            .is_some_and(|u| u.privilege >= 15)
    }

    fn user_print(conf: &Conf, detail: bool) -> String {
        let mut s = String::new();
        if detail {
            s.push_str("Flags: X - disabled; E - expired-password \n");
            for (i, (name, u)) in conf.users.iter().enumerate() {
                let comment = if name == "admin" {
                    ";;; system default user\n     "
                } else {
                    ""
                };
                let last = if name == "admin" {
                    "2026-11-26 09:14:02"
                } else {
                    "never"
                };
                s.push_str(&format!(
                    " {i}   {comment}name=\"{name}\" group={} address=\"\" last-logged-in={last} expired=no \n\n",
                    group(u.privilege)
                ));
            }
        } else {
            s.push_str("Columns: NAME, GROUP, LAST-LOGGED-IN\n# NAME        GROUP  LAST-LOGGED-IN     \n");
            for (i, (name, u)) in conf.users.iter().enumerate() {
                if name == "admin" {
                    s.push_str(";;; system default user\n");
                }
                let last = if name == "admin" { "2026-11-26 09:14:02" } else { "" };
                s.push_str(&format!("{i} {name:<11} {:<6} {last}\n", group(u.privilege)));
            }
        }
        s
    }

    /// Sets a user's password (or other attributes) in the running config; RouterOS saves at once.
    fn set_user(ctx: &mut Ctx, name: &str, user: User) {
        let mut fx = std::mem::take(&mut ctx.fx);
        fx.set_user(&mut ctx.state.running, name, user);
        ctx.fx = fx;
        ctx.state.saved = ctx.state.running.clone();
    }

    fn run(&mut self, ctx: &mut Ctx, line: &str) -> Result<String, String> {
        let words = split(line).map_err(|c| format!("syntax error (line 1 column {c})"))?;
        if words.is_empty() {
            return Ok(String::new());
        }
        let mut path: Vec<String> = if line.trim_start().starts_with('/') {
            Vec::new()
        } else {
            self.menu.clone()
        };
        let mut rest = words.as_slice();
        // Leading path words: `/user`, `/system/identity`, `/system identity`, `..`.
        while let Some(w) = rest.first() {
            let t = w.text.trim_start_matches('/');
            if t.is_empty() && w.text == "/" {
                rest = &rest[1..];
                continue;
            }
            let parts: Vec<&str> = t.split('/').filter(|p| !p.is_empty()).collect();
            if parts.iter().all(|p| MENUS.contains(p) || *p == "..") && !parts.is_empty() {
                for p in parts {
                    if p == ".." {
                        path.pop();
                    } else {
                        path.push(p.to_string());
                    }
                }
                rest = &rest[1..];
            } else {
                break;
            }
        }
        let Some(verb) = rest.first() else {
            // A bare path changes the current menu, except `/password` which is a command.
            if path == ["password"] {
                self.pending = Some(Pending::OldPassword);
                return Ok(String::new());
            }
            self.menu = path;
            return Ok(String::new());
        };
        let args = &rest[1..];
        let params = |from: &[Word]| -> Result<BTreeMap<String, String>, String> {
            let mut m = BTreeMap::new();
            for w in from {
                match w.text.split_once('=') {
                    Some((k, v)) => {
                        m.insert(k.to_string(), v.to_string());
                    }
                    None => return Err(format!("expected end of command (line 1 column {})", w.column)),
                }
            }
            Ok(m)
        };
        match (path.iter().map(String::as_str).collect::<Vec<_>>().as_slice(), verb.text.as_str()) {
            (_, "quit") => Err("\u{0}quit".into()),
            (_, "export") => Ok(format!(
                "# 2026-11-26 09:20:11 by RouterOS 7.16\n# software id = 7F3E-A1B2\n#\n/ip address\nadd address=192.0.2.50/24 interface=ether1 network=192.0.2.0\n/system identity\nset name={}\n",
                ctx.state.running.hostname
            )),
            (["user"], "print") => {
                let detail = args.iter().any(|a| a.text == "detail");
                for a in args {
                    if !matches!(a.text.as_str(), "detail" | "without-paging" | "terse") {
                        return Err(format!("expected end of command (line 1 column {})", a.column));
                    }
                }
                Ok(Self::user_print(&ctx.state.running, detail))
            }
            (["user"], "set") if !self.full(ctx) => Err("failure: not enough permissions".into()),
            (["user"], "set") => {
                let Some(reference) = args.first() else {
                    return Err("missing value(s) of argument(s) numbers".into());
                };
                let (names, params) = if reference.text.contains('=') && !reference.text.starts_with('[') {
                    let p = params(args)?;
                    let n = p.get("numbers").cloned().ok_or("missing value(s) of argument(s) numbers")?;
                    (items(&ctx.state.running, &n)?, p)
                } else {
                    (items(&ctx.state.running, &reference.text)?, params(&args[1..])?)
                };
                for (k, v) in &params {
                    match k.as_str() {
                        "password" | "numbers" | "comment" | "address" | "disabled" => {}
                        "group" if group_privilege(v).is_none() => {
                            return Err("input does not match any value of group".into())
                        }
                        "group" => {}
                        _ => return Err(format!("expected end of command (line 1 column {})", line.find(k.as_str()).unwrap_or(0) + 1)),
                    }
                }
                for name in names {
                    let Some(mut user) = ctx.state.running.users.get(&name).cloned() else { continue };
                    if let Some(pw) = params.get("password") {
                        user.secret = Secret::Hash(config::hash(Scheme::Sha512Crypt, pw));
                    }
                    if let Some(g) = params.get("group").and_then(|g| group_privilege(g)) {
                        user.privilege = g;
                    }
                    Self::set_user(ctx, &name, user);
                }
                Ok(String::new())
            }
            (["user"], "add") if !self.full(ctx) => Err("failure: not enough permissions".into()),
            (["user"], "add") => {
                let p = params(args)?;
                let Some(name) = p.get("name") else {
                    return Err("failure: user name must be specified".into());
                };
                let privilege = match p.get("group") {
                    Some(g) => group_privilege(g).ok_or("input does not match any value of group")?,
                    None => return Err("failure: group must be specified".into()),
                };
                if ctx.state.running.users.contains_key(name) {
                    return Err("failure: user with the same name already exists".into());
                }
                let secret = Secret::Hash(config::hash(Scheme::Sha512Crypt, p.get("password").map(String::as_str).unwrap_or("")));
                Self::set_user(ctx, name, User { secret, privilege });
                Ok(String::new())
            }
            (["user"], "remove") if !self.full(ctx) => Err("failure: not enough permissions".into()),
            (["user"], "remove") => {
                let Some(reference) = args.first() else {
                    return Err("missing value(s) of argument(s) numbers".into());
                };
                for name in items(&ctx.state.running, &reference.text)? {
                    if name == self.user {
                        return Err("failure: can not remove yourself".into());
                    }
                    if ctx.fx.fault != super::Fault::IgnorePasswordChange {
                        ctx.state.running.users.remove(&name);
                        ctx.state.saved = ctx.state.running.clone();
                    }
                }
                Ok(String::new())
            }
            (["password"], _) | ([], "password") => {
                let p = params(if verb.text == "password" { args } else { rest })?;
                match (p.get("old-password"), p.get("new-password"), p.get("confirm-new-password")) {
                    (Some(old), Some(new), Some(confirm)) => self.change_own(ctx, old, new, confirm),
                    _ => {
                        self.pending = Some(Pending::OldPassword);
                        Ok(String::new())
                    }
                }
            }
            (["system", "identity"], "print") => Ok(format!("  name: {}\n", ctx.state.running.hostname)),
            (["system", "identity"], "set") => {
                let p = params(args)?;
                if let Some(n) = p.get("name") {
                    ctx.state.running.hostname = n.clone();
                    ctx.state.saved.hostname = n.clone();
                }
                Ok(String::new())
            }
            (["system", "package", "update"], "print") => Ok(
                "           channel: stable\n  installed-version: 7.16\n"
                    .into(),
            ),
            (["system", "history"], "print") => Ok(
                "Flags: U - undoable, R - redoable, F - floating-undo\nColumns: ACTION, BY, POLICY, TIME\n  ACTION                          BY     POLICY  TIME               \nU user netops changed           admin  write   2026-11-26 09:14:02\n"
                    .into(),
            ),
            (["system", "resource"], "print") | (["system"], "resource") => Ok(
                "                   uptime: 12d4h1m\n                  version: 7.16 (stable)\n               build-time: 2024-09-20 13:00:27\n              free-memory: 847.3MiB\n             total-memory: 1024.0MiB\n                      cpu: QEMU\n                cpu-count: 1\n       architecture-name: x86_64\n               board-name: CHR QEMU Standard PC (i440FX + PIIX, 1996)\n                 platform: MikroTik\n"
                    .into(),
            ),
            _ => {
                let name = verb.text.trim_start_matches('/');
                let column = verb.column + (verb.text.len() - name.len());
                Err(format!("bad command name {name} (line 1 column {column})"))
            }
        }
    }

    fn change_own(&mut self, ctx: &mut Ctx, old: &str, new: &str, confirm: &str) -> Result<String, String> {
        let Some(mut user) = ctx.state.running.users.get(&self.user).cloned() else {
            return Err("failure: no such user".into());
        };
        if !user.secret.verify(old) {
            return Err("old password is not valid".into());
        }
        if new != confirm {
            return Err("new passwords do not match".into());
        }
        user.secret = Secret::Hash(config::hash(Scheme::Sha512Crypt, new));
        let name = self.user.clone();
        Self::set_user(ctx, &name, user);
        Ok(String::new())
    }
}

const ROOT_HELP: &str = "  ..           -- go up to root\n  certificate  -- Certificate management\n  export       -- Print or save an export script that can be used to restore configuration\n  interface    -- Interface configuration\n  ip           -- IP options\n  password     -- Change password\n  quit         -- Quit console\n  system       -- System information and utilities\n  user         -- User management";
const USER_HELP: &str = "  ..      -- go up to root\n  add     -- Create a new item\n  disable -- Disable items\n  enable  -- Enable items\n  export  -- Print or save an export script that can be used to restore configuration\n  find    -- Find items by value\n  get     -- Gets value of item's property\n  print   -- Print values of item properties\n  remove  -- Remove item\n  set     -- Change item properties";

impl Shell for RouterosShell {
    fn greeting(&mut self, ctx: &mut Ctx) -> String {
        let banner = "\n\n\n  MMM      MMM       KKK                          TTTTTTTTTTT      KKK\n  MMMM    MMMM       KKK                          TTTTTTTTTTT      KKK\n  MMM MMMM MMM  III  KKK  KKK  RRRRRR     OOOOOO      TTT     III  KKK  KKK\n  MMM  MM  MMM  III  KKKKK     RRR  RRR  OOO  OOO     TTT     III  KKKKK\n  MMM      MMM  III  KKK KKK   RRRRRR    OOO  OOO     TTT     III  KKK KKK\n  MMM      MMM  III  KKK  KKK  RRR  RRR   OOOOOO      TTT     III  KKK  KKK\n\n  MikroTik RouterOS 7.16 (c) 1999-2024       https://www.mikrotik.com/\n\nPress F1 for help\n\n".to_string();
        if !ctx.state.license_shown {
            ctx.state.license_shown = true;
            self.pending = Some(Pending::License);
        }
        banner
    }

    fn prompt(&self, ctx: &Ctx) -> String {
        match &self.pending {
            Some(Pending::License) => return "Do you want to see the software license? [Y/n]: ".into(),
            Some(Pending::OldPassword) => return "old-password: ".into(),
            Some(Pending::NewPassword { .. }) => return "new-password: ".into(),
            Some(Pending::ConfirmPassword { .. }) => return "confirm-new-password: ".into(),
            None => {}
        }
        let menu = if self.menu.is_empty() {
            String::new()
        } else {
            format!("/{}", self.menu.join("/"))
        };
        format!("[{}@{}] {menu}> ", self.user, ctx.state.running.hostname)
    }

    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply {
        if let Some(p) = self.pending.take() {
            return match p {
                Pending::License => {
                    if line.trim().eq_ignore_ascii_case("n") {
                        Reply::none()
                    } else {
                        Reply::text("\nMIKROTIKLS MIKROTIK SOFTWARE END-USER LICENCE AGREEMENT\n(the full text is shown on a real device)\n\n")
                    }
                }
                Pending::OldPassword => {
                    self.pending = Some(Pending::NewPassword { old: line.to_string() });
                    Reply::none()
                }
                Pending::NewPassword { old } => {
                    self.pending = Some(Pending::ConfirmPassword {
                        old,
                        new: line.to_string(),
                    });
                    Reply::none()
                }
                Pending::ConfirmPassword { old, new } => match self.change_own(ctx, &old, &new, line) {
                    Ok(_) => Reply::none(),
                    Err(e) => Reply::text(format!("{e}\n")),
                },
            };
        }
        match self.run(ctx, line) {
            Ok(text) => Reply::text(text),
            Err(e) if e == "\u{0}quit" => Reply::close("interrupted\n"),
            Err(e) => Reply::text(format!("{e}\n")),
        }
    }

    fn help(&mut self, _ctx: &mut Ctx, partial: &str) -> Option<String> {
        if self.pending.is_some() {
            return None;
        }
        let in_user = self.menu == ["user"] || partial.trim_start().starts_with("/user");
        Some(if in_user { USER_HELP } else { ROOT_HELP }.to_string())
    }

    fn backslash_escapes_help(&self) -> bool {
        true
    }

    fn echo(&self) -> Echo {
        match self.pending {
            Some(Pending::OldPassword | Pending::NewPassword { .. } | Pending::ConfirmPassword { .. }) => Echo::Off,
            _ => Echo::On,
        }
    }

    fn control(&mut self, _ctx: &mut Ctx, _key: u8) -> Option<Reply> {
        self.pending = None;
        Some(Reply::none())
    }

    fn exec(&mut self, ctx: &mut Ctx, command: &str) -> (String, u32) {
        // Scripts over exec may hold several commands, one a line.
        let mut out = String::new();
        for cmd in command.split('\n') {
            match self.run(ctx, cmd) {
                Ok(t) => out.push_str(&t),
                Err(e) if e == "\u{0}quit" => break,
                Err(e) => {
                    out.push_str(&e);
                    out.push('\n');
                    return (out, 1);
                }
            }
        }
        (out, 0)
    }
}
