//! Identities and recipients: who can open a vault file, and the key this technician opens it
//! with. Recipients are age X25519 keys, ssh-ed25519 / ssh-rsa public keys, or a passphrase
//! (scrypt). The identity comes from `--identity`, `KEYREEVE_IDENTITY` or the user's config
//! directory, and may itself be passphrase-encrypted (as `age -p` writes it) or be an OpenSSH
//! private key. Passphrases come from the terminal or the file named by
//! `KEYREEVE_PASSPHRASE_FILE`, never from argv or an environment value.
//!
//! A [`KeyRing`] is cheap to build: it reads nothing until a file must be decrypted, so commands
//! that only encrypt never ask for a passphrase they do not need.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::hint::Hint;
use crate::inventory::Inventory;

/// Names the identity file to use (a path, never a secret).
pub const IDENTITY_ENV: &str = "KEYREEVE_IDENTITY";
/// Names a file whose first line is the passphrase (for automation; a path, never a secret).
pub const PASSPHRASE_FILE_ENV: &str = "KEYREEVE_PASSPHRASE_FILE";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no identity to open {}: {} does not exist", file.display(), identity.display())]
    IdentityMissing { identity: PathBuf, file: PathBuf },
    #[error("no identity file to open {}: none given and no config directory is known", file.display())]
    NoIdentity { file: PathBuf },
    #[error("cannot read identity {}: {source}", path.display())]
    IdentityRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("identity {}: {reason}", path.display())]
    IdentityInvalid { path: PathBuf, reason: String },
    #[error("wrong passphrase for identity {}", path.display())]
    IdentityPassphrase { path: PathBuf },
    #[error("{} is not encrypted to identity {}", file.display(), identity.display())]
    WrongKey { file: PathBuf, identity: PathBuf },
    #[error("wrong passphrase for {}", file.display())]
    WrongPassphrase { file: PathBuf },
    #[error("{} is damaged: {detail}; it was left untouched", file.display())]
    Damaged { file: PathBuf, detail: String },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} asks for more scrypt work (2^{required}) than this build allows (2^{allowed})", file.display())]
    ExcessiveWork { file: PathBuf, required: u8, allowed: u8 },
    #[error("recipient `{recipient}`: {reason}")]
    BadRecipient { recipient: String, reason: String },
    #[error("client `{client}`'s vault has no recipients")]
    NoRecipients { client: String },
    #[error("client `{client}` has its own recipients, but the workspace encrypts to a passphrase")]
    MixedPassphrase { client: String },
    #[error("cannot read a passphrase: {reason}")]
    Passphrase { reason: String },
    #[error("cannot read the passphrase file {}: {source}", path.display())]
    PassphraseFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encrypt: {0}")]
    Encrypt(String),
}

impl Hint for KeyError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            KeyError::IdentityMissing { .. } | KeyError::NoIdentity { .. } => {
                format!("create one with `keyreeve identity new`, or name yours with --identity FILE or {IDENTITY_ENV}")
            }
            KeyError::IdentityRead { .. } => "check the identity file exists and that you may read it".into(),
            KeyError::IdentityInvalid { .. } => {
                "an identity file holds AGE-SECRET-KEY-1... lines (age-keygen, `keyreeve identity new`), \
                 a passphrase-encrypted one (age -p), or an OpenSSH private key"
                    .into()
            }
            KeyError::IdentityPassphrase { .. } | KeyError::WrongPassphrase { .. } => {
                format!("try again; for automation put the passphrase in a file and name it in {PASSPHRASE_FILE_ENV}")
            }
            KeyError::WrongKey { .. } => format!(
                "use the identity this file is encrypted to (--identity FILE or {IDENTITY_ENV}); \
                 `keyreeve vault recipients list --client CLIENT` shows who can open it"
            ),
            KeyError::Read { .. } => "check that the file is there and that you may read it".into(),
            KeyError::Damaged { .. } => "restore the file from its latest backup under state/backups/CLIENT/ \
                 (or from git); `age -d` on a backup tells whether it is sound"
                .into(),
            KeyError::ExcessiveWork { .. } => "re-encrypt the file with a lower scrypt work factor".into(),
            KeyError::BadRecipient { .. } => {
                "a recipient is an age X25519 key (age1...) or an ssh-ed25519 / ssh-rsa public key line".into()
            }
            KeyError::NoRecipients { .. } => "add one with `keyreeve vault recipients add KEY`".into(),
            KeyError::MixedPassphrase { .. } => {
                "age cannot mix a passphrase with recipients: remove the client's recipients, \
                 or set `passphrase = false` and list recipients in [workspace]"
                    .into()
            }
            KeyError::Passphrase { .. } => {
                format!("run in a terminal, or put the passphrase in a file and name it in {PASSPHRASE_FILE_ENV}")
            }
            KeyError::PassphraseFile { .. } => format!("check the file named by {PASSPHRASE_FILE_ENV}"),
            KeyError::Encrypt(_) => "check the recipients in keyreeve.toml".into(),
        })
    }
}

/// The kind of a recipient, as `keyreeve vault recipients list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecipientKind {
    X25519,
    SshEd25519,
    SshRsa,
}

impl RecipientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientKind::X25519 => "age-x25519",
            RecipientKind::SshEd25519 => "ssh-ed25519",
            RecipientKind::SshRsa => "ssh-rsa",
        }
    }
}

/// A parsed public recipient.
pub fn parse_recipient(text: &str) -> Result<(RecipientKind, Box<dyn age::Recipient + Send>), KeyError> {
    let text = text.trim();
    let bad = |reason: &str| KeyError::BadRecipient {
        recipient: text.to_string(),
        reason: reason.to_string(),
    };
    if text.starts_with("age1") {
        let r = age::x25519::Recipient::from_str(text).map_err(bad)?;
        return Ok((RecipientKind::X25519, Box::new(r)));
    }
    if text.starts_with("ssh-ed25519 ") || text.starts_with("ssh-rsa ") {
        let kind = if text.starts_with("ssh-rsa") {
            RecipientKind::SshRsa
        } else {
            RecipientKind::SshEd25519
        };
        use age::ssh::ParseRecipientKeyError as P;
        let r = age::ssh::Recipient::from_str(text).map_err(|e| match e {
            P::Ignore | P::Unsupported(_) => bad("unsupported SSH key type"),
            P::Invalid(why) => bad(why),
            P::RsaModulusTooLarge => bad("the RSA key is larger than age supports"),
            P::RsaModulusTooSmall => bad("the RSA key is weaker than 2048 bits"),
        })?;
        return Ok((kind, Box::new(r)));
    }
    Err(bad(
        "not an age X25519 key (age1...) nor an ssh-ed25519 / ssh-rsa public key",
    ))
}

/// The same key, whatever comment an SSH public key line carries.
pub fn same_recipient(a: &str, b: &str) -> bool {
    let key = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    key(a) == key(b)
}

/// Where passphrases come from.
#[derive(Debug, Clone)]
enum PassphraseSource {
    Terminal,
    File(PathBuf),
}

/// Keys read from the identity file, once.
enum Loaded {
    X25519(Vec<age::x25519::Identity>),
    Ssh {
        identity: Box<age::ssh::Identity>,
        public: Option<String>,
    },
}

impl Loaded {
    fn public_key(&self) -> Option<String> {
        match self {
            Loaded::X25519(ids) => ids.first().map(|i| i.to_public().to_string()),
            Loaded::Ssh { public, .. } => public.clone(),
        }
    }
}

/// The keys this process decrypts with and the recipients it encrypts to.
pub struct KeyRing {
    /// The identity file (None only when no config directory is known and none was named).
    pub identity_file: Option<PathBuf>,
    passphrases: PassphraseSource,
    loaded: Mutex<Option<Arc<Loaded>>>,
    /// The workspace passphrase, once asked, so one command asks once.
    workspace_passphrase: Mutex<Option<SecretString>>,
}

// The rotation engine shares one key ring across threads.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<KeyRing>();
};

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("identity_file", &self.identity_file)
            .field("passphrases", &self.passphrases)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    /// The identity named explicitly, else by `KEYREEVE_IDENTITY`, else the default file; the
    /// passphrase file named by `KEYREEVE_PASSPHRASE_FILE`, else the terminal. Reads nothing yet.
    pub fn locate(explicit: Option<&Path>) -> KeyRing {
        let identity_file = explicit
            .map(Path::to_path_buf)
            .or_else(|| {
                std::env::var_os(IDENTITY_ENV)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .or_else(Self::default_identity_path);
        let mut ring = KeyRing::with_identity_file(identity_file);
        if let Some(file) = std::env::var_os(PASSPHRASE_FILE_ENV).filter(|v| !v.is_empty()) {
            ring.passphrases = PassphraseSource::File(PathBuf::from(file));
        }
        ring
    }

    /// A key ring using exactly this identity file and the terminal for passphrases.
    pub fn with_identity_file(identity_file: Option<PathBuf>) -> KeyRing {
        KeyRing {
            identity_file,
            passphrases: PassphraseSource::Terminal,
            loaded: Mutex::new(None),
            workspace_passphrase: Mutex::new(None),
        }
    }

    /// Reads passphrases from the first line of `file` instead of the terminal.
    pub fn passphrase_file(mut self, file: impl Into<PathBuf>) -> KeyRing {
        self.passphrases = PassphraseSource::File(file.into());
        self
    }

    /// `CONFIG_DIR/keyreeve/identity.txt`.
    pub fn default_identity_path() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("keyreeve").join("identity.txt"))
    }

    /// The public key of the identity, for the audit log. Loads an unprotected identity file;
    /// a passphrase-protected one is only reported once it was unlocked for decryption, so that
    /// recording an event never prompts.
    pub fn public_key(&self) -> Option<String> {
        if let Some(loaded) = self.loaded.lock().ok().and_then(|l| l.clone()) {
            return loaded.public_key();
        }
        let path = self.identity_file.as_ref()?;
        let bytes = Zeroizing::new(crate::safe_fs::read_existing(path, crate::safe_fs::Limit::KEY_FILE).ok()?);
        if is_age_file(&bytes) {
            return None;
        }
        let loaded = Arc::new(self.load_identity(path, Path::new("")).ok()?);
        let public = loaded.public_key();
        if let Ok(mut slot) = self.loaded.lock() {
            slot.get_or_insert(loaded);
        }
        public
    }

    /// Recipient strings of `client`'s vault: the workspace's then the client's own (empty in
    /// passphrase mode).
    pub fn recipients_for_client(&self, inventory: &Inventory, client: &str) -> Vec<String> {
        let mut all = inventory.recipients.clone();
        if let Some(c) = inventory.clients.get(client) {
            for r in &c.recipients {
                if !all.iter().any(|a| same_recipient(a, r)) {
                    all.push(r.clone());
                }
            }
        }
        all
    }

    /// Encrypts `plaintext` to the recipients of `client`'s vault: the workspace's recipients plus
    /// the client's own, or the workspace passphrase.
    pub fn encrypt_for_client(
        &self,
        inventory: &Inventory,
        client: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        self.encrypt_to(inventory, client, Vec::with_capacity(plaintext.len() + 1024), |w| {
            w.write_all(plaintext)
        })
    }

    /// Encrypts what `body` writes, streaming, into `out` (so the plaintext never exists as one
    /// more buffer), and returns `out`.
    pub fn encrypt_to<W: Write>(
        &self,
        inventory: &Inventory,
        client: &str,
        out: W,
        body: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<W, KeyError> {
        let encryptor = if inventory.passphrase {
            if inventory.clients.get(client).is_some_and(|c| !c.recipients.is_empty()) {
                return Err(KeyError::MixedPassphrase { client: client.into() });
            }
            let passphrase = self.workspace_passphrase(true)?;
            age::Encryptor::with_user_passphrase(passphrase)
        } else {
            let texts = self.recipients_for_client(inventory, client);
            if texts.is_empty() {
                return Err(KeyError::NoRecipients { client: client.into() });
            }
            let recipients = texts
                .iter()
                .map(|t| parse_recipient(t).map(|(_, r)| r))
                .collect::<Result<Vec<_>, _>>()?;
            age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
                .map_err(|e| KeyError::Encrypt(e.to_string()))?
        };
        let format = if inventory.armor {
            age::armor::Format::AsciiArmor
        } else {
            age::armor::Format::Binary
        };
        let io = |e: std::io::Error| KeyError::Encrypt(e.to_string());
        let armored = age::armor::ArmoredWriter::wrap_output(out, format).map_err(io)?;
        let mut stream = encryptor.wrap_output(armored).map_err(io)?;
        body(&mut stream).map_err(io)?;
        stream.finish().and_then(|a| a.finish()).map_err(io)
    }

    /// Decrypts an age file (binary or armored) read from `file` (named in errors).
    pub fn decrypt(&self, ciphertext: &[u8], file: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        self.decrypt_from(ciphertext, ciphertext.len(), file)
    }

    /// Decrypts the age file at `file` as it is read, so the ciphertext is never held whole in
    /// memory; `Ok(None)` when there is no such file.
    pub fn decrypt_file(&self, file: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, KeyError> {
        let io = |source| KeyError::Read {
            path: file.to_path_buf(),
            source,
        };
        // A vault file that is a device, a pipe or larger than any vault is refused, not read.
        let Some((f, len)) = crate::safe_fs::open_read(file, crate::safe_fs::Limit::VAULT).map_err(io)? else {
            return Ok(None);
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let limited = std::io::Read::take(f, crate::safe_fs::Limit::VAULT.bytes);
        self.decrypt_from(std::io::BufReader::with_capacity(1 << 16, limited), len, file)
            .map(Some)
    }

    /// Decrypts `input`, an age file at most `len` bytes long.
    fn decrypt_from(&self, mut input: impl BufRead, len: usize, file: &Path) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let damaged = |detail: &str| KeyError::Damaged {
            file: file.to_path_buf(),
            detail: detail.to_string(),
        };
        let start = input.fill_buf().map_err(|source| KeyError::Read {
            path: file.to_path_buf(),
            source,
        })?;
        if start.is_empty() {
            return Err(damaged("the file is empty"));
        }
        if !is_age_file(start.trim_ascii_start()) {
            return Err(damaged("it is not an age file (no age header)"));
        }
        // Binary files skip the armor detector: it costs a tenth of the time on large files.
        let input: Box<dyn BufRead + '_> = if start.starts_with(b"age-encryption.org/") {
            Box::new(input)
        } else {
            Box::new(age::armor::ArmoredReader::new(input))
        };
        let decryptor = age::Decryptor::new_buffered(input).map_err(|e| header_error(e, file))?;
        let mut reader = if decryptor.is_scrypt() {
            let passphrase = self.workspace_passphrase(false)?;
            let identity = age::scrypt::Identity::new(passphrase);
            match decryptor.decrypt(std::iter::once(&identity as &dyn age::Identity)) {
                Ok(r) => r,
                Err(age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed) => {
                    if let Ok(mut cached) = self.workspace_passphrase.lock() {
                        *cached = None;
                    }
                    return Err(KeyError::WrongPassphrase { file: file.into() });
                }
                Err(age::DecryptError::ExcessiveWork { required, target }) => {
                    return Err(KeyError::ExcessiveWork {
                        file: file.into(),
                        required,
                        allowed: target,
                    })
                }
                Err(e) => return Err(header_error(e, file)),
            }
        } else {
            let loaded = self.identities(file)?;
            let result = match loaded.as_ref() {
                Loaded::X25519(ids) => decryptor.decrypt(ids.iter().map(|i| i as &dyn age::Identity)),
                Loaded::Ssh { identity, .. } => {
                    decryptor.decrypt(std::iter::once(identity.as_ref() as &dyn age::Identity))
                }
            };
            match result {
                Ok(r) => r,
                Err(age::DecryptError::NoMatchingKeys) => {
                    return Err(KeyError::WrongKey {
                        file: file.into(),
                        identity: self.identity_file.clone().unwrap_or_default(),
                    })
                }
                Err(e) => return Err(header_error(e, file)),
            }
        };
        // The plaintext is never longer than the ciphertext: reserve once so no copy is left
        // behind by a reallocation.
        let mut plain = Zeroizing::new(Vec::with_capacity(len));
        reader.read_to_end(&mut plain).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => damaged("the file is truncated"),
            std::io::ErrorKind::InvalidData => {
                damaged("the encrypted payload does not authenticate (it was cut short or changed)")
            }
            _ => KeyError::Read {
                path: file.to_path_buf(),
                source: e,
            },
        })?;
        Ok(plain)
    }

    /// Reads a passphrase: from the passphrase file, else the terminal (twice when `confirm`).
    pub fn read_passphrase(&self, prompt: &str, confirm: bool) -> Result<SecretString, KeyError> {
        let text = match &self.passphrases {
            PassphraseSource::File(path) => {
                let raw = Zeroizing::new(
                    crate::safe_fs::read_existing(path, crate::safe_fs::Limit::KEY_FILE).map_err(|source| {
                        KeyError::PassphraseFile {
                            path: path.clone(),
                            source,
                        }
                    })?,
                );
                let mut line = Zeroizing::new(String::new());
                std::io::BufReader::new(raw.as_slice())
                    .read_line(&mut line)
                    .map_err(|source| KeyError::PassphraseFile {
                        path: path.clone(),
                        source,
                    })?;
                Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_string())
            }
            PassphraseSource::Terminal => {
                let first = Zeroizing::new(rpassword::prompt_password(format!("{prompt}: ")).map_err(|e| {
                    KeyError::Passphrase {
                        reason: format!("no terminal to ask on ({e})"),
                    }
                })?);
                if confirm {
                    let again = Zeroizing::new(rpassword::prompt_password("Again, to confirm: ").map_err(|e| {
                        KeyError::Passphrase {
                            reason: format!("no terminal to ask on ({e})"),
                        }
                    })?);
                    if *first != *again {
                        return Err(KeyError::Passphrase {
                            reason: "the two passphrases differ".into(),
                        });
                    }
                }
                first
            }
        };
        if text.is_empty() {
            return Err(KeyError::Passphrase {
                reason: "the passphrase is empty".into(),
            });
        }
        Ok(SecretString::from(text.to_string()))
    }

    /// Asks now for what decrypting this workspace's vaults will need (the identity's passphrase,
    /// or the workspace passphrase), so that a long-running process never asks later, in the
    /// middle of its work.
    pub fn unlock(&self, inventory: &Inventory) -> Result<(), KeyError> {
        if inventory.passphrase {
            self.workspace_passphrase(false).map(|_| ())
        } else {
            self.identities(Path::new("")).map(|_| ())
        }
    }

    fn workspace_passphrase(&self, for_encryption: bool) -> Result<SecretString, KeyError> {
        let mut cached = self.workspace_passphrase.lock().map_err(|_| KeyError::Passphrase {
            reason: "passphrase cache poisoned".into(),
        })?;
        if let Some(p) = cached.as_ref() {
            return Ok(p.clone());
        }
        let p = self.read_passphrase("Workspace vault passphrase", for_encryption)?;
        *cached = Some(p.clone());
        Ok(p)
    }

    fn identities(&self, file: &Path) -> Result<Arc<Loaded>, KeyError> {
        let mut slot = self.loaded.lock().map_err(|_| KeyError::Passphrase {
            reason: "identity cache poisoned".into(),
        })?;
        if let Some(l) = slot.as_ref() {
            return Ok(l.clone());
        }
        let path = self
            .identity_file
            .clone()
            .ok_or_else(|| KeyError::NoIdentity { file: file.into() })?;
        let loaded = Arc::new(self.load_identity(&path, file)?);
        *slot = Some(loaded.clone());
        Ok(loaded)
    }

    fn load_identity(&self, path: &Path, file: &Path) -> Result<Loaded, KeyError> {
        let bytes = Zeroizing::new(
            crate::safe_fs::read_existing(path, crate::safe_fs::Limit::KEY_FILE).map_err(|source| {
                if source.kind() == std::io::ErrorKind::NotFound {
                    KeyError::IdentityMissing {
                        identity: path.into(),
                        file: file.into(),
                    }
                } else {
                    KeyError::IdentityRead {
                        path: path.into(),
                        source,
                    }
                }
            })?,
        );
        let invalid = |reason: &str| KeyError::IdentityInvalid {
            path: path.into(),
            reason: reason.into(),
        };
        if is_age_file(&bytes) {
            let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(bytes.as_slice()))
                .map_err(|_| invalid("the encrypted identity file is damaged"))?;
            if !decryptor.is_scrypt() {
                return Err(invalid(
                    "an encrypted identity must be encrypted to a passphrase (age -p)",
                ));
            }
            let passphrase = self.read_passphrase(&format!("Passphrase for identity {}", path.display()), false)?;
            let identity = age::scrypt::Identity::new(passphrase);
            let mut reader = decryptor
                .decrypt(std::iter::once(&identity as &dyn age::Identity))
                .map_err(|e| match e {
                    age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
                        KeyError::IdentityPassphrase { path: path.into() }
                    }
                    _ => invalid("the encrypted identity file is damaged"),
                })?;
            let mut inner = Zeroizing::new(Vec::new());
            reader
                .read_to_end(&mut inner)
                .map_err(|_| invalid("the encrypted identity file is damaged"))?;
            return parse_x25519_identities(&inner)
                .map_err(|r| invalid(&r))
                .map(Loaded::X25519);
        }
        if bytes.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----")
            || bytes.starts_with(b"-----BEGIN RSA PRIVATE KEY-----")
        {
            let mut identity = age::ssh::Identity::from_buffer(bytes.as_slice(), Some(path.display().to_string()))
                .map_err(|_| invalid("not a usable OpenSSH private key"))?;
            if let age::ssh::Identity::Encrypted(key) = &identity {
                let passphrase = self.read_passphrase(&format!("Passphrase for SSH key {}", path.display()), false)?;
                let key = key
                    .decrypt(passphrase)
                    .map_err(|_| KeyError::IdentityPassphrase { path: path.into() })?;
                identity = age::ssh::Identity::from(key);
            }
            if let age::ssh::Identity::Unsupported(_) = identity {
                return Err(invalid(
                    "this SSH key type is not supported (use ssh-ed25519 or ssh-rsa)",
                ));
            }
            let public = age::ssh::Recipient::try_from(identity.clone())
                .ok()
                .map(|r| r.to_string());
            return Ok(Loaded::Ssh {
                identity: Box::new(identity),
                public,
            });
        }
        parse_x25519_identities(&bytes)
            .map_err(|r| invalid(&r))
            .map(Loaded::X25519)
    }
}

/// Whether `bytes` is an age file (binary or armored), i.e. a passphrase-protected identity.
fn is_age_file(bytes: &[u8]) -> bool {
    bytes.starts_with(b"age-encryption.org/") || bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
}

/// `AGE-SECRET-KEY-1...` lines; comments and blank lines skipped. Errors name a line, never its text.
fn parse_x25519_identities(bytes: &[u8]) -> Result<Vec<age::x25519::Identity>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "the file is not text".to_string())?;
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let id = age::x25519::Identity::from_str(line)
            .map_err(|_| format!("line {} is not an age identity (AGE-SECRET-KEY-1...)", n + 1))?;
        ids.push(id);
    }
    if ids.is_empty() {
        return Err("the file holds no identity".into());
    }
    Ok(ids)
}

fn header_error(e: age::DecryptError, file: &Path) -> KeyError {
    let detail = match e {
        age::DecryptError::UnknownFormat => "it is not an age file (unknown format or version)".to_string(),
        age::DecryptError::InvalidHeader => "the age header is malformed".to_string(),
        age::DecryptError::InvalidMac => "the age header was changed (its MAC does not match)".to_string(),
        age::DecryptError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the file is truncated".to_string()
        }
        age::DecryptError::Io(_) => "the age header cannot be read".to_string(),
        other => other.to_string(),
    };
    KeyError::Damaged {
        file: file.into(),
        detail,
    }
}

/// A fresh X25519 identity written to `out` (mode 0600, refusing to overwrite), encrypted to
/// `passphrase` when given (armored, as `age -a -p` writes it). Returns the public key.
pub fn new_identity_file(out: &Path, passphrase: Option<SecretString>) -> Result<String, KeyError> {
    let identity = age::x25519::Identity::generate();
    let public = identity.to_public().to_string();
    let text = Zeroizing::new(format!(
        "# created: {}\n# public key: {public}\n{}\n",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        identity.to_string().expose_secret()
    ));
    let content = match passphrase {
        Some(p) => {
            let encryptor = age::Encryptor::with_user_passphrase(p);
            let io = |e: std::io::Error| KeyError::Encrypt(e.to_string());
            let armored =
                age::armor::ArmoredWriter::wrap_output(Vec::new(), age::armor::Format::AsciiArmor).map_err(io)?;
            let mut w = encryptor.wrap_output(armored).map_err(io)?;
            w.write_all(text.as_bytes()).map_err(io)?;
            Zeroizing::new(w.finish().and_then(|a| a.finish()).map_err(io)?)
        }
        None => Zeroizing::new(text.as_bytes().to_vec()),
    };
    let io_err = |source| KeyError::IdentityRead {
        path: out.into(),
        source,
    };
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_err)?;
    }
    // A temporary file (mode 0600) in the same folder, synced, then linked into place only if
    // nothing is there: a crash never leaves a truncated identity, and none is overwritten.
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_err)?;
    tmp.write_all(&content)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io_err)?;
    tmp.persist_noclobber(out).map_err(|e| io_err(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_recognised_by_kind() {
        let id = age::x25519::Identity::generate();
        let (kind, _) = parse_recipient(&id.to_public().to_string()).unwrap();
        assert_eq!(kind, RecipientKind::X25519);
        let ssh = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice@example";
        assert_eq!(parse_recipient(ssh).unwrap().0, RecipientKind::SshEd25519);
        let err = parse_recipient("age1notakey").err().unwrap();
        assert!(err.to_string().contains("age1notakey"), "{err}");
        assert!(parse_recipient("ecdsa-sha2-nistp256 AAAA").is_err());
    }

    #[test]
    fn ssh_comments_do_not_make_another_recipient() {
        assert!(same_recipient("ssh-ed25519 AAAA alice", "ssh-ed25519 AAAA bob@x"));
        assert!(!same_recipient("ssh-ed25519 AAAA", "ssh-ed25519 AAAB"));
    }

    #[test]
    fn round_trip_and_wrong_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id.txt");
        let public = new_identity_file(&key, None).unwrap();
        let inv = Inventory {
            recipients: vec![public.clone()],
            ..Default::default()
        };
        let ring = KeyRing::with_identity_file(Some(key));
        assert_eq!(ring.public_key().as_deref(), Some(public.as_str()));
        let ct = ring.encrypt_for_client(&inv, "acme", b"{\"a\":1}").unwrap();
        assert_eq!(&*ring.decrypt(&ct, Path::new("acme.age")).unwrap(), b"{\"a\":1}");

        let other = dir.path().join("other.txt");
        new_identity_file(&other, None).unwrap();
        let err = KeyRing::with_identity_file(Some(other))
            .decrypt(&ct, Path::new("acme.age"))
            .unwrap_err();
        assert!(matches!(err, KeyError::WrongKey { .. }), "{err}");

        let err = ring.decrypt(&ct[..ct.len() - 10], Path::new("acme.age")).unwrap_err();
        assert!(matches!(err, KeyError::Damaged { .. }), "{err}");
    }

    #[test]
    fn identity_file_errors_never_show_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id.txt");
        std::fs::write(&key, "# c\nAGE-SECRET-KEY-1NOTREALLYAKEYBUTSECRETLOOKING\n").unwrap();
        let ring = KeyRing::with_identity_file(Some(key.clone()));
        let err = ring.load_identity(&key, Path::new("f")).err().unwrap();
        let shown = err.to_string();
        assert!(shown.contains("line 2"), "{shown}");
        assert!(!shown.contains("SECRETLOOKING"), "{shown}");
    }

    #[test]
    fn unlock_asks_once_so_later_decryption_never_asks() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id.age");
        let public = new_identity_file(&key, Some(SecretString::from("id-passphrase".to_string()))).unwrap();
        let pass = dir.path().join("pass.txt");
        std::fs::write(&pass, "id-passphrase\n").unwrap();
        let inv = Inventory {
            recipients: vec![public],
            ..Default::default()
        };
        let ring = KeyRing::with_identity_file(Some(key)).passphrase_file(&pass);
        ring.unlock(&inv).unwrap();
        // The passphrase source is gone: only the unlocked identity can decrypt now.
        std::fs::remove_file(&pass).unwrap();
        let ct = ring.encrypt_for_client(&inv, "acme", b"{}").unwrap();
        assert_eq!(&*ring.decrypt(&ct, Path::new("acme.age")).unwrap(), b"{}");
    }
}
