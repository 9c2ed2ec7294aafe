//! The model package on disk: `models/<pipeline>/v<N>/` written into a hidden temporary folder
//! and renamed into place, then `models/<pipeline>/latest` (a symbolic link) replaced by rename.
//! A failure at any point leaves earlier versions and `latest` as they were.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writing a package failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// A file or folder could not be written.
    #[error("cannot write the model package at {}: {source}", path.display())]
    Io {
        /// The path at fault.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The manifest could not be built.
    #[error("cannot build the package manifest: {0}")]
    Manifest(String),
}

/// One file of a package.
#[derive(Clone, Debug)]
pub struct PackageFile {
    /// File name inside the version folder.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Name of the manifest file.
pub const MANIFEST: &str = "manifest.json";
/// Name of the pointer to the newest version.
pub const LATEST: &str = "latest";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + '_ {
    move |source| PackageError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The version numbers present in a pipeline's folder.
pub fn versions(pipeline_dir: &Path) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_dir(pipeline_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix('v')?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

/// A written package.
#[derive(Clone, Debug)]
pub struct Written {
    /// The version folder, such as `models/cdnow/v3`.
    pub dir: PathBuf,
    /// The version, such as `v3`.
    pub version: String,
}

/// Builds the manifest of a version from its name and the `(file, sha256)` of the other files.
pub type ManifestBuilder<'a> = dyn Fn(&str, &[(String, String)]) -> Result<Vec<u8>, PackageError> + 'a;

/// Writes `files` and a manifest built by `manifest(version, [(file, sha256)])` as the next version
/// of `pipeline` under `models_dir`, then points `latest` at it.
pub fn write(
    models_dir: &Path,
    pipeline: &str,
    files: &[PackageFile],
    manifest: &ManifestBuilder<'_>,
) -> Result<Written, PackageError> {
    let dir = models_dir.join(pipeline);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let tmp = dir.join(format!(".incomplete-{}", std::process::id()));
    let guard = TempDir(tmp.clone());
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(io(&tmp))?;
    let mut hashes = Vec::with_capacity(files.len());
    for f in files {
        let path = tmp.join(&f.name);
        write_synced(&path, &f.bytes)?;
        hashes.push((f.name.clone(), churnguard_model::sha256_hex(&f.bytes)));
    }
    // Another run may take a version number between our look and our rename: rename refuses an
    // existing non-empty folder, so try the next number.
    for _ in 0..1000 {
        let n = versions(&dir).last().copied().unwrap_or(0) + 1;
        let version = format!("v{n}");
        let path = tmp.join(MANIFEST);
        write_synced(&path, &manifest(&version, &hashes)?)?;
        let target = dir.join(&version);
        match std::fs::rename(&tmp, &target) {
            Ok(()) => {
                std::mem::forget(guard);
                point_latest(&dir, &version)?;
                return Ok(Written { dir: target, version });
            }
            Err(_) if target.exists() => continue,
            Err(e) => return Err(io(&target)(e)),
        }
    }
    Err(PackageError::Manifest("no free version number after 1000 tries".into()))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    let mut f = std::fs::File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

/// Replaces `latest` by a link to `version`, atomically (a new link renamed over the old).
fn point_latest(dir: &Path, version: &str) -> Result<(), PackageError> {
    let link = dir.join(LATEST);
    let tmp = dir.join(format!(".latest-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(version, &tmp).map_err(io(&tmp))?;
    #[cfg(not(unix))]
    std::fs::write(&tmp, version).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &link).map_err(io(&link))
}

/// Removes an unfinished package folder unless it was renamed into place.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
