//! One emulated device: its state, its SSH server settings and banner, and the loop that accepts
//! its connections; what every OS shares before a shell starts.

use super::*;

pub(super) struct Device {
    pub(super) name: String,
    pub(super) kind: TargetKind,
    pub(super) options: DeviceOptions,
    pub(super) addr: SocketAddr,
    pub(super) login: String,
    pub(super) has_enable: bool,
    pub(super) fingerprint: String,
    pub(super) time_scale: f64,
    pub(super) ssh: Arc<russh::server::Config>,
    pub(super) state: Mutex<DeviceState>,
    pub(super) fault: watch::Sender<Fault>,
    pub(super) sessions: Mutex<Vec<OpenSession>>,
    pub(super) next_session: AtomicU64,
    /// The lab's runtime, to end sessions from outside it (`Lab::reload`).
    pub(super) runtime: std::sync::OnceLock<tokio::runtime::Handle>,
}

pub(super) struct OpenSession {
    pub(super) id: u64,
    pub(super) user: String,
    pub(super) handle: russh::server::Handle,
}

impl Device {
    pub(super) fn new(
        spec: &DeviceSpec,
        options: DeviceOptions,
        key: PrivateKey,
        addr: SocketAddr,
        time_scale: f64,
        auth_rejection_time: Duration,
    ) -> Device {
        let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        let ssh = russh::server::Config {
            server_id: russh::SshId::Standard(ssh_banner(spec.kind).into()),
            methods: MethodSet::from(&[login_method(spec.kind)][..]),
            auth_rejection_time,
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![key],
            inactivity_timeout: Some(Duration::from_secs(3600)),
            nodelay: true,
            ..Default::default()
        };
        let (conf, autosave) = initial_conf(spec);
        Device {
            name: spec.name.clone(),
            kind: spec.kind,
            options,
            addr,
            login: spec.accounts.first().map(|a| a.name.clone()).unwrap_or_default(),
            has_enable: has_enable(spec.kind) && spec.enable_secret.is_some(),
            fingerprint,
            time_scale,
            ssh: Arc::new(ssh),
            state: Mutex::new(DeviceState::new(conf, autosave)),
            fault: watch::channel(Fault::None).0,
            sessions: Mutex::new(Vec::new()),
            next_session: AtomicU64::new(1),
            runtime: std::sync::OnceLock::new(),
        }
    }

    pub(super) fn info(&self) -> LabDeviceInfo {
        LabDeviceInfo {
            name: self.name.clone(),
            kind: self.kind,
            address: self.addr.ip().to_string(),
            port: self.addr.port(),
            host_key_fingerprint: self.fingerprint.clone(),
            login: self.login.clone(),
            has_enable: self.has_enable,
        }
    }

    /// The device's state with its timers brought up to now.
    pub(super) fn state(&self) -> MutexGuard<'_, DeviceState> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.settle(Instant::now());
        st
    }

    pub(super) fn fault(&self) -> Fault {
        *self.fault.borrow()
    }

    /// Closes the sessions of `user` (all sessions if None).
    pub(super) fn drop_sessions(&self, user: Option<&str>) {
        let sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        for s in sessions.iter().filter(|s| user.is_none_or(|u| s.user == u)) {
            let handle = s.handle.clone();
            if let Some(rt) = self.runtime.get() {
                rt.spawn(async move {
                    let _ = handle
                        .disconnect(russh::Disconnect::ByApplication, "logged out".into(), String::new())
                        .await;
                });
            }
        }
    }
}

/// The SSH identification string each OS's server sends.
pub(super) fn ssh_banner(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::CiscoIos | TargetKind::CiscoAsa => "SSH-2.0-Cisco-1.25",
        TargetKind::CiscoNxos => "SSH-2.0-OpenSSH_8.3",
        TargetKind::Junos => "SSH-2.0-OpenSSH_7.5",
        TargetKind::AristaEos => "SSH-2.0-OpenSSH_7.8",
        TargetKind::Routeros => "SSH-2.0-ROSSSH",
        TargetKind::Fortios => "SSH-2.0-FortiSSH_7.4",
        TargetKind::ArubaAoss => "SSH-2.0-Mocana SSH 6.3",
        TargetKind::Esxi => "SSH-2.0-OpenSSH_9.3",
        TargetKind::ArubaAoscx => "SSH-2.0-OpenSSH_8.4",
        TargetKind::SynologyDsm => "SSH-2.0-OpenSSH_8.2",
        TargetKind::Pfsense | TargetKind::Opnsense => "SSH-2.0-OpenSSH_9.7",
        TargetKind::Panos => "SSH-2.0-PaloAltoNetworks_0.2",
        TargetKind::Sonicos => "SSH-2.0-SonicWall_SSH",
        TargetKind::Unifi => "SSH-2.0-dropbear_2019.78",
        _ => "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    }
}

pub(super) fn initial_conf(spec: &DeviceSpec) -> (Conf, bool) {
    match spec.kind {
        TargetKind::CiscoNxos => cisco_nxos::initial_conf(spec),
        TargetKind::CiscoAsa => cisco_asa::initial_conf(spec),
        TargetKind::Junos => junos::initial_conf(spec),
        TargetKind::AristaEos => arista_eos::initial_conf(spec),
        TargetKind::Routeros => routeros::initial_conf(spec),
        TargetKind::Fortios => fortios::initial_conf(spec),
        TargetKind::Vyos => vyos::initial_conf(spec),
        TargetKind::ArubaAoscx => aruba_aoscx::initial_conf(spec),
        TargetKind::ArubaAoss => aruba_aoss::initial_conf(spec),
        TargetKind::Esxi => esxi::initial_conf(spec),
        TargetKind::SynologyDsm => synology_dsm::initial_conf(spec),
        TargetKind::Pfsense => pfsense::initial_conf(spec),
        TargetKind::Opnsense => opnsense::initial_conf(spec),
        TargetKind::Panos => panos::initial_conf(spec),
        TargetKind::Sonicos => sonicos::initial_conf(spec),
        TargetKind::Unifi => unifi::initial_conf(spec),
        _ => cisco_ios::initial_conf(spec),
    }
}

pub(super) fn new_shell(kind: TargetKind, options: DeviceOptions, user: &str, st: &DeviceState) -> Box<dyn Shell> {
    match kind {
        TargetKind::CiscoNxos => Box::new(cisco_nxos::NxosShell::new(user, st)),
        TargetKind::CiscoAsa => Box::new(cisco_asa::AsaShell::new(user, st)),
        TargetKind::Junos => Box::new(junos::JunosShell::new(user, st)),
        TargetKind::AristaEos => Box::new(arista_eos::EosShell::new(user, st)),
        TargetKind::Routeros => Box::new(routeros::RouterosShell::new(user, st)),
        TargetKind::Fortios => Box::new(fortios::FortiShell::new(user, st, options)),
        TargetKind::Vyos => Box::new(vyos::VyosShell::new(user, st, options)),
        TargetKind::ArubaAoscx => Box::new(aruba_aoscx::AoscxShell::new(user, st)),
        TargetKind::ArubaAoss => Box::new(aruba_aoss::AossShell::new(user, st)),
        TargetKind::Esxi => Box::new(esxi::EsxiShell::new(user, st)),
        TargetKind::SynologyDsm => Box::new(synology_dsm::DsmShell::new(user, st)),
        TargetKind::Pfsense => Box::new(pfsense::PfSenseShell::new(user, st)),
        TargetKind::Opnsense => Box::new(opnsense::OpnSenseShell::new(user, st)),
        TargetKind::Panos => Box::new(panos::PanosShell::new(user, st)),
        TargetKind::Sonicos => Box::new(sonicos::SonicShell::new(user, st)),
        TargetKind::Unifi => Box::new(unifi::UnifiShell::new(user, st)),
        _ => Box::new(cisco_ios::IosShell::new(user, st)),
    }
}

/// How a device's SSH server lets users in: ESXi only by keyboard-interactive.
pub(super) fn login_method(kind: TargetKind) -> MethodKind {
    match kind {
        TargetKind::Esxi => MethodKind::KeyboardInteractive,
        _ => MethodKind::Password,
    }
}

/// Whether the SSH layer checks the password; SonicOS takes any and asks `Password:` itself.
pub(super) fn ssh_judges_password(kind: TargetKind) -> bool {
    kind != TargetKind::Sonicos
}

/// The account name a login asks for (RouterOS takes terminal options after `+`).
pub(super) fn login_name(kind: TargetKind, raw: &str) -> &str {
    match kind {
        TargetKind::Routeros => raw.split('+').next().unwrap_or(raw),
        _ => raw,
    }
}

pub(super) async fn serve_device(
    device: Arc<Device>,
    listener: std::net::TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let mut fault_rx = device.fault.subscribe();
    let mut listener = tokio::net::TcpListener::from_std(listener).ok();
    loop {
        if *stop.borrow() {
            return;
        }
        let refusing = *fault_rx.borrow_and_update() == Fault::RefuseConnections;
        if refusing {
            listener = None;
        } else if listener.is_none() {
            listener = rebind(device.addr);
            if listener.is_none() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = fault_rx.changed() => continue,
            accepted = async {
                match &listener {
                    Some(l) => l.accept().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Ok((stream, _)) = accepted {
                    let _ = stream.set_nodelay(true);
                    let device = device.clone();
                    tokio::spawn(async move {
                        let handler = Conn::new(device.clone());
                        if let Ok(running) = russh::server::run_stream(device.ssh.clone(), stream, handler).await {
                            let _ = running.await;
                        }
                    });
                }
            }
        }
    }
}

pub(super) fn rebind(addr: SocketAddr) -> Option<tokio::net::TcpListener> {
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.set_reuseaddr(true).ok()?;
    socket.bind(addr).ok()?;
    socket.listen(1024).ok()
}
