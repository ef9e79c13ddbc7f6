//! Devices and Linux hosts over SSH: the session engine on ssh2, host-key checks, and one
//! dialect per vendor.
//!
//! (Skeleton: the bodies are filled in by the SSH work.)

use super::{ConnectContext, Connector, ConnectorError, ConnectorResult};
use crate::inventory::Target;

pub mod dialect;

/// The connector for an SSH target.
pub fn connector(target: &Target, _ctx: &ConnectContext) -> ConnectorResult<Box<dyn Connector>> {
    Err(ConnectorError::Unsupported {
        target: target.path(),
        kind: target.kind.to_string(),
        operation: "SSH".into(),
    })
}
