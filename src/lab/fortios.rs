//! Placeholder.
pub(crate) use super::cisco_ios::initial_conf;
pub(crate) type FortiShell = super::cisco_ios::IosShell;
