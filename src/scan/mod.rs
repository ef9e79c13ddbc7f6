//! The LAN scan beyond SSH: what answers HTTP/HTTPS, IPP, JetDirect, SIP and (with a community the
//! user gives) SNMP, each probe in its own module, all under the same bounds as the SSH scan
//! (a concurrency limit, a timeout per probe, answers read up to a size) and never a credential
//! (the SNMP community is the user's read-only one, sent only where asked). Each service found
//! gets a guessed category of guided target and a confidence; [`classify`] combines a device's
//! services into one guess.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::Semaphore;

use crate::secret::Password;

pub mod http;
pub mod ipp;
pub mod jetdirect;
pub mod read;
pub mod sip;
pub mod snmp;

/// The ports each probe tries. Overridable so that tests (and odd sites) use others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ports {
    pub http: Vec<u16>,
    pub https: Vec<u16>,
    pub ipp: Vec<u16>,
    pub jetdirect: Vec<u16>,
    pub sip: Vec<u16>,
    /// Probed only with a community.
    pub snmp: Vec<u16>,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            http: vec![80, 8080],
            https: vec![443, 8443],
            ipp: vec![631],
            jetdirect: vec![9100],
            sip: vec![5060],
            snmp: vec![161],
        }
    }
}

/// How sure a guess is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// What a service said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Detail {
    Http(http::HttpInfo),
    Ipp(ipp::IppInfo),
    Raw(jetdirect::RawPort),
    Sip(sip::SipInfo),
    Snmp(snmp::SnmpInfo),
}

/// One service found, with what it suggests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub port: u16,
    /// http, https, ipp, jetdirect, sip, snmp.
    pub protocol: &'static str,
    pub detail: Detail,
    /// A guided-target category (printer, voip, web-portal, ...).
    pub category: &'static str,
    pub confidence: Confidence,
    pub why: String,
}

/// A device (one address) and its services, with the combined guess.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub ip: IpAddr,
    pub services: Vec<Service>,
    /// `manual` (the SSH scan proposes dialects for SSH services).
    pub kind: &'static str,
    pub category: &'static str,
    pub confidence: Confidence,
    /// Where a technician manages it, when it has a web page.
    pub url: Option<String>,
    pub why: String,
}

/// What one probe is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Http,
    Https,
    Ipp,
    JetDirect,
    Sip,
    Snmp,
}

async fn run_probe(probe: Probe, addr: SocketAddr, timeout: Duration, community: Option<&Password>) -> Option<Service> {
    let port = addr.port();
    Some(match probe {
        Probe::Http | Probe::Https => {
            let tls = probe == Probe::Https;
            let info = http::probe(addr, tls, timeout).await?;
            let (category, confidence, why) = judge_web(&info);
            Service {
                port,
                protocol: if tls { "https" } else { "http" },
                detail: Detail::Http(info),
                category,
                confidence,
                why,
            }
        }
        Probe::Ipp => {
            let info = ipp::probe(addr, timeout).await?;
            let why = match &info.make_and_model {
                Some(m) => format!("answers IPP: {m}"),
                None => "answers IPP".to_string(),
            };
            Service {
                port,
                protocol: "ipp",
                detail: Detail::Ipp(info),
                category: "printer",
                confidence: Confidence::High,
                why,
            }
        }
        Probe::JetDirect => {
            let raw = jetdirect::probe(addr, timeout).await?;
            let (category, why) = if raw.silent {
                ("printer", "open and silent, as a printer's raw (JetDirect) port is")
            } else {
                ("other", "it talks first: not a printer's raw port")
            };
            Service {
                port,
                protocol: "jetdirect",
                detail: Detail::Raw(raw),
                category,
                confidence: Confidence::Low,
                why: why.into(),
            }
        }
        Probe::Sip => {
            let info = sip::probe(addr, timeout).await?;
            let server = info.server.clone().unwrap_or_default();
            let lower = server.to_lowercase();
            let pbx = [
                "asterisk",
                "freepbx",
                "3cx",
                "pbx",
                "kamailio",
                "opensips",
                "freeswitch",
            ]
            .iter()
            .any(|w| lower.contains(w));
            let why = format!(
                "answers SIP OPTIONS ({}){}",
                if server.is_empty() { info.status.clone() } else { server },
                if pbx { ": a PBX" } else { ": a phone or PBX" }
            );
            Service {
                port,
                protocol: "sip",
                detail: Detail::Sip(info),
                category: "voip",
                confidence: Confidence::High,
                why,
            }
        }
        Probe::Snmp => {
            let info = snmp::probe(addr, community?, timeout).await?;
            let words = format!("{} {}", info.sys_descr, info.sys_name.as_deref().unwrap_or("")).to_lowercase();
            let (category, confidence, why) = match crate::import::guess::category_in(&words) {
                Some((c, w)) => (c, Confidence::High, format!("its sysDescr names `{}`", w.trim())),
                None => (
                    "other",
                    Confidence::Low,
                    format!("sysDescr `{}` names no category", info.sys_descr),
                ),
            };
            Service {
                port,
                protocol: "snmp",
                detail: Detail::Snmp(info),
                category,
                confidence,
                why,
            }
        }
    })
}

/// What a web server suggests: a category its words name, a print server, or a web portal.
fn judge_web(info: &http::HttpInfo) -> (&'static str, Confidence, String) {
    let words = format!(
        "{} {} {}",
        info.server.as_deref().unwrap_or(""),
        info.title.as_deref().unwrap_or(""),
        info.cert_subject.as_deref().unwrap_or("")
    )
    .to_lowercase();
    match crate::import::guess::category_in(&words) {
        Some((c, w)) => (c, Confidence::Medium, format!("its web page names `{}`", w.trim())),
        None => (
            "web-portal",
            Confidence::Low,
            match &info.title {
                Some(t) => format!("a web page titled `{t}`"),
                None => "a web page".into(),
            },
        ),
    }
}

/// One guess for a device from its services: the most confident category, one level surer when
/// another service agrees.
pub fn classify(ip: IpAddr, mut services: Vec<Service>) -> Device {
    services.sort_by_key(|s| (s.port, s.protocol));
    let best = services
        .iter()
        .max_by_key(|s| (s.confidence, s.category != "web-portal" && s.category != "other"))
        .cloned();
    let (category, mut confidence, mut why) = match &best {
        Some(s) => (
            s.category,
            s.confidence,
            format!("{} {}: {}", s.protocol, s.port, s.why),
        ),
        None => ("other", Confidence::Low, "nothing answered".into()),
    };
    let agreeing = services.iter().filter(|s| s.category == category).count();
    if agreeing > 1 {
        confidence = match confidence {
            Confidence::Low => Confidence::Medium,
            _ => Confidence::High,
        };
        why.push_str(&format!(
            " (and {} other service{} agree)",
            agreeing - 1,
            if agreeing == 2 { "" } else { "s" }
        ));
    }
    let host = match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        IpAddr::V4(v4) => v4.to_string(),
    };
    let web = |proto: &'static str| services.iter().find(|s| s.protocol == proto).map(|s| (proto, s.port));
    let url = web("https").or_else(|| web("http")).map(|(proto, port)| {
        let default = (proto == "https" && port == 443) || (proto == "http" && port == 80);
        if default {
            format!("{proto}://{host}/")
        } else {
            format!("{proto}://{host}:{port}/")
        }
    });
    Device {
        ip,
        services,
        kind: "manual",
        category,
        confidence,
        url,
        why,
    }
}

/// Probes every address on every port of `ports`, at most `concurrency` at once, each probe
/// bounded by `timeout`; SNMP only with `community`. Returns the devices that answered, in
/// address order.
pub async fn probe_all(
    addrs: &[IpAddr],
    ports: &Ports,
    concurrency: usize,
    timeout: Duration,
    community: Option<Arc<Password>>,
) -> Vec<Device> {
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut plan: Vec<(Probe, u16)> = Vec::new();
    plan.extend(ports.http.iter().map(|p| (Probe::Http, *p)));
    plan.extend(ports.https.iter().map(|p| (Probe::Https, *p)));
    plan.extend(ports.ipp.iter().map(|p| (Probe::Ipp, *p)));
    plan.extend(ports.jetdirect.iter().map(|p| (Probe::JetDirect, *p)));
    plan.extend(ports.sip.iter().map(|p| (Probe::Sip, *p)));
    if community.is_some() {
        plan.extend(ports.snmp.iter().map(|p| (Probe::Snmp, *p)));
    }
    // A task is spawned only once it holds its permit: a /16 times every probe is over half a
    // million probes, and only `concurrency` of them may be alive (with their buffers) at once.
    let mut tasks = tokio::task::JoinSet::new();
    let mut by_ip: BTreeMap<IpAddr, Vec<Service>> = BTreeMap::new();
    let mut keep = |done: Result<Option<(IpAddr, Service)>, tokio::task::JoinError>| {
        if let Ok(Some((ip, service))) = done {
            by_ip.entry(ip).or_default().push(service);
        }
    };
    for &ip in addrs {
        for &(probe, port) in &plan {
            let Ok(permit) = limit.clone().acquire_owned().await else {
                break;
            };
            let community = community.clone();
            tasks.spawn(async move {
                let _permit = permit;
                let service = run_probe(probe, SocketAddr::new(ip, port), timeout, community.as_deref()).await?;
                Some((ip, service))
            });
            while let Some(done) = tasks.try_join_next() {
                keep(done);
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        keep(done);
    }
    by_ip.into_iter().map(|(ip, s)| classify(ip, s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(protocol: &'static str, port: u16, category: &'static str, confidence: Confidence) -> Service {
        Service {
            port,
            protocol,
            detail: Detail::Raw(jetdirect::RawPort {
                silent: true,
                said: None,
            }),
            category,
            confidence,
            why: "w".into(),
        }
    }

    #[test]
    fn the_surest_service_decides_and_agreement_raises_it() {
        let ip: IpAddr = "10.0.0.40".parse().unwrap();
        let d = classify(
            ip,
            vec![
                service("http", 80, "web-portal", Confidence::Low),
                service("jetdirect", 9100, "printer", Confidence::Low),
            ],
        );
        assert_eq!((d.category, d.confidence), ("printer", Confidence::Low));
        assert_eq!(d.url.as_deref(), Some("http://10.0.0.40/"));
        let d = classify(
            ip,
            vec![
                service("https", 8443, "printer", Confidence::Medium),
                service("jetdirect", 9100, "printer", Confidence::Low),
            ],
        );
        assert_eq!((d.category, d.confidence), ("printer", Confidence::High));
        assert_eq!(d.url.as_deref(), Some("https://10.0.0.40:8443/"));
    }
}
