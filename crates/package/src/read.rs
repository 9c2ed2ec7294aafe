//! The verifying reader: a package is usable only when its manifest parses, its format is one
//! this churnguard reads, every file matches the SHA-256 the manifest recorded, and the manifest
//! agrees with itself (its version with its folder, its FeatureSpec with the spec's hash).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use churnguard_config::Pipeline;
use churnguard_model::sha256_hex;

use crate::{FORMAT, MANIFEST, MODEL_FILES, MODEL_ONNX, MODEL_TEXT, Manifest, PackageError, io_error};

/// An opened, verified package: its manifest and the bytes of its files.
#[derive(Debug)]
pub struct Package {
    /// The version folder (a `latest` link resolved).
    pub dir: PathBuf,
    /// The manifest.
    pub manifest: Manifest,
    /// Every file the manifest lists, verified, by name.
    files: BTreeMap<String, Vec<u8>>,
}

/// The package's signature file against its manifest's bytes.
fn check_signature(dir: &Path, manifest: &[u8], key: &crate::SigningKey) -> Result<(), PackageError> {
    let path = dir.join(crate::SIGNATURE);
    let signature = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(PackageError::Unsigned { dir: dir.to_path_buf() });
        }
        Err(e) => return Err(io_error("cannot read", &path)(e)),
    };
    if key.verifies(manifest, signature.trim()) {
        Ok(())
    } else {
        Err(PackageError::BadSignature { dir: dir.to_path_buf() })
    }
}

impl Package {
    /// Opens a version folder (or a `latest` link) and verifies it, its signature too when
    /// [`crate::SIGNING_KEY_VAR`] holds a key.
    pub fn open(path: &Path) -> Result<Package, PackageError> {
        Package::open_signed(path, crate::SigningKey::from_env()?.as_ref())
    }

    /// [`Package::open`] with the signing key given (`None`: signatures are not checked).
    pub fn open_signed(path: &Path, key: Option<&crate::SigningKey>) -> Result<Package, PackageError> {
        let dir = std::fs::canonicalize(path).map_err(io_error("cannot read", path))?;
        let manifest_path = dir.join(MANIFEST);
        let text = std::fs::read(&manifest_path).map_err(io_error("cannot read", &manifest_path))?;
        let manifest = parse(&manifest_path, &text)?;
        if let Some(key) = key {
            check_signature(&dir, &text, key)?;
        }
        let inconsistent = |problem: String| PackageError::Inconsistent {
            path: manifest_path.clone(),
            problem,
        };
        for name in MODEL_FILES {
            if !manifest.files.contains_key(name) {
                return Err(inconsistent(format!("no SHA-256 recorded for {name}")));
            }
        }
        let mut files = BTreeMap::new();
        for (name, expected) in &manifest.files {
            // A name is a file of this folder, never a path out of it.
            if name.contains(['/', '\\']) || name.starts_with('.') {
                return Err(inconsistent(format!("it lists a file outside the package: {name:?}")));
            }
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(io_error("cannot read", &path))?;
            let found = sha256_hex(&bytes);
            if &found != expected {
                return Err(PackageError::Tampered {
                    path,
                    expected: expected.clone(),
                    found,
                });
            }
            files.insert(name.clone(), bytes);
        }
        let folder = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if folder.starts_with('v') && folder[1..].bytes().all(|b| b.is_ascii_digit()) && folder != manifest.version {
            return Err(inconsistent(format!(
                "it says version {}, but the folder is {folder}",
                manifest.version
            )));
        }
        let hash = manifest.feature_spec.hash();
        if hash != manifest.feature_spec_sha256 {
            return Err(inconsistent(format!(
                "its FeatureSpec hashes to {hash}, but it records {}",
                manifest.feature_spec_sha256
            )));
        }
        agree(&manifest, &files).map_err(inconsistent)?;
        Ok(Package { dir, manifest, files })
    }

    /// The verified bytes of a package file ([`crate::MODEL_ONNX`], [`crate::MODEL_TEXT`]).
    pub fn file(&self, name: &str) -> &[u8] {
        self.files.get(name).map_or(&[], Vec::as_slice)
    }

    /// Refuses a pipeline other than the one the package was trained for.
    pub fn check_pipeline(&self, p: &Pipeline) -> Result<(), PackageError> {
        if p.name == self.manifest.pipeline {
            return Ok(());
        }
        Err(PackageError::OtherPipeline {
            package: self.manifest.pipeline.clone(),
            pipeline: p.name.clone(),
        })
    }
}

/// The package's files must agree with each other, not only with the manifest's hashes: the
/// probabilities come from `model.onnx` and the reasons from `model.txt`, so an edited
/// `model.txt` (with its manifest hash edited too) would explain another model.
fn agree(manifest: &Manifest, files: &BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let onnx = files.get(MODEL_ONNX).map_or(&[][..], Vec::as_slice);
    let text = files.get(MODEL_TEXT).map_or(&[][..], Vec::as_slice);
    let Some(meta) = churnguard_model::onnx::metadata(onnx) else {
        return Err(format!("{MODEL_ONNX} is not an ONNX model"));
    };
    let value = |key: &str| meta.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let checks = [
        ("lightgbm_sha256", sha256_hex(text), MODEL_TEXT),
        (
            "feature_spec_sha256",
            manifest.feature_spec_sha256.clone(),
            "the FeatureSpec",
        ),
        ("pipeline", manifest.pipeline.clone(), "the manifest's pipeline"),
    ];
    for (key, want, of) in checks {
        match value(key) {
            Some(v) if v == want => {}
            Some(v) => return Err(format!("{MODEL_ONNX} records {key} {v}, but {of} gives {want}")),
            None => return Err(format!("{MODEL_ONNX} records no {key}")),
        }
    }
    Ok(())
}

/// Parses a manifest, reading its format first so a newer one gets its own message instead of
/// a missing-field error.
fn parse(path: &Path, text: &[u8]) -> Result<Manifest, PackageError> {
    #[derive(serde::Deserialize)]
    struct Head {
        format: u32,
    }
    let malformed = |source| PackageError::Malformed {
        path: path.to_path_buf(),
        source,
    };
    let head: Head = serde_json::from_slice(text).map_err(malformed)?;
    if head.format > FORMAT {
        return Err(PackageError::NewerFormat {
            path: path.to_path_buf(),
            found: head.format,
        });
    }
    serde_json::from_slice(text).map_err(malformed)
}
