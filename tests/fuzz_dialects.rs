//! Property tests of what network devices and Linux hosts send back: every dialect's setup
//! (banners, paging, enable), account listing, change, save, rollback and enable check, the SSH
//! engine's prompt handling, and the Linux connector's `getent` and `sudo -ll` parsers. Inputs
//! are random text and mutations of real device output, recorded in-process from the emulated
//! devices of the built-in lab on 127.0.0.1 (one of each kind) through the real SSH engine.
//! Properties: no panic, no endless conversation, and every error names the target.

mod fuzz_support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use fuzz_support::{apply_text, config, hostile_text, mutations, noise, Mutation};
use keyreeve::connector::ssh::dialect::{self, ChangeState, Dialect, Shell};
use keyreeve::connector::ssh::linux::{
    check_change, parse_accounts, parse_sudo_list_all, parse_sudo_listing, sudo_rule_allows, SudoAccess,
};
use keyreeve::connector::ssh::session::{
    clean_terminal_output, last_lines, matches_at_end, strip_echo_and_prompt, Auth, Endpoint, ExecOutput, SshSession,
};
use keyreeve::connector::{ChangeMethod, ConnectContext, ConnectorError, ConnectorResult, Credentials};
use keyreeve::inventory::{Inventory, LoginMethod, TargetKind};
use keyreeve::lab::{DeviceSpec, Lab, LabAccount, LabConfig, EMULATED_KINDS};
use keyreeve::Password;
use proptest::prelude::*;
use regex::Regex;

const ADMIN_PW: &str = "Adm1n-Secret.42";
const OPS_PW: &str = "Net0ps+Secret";
const ENABLE_PW: &str = "En4ble%Secret";
const NEW_PW: &str = "N3w-Pass.word7";
/// The target name the replaying shell reports; every error must start with it.
const TARGET: &str = "fuzz/r1";
/// More exchanges than any operation needs: a dialect still talking then would never stop.
const MAX_EXCHANGES: usize = 300;

/// One answer the engine gave a dialect: which question matched (None: the prompt) and the text.
#[derive(Debug, Clone)]
struct Exchange {
    which: Option<usize>,
    output: String,
}

/// A shell that records what the real engine answered.
struct Recorder<S: Shell> {
    inner: S,
    log: Vec<Exchange>,
}

impl<S: Shell> Recorder<S> {
    fn keep(&mut self, r: ConnectorResult<(Option<usize>, String)>) -> ConnectorResult<(Option<usize>, String)> {
        if let Ok((which, output)) = &r {
            self.log.push(Exchange {
                which: *which,
                output: output.clone(),
            });
        }
        r
    }
}

impl<S: Shell> Shell for Recorder<S> {
    fn target(&self) -> &str {
        self.inner.target()
    }
    fn command(&mut self, line: &str) -> ConnectorResult<String> {
        let r = self.inner.command(line).map(|o| (None, o));
        self.keep(r).map(|(_, o)| o)
    }
    fn command_secret(&mut self, line: &Password) -> ConnectorResult<String> {
        let r = self.inner.command_secret(line).map(|o| (None, o));
        self.keep(r).map(|(_, o)| o)
    }
    fn command_expect(&mut self, line: &str, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
        let r = self.inner.command_expect(line, questions);
        self.keep(r)
    }
    fn secret_expect(&mut self, line: &Password, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
        let r = self.inner.secret_expect(line, questions);
        self.keep(r)
    }
    fn set_prompt(&mut self, prompt: Regex) {
        self.inner.set_prompt(prompt)
    }
}

fn login(has_enable: bool) -> Credentials {
    Credentials {
        username: "admin".into(),
        method: LoginMethod::Password,
        secret: Password::new(ADMIN_PW),
        enable: has_enable.then(|| Password::new(ENABLE_PW)),
    }
}

/// The real output of each emulated OS for the operations [`replay`] runs, in call order.
fn recordings() -> &'static HashMap<TargetKind, Vec<Exchange>> {
    static RECORDED: OnceLock<HashMap<TargetKind, Vec<Exchange>>> = OnceLock::new();
    RECORDED.get_or_init(record)
}

fn record() -> HashMap<TargetKind, Vec<Exchange>> {
    let lab = Lab::start(LabConfig {
        devices: EMULATED_KINDS
            .iter()
            .map(|kind| DeviceSpec {
                name: format!("r-{}", kind.as_str()),
                kind: *kind,
                accounts: vec![
                    LabAccount::new(keyreeve::lab::default_login(*kind), Password::new(ADMIN_PW), 15),
                    LabAccount::new("netops", Password::new(OPS_PW), 15),
                    LabAccount::new("monitor", Password::new("M0nitor_only"), 1),
                ],
                enable_secret: Some(Password::new(ENABLE_PW)),
                port: 0,
            })
            .collect(),
        auth_rejection_time: Duration::from_millis(10),
        ..LabConfig::default()
    })
    .expect("the built-in device lab starts on 127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let ctx = ConnectContext {
        known_hosts: dir.path().join("known_hosts"),
        workspace_root: dir.path().to_path_buf(),
        trust_on_first_use: false,
        directory: Default::default(),
    };
    let inventory = Inventory::parse(&lab.inventory_toml("lab"), Path::new("keyreeve.toml")).unwrap();
    let mut out = HashMap::new();
    for info in lab.devices() {
        let target = inventory.target("lab", &info.name).unwrap();
        let endpoint = Endpoint::new(target, &ctx);
        let d = dialect::for_kind(info.kind).unwrap();
        let admin = Password::new(ADMIN_PW);
        let session = SshSession::login(&endpoint, &d.login_username(&info.login), Auth::Password(&admin))
            .unwrap_or_else(|e| panic!("{}: login: {e}", info.kind));
        let mut shell = session
            .into_shell(d.prompt(), d.pager(), &d.login_questions())
            .unwrap_or_else(|e| panic!("{}: shell: {e}", info.kind));
        // An OS that asks the password itself (SonicOS) is answered as the connector does.
        if d.shell_password_question().is_some_and(|q| shell.ended_with(&q)) {
            assert!(d.answer_shell_password(&mut shell, &admin).unwrap(), "{}", info.kind);
        }
        let mut rec = Recorder {
            inner: shell,
            log: Vec::new(),
        };
        // The same calls as `replay`, on a device that answers them well.
        let _ = run_operations(d.as_ref(), &mut rec, info.has_enable);
        assert!(
            rec.log.len() >= least_recorded(info.kind),
            "{}: too little recorded: {:?}",
            info.kind,
            rec.log
        );
        out.insert(info.kind, rec.log);
    }
    out
}

/// How many answers a recording must hold: a UniFi dialect only lists (it never changes anything
/// on the device).
fn least_recorded(kind: TargetKind) -> usize {
    if kind == TargetKind::Unifi {
        1
    } else {
        3
    }
}

/// Everything a dialect does with device output, in the order a rotation does it. Each call is
/// made whatever the one before returned; every error is returned for checking.
fn run_operations(d: &dyn Dialect, shell: &mut dyn Shell, has_enable: bool) -> Vec<ConnectorError> {
    // The login account changes its own password: `root` where only root can (OPNsense).
    let own = keyreeve::lab::default_login(d.kind());
    let mut errors = Vec::new();
    let mut keep = |r: ConnectorResult<()>| {
        if let Err(e) = r {
            errors.push(e);
        }
    };
    let (old, new, enable) = (Password::new(OPS_PW), Password::new(NEW_PW), Password::new(ENABLE_PW));
    keep(d.setup(shell, &login(has_enable)));
    keep(d.list_accounts(shell).map(|_| ()));
    match d.change_password(shell, "netops", ChangeMethod::AdminReset, &old, &new) {
        Ok(state) => keep(d.rollback(shell, &state, "netops", &old)),
        Err(e) => keep(Err(e)),
    }
    match d.change_password(shell, "netops", ChangeMethod::AdminReset, &old, &new) {
        Ok(state) => keep(d.save(shell, &state)),
        Err(e) => keep(Err(e)),
    }
    match d.change_password(shell, own, ChangeMethod::SelfChange, &Password::new(ADMIN_PW), &new) {
        Ok(state) => keep(d.rollback(shell, &state, own, &Password::new(ADMIN_PW))),
        Err(e) => keep(Err(e)),
    }
    if has_enable {
        match d.change_password(shell, "enable", ChangeMethod::EnableSecret, &enable, &new) {
            Ok(state) => keep(d.rollback(shell, &state, "enable", &enable)),
            Err(e) => keep(Err(e)),
        }
        keep(d.verify_enable(shell, &enable).map(|_| ()));
    }
    let fresh = ChangeState {
        fresh_session: true,
        ..ChangeState::default()
    };
    keep(d.save(shell, &fresh));
    errors
}

/// Where the replaying shell takes one answer from.
#[derive(Debug, Clone)]
enum Source {
    /// The recorded answer to the call at the same position (the realistic flow).
    InOrder,
    /// Another recorded answer.
    Recorded(usize),
    /// Lines picked from every recorded answer of the kind (by pool index): plausible lines in
    /// an implausible order, repeated or missing.
    Lines(Vec<usize>),
    /// Random text.
    Noise(String),
    /// The device stops answering.
    Timeout,
}

#[derive(Debug, Clone)]
struct Reply {
    source: Source,
    mutations: Vec<Mutation>,
    which: usize,
}

fn reply() -> impl Strategy<Value = Reply> {
    let source = prop_oneof![
        8 => Just(Source::InOrder),
        2 => any::<usize>().prop_map(Source::Recorded),
        2 => proptest::collection::vec(any::<usize>(), 0..40).prop_map(Source::Lines),
        2 => noise().prop_map(Source::Noise),
        1 => Just(Source::Timeout),
    ];
    let mutated = prop_oneof![Just(Vec::new()), mutations()];
    (source, mutated, any::<usize>()).prop_map(|(source, mutations, which)| Reply {
        source,
        mutations,
        which,
    })
}

/// A device that answers with recorded output, mutated, or noise; secrets sent are redacted from
/// what it returns, as the engine does.
struct Replay<'a> {
    recorded: &'a [Exchange],
    replies: Vec<Reply>,
    secrets: Vec<Password>,
    prompt_changes: usize,
    calls: usize,
}

impl Replay<'_> {
    fn next(&mut self, secret: Option<&Password>, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
        if let Some(s) = secret {
            self.secrets.push(s.clone());
        }
        let k = self.calls;
        self.calls += 1;
        if k >= MAX_EXCHANGES {
            return Err(ConnectorError::Timeout {
                target: TARGET.into(),
                seconds: 1,
                during: "the fuzz device stopped answering".into(),
            });
        }
        let reply = &self.replies[k % self.replies.len()];
        let (base, which) = match &reply.source {
            Source::Timeout => {
                return Err(ConnectorError::Timeout {
                    target: TARGET.into(),
                    seconds: 1,
                    during: "waiting for the prompt".into(),
                })
            }
            Source::Noise(text) => (text.clone(), None),
            Source::Lines(picks) => {
                let pool: Vec<&str> = self.recorded.iter().flat_map(|e| e.output.lines()).collect();
                let text: Vec<&str> = picks
                    .iter()
                    .filter_map(|i| pool.get(i % pool.len().max(1)).copied())
                    .collect();
                (text.join("\n"), None)
            }
            Source::InOrder | Source::Recorded(_) => {
                let i = match reply.source {
                    Source::Recorded(i) => i,
                    _ => k,
                } % self.recorded.len();
                let e = self.recorded.get(k).filter(|_| matches!(reply.source, Source::InOrder));
                let e = e.unwrap_or(&self.recorded[i]);
                (e.output.clone(), e.which)
            }
        };
        let text = apply_text(&base, &reply.mutations);
        let text = self.secrets.iter().fold(text, |t, s| s.redact_in(&t));
        // A question, as recorded or chosen at random among those asked (or the prompt).
        let pristine = reply.mutations.is_empty() && matches!(reply.source, Source::InOrder | Source::Recorded(_));
        let which = if pristine {
            which.filter(|w| *w < questions.len())
        } else {
            let pick = reply.which % (questions.len() + 1);
            (pick < questions.len()).then_some(pick)
        };
        Ok((which, text))
    }
}

impl Shell for Replay<'_> {
    fn target(&self) -> &str {
        TARGET
    }
    fn command(&mut self, _line: &str) -> ConnectorResult<String> {
        self.next(None, &[]).map(|(_, o)| o)
    }
    fn command_secret(&mut self, line: &Password) -> ConnectorResult<String> {
        self.next(Some(line), &[]).map(|(_, o)| o)
    }
    fn command_expect(&mut self, _line: &str, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
        self.next(None, questions)
    }
    fn secret_expect(&mut self, line: &Password, questions: &[&Regex]) -> ConnectorResult<(Option<usize>, String)> {
        self.next(Some(line), questions)
    }
    fn set_prompt(&mut self, _prompt: Regex) {
        self.prompt_changes += 1;
    }
}

/// Runs every operation of `kind`'s dialect against `replies`; checks the properties.
fn replay(kind: TargetKind, replies: Vec<Reply>) -> Result<(), TestCaseError> {
    let d = dialect::for_kind(kind).unwrap();
    let recorded = &recordings()[&kind];
    let mut shell = Replay {
        recorded,
        replies,
        secrets: Vec::new(),
        prompt_changes: 0,
        calls: 0,
    };
    let has_enable = keyreeve::lab::has_enable(kind);
    let errors = run_operations(d.as_ref(), &mut shell, has_enable);
    prop_assert!(
        shell.calls <= MAX_EXCHANGES,
        "{kind}: the dialect kept talking ({} exchanges)",
        shell.calls
    );
    for e in errors {
        let text = e.to_string();
        prop_assert!(
            text.starts_with(&format!("{TARGET}:")),
            "{kind}: error without its target: {text}"
        );
        for secret in [ADMIN_PW, OPS_PW, ENABLE_PW, NEW_PW] {
            prop_assert!(!text.contains(secret), "{kind}: a secret in an error: {text}");
        }
    }
    Ok(())
}

fn replies() -> impl Strategy<Value = Vec<Reply>> {
    proptest::collection::vec(reply(), 1..24)
}

macro_rules! dialect_properties {
    ($($name:ident => $kind:expr,)*) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(replies in replies()) {
                    replay($kind, replies)?;
                }
            )*
        }
    };
}

dialect_properties! {
    cisco_ios_survives_hostile_output => TargetKind::CiscoIos,
    cisco_nxos_survives_hostile_output => TargetKind::CiscoNxos,
    cisco_asa_survives_hostile_output => TargetKind::CiscoAsa,
    junos_survives_hostile_output => TargetKind::Junos,
    arista_eos_survives_hostile_output => TargetKind::AristaEos,
    routeros_survives_hostile_output => TargetKind::Routeros,
    fortios_survives_hostile_output => TargetKind::Fortios,
    vyos_survives_hostile_output => TargetKind::Vyos,
    aruba_aoscx_survives_hostile_output => TargetKind::ArubaAoscx,
    aruba_aoss_survives_hostile_output => TargetKind::ArubaAoss,
    esxi_survives_hostile_output => TargetKind::Esxi,
    synology_dsm_survives_hostile_output => TargetKind::SynologyDsm,
    pfsense_survives_hostile_output => TargetKind::Pfsense,
    opnsense_survives_hostile_output => TargetKind::Opnsense,
    panos_survives_hostile_output => TargetKind::Panos,
    sonicos_survives_hostile_output => TargetKind::Sonicos,
    unifi_survives_hostile_output => TargetKind::Unifi,
}

#[test]
fn every_emulated_kind_is_fuzzed() {
    // A kind added to the lab must join `dialect_properties!` above.
    let fuzzed = [
        TargetKind::CiscoIos,
        TargetKind::CiscoNxos,
        TargetKind::CiscoAsa,
        TargetKind::Junos,
        TargetKind::AristaEos,
        TargetKind::Routeros,
        TargetKind::Fortios,
        TargetKind::Vyos,
        TargetKind::ArubaAoscx,
        TargetKind::ArubaAoss,
        TargetKind::Esxi,
        TargetKind::SynologyDsm,
        TargetKind::Pfsense,
        TargetKind::Opnsense,
        TargetKind::Panos,
        TargetKind::Sonicos,
        TargetKind::Unifi,
    ];
    for kind in EMULATED_KINDS {
        assert!(fuzzed.contains(kind), "{kind} has no fuzz property");
        assert!(
            recordings()[kind].len() >= least_recorded(*kind),
            "{kind}: too little recorded"
        );
    }
}

#[test]
fn unmutated_replay_lists_the_recorded_accounts() {
    // The replaying shell drives the real parsers: with the recorded answers as they were, every
    // dialect finds the lab's accounts (so the mutated runs start from real output).
    for kind in EMULATED_KINDS {
        let d = dialect::for_kind(*kind).unwrap();
        let mut shell = Replay {
            recorded: &recordings()[kind],
            replies: vec![Reply {
                source: Source::InOrder,
                mutations: Vec::new(),
                which: 0,
            }],
            secrets: Vec::new(),
            prompt_changes: 0,
            calls: 0,
        };
        d.setup(&mut shell, &login(keyreeve::lab::has_enable(*kind)))
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        let names: Vec<String> = d
            .list_accounts(&mut shell)
            .unwrap_or_else(|e| panic!("{kind}: {e}"))
            .into_iter()
            .map(|a| a.name)
            .collect();
        // AOS-S has one manager and one operator: `admin` and `monitor`, no room for `netops`.
        let second_admin = if *kind == TargetKind::ArubaAoss {
            "admin"
        } else {
            "netops"
        };
        assert!(
            names.iter().any(|n| n == second_admin) && names.iter().any(|n| n == "monitor"),
            "{kind}: {names:?}"
        );
    }
}

/// Raw terminal text as the engine reads it: the recorded output of a device with `\r\n` line
/// ends, an echo line first and a prompt-like last line.
fn raw_sample(kind: TargetKind) -> impl Strategy<Value = String> {
    let recorded = &recordings()[&kind];
    let samples: Vec<String> = recorded
        .iter()
        .map(|e| format!("show users\r\n{}\r\nrouter-1(config)# ", e.output.replace('\n', "\r\n")))
        .collect();
    proptest::sample::select(samples).prop_flat_map(hostile_text)
}

proptest! {
    #![proptest_config(config())]

    /// The engine's reading of raw output: cleaning, prompt, pager and question detection, echo
    /// stripping, error lines. `matches_at_end` gives a position the engine slices at.
    #[test]
    fn prompt_handling_survives_hostile_terminal_output(
        kind in proptest::sample::select(EMULATED_KINDS.to_vec()),
        raw in prop_oneof![raw_sample(TargetKind::CiscoIos), raw_sample(TargetKind::Junos), raw_sample(TargetKind::Fortios), noise()],
        sent in noise(),
        at_prompt in any::<bool>(),
    ) {
        let d = dialect::for_kind(kind).unwrap();
        let text = clean_terminal_output(raw.as_bytes());
        let mut patterns = vec![d.prompt()];
        patterns.extend(d.pager().map(|(p, _)| p));
        patterns.extend(d.login_questions().into_iter().map(|(q, _)| q));
        for re in &patterns {
            if let Some(at) = matches_at_end(re, &text) {
                prop_assert!(text.is_char_boundary(at), "{kind}: {re} matched inside a character");
                let before = &text[..at];
                let _ = before.rfind('\n');
            }
        }
        let _ = strip_echo_and_prompt(&text, &sent, at_prompt);
        let _ = last_lines(&text, 6);
    }

    /// `getent passwd`, `getent group`, `getent shadow` and sudo rights, as a Linux host sends them.
    #[test]
    fn linux_account_listing_survives_hostile_getent_output(
        passwd in hostile_text(PASSWD.to_string()),
        group in hostile_text(GROUP.to_string()),
        shadow in proptest::option::of(hostile_text(SHADOW.to_string())),
        sudo in hostile_text(SUDO_LISTING.to_string()),
    ) {
        let rights: HashMap<String, SudoAccess> =
            ["admin", "deploy", "root"].iter().map(|n| (n.to_string(), parse_sudo_listing(&sudo))).collect();
        let accounts = parse_accounts(&passwd, &group, shadow.as_deref(), &rights);
        for a in accounts {
            prop_assert!(passwd.contains(&a.name), "an account not in passwd: {}", a.name);
        }
    }

    /// `sudo -ll` listings and the rules in them, matched against the commands keyreeve runs.
    #[test]
    fn sudo_listings_and_rules_survive_hostile_text(
        listing in hostile_text(SUDO_LISTING.to_string()),
        rule in hostile_text("/usr/sbin/chpasswd \"\"".to_string()),
        args in prop_oneof![Just(String::new()), noise()],
    ) {
        let _ = parse_sudo_listing(&listing);
        if let Some(path) = sudo_rule_allows(&rule, "chpasswd", &args) {
            // The path goes into a command line: nothing a shell could expand.
            prop_assert!(
                path == "chpasswd" || path.bytes().all(|b| b.is_ascii_alphanumeric() || b"._+/-".contains(&b)),
                "unsafe path {path:?}"
            );
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every account's `sudo -ll`, as the one exec channel that lists them all returns them.
    #[test]
    fn linux_sudo_list_all_survives_hostile_output(text in hostile_text(SUDO_LIST_ALL_OUTPUT.to_string())) {
        for name in parse_sudo_list_all(&text).keys() {
            prop_assert!(text.contains(name.as_str()), "an account not in the output: {name:?}");
        }
    }

    /// What `chpasswd` or `passwd` said when it failed becomes an error naming the target.
    #[test]
    fn linux_password_change_failures_name_the_target(
        stdout in hostile_text("passwd: password updated successfully".to_string()),
        stderr in hostile_text("BAD PASSWORD: The password is shorter than 8 characters\npasswd: Authentication token manipulation error".to_string()),
        status in any::<i32>(),
        command in proptest::sample::select(vec!["chpasswd", "passwd", "sh"]),
    ) {
        let out = ExecOutput { stdout, stderr, status };
        if let Err(e) = check_change(TARGET, "deploy", command, &out) {
            prop_assert!(status != 0);
            let text = e.to_string();
            prop_assert!(text.starts_with(&format!("{TARGET}:")), "error without its target: {text}");
        }
    }
}

const SUDO_LIST_ALL_OUTPUT: &str = "sudo: unable to resolve host\n==keyreeve-sudo admin\n\
User admin may run the following commands on host:\n\n\
Sudoers entry: /etc/sudoers\n    RunAsUsers: ALL\n    Commands:\n\tALL\n\
==keyreeve-sudo bob\nUser bob is not allowed to run sudo on host.\n\
==keyreeve-sudo svc\nUser svc may run the following commands on host:\n\n\
Sudoers entry: /etc/sudoers.d/svc\n    RunAsUsers: postgres\n    Commands:\n\t/usr/bin/psql\n";

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
admin:x:1000:1000:Admin,,,:/home/admin:/bin/bash\n\
deploy:x:1001:1001::/home/deploy:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
toor:x:0:0::/root:/bin/false\n";

const GROUP: &str = "root:x:0:\nsudo:x:27:admin\nwheel:x:10:deploy,admin\nadm:x:4:syslog\nadmin:x:1000:\n";

const SHADOW: &str =
    "root:!:19000:0:99999:7:::\nadmin:$6$salt$hash:19000:0:99999:7:::\ndeploy::19000::::::\ntoor:*:1::::::\n";

const SUDO_LISTING: &str = "Matching Defaults entries for admin on host:\n    env_reset\n\n\
User admin may run the following commands on host:\n\n\
Sudoers entry: /etc/sudoers\n    RunAsUsers: ALL\n    RunAsGroups: ALL\n    Options: !authenticate\n    Commands:\n\tALL\n\n\
Sudoers entry: /etc/sudoers.d/chpasswd\n    RunAsUsers: root\n    Commands:\n\t/usr/sbin/chpasswd \"\"\n\t/usr/bin/getent shadow *\n";

#[test]
fn the_linux_samples_read_as_a_host_means_them() {
    // The mutations start from output the parsers understand.
    let all = parse_sudo_list_all(SUDO_LIST_ALL_OUTPUT);
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(matches!(all["admin"], SudoAccess::AsRoot { .. }));
    assert_eq!(all["svc"], SudoAccess::OtherUsers);
    let rights: HashMap<String, SudoAccess> = [("admin".to_string(), parse_sudo_listing(SUDO_LISTING))].into();
    let accounts = parse_accounts(PASSWD, GROUP, Some(SHADOW), &rights);
    let admins: Vec<&str> = accounts.iter().filter(|a| a.admin).map(|a| a.name.as_str()).collect();
    assert_eq!(admins, ["root", "admin", "deploy", "toor"]);
}

#[test]
fn an_account_name_that_would_be_cli_commands_of_its_own_is_never_sent() {
    // A vault or plan damaged or forged upstream could name an account with a line break, quote,
    // `?` or escape code. Each dialect happened to refuse a name missing from its listing, but
    // only after logging in and listing, and with the name printed raw (the line break and the
    // escape code reached the terminal). The connector now refuses any name that is no plain name
    // before it sends anything, and shows it escaped; the device is left as it was.
    let lab = Lab::start(LabConfig {
        devices: EMULATED_KINDS
            .iter()
            .map(|kind| DeviceSpec {
                name: format!("r-{}", kind.as_str()),
                kind: *kind,
                accounts: vec![
                    LabAccount::new("admin", Password::new(ADMIN_PW), 15),
                    LabAccount::new("netops", Password::new(OPS_PW), 15),
                ],
                enable_secret: Some(Password::new(ENABLE_PW)),
                port: 0,
            })
            .collect(),
        auth_rejection_time: Duration::from_millis(10),
        ..LabConfig::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = ConnectContext {
        known_hosts: dir.path().join("known_hosts"),
        workspace_root: dir.path().to_path_buf(),
        trust_on_first_use: false,
        directory: Default::default(),
    };
    let inventory = Inventory::parse(&lab.inventory_toml("lab"), Path::new("keyreeve.toml")).unwrap();
    for info in lab.devices() {
        let target = inventory.target("lab", &info.name).unwrap();
        let connector = keyreeve::connector::for_target(target, &ctx).unwrap();
        let mut session = connector.open(&login(info.has_enable)).unwrap();
        for account in [
            "netops\nset system login user evil class super-user",
            "netops\rusername evil privilege 15 secret 0 Evil-pass.1",
            "netops evil",
            "netops'",
            "netops?",
            "net\u{1b}[2Jops",
        ] {
            let result = session.change_password(
                account,
                ChangeMethod::AdminReset,
                &Password::new(OPS_PW),
                &Password::new(NEW_PW),
            );
            match result {
                Err(ConnectorError::Unsafe { target, reason }) => {
                    assert_eq!(target, format!("lab/{}", info.name));
                    assert!(!reason.contains('\n') && !reason.contains('\u{1b}'), "{reason}");
                }
                other => panic!("{}: {account:?} was not refused: {other:?}", info.kind),
            }
        }
        let accounts = lab.running_accounts(&info.name).unwrap();
        assert!(
            accounts.iter().all(|(name, _)| name == "admin" || name == "netops"),
            "{}: {accounts:?}",
            info.kind
        );
        // AOS-S has one manager account: `admin`; `netops` never existed there.
        if info.kind == TargetKind::ArubaAoss {
            assert!(lab.running_password_works(&info.name, "admin", &Password::new(ADMIN_PW)));
        } else {
            assert!(lab.running_password_works(&info.name, "netops", &Password::new(OPS_PW)));
        }
    }
}
