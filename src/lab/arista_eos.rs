//! Placeholder.
pub(crate) use super::cisco_ios::initial_conf;
pub(crate) type EosShell = super::cisco_ios::IosShell;
