//! SNMP probe (UDP 161), only with a community the user gave: SNMPv2c GETs of sysDescr, sysName
//! and sysObjectID through csnmp, from a socket bound to loopback for a loopback target. A wrong
//! community gets no answer at all, so silence only means "no answer", never "no device".

use std::net::SocketAddr;
use std::time::Duration;

use crate::secret::Password;

use super::read::clean;

const SYS_DESCR: &str = "1.3.6.1.2.1.1.1.0";
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
const SYS_NAME: &str = "1.3.6.1.2.1.1.5.0";

/// What an SNMP agent told.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SnmpInfo {
    pub sys_descr: String,
    pub sys_name: Option<String>,
    pub sys_object_id: Option<String>,
}

/// Probes `addr` with `community`; none when no answer came in time.
pub async fn probe(addr: SocketAddr, community: &Password, timeout: Duration) -> Option<SnmpInfo> {
    let work = async {
        // csnmp keeps its own copy of the community (not wiped); it is a read-only community the
        // user chose to send, not a login secret.
        let client = csnmp::Snmp2cClient::new(
            addr,
            community.expose().as_bytes().to_vec(),
            Some(super::sip::local_for(addr.ip())),
            Some(timeout),
            0,
        )
        .await
        .ok()?;
        let get = |oid: &'static str| {
            let client = &client;
            async move {
                let oid: csnmp::ObjectIdentifier = oid.parse().ok()?;
                client.get(oid).await.ok()
            }
        };
        let descr = get(SYS_DESCR).await?;
        let sys_descr = clean(descr.as_bytes()?);
        let sys_name = get(SYS_NAME)
            .await
            .and_then(|v| v.as_bytes().map(|b| clean(b)))
            .filter(|s| !s.is_empty());
        let sys_object_id = get(SYS_OBJECT_ID).await.and_then(|v| v.as_oid()).map(|o| o.to_string());
        Some(SnmpInfo {
            sys_descr,
            sys_name,
            sys_object_id,
        })
    };
    // Three GETs, each bounded by the client's timeout; the whole bounded too.
    tokio::time::timeout(timeout * 3, work).await.ok().flatten()
}
