//! Devices and Linux hosts over SSH: the session engine on ssh2 ([`session`]), host-key checks
//! ([`hostkeys`]), the Linux connector over exec channels ([`linux`]), and the generic device
//! connector ([`device`]) that drives one [`dialect`] per vendor through an interactive shell;
//! [`device_text`] makes what a device says fit to quote in an error.

use super::{ConnectContext, Connector, ConnectorError, ConnectorResult};
use crate::inventory::{Target, TargetKind};

pub mod device;
pub mod device_text;
pub mod dialect;
pub mod hostkeys;
pub mod linux;
pub mod session;

/// The connector for an SSH target: Linux hosts over exec, network devices through their dialect.
pub fn connector(target: &Target, ctx: &ConnectContext) -> ConnectorResult<Box<dyn Connector>> {
    if target.kind == TargetKind::Linux {
        return Ok(Box::new(linux::LinuxConnector::new(target, ctx)));
    }
    match dialect::for_kind(target.kind) {
        Some(dialect) => Ok(Box::new(device::DeviceConnector::new(target, ctx, dialect))),
        None => Err(ConnectorError::Unsupported {
            target: target.path(),
            kind: target.kind.to_string(),
            operation: "SSH (no dialect for this kind yet)".into(),
        }),
    }
}
