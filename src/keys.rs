//! Identities and recipients: who can open a vault file, and the key this technician opens it
//! with. Recipients are age X25519 keys, ssh-ed25519 / ssh-rsa public keys, or a passphrase
//! (scrypt). The identity comes from `--identity`, `KEYREEVE_IDENTITY` or the user's config
//! directory, and may itself be passphrase-encrypted. Passphrases come from the terminal or the
//! file named by `KEYREEVE_PASSPHRASE_FILE`, never from argv or an environment value.
//!
//! (Skeleton: the bodies are filled in by the vault work.)

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::error::Hint;
use crate::inventory::Inventory;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Todo(String),
}

impl Hint for KeyError {
    fn hint(&self) -> Option<String> {
        None
    }
}

/// The keys this process decrypts with and the recipients it encrypts to.
pub struct KeyRing {
    pub identity_file: Option<PathBuf>,
}

impl KeyRing {
    /// Encrypts `plaintext` to the recipients of `client`'s vault: the workspace's recipients plus
    /// the client's own, or the workspace passphrase.
    pub fn encrypt_for_client(
        &self,
        _inventory: &Inventory,
        _client: &str,
        _plaintext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        Err(KeyError::Todo("encryption is not built yet".into()))
    }

    /// Decrypts an age file read from `file` (named in errors).
    pub fn decrypt(&self, _ciphertext: &[u8], _file: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        Err(KeyError::Todo("decryption is not built yet".into()))
    }
}
