//! SIP probe (phones and PBXs, UDP 5060): one OPTIONS request, the way SIP equipment checks its
//! peers, from a socket bound to the loopback address when the target is on loopback (never to
//! all interfaces there) and connected to the target so that only its answer is read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

use super::read::clean;

/// What a SIP endpoint answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SipInfo {
    /// The status line, e.g. `SIP/2.0 200 OK`.
    pub status: String,
    /// Its `Server` (or `User-Agent`) header.
    pub server: Option<String>,
    pub allow: Option<String>,
}

/// The local address to send from: loopback for a loopback target, else any address of the
/// target's family.
pub fn local_for(target: IpAddr) -> SocketAddr {
    match target {
        IpAddr::V4(ip) if ip.is_loopback() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        IpAddr::V6(ip) if ip.is_loopback() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 0),
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}

fn host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        SocketAddr::V4(a) => a.to_string(),
    }
}

/// The OPTIONS request from `local` to `target`.
pub fn options(target: SocketAddr, local: SocketAddr, tag: u64) -> String {
    let (t, l) = (host(target), host(local));
    format!(
        "OPTIONS sip:{t} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {l};branch=z9hG4bK{tag:x};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:keyreeve-scan@{l}>;tag={tag:x}\r\n\
         To: <sip:{t}>\r\n\
         Call-ID: {tag:x}@{l}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Contact: <sip:keyreeve-scan@{l}>\r\n\
         Accept: application/sdp\r\n\
         User-Agent: keyreeve-scan\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Probes `addr`; none when nothing SIP answered in time.
pub async fn probe(addr: SocketAddr, timeout: Duration) -> Option<SipInfo> {
    let socket = UdpSocket::bind(local_for(addr.ip())).await.ok()?;
    socket.connect(addr).await.ok()?;
    let local = socket.local_addr().ok()?;
    let request = options(addr, local, rand::random::<u64>());
    socket.send(request.as_bytes()).await.ok()?;
    let mut buf = vec![0u8; 65_536];
    let work = async {
        // A provisional answer (1xx) may come first: wait for a final one, a few at most.
        let mut last = None;
        for _ in 0..4 {
            let n = socket.recv(&mut buf).await.ok()?;
            let info = parse(&buf[..n])?;
            let provisional = info
                .status
                .split_whitespace()
                .nth(1)
                .is_some_and(|c| c.starts_with('1'));
            last = Some(info);
            if !provisional {
                break;
            }
        }
        last
    };
    tokio::time::timeout(timeout, work).await.ok().flatten()
}

/// Reads a SIP answer; none when it is not one.
pub fn parse(datagram: &[u8]) -> Option<SipInfo> {
    if !datagram.starts_with(b"SIP/2.0 ") {
        return None;
    }
    let text = String::from_utf8_lossy(datagram);
    let mut lines = text.split("\r\n");
    let status = clean(lines.next()?.as_bytes());
    let mut info = SipInfo {
        status,
        ..SipInfo::default()
    };
    for line in lines.take(100) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = Some(clean(value.as_bytes())).filter(|v| !v.is_empty());
        match name.trim().to_ascii_lowercase().as_str() {
            "server" | "user-agent" if info.server.is_none() => info.server = value,
            "allow" if info.allow.is_none() => info.allow = value,
            _ => {}
        }
    }
    Some(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_names_the_target_and_answers_are_read() {
        let req = options(
            "127.0.0.1:5070".parse().unwrap(),
            "127.0.0.1:40000".parse().unwrap(),
            0xabc,
        );
        assert!(req.starts_with("OPTIONS sip:127.0.0.1:5070 SIP/2.0\r\n"));
        assert!(req.contains("Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKabc") && req.ends_with("\r\n\r\n"));
        let a =
            parse(b"SIP/2.0 200 OK\r\nVia: x\r\nServer: Yealink SIP-T46S 66.86.0.15\r\nAllow: INVITE, OPTIONS\r\n\r\n")
                .unwrap();
        assert_eq!(a.status, "SIP/2.0 200 OK");
        assert_eq!(a.server.as_deref(), Some("Yealink SIP-T46S 66.86.0.15"));
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\n"), None);
        assert_eq!(local_for("127.0.0.1".parse().unwrap()).ip().to_string(), "127.0.0.1");
    }
}
