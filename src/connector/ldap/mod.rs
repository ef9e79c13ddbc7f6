//! Directories over LDAPS / StartTLS: Active Directory and OpenLDAP.
//!
//! (Skeleton: the bodies are filled in by the directory work.)

use super::{ConnectContext, Connector, ConnectorError, ConnectorResult};
use crate::inventory::Target;

/// The connector for a directory target.
pub fn connector(target: &Target, _ctx: &ConnectContext) -> ConnectorResult<Box<dyn Connector>> {
    Err(ConnectorError::Unsupported {
        target: target.path(),
        kind: target.kind.to_string(),
        operation: "LDAP".into(),
    })
}
