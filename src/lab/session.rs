//! One SSH connection to an emulated device: channels, line editing and echo, `?` help, paging,
//! exec channels and the injected faults, on russh's server handler.

use super::*;

pub(super) struct Conn {
    pub(super) device: Arc<Device>,
    pub(super) id: u64,
    pub(super) user: Option<String>,
    pub(super) channels: HashMap<ChannelId, Chan>,
}

pub(super) struct Chan {
    pub(super) shell: Option<Box<dyn Shell>>,
    pub(super) pty_rows: usize,
    pub(super) has_pty: bool,
    pub(super) line: Vec<u8>,
    pub(super) literal_next: bool,
    pub(super) skip_lf: bool,
    pub(super) escape: u8,
    pub(super) pager: Option<Pager>,
    pub(super) hung: bool,
    pub(super) closing: bool,
}

pub(super) struct Pager {
    pub(super) lines: VecDeque<String>,
    pub(super) per_page: usize,
    pub(super) prompt: &'static str,
}

impl Chan {
    pub(super) fn new() -> Chan {
        Chan {
            shell: None,
            pty_rows: 0,
            has_pty: false,
            line: Vec::new(),
            literal_next: false,
            skip_lf: false,
            escape: 0,
            pager: None,
            hung: false,
            closing: false,
        }
    }
}

impl Conn {
    pub(super) fn new(device: Arc<Device>) -> Conn {
        let id = device.next_session.fetch_add(1, Ordering::Relaxed);
        Conn {
            device,
            id,
            user: None,
            channels: HashMap::new(),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let mut sessions = self.device.sessions.lock().unwrap_or_else(|p| p.into_inner());
        sessions.retain(|s| s.id != self.id);
    }
}

/// The longest command line a device takes; further characters are dropped, as a CLI's line
/// buffer does.
pub(super) const MAX_LINE: usize = 4096;

pub(super) const NONSENSE: &str =
    "\n\u{7}*** SYSTEM IN DIAGNOSTIC MODE *** unit 0x7f3e: parity ok/ko ???\nmfg-diag::: ";

pub(super) fn crlf(text: &str, pty: bool) -> String {
    if pty {
        text.replace("\r\n", "\n").replace('\n', "\r\n")
    } else {
        text.to_string()
    }
}

impl Conn {
    pub(super) fn ctx_run<T>(&self, rows: usize, f: impl FnOnce(&mut Ctx) -> T) -> (T, Effects) {
        let mut st = self.device.state();
        let user = self.user.clone().unwrap_or_default();
        let mut ctx = Ctx {
            state: &mut st,
            fx: Effects {
                fault: self.device.fault(),
                ..Effects::default()
            },
            user: &user,
            now: Instant::now(),
            time_scale: self.device.time_scale,
            rows,
        };
        let out = f(&mut ctx);
        (out, ctx.fx)
    }

    /// Start of an interactive shell: greeting and first prompt.
    pub(super) fn start_shell(&mut self, ch: ChannelId, session: &mut Session) {
        let kind = self.device.kind;
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let rows = if chan.pty_rows == 0 { 24 } else { chan.pty_rows };
        let user = self.user.clone().unwrap_or_default();
        let mut shell = {
            let st = self.device.state();
            new_shell(kind, self.device.options, &user, &st)
        };
        let fault = self.device.fault();
        let (text, _) = self.ctx_run(rows, |ctx| {
            if fault == Fault::Nonsense {
                NONSENSE.to_string()
            } else {
                let mut t = shell.greeting(ctx);
                t.push_str(&shell.prompt(ctx));
                t
            }
        });
        let pty = self.channels.get(&ch).is_some_and(|c| c.has_pty);
        send(session, ch, pty, &text);
        if let Some(chan) = self.channels.get_mut(&ch) {
            chan.shell = Some(shell);
        }
        let handle = session.handle();
        self.device
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(OpenSession {
                id: self.id,
                user,
                handle,
            });
    }

    pub(super) fn typed(&mut self, ch: ChannelId, data: &[u8], session: &mut Session) {
        for &b in data {
            let Some(chan) = self.channels.get_mut(&ch) else { return };
            if chan.hung || chan.closing {
                continue;
            }
            if chan.pager.is_some() {
                self.pager_key(ch, b, session);
                continue;
            }
            if chan.escape > 0 {
                // Skip the rest of an escape sequence (arrow keys and the like).
                chan.escape = if chan.escape == 1 && b == b'[' { 2 } else { 0 };
                if chan.escape == 2 && b.is_ascii_alphabetic() {
                    chan.escape = 0;
                }
                continue;
            }
            if chan.shell.as_ref().is_some_and(|s| s.awaits_key()) {
                self.key_pressed(ch, b, session);
                continue;
            }
            let echo = chan.shell.as_ref().map(|s| s.echo()).unwrap_or(Echo::On);
            if chan.skip_lf && b == b'\n' {
                chan.skip_lf = false;
                continue;
            }
            chan.skip_lf = false;
            if chan.literal_next {
                chan.literal_next = false;
                chan.line.push(b);
                echo_byte(session, ch, echo, b);
                continue;
            }
            match b {
                b'\r' | b'\n' => {
                    chan.skip_lf = b == b'\r';
                    let line = String::from_utf8_lossy(&std::mem::take(&mut chan.line)).into_owned();
                    let _ = session.data(ch, b"\r\n".to_vec());
                    self.run_line(ch, &line, session);
                }
                0x7f | 0x08 if chan.line.pop().is_some() && echo != Echo::Off => {
                    let _ = session.data(ch, b"\x08 \x08".to_vec());
                }
                0x7f | 0x08 => {}
                0x15 => chan.line.clear(),
                0x16 => chan.literal_next = true,
                0x1b => chan.escape = 1,
                0x03 | 0x1a => {
                    chan.line.clear();
                    self.control(ch, b, session);
                }
                b'?' if echo == Echo::On => {
                    let escaped = chan.line.last() == Some(&b'\\')
                        && chan.shell.as_ref().is_some_and(|s| s.backslash_escapes_help());
                    if escaped {
                        chan.line.push(b);
                        echo_byte(session, ch, echo, b);
                    } else {
                        self.help(ch, session);
                    }
                }
                b'\t' => {}
                _ if b >= 0x20 && chan.line.len() >= MAX_LINE => {}
                _ if b >= 0x20 => {
                    chan.line.push(b);
                    echo_byte(session, ch, echo, b);
                }
                _ => {}
            }
        }
    }

    /// One key for a shell that waits for a key: its answer, then its prompt.
    pub(super) fn key_pressed(&mut self, ch: ChannelId, key: u8, session: &mut Session) {
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let rows = chan.pty_rows;
        let pty = chan.has_pty;
        let Some(mut shell) = chan.shell.take() else { return };
        let ((reply, prompt), _) = self.ctx_run(rows, |ctx| {
            let reply = shell.key(ctx, key);
            (reply, shell.prompt(ctx))
        });
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        chan.shell = Some(shell);
        if reply.close {
            chan.closing = true;
            send(session, ch, pty, &reply.text);
            let _ = session.eof(ch);
            let _ = session.close(ch);
            return;
        }
        if !reply.text.is_empty() {
            send(session, ch, pty, &format!("{}{prompt}", reply.text));
        }
    }

    pub(super) fn help(&mut self, ch: ChannelId, session: &mut Session) {
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let rows = chan.pty_rows;
        let partial = String::from_utf8_lossy(&chan.line).into_owned();
        let Some(mut shell) = chan.shell.take() else { return };
        let (out, _) = self.ctx_run(rows, |ctx| shell.help(ctx, &partial).map(|h| (h, shell.prompt(ctx))));
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        chan.shell = Some(shell);
        match out {
            Some((help, prompt)) => {
                let mut text = String::from("?\n");
                text.push_str(&help);
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push('\n');
                text.push_str(&prompt);
                text.push_str(&partial);
                let pty = chan.has_pty;
                send(session, ch, pty, &text);
            }
            None => {
                chan.line.push(b'?');
                let _ = session.data(ch, b"?".to_vec());
            }
        }
    }

    pub(super) fn control(&mut self, ch: ChannelId, key: u8, session: &mut Session) {
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let rows = chan.pty_rows;
        let Some(mut shell) = chan.shell.take() else { return };
        let (reply, _) = self.ctx_run(rows, |ctx| shell.control(ctx, key).map(|r| (r, shell.prompt(ctx))));
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        chan.shell = Some(shell);
        let pty = chan.has_pty;
        if let Some((reply, prompt)) = reply {
            let text = format!("{}{}", reply.text, prompt);
            send(session, ch, pty, &format!("\n{text}"));
        }
    }

    pub(super) fn run_line(&mut self, ch: ChannelId, line: &str, session: &mut Session) {
        let fault = self.device.fault();
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let pty = chan.has_pty;
        match fault {
            Fault::Hang => {
                chan.hung = true;
                return;
            }
            Fault::Nonsense => {
                send(session, ch, pty, NONSENSE);
                return;
            }
            _ => {}
        }
        let rows = chan.pty_rows;
        let Some(mut shell) = chan.shell.take() else { return };
        let ((reply, prompt, changed), fx) = self.ctx_run(rows, |ctx| {
            let before = credentials(&ctx.state.running);
            let kept = (ctx.fx.fault == Fault::EchoMangled).then(|| ctx.state.running.clone());
            let reply = shell.line(ctx, line);
            let changed = credentials(&ctx.state.running) != before;
            if let (true, Some(kept)) = (changed, kept) {
                ctx.state.running = kept;
            }
            let prompt = shell.prompt(ctx);
            (reply, prompt, changed)
        });
        let pager_prompt = shell.pager_prompt();
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        chan.shell = Some(shell);
        let mut reply = reply;
        if changed && fx.fault == Fault::EchoMangled {
            reply.text = mangled_echo(line);
        }

        let drop_now = changed && fx.fault == Fault::DropAfterChange;
        if drop_now {
            chan.closing = true;
            let _ = session.disconnect(russh::Disconnect::ByApplication, "connection lost", "");
            return;
        }
        for u in &fx.logout_users {
            self.device.drop_sessions(Some(u));
        }
        if fx.reloaded {
            self.device.drop_sessions(None);
        }
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        if reply.close {
            chan.closing = true;
            send(session, ch, pty, &reply.text);
            let _ = session.exit_status_request(ch, 0);
            let _ = session.eof(ch);
            let _ = session.close(ch);
            return;
        }
        let text = reply.text;
        match reply.page {
            Some(per_page) if per_page > 1 && text.lines().count() >= per_page => {
                let mut all: VecDeque<String> = text.lines().map(str::to_string).collect();
                let first: Vec<String> = all.drain(..per_page - 1).collect();
                let mut out = first.join("\n");
                out.push('\n');
                out.push_str(pager_prompt);
                send(session, ch, pty, &out);
                chan.pager = Some(Pager {
                    lines: all,
                    per_page,
                    prompt: pager_prompt,
                });
                // The prompt is printed when the pager is done.
                let _ = prompt;
            }
            _ if !reply.later.is_empty() => {
                send(session, ch, pty, &text);
                let handle = session.handle();
                let later = reply.later;
                tokio::spawn(async move {
                    for (pause, part) in later {
                        tokio::time::sleep(pause).await;
                        let _ = handle.data(ch, crlf(&part, pty).into_bytes()).await;
                    }
                    let _ = handle.data(ch, crlf(&prompt, pty).into_bytes()).await;
                });
            }
            _ => {
                let mut out = text;
                out.push_str(&prompt);
                send(session, ch, pty, &out);
            }
        }
    }

    pub(super) fn pager_key(&mut self, ch: ChannelId, key: u8, session: &mut Session) {
        let Some(chan) = self.channels.get_mut(&ch) else { return };
        let Some(mut pager) = chan.pager.take() else { return };
        let pty = chan.has_pty;
        let mut out = chan.shell.as_ref().map(|sh| sh.pager_erase()).unwrap_or_default();
        let take = match key {
            b' ' => pager.per_page - 1,
            b'\r' | b'\n' => 1,
            _ => 0,
        };
        if take == 0 {
            pager.lines.clear();
        }
        for _ in 0..take {
            match pager.lines.pop_front() {
                Some(l) => {
                    out.push_str(&l);
                    out.push('\n');
                }
                None => break,
            }
        }
        if pager.lines.is_empty() {
            let rows = chan.pty_rows;
            let Some(shell) = chan.shell.take() else { return };
            let (prompt, _) = self.ctx_run(rows, |ctx| shell.prompt(ctx));
            if let Some(chan) = self.channels.get_mut(&ch) {
                chan.shell = Some(shell);
                chan.skip_lf = key == b'\r';
            }
            out.push_str(&prompt);
        } else {
            out.push_str(pager.prompt);
            chan.skip_lf = key == b'\r';
            chan.pager = Some(pager);
        }
        send(session, ch, pty, &out);
    }

    pub(super) fn exec(&mut self, ch: ChannelId, command: &str, session: &mut Session) {
        let kind = self.device.kind;
        let fault = self.device.fault();
        let user = self.user.clone().unwrap_or_default();
        let pty = self.channels.get(&ch).is_some_and(|c| c.has_pty);
        if fault == Fault::Hang {
            return;
        }
        let mut shell = {
            let st = self.device.state();
            new_shell(kind, self.device.options, &user, &st)
        };
        let ((text, status, changed), fx) = self.ctx_run(0, |ctx| {
            if fault == Fault::Nonsense {
                (NONSENSE.to_string(), 0, false)
            } else {
                let before = credentials(&ctx.state.running);
                let (text, status) = shell.exec(ctx, command);
                (text, status, credentials(&ctx.state.running) != before)
            }
        });
        if changed && fx.fault == Fault::DropAfterChange {
            let _ = session.disconnect(russh::Disconnect::ByApplication, "connection lost", "");
            return;
        }
        for u in &fx.logout_users {
            self.device.drop_sessions(Some(u));
        }
        send(session, ch, pty, &text);
        let _ = session.exit_status_request(ch, status);
        let _ = session.eof(ch);
        let _ = session.close(ch);
    }
}

/// What logins depend on in a configuration: the accounts' secrets and the enable secret.
pub(super) fn credentials(conf: &Conf) -> (Vec<(String, config::Secret)>, Option<config::Secret>) {
    (
        conf.users.iter().map(|(n, u)| (n.clone(), u.secret.clone())).collect(),
        conf.enable.clone(),
    )
}

pub(super) fn send(session: &mut Session, ch: ChannelId, pty: bool, text: &str) {
    if !text.is_empty() {
        let _ = session.data(ch, crlf(text, pty).into_bytes());
    }
}

pub(super) fn echo_byte(session: &mut Session, ch: ChannelId, echo: Echo, b: u8) {
    match echo {
        Echo::On => {
            let _ = session.data(ch, vec![b]);
        }
        Echo::Mask => {
            let _ = session.data(ch, b"*".to_vec());
        }
        Echo::Off => {}
    }
}

impl russh::server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        // russh asks the handler whatever the configured methods: refuse what the OS does not offer.
        if login_method(self.device.kind) != MethodKind::Password {
            return Ok(Auth::reject());
        }
        let name = login_name(self.device.kind, user);
        let ok = !ssh_judges_password(self.device.kind) || self.device.state().running.password_works(name, password);
        if ok {
            self.user = Some(name.to_string());
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    /// ESXi's only method: one `Password: ` question; each wrong answer counts toward the lockout.
    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<russh::server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        if self.device.kind != TargetKind::Esxi {
            return Ok(Auth::reject());
        }
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: "".into(),
                instructions: "".into(),
                prompts: vec![("Password: ".into(), false)].into(),
            });
        };
        let answer = response
            .next()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let answer = Password::new(answer);
        let time_scale = self.device.time_scale;
        let ok = esxi::login(
            &mut self.device.state(),
            user,
            answer.expose(),
            Instant::now(),
            time_scale,
        );
        if ok {
            self.user = Some(user.to_string());
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), Chan::new());
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(chan) = self.channels.get_mut(&channel) {
            chan.has_pty = true;
            chan.pty_rows = row_height as usize;
        }
        session.channel_success(channel)?;
        Ok(())
    }

    async fn shell_request(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        self.start_shell(channel, session);
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(data).into_owned();
        self.exec(channel, &command, session);
        Ok(())
    }

    async fn data(&mut self, channel: ChannelId, data: &[u8], session: &mut Session) -> Result<(), Self::Error> {
        self.typed(channel, data, session);
        Ok(())
    }

    async fn channel_close(&mut self, channel: ChannelId, _session: &mut Session) -> Result<(), Self::Error> {
        self.channels.remove(&channel);
        Ok(())
    }
}

/// What a device under [`Fault::EchoMangled`] answers to `line`.
fn mangled_echo(line: &str) -> String {
    use base64::Engine;
    let words: Vec<&str> = line.split_whitespace().collect();
    let reversed: Vec<String> = words.iter().map(|w| w.chars().rev().collect()).collect();
    let encoded: Vec<String> = words
        .iter()
        .map(|w| base64::engine::general_purpose::STANDARD.encode(w))
        .collect();
    let mut cut = line.len() / 2;
    while !line.is_char_boundary(cut) {
        cut += 1;
    }
    format!(
        "% Error: rejected \u{202e}{}\n% Error: rejected {}\n% Error: rejected {}\n{}\n",
        reversed.join(" "),
        encoded.join(" "),
        &line[..cut],
        &line[cut..]
    )
}
