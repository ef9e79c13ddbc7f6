//! keyreeve: inventory, rotate, store, review and hand over the admin credentials of a managed
//! service provider's clients.
//!
//! Map of the crate:
//! - [`workspace`]: where a workspace lives and how commands find it.
//! - [`inventory`]: `keyreeve.toml`, the clients and their targets.
//! - [`keys`]: identities and recipients (age X25519, ssh, passphrase).
//! - [`vault`]: the age-encrypted store, one file per client.
//! - [`audit_log`]: the hash-chained log of every reveal, change, rotation and export.
//! - [`connector`]: the one trait every target speaks; `ssh` (session engine + dialects) and `ldap`.
//! - [`discovery`]: log in to targets and list their accounts, as snapshots.
//! - [`policy`]: rotation policy and the password generator.
//! - [`rotation`]: plan, journalled apply, recover, verify.
//! - [`review`]: admin-membership review from discovery snapshots: findings, reports, changes.
//! - [`export`]: handover vaults and import.
//! - [`serve`]: the scheduled service and its read-only HTTP API.
//! - [`lab`]: emulated network devices for tests, demo and benchmarks.
//! - [`error`], [`hint`]: the library's error and the hint each error carries for the user.
//! - [`secret`]: the zeroizing, never-displayed password type.
//! - [`safe_fs`]: writing, removing and reading workspace files without following links or reading without end.
//! - [`validate`], [`escape`]: one check for names taken from outside, one escaping for foreign
//!   text shown on a terminal or in Markdown.
#![forbid(unsafe_code)]

pub mod audit_log;
pub mod connector;
pub mod discovery;
pub mod error;
pub mod escape;
pub mod export;
pub mod hint;
pub mod import;
pub mod inventory;
pub mod keys;
pub mod lab;
pub mod policy;
pub mod review;
pub mod rotation;
pub mod safe_fs;
pub mod scan;
pub mod secret;
pub mod serve;
pub mod team;
pub mod validate;
pub mod vault;
pub mod workspace;

pub use error::{Error, Result};
pub use hint::Hint;
pub use secret::Password;
