//! Placeholder.
pub(crate) use super::cisco_ios::initial_conf;
pub(crate) type AsaShell = super::cisco_ios::IosShell;
