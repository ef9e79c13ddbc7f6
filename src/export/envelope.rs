//! The age envelope of an export: to the receiver's public keys (age X25519, ssh-ed25519, ssh-rsa)
//! or to a passphrase, binary or armored, so that stock `age -d` opens it; and the output file,
//! written to a temporary file in the same folder and renamed into place only once complete, so
//! that no error ever leaves a partial export behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use super::ExportError;
use crate::keys::{parse_recipient, same_recipient, KeyError, KeyRing};

/// What the manifest and the audit log name instead of keys when a passphrase is used.
pub const PASSPHRASE_LABEL: &str = "passphrase";

/// Who can open the export.
pub enum Seal {
    /// Public keys, as given (one line each), with their parsed form.
    Recipients(Parsed),
    Passphrase(SecretString),
}

impl std::fmt::Debug for Seal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Seal::Recipients(_) => f.debug_tuple("Recipients").field(&self.labels()).finish(),
            Seal::Passphrase(_) => f.write_str("Passphrase(********)"),
        }
    }
}

type Parsed = Vec<(String, Box<dyn age::Recipient + Send>)>;

/// Adds `text` to `all` unless the same key is there already.
fn push_recipient(text: &str, all: &mut Parsed, err: impl FnOnce(String) -> ExportError) -> Result<(), ExportError> {
    let (_, r) = parse_recipient(text).map_err(|e| err(reason_of(e)))?;
    if !all.iter().any(|(t, _)| same_recipient(t, text)) {
        all.push((text.trim().to_string(), r));
    }
    Ok(())
}

impl Seal {
    /// Recipients from `--recipient` values and `--recipients-file` files, deduplicated. Every
    /// bad one is an error naming it (and its file and line).
    pub fn from_recipients(values: &[String], files: &[PathBuf]) -> Result<Seal, ExportError> {
        let mut all = Parsed::new();
        for v in values {
            push_recipient(v, &mut all, |reason| ExportError::BadRecipient {
                value: v.trim().to_string(),
                reason,
            })?;
        }
        for file in files {
            let text = std::fs::read_to_string(file).map_err(|source| ExportError::Io {
                what: "read the recipients file",
                path: file.clone(),
                source,
            })?;
            let mut found = 0;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                found += 1;
                push_recipient(line, &mut all, |reason| ExportError::BadRecipientLine {
                    path: file.clone(),
                    line: i + 1,
                    reason,
                })?;
            }
            if found == 0 {
                return Err(ExportError::EmptyRecipientsFile(file.clone()));
            }
        }
        if all.is_empty() {
            return Err(ExportError::NoRecipient);
        }
        Ok(Seal::Recipients(all))
    }

    /// The public keys (or [`PASSPHRASE_LABEL`]), for the manifest and the audit log.
    pub fn labels(&self) -> Vec<String> {
        match self {
            Seal::Recipients(r) => r.iter().map(|(t, _)| t.clone()).collect(),
            Seal::Passphrase(_) => vec![PASSPHRASE_LABEL.to_string()],
        }
    }

    /// Encrypts `plaintext` into a standard age file.
    pub fn seal(&self, plaintext: &[u8], armor: bool) -> Result<Vec<u8>, ExportError> {
        let encryptor = match self {
            Seal::Recipients(r) => {
                age::Encryptor::with_recipients(r.iter().map(|(_, r)| r.as_ref() as &dyn age::Recipient))
                    .map_err(|e| ExportError::Encrypt(e.to_string()))?
            }
            Seal::Passphrase(p) => age::Encryptor::with_user_passphrase(p.clone()),
        };
        let format = if armor {
            age::armor::Format::AsciiArmor
        } else {
            age::armor::Format::Binary
        };
        let io = |e: std::io::Error| ExportError::Encrypt(e.to_string());
        let out = Vec::with_capacity(plaintext.len() + 2048);
        let armored = age::armor::ArmoredWriter::wrap_output(out, format).map_err(io)?;
        let mut stream = encryptor.wrap_output(armored).map_err(io)?;
        stream.write_all(plaintext).map_err(io)?;
        stream.finish().and_then(|a| a.finish()).map_err(io)
    }
}

fn reason_of(e: KeyError) -> String {
    match e {
        KeyError::BadRecipient { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// Decrypts an export read from `file`: with the passphrase (asked as "Export passphrase", or
/// read from `KEYREEVE_PASSPHRASE_FILE`) when it was sealed with one, else with the identity.
pub fn open(keys: &KeyRing, ciphertext: &[u8], file: &Path) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let decrypt_err = |reason: String| ExportError::Decrypt {
        path: file.to_path_buf(),
        reason,
    };
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(ciphertext))
        .map_err(|e| decrypt_err(format!("not an age file ({e})")))?;
    if !decryptor.is_scrypt() {
        return keys.decrypt(ciphertext, file).map_err(|e| decrypt_err(e.to_string()));
    }
    let passphrase = keys
        .read_passphrase("Export passphrase", false)
        .map_err(|e| decrypt_err(e.to_string()))?;
    let identity = age::scrypt::Identity::new(passphrase);
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::KeyDecryptionFailed => {
                decrypt_err("wrong passphrase".into())
            }
            other => decrypt_err(other.to_string()),
        })?;
    let mut plain = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    std::io::Read::read_to_end(&mut reader, &mut plain)
        .map_err(|_| decrypt_err("the file is damaged or truncated".into()))?;
    Ok(plain)
}

/// An output file being written: a hidden temporary file beside the destination, removed if it
/// is dropped before [`OutputFile::commit`].
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    replace: bool,
}

impl OutputFile {
    /// Prepares to write `path`. Refuses an existing file unless `replace`; fails now, before any
    /// work, if the folder is missing or not writable.
    pub fn create(path: &Path, replace: bool) -> Result<OutputFile, ExportError> {
        if !replace && path.symlink_metadata().is_ok() {
            return Err(ExportError::OutputExists(path.to_path_buf()));
        }
        // Even with --force, a link (or a folder, a device) there is refused, not replaced.
        crate::safe_fs::check_output(path).map_err(|source| ExportError::Io {
            what: "write",
            path: path.to_path_buf(),
            source,
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("export");
        let mut builder = tempfile::Builder::new();
        let prefix = format!(".{name}.");
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o600));
        }
        let tmp = builder.tempfile_in(dir).map_err(|source| ExportError::Io {
            what: "create a file in",
            path: dir.to_path_buf(),
            // tempfile names its random file in the message; the folder is what matters.
            source: source
                .raw_os_error()
                .map(std::io::Error::from_raw_os_error)
                .unwrap_or(source),
        })?;
        Ok(OutputFile {
            path: path.to_path_buf(),
            tmp,
            replace,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the whole content and flushes it to disk (still under the temporary name).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        let tmp_path = self.tmp.path().to_path_buf();
        let io = |source| ExportError::Io {
            what: "write",
            path: tmp_path.clone(),
            source,
        };
        self.tmp.as_file_mut().write_all(bytes).map_err(io)?;
        self.tmp.as_file().sync_all().map_err(io)
    }

    /// Renames the complete file into place and makes the rename durable.
    pub fn commit(self) -> Result<PathBuf, ExportError> {
        let OutputFile { path, tmp, replace } = self;
        let persisted = if replace {
            tmp.persist(&path)
        } else {
            tmp.persist_noclobber(&path)
        };
        persisted.map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                ExportError::OutputExists(path.clone())
            } else {
                ExportError::Io {
                    what: "rename the finished export to",
                    path: path.clone(),
                    source: e.error,
                }
            }
        })?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        crate::vault::store::sync_dir(dir).map_err(|source| ExportError::Io {
            what: "sync",
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE_KEY: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

    #[test]
    fn recipients_from_values_and_files_are_deduplicated() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("r.txt");
        std::fs::write(&file, format!("# the receiver\n\n{AGE_KEY}\n")).unwrap();
        let seal = Seal::from_recipients(&[AGE_KEY.to_string()], &[file]).unwrap();
        assert_eq!(seal.labels(), vec![AGE_KEY.to_string()]);
    }

    #[test]
    fn a_bad_recipient_line_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("r.txt");
        std::fs::write(&file, format!("{AGE_KEY}\nage1notakey\n")).unwrap();
        let err = Seal::from_recipients(&[], &[file]).unwrap_err();
        assert!(matches!(err, ExportError::BadRecipientLine { line: 2, .. }), "{err}");
        let err = Seal::from_recipients(&["bogus".into()], &[]).unwrap_err();
        assert!(matches!(err, ExportError::BadRecipient { .. }));
        assert!(matches!(Seal::from_recipients(&[], &[]), Err(ExportError::NoRecipient)));
    }

    #[test]
    fn seals_to_an_identity_and_a_passphrase() {
        let id = age::x25519::Identity::generate();
        let seal = Seal::from_recipients(&[id.to_public().to_string()], &[]).unwrap();
        for armor in [false, true] {
            let ct = seal.seal(b"hello", armor).unwrap();
            assert_eq!(ct.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"), armor);
            let d = age::Decryptor::new(age::armor::ArmoredReader::new(&ct[..])).unwrap();
            let mut r = d.decrypt(std::iter::once(&id as &dyn age::Identity)).unwrap();
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut r, &mut out).unwrap();
            assert_eq!(out, b"hello");
        }
        let seal = Seal::Passphrase(SecretString::from("correct horse".to_string()));
        assert_eq!(seal.labels(), vec![PASSPHRASE_LABEL]);
        assert!(!format!("{seal:?}").contains("horse"));
    }

    #[test]
    fn an_output_file_appears_only_when_committed() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("out.age");
        let mut out = OutputFile::create(&path, false).unwrap();
        out.write(b"data").unwrap();
        assert!(!path.exists());
        drop(out);
        assert!(!path.exists());
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            0,
            "temporary file left behind"
        );

        let mut out = OutputFile::create(&path, false).unwrap();
        out.write(b"data").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        assert!(matches!(
            OutputFile::create(&path, false),
            Err(ExportError::OutputExists(_))
        ));
        assert!(matches!(
            OutputFile::create(&tmp.path().join("missing/out.age"), false),
            Err(ExportError::Io { .. })
        ));
    }
}
