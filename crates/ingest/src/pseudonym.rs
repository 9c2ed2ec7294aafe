//! Keyed pseudonyms for customer ids: HMAC-SHA256 under a secret key, so the same customer gets
//! the same pseudonym in every table and every run with that key, and nobody without the key can
//! link a pseudonym back to the id (an unkeyed hash of a numeric id is trivially reversed).

use std::collections::HashMap;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::{ErrorKind, IngestError};

/// Shortest key accepted, in bytes: shorter keys make pseudonyms guessable.
pub const MIN_KEY_BYTES: usize = 16;

/// Replaces customer ids by keyed hashes (32 hex digits: 128 bits, so distinct ids never collide
/// in practice).
#[derive(Clone)]
pub struct Pseudonymizer {
    keyed: Hmac<Sha256>,
    // Each customer appears many times (17 events on average), and the hash is the costly part.
    cache: HashMap<Box<str>, Box<str>>,
}

/// A pseudonymization key was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Shorter than the minimum.
    #[error("the pseudonymization key has {bytes} bytes; at least {min} are needed")]
    TooShort {
        /// Its length.
        bytes: usize,
        /// The minimum.
        min: usize,
    },
    /// HMAC refused it.
    #[error("HMAC-SHA256 refuses the key")]
    Invalid(#[source] hmac::digest::InvalidLength),
}

impl Pseudonymizer {
    /// A pseudonymizer keyed by the value of the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, IngestError> {
        let key = std::env::var(var).map_err(|_| {
            IngestError::pipeline(ErrorKind::PseudonymKeyMissing {
                var: var.to_string(),
                min: MIN_KEY_BYTES,
            })
        })?;
        Self::new(key.as_bytes()).map_err(|cause| {
            IngestError::pipeline(ErrorKind::PseudonymKey {
                var: var.to_string(),
                cause,
            })
        })
    }

    /// A pseudonymizer with the given key.
    pub fn new(key: &[u8]) -> Result<Self, KeyError> {
        if key.len() < MIN_KEY_BYTES {
            return Err(KeyError::TooShort {
                bytes: key.len(),
                min: MIN_KEY_BYTES,
            });
        }
        let keyed = Hmac::<Sha256>::new_from_slice(key).map_err(KeyError::Invalid)?;
        Ok(Pseudonymizer {
            keyed,
            cache: HashMap::new(),
        })
    }

    /// The pseudonym of an id given as text (integer ids are hashed as their decimal text, so
    /// `42` and `"42"` agree across tables).
    pub fn pseudonym(&mut self, id: &str) -> &str {
        if !self.cache.contains_key(id) {
            let mut mac = self.keyed.clone();
            mac.update(id.as_bytes());
            let digest = mac.finalize().into_bytes();
            let mut hex = String::with_capacity(32);
            for b in &digest[..16] {
                hex.push(char::from(HEX[usize::from(b >> 4)]));
                hex.push(char::from(HEX[usize::from(b & 15)]));
            }
            self.cache.insert(id.into(), hex.into());
        }
        self.cache.get(id).map(|s| &**s).unwrap_or_default()
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_pseudonym_other_key_other_pseudonym() {
        let mut a = Pseudonymizer::new(b"0123456789abcdef-key-a").unwrap();
        let mut b = Pseudonymizer::new(b"0123456789abcdef-key-b").unwrap();
        let p = a.pseudonym("42").to_string();
        assert_eq!(p.len(), 32);
        assert_ne!(p, "42");
        assert_eq!(a.pseudonym("42"), p);
        assert_ne!(a.pseudonym("43"), p);
        assert_ne!(b.pseudonym("42"), p);
    }

    #[test]
    fn short_key_is_refused() {
        assert!(Pseudonymizer::new(b"short").is_err());
    }
}
