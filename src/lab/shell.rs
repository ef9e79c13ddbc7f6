//! What an emulated OS implements (`Shell`) and gets to work with (`Ctx`, `Reply`, `Effects`),
//! with the word splitting and abbreviation rules the Cisco-like CLIs share.

use super::*;

/// How typed characters are echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Echo {
    On,
    Off,
    /// One `*` per character (ASA's enable password).
    Mask,
}

/// Side effects of a command beyond its output, collected for the core to carry out.
#[derive(Debug, Default)]
pub(crate) struct Effects {
    pub fault: Fault,
    /// Users whose sessions must end (FortiOS logs an admin out when its password changes).
    pub logout_users: Vec<String>,
    /// The device rebooted: every session ends.
    pub reloaded: bool,
}

impl Effects {
    /// Sets `name`'s account in `conf`, unless the device is told to ignore password changes.
    /// Returns whether it changed anything.
    pub(crate) fn set_user(&mut self, conf: &mut Conf, name: &str, user: config::User) -> bool {
        if self.fault == Fault::IgnorePasswordChange {
            return false;
        }
        let changed = conf.users.get(name) != Some(&user);
        conf.users.insert(name.to_string(), user);
        changed
    }

    /// Sets the enable secret, unless told to ignore password changes.
    pub(crate) fn set_enable(&mut self, conf: &mut Conf, secret: config::Secret) {
        if self.fault == Fault::IgnorePasswordChange {
            return;
        }
        conf.enable = Some(secret);
    }
}

/// What a shell gets to work with for one command.
pub(crate) struct Ctx<'a> {
    pub state: &'a mut DeviceState,
    pub fx: Effects,
    /// The logged-in account.
    pub user: &'a str,
    pub now: Instant,
    pub time_scale: f64,
    /// Terminal height from the pty request (0 = no pty).
    pub rows: usize,
}

impl Ctx<'_> {
    /// Reboots the device (unsaved changes are lost; every session ends).
    pub(crate) fn reload(&mut self) {
        self.state.reload();
        self.fx.reloaded = true;
    }

    /// A device duration in real time.
    pub(crate) fn scaled(&self, nominal: Duration) -> Duration {
        nominal.div_f64(self.time_scale)
    }
}

/// A shell's answer to one line.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// Output lines separated by `\n` (the core turns them into `\r\n` on a pty).
    pub text: String,
    /// Page the output with this many lines per screen (None: no paging).
    pub page: Option<usize>,
    /// End the session after the output.
    pub close: bool,
    /// Output that follows later, each part after its pause (real time), and only then the
    /// prompt: a PAN-OS commit's progress.
    pub later: Vec<(Duration, String)>,
}

impl Reply {
    pub(crate) fn text(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            ..Reply::default()
        }
    }
    pub(crate) fn none() -> Reply {
        Reply::default()
    }
    pub(crate) fn close(text: impl Into<String>) -> Reply {
        Reply {
            text: text.into(),
            close: true,
            ..Reply::default()
        }
    }
    pub(crate) fn paged(text: impl Into<String>, page: Option<usize>) -> Reply {
        Reply {
            text: text.into(),
            page,
            ..Reply::default()
        }
    }
}

/// One CLI session of an emulated OS.
pub(crate) trait Shell: Send {
    /// What the device prints after login, before the first prompt (banner, MOTD, last login).
    fn greeting(&mut self, ctx: &mut Ctx) -> String;
    /// The prompt for the current mode.
    fn prompt(&self, ctx: &Ctx) -> String;
    /// Runs one typed line.
    fn line(&mut self, ctx: &mut Ctx, line: &str) -> Reply;
    /// `?` typed at the end of `partial`: the help to show at once (then the prompt and the
    /// partial line again). None: `?` is an ordinary character on this OS.
    fn help(&mut self, _ctx: &mut Ctx, _partial: &str) -> Option<String> {
        None
    }
    /// Whether `?` is literal when the line so far ends with a backslash (RouterOS `\?`).
    fn backslash_escapes_help(&self) -> bool {
        false
    }
    /// How typed characters are echoed now (off at password prompts).
    fn echo(&self) -> Echo {
        Echo::On
    }
    /// The pager prompt.
    fn pager_prompt(&self) -> &'static str {
        " --More-- "
    }
    /// What erases the pager prompt once a key was pressed (default: backspaces over it, blanks,
    /// and backspaces again, as IOS does).
    fn pager_erase(&self) -> String {
        let n = self.pager_prompt().chars().filter(|c| !c.is_control()).count();
        format!("{}{}{}", "\x08".repeat(n), " ".repeat(n), "\x08".repeat(n))
    }
    /// Ctrl-C (0x03) or Ctrl-Z (0x1a).
    fn control(&mut self, _ctx: &mut Ctx, _key: u8) -> Option<Reply> {
        None
    }
    /// Whether the shell waits for a single key (no line editing, no echo) rather than a line,
    /// as FortiOS does at `(Press 'a' to accept):`.
    fn awaits_key(&self) -> bool {
        false
    }
    /// The key pressed while [`Shell::awaits_key`].
    fn key(&mut self, _ctx: &mut Ctx, _key: u8) -> Reply {
        Reply::none()
    }
    /// A command on an exec channel: output and exit status.
    fn exec(&mut self, ctx: &mut Ctx, command: &str) -> (String, u32) {
        let reply = self.line(ctx, command);
        (reply.text, 0)
    }
}

/// Splits a command line into words, keeping quoted strings (without their quotes) together.
pub(crate) fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) if c == '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                any = true;
            }
            None if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Whether `word` is an unambiguous abbreviation of `keyword` as Cisco-like CLIs accept (at
/// least `min` characters).
pub(crate) fn abbrev(word: &str, keyword: &str, min: usize) -> bool {
    word.len() >= min.min(keyword.len()) && keyword.starts_with(&word.to_ascii_lowercase())
}
