//! The lab devices' SSH host keys kept in a file, so that a restarted lab presents the keys an
//! inventory already pinned. One line per device, `NAME BASE64-SEED` (the 32-byte seed of its
//! Ed25519 key), under a comment; the file is private key material, so it is written atomically
//! with mode 0600 and a broken one is refused with its line rather than silently replaced.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use rand::Rng;
use russh::keys::PrivateKey;
use zeroize::Zeroizing;

use super::LabError;

const HEADER: &str = "# keyreeve device lab: SSH host keys of the emulated devices (Ed25519 seeds, base64).\n\
                      # Private keys: keep this file mode 0600. Delete it to give the devices new keys.\n";

/// Ed25519 seeds by device name.
pub(crate) type Seeds = BTreeMap<String, Zeroizing<[u8; 32]>>;

fn broken(file: &Path, detail: impl Into<String>) -> LabError {
    LabError::HostKeys {
        file: file.to_path_buf(),
        detail: detail.into(),
    }
}

/// The seeds in `file`; none when it does not exist.
pub(crate) fn load(file: &Path) -> Result<Seeds, LabError> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => Zeroizing::new(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Seeds::new()),
        Err(e) => return Err(broken(file, format!("cannot read it: {e}"))),
    };
    let mut seeds = Seeds::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |what: &str| broken(file, format!("line {}: {what}", i + 1));
        let (name, seed) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| at("expected `DEVICE-NAME BASE64-SEED`"))?;
        let raw = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(seed.trim())
                .map_err(|_| at("the seed is not base64"))?,
        );
        let seed: [u8; 32] = raw.as_slice().try_into().map_err(|_| at("the seed is not 32 bytes"))?;
        if seeds.insert(name.to_string(), Zeroizing::new(seed)).is_some() {
            return Err(at(&format!("device `{name}` is listed twice")));
        }
    }
    Ok(seeds)
}

/// Writes `seeds` to `file` (atomically, mode 0600).
pub(crate) fn store(file: &Path, seeds: &Seeds) -> Result<(), LabError> {
    let mut text = Zeroizing::new(String::from(HEADER));
    for (name, seed) in seeds {
        let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(seed.as_slice()));
        text.push_str(&format!("{name} {}\n", encoded.as_str()));
    }
    crate::safe_fs::write_output(file, 0o600, |w| w.write_all(text.as_bytes()))
        .map_err(|e| broken(file, format!("cannot write it: {e}")))
}

/// A new random seed.
pub(crate) fn fresh_seed() -> Zeroizing<[u8; 32]> {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rng().fill(&mut seed[..]);
    seed
}

/// The device's host key from its seed.
pub(crate) fn key_from_seed(seed: &[u8; 32]) -> PrivateKey {
    PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::from_seed(seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_seeds_load_back_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state").join("lab-host-keys");
        let mut seeds = Seeds::new();
        seeds.insert("ios-001".into(), fresh_seed());
        seeds.insert("fortios-001".into(), fresh_seed());
        store(&file, &seeds).unwrap();
        let back = load(&file).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(*back["ios-001"], *seeds["ios-001"]);
        assert_ne!(*back["ios-001"], *back["fortios-001"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn a_missing_file_is_empty_and_a_broken_one_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        assert!(load(&file).unwrap().is_empty());
        std::fs::write(&file, format!("{HEADER}ios-001 AAAA\n")).unwrap();
        let e = load(&file).unwrap_err().to_string();
        assert!(
            e.contains("line 3") && e.contains("32 bytes") && e.contains("keys"),
            "{e}"
        );
        std::fs::write(&file, "ios-001\n").unwrap();
        let e = load(&file).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("DEVICE-NAME BASE64-SEED"), "{e}");
    }
}
