//! JetDirect / AppSocket probe (port 9100): a printer accepts the connection and says nothing,
//! printing whatever arrives; so the probe connects, sends NOTHING (a byte would be printed),
//! and listens briefly. "Open and silent" suggests a printer; a service that talks is something
//! else.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;

use super::read::{bounded, clean, deadline};

/// What the port did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RawPort {
    /// Whether it stayed silent for the listening time.
    pub silent: bool,
    /// What it said instead, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub said: Option<String>,
}

/// How long a connected port is listened to.
const LISTEN: Duration = Duration::from_millis(400);

/// Probes `addr`; none when the port is closed.
pub async fn probe(addr: SocketAddr, timeout: Duration) -> Option<RawPort> {
    let until = deadline(timeout);
    let mut stream = tokio::time::timeout_at(until, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let listen_until = deadline(LISTEN.min(timeout));
    let said = bounded(&mut stream, 512, listen_until, |b| !b.is_empty()).await;
    Some(RawPort {
        silent: said.is_empty(),
        said: (!said.is_empty()).then(|| clean(&said)),
    })
}
