//! Optional package signing: with a key in [`SIGNING_KEY_VAR`] (an environment variable, never
//! the config), training writes [`SIGNATURE`], an HMAC-SHA256 of the manifest (which holds every
//! file's SHA-256), and every job that opens a package refuses one unsigned or signed with
//! another key. Without the key, signatures are neither written nor checked.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::PackageError;

/// The environment variable holding the signing key.
pub const SIGNING_KEY_VAR: &str = "CHURNGUARD_SIGNING_KEY";
/// The shortest key accepted, in bytes.
pub const MIN_SIGNING_KEY_BYTES: usize = 16;
/// Name of the signature file: the manifest's HMAC-SHA256 in hex (not in the manifest's files).
pub const SIGNATURE: &str = "manifest.sig";

/// A key that signs and checks packages.
#[derive(Clone)]
pub struct SigningKey(Hmac<Sha256>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// A key from its bytes, refused when shorter than [`MIN_SIGNING_KEY_BYTES`].
    pub fn new(bytes: &[u8]) -> Result<SigningKey, PackageError> {
        if bytes.len() < MIN_SIGNING_KEY_BYTES {
            return Err(PackageError::SigningKey {
                why: format!(
                    "{SIGNING_KEY_VAR} holds {} bytes; a signing key needs at least {MIN_SIGNING_KEY_BYTES}",
                    bytes.len()
                ),
            });
        }
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(bytes).map_err(|e| PackageError::SigningKey {
            why: format!("{SIGNING_KEY_VAR} cannot key HMAC-SHA256: {e}"),
        })?;
        Ok(SigningKey(mac))
    }

    /// The key in [`SIGNING_KEY_VAR`], when it is set and not empty.
    pub fn from_env() -> Result<Option<SigningKey>, PackageError> {
        match std::env::var_os(SIGNING_KEY_VAR) {
            Some(v) if !v.is_empty() => SigningKey::new(v.as_encoded_bytes()).map(Some),
            _ => Ok(None),
        }
    }

    fn mac(&self, manifest: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(manifest);
        mac
    }

    /// The signature of a manifest's bytes, in hex.
    pub fn sign(&self, manifest: &[u8]) -> String {
        self.mac(manifest)
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `signature` (hex) signs these manifest bytes, compared in constant time.
    pub fn verifies(&self, manifest: &[u8], signature: &str) -> bool {
        let bytes: Option<Vec<u8>> = (0..signature.len())
            .step_by(2)
            .map(|i| signature.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect();
        bytes.is_some_and(|b| self.mac(manifest).verify_slice(&b).is_ok())
    }
}
