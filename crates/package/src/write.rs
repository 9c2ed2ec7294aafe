//! The staged writer: a version is written into a hidden folder and renamed into place, then
//! `latest` is replaced by rename. A failure at any point leaves earlier versions and `latest`
//! as they were.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use churnguard_model::sha256_hex;

use crate::{LATEST, MANIFEST, Manifest, PackageError, REPORT, io_error};

/// Attempts at taking the next version number while other writers take them too.
const VERSION_TRIES: usize = 1000;

/// A written package.
#[derive(Clone, Debug)]
pub struct Written {
    /// The version folder, such as `models/cdnow/v3`.
    pub dir: PathBuf,
    /// The version, such as `v3`.
    pub version: String,
}

/// The version numbers present in a pipeline's folder, increasing.
pub fn versions(pipeline_dir: &Path) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_dir(pipeline_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| crate::version_number(e.file_name().to_str()?))
        .collect();
    out.sort_unstable();
    out
}

/// Whether a new version becomes `latest` when it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latest {
    /// `latest` points at the new version (unless a newer one exists by then).
    Move,
    /// `latest` stays where it is: the version is a challenger until [`promote`] moves it.
    Keep,
}

/// Writes `files` (name, bytes), the manifest that `manifest(version, sha256 by file)` builds
/// (signed with `signing` when given) and the [`REPORT`] that `report` draws from it, as the next
/// version of `pipeline` under `models_dir`, then points `latest` at it as `latest` says.
pub fn write(
    models_dir: &Path,
    pipeline: &str,
    files: &[(&str, &[u8])],
    manifest: &dyn Fn(&str, &BTreeMap<String, String>) -> Manifest,
    report: &dyn Fn(&Manifest) -> String,
    latest: Latest,
    signing: Option<&crate::SigningKey>,
) -> Result<Written, PackageError> {
    let dir = models_dir.join(pipeline);
    std::fs::create_dir_all(&dir).map_err(io_error("cannot write", &dir))?;
    remove_stale(&dir);
    let staging = Staging::create(&dir)?;
    let mut hashes = BTreeMap::new();
    for (name, bytes) in files {
        write_synced(&staging.0.join(name), bytes)?;
        hashes.insert(name.to_string(), sha256_hex(bytes));
    }
    // Another run may take a version number between our look and our rename: rename refuses an
    // existing non-empty folder, so try the next number.
    for _ in 0..VERSION_TRIES {
        let Some(n) = versions(&dir).last().copied().unwrap_or(0).checked_add(1) else {
            return Err(PackageError::VersionsExhausted { dir });
        };
        let version = crate::version_name(n);
        let manifest = manifest(&version, &hashes);
        let json = serde_json::to_vec_pretty(&manifest).map_err(PackageError::Serialize)?;
        write_synced(&staging.0.join(MANIFEST), &json)?;
        if let Some(key) = signing {
            write_synced(&staging.0.join(crate::SIGNATURE), key.sign(&json).as_bytes())?;
        }
        write_synced(&staging.0.join(REPORT), report(&manifest).as_bytes())?;
        let target = dir.join(&version);
        match std::fs::rename(&staging.0, &target) {
            Ok(()) => {
                staging.renamed();
                if latest == Latest::Move {
                    point_latest(&dir, n)?;
                }
                return Ok(Written { dir: target, version });
            }
            Err(_) if target.exists() => continue,
            Err(e) => return Err(io_error("cannot write", &target)(e)),
        }
    }
    Err(PackageError::NoFreeVersion {
        dir,
        tries: VERSION_TRIES,
    })
}

/// Replaces the [`REPORT`] of the package in `dir` (a new file renamed over the old, so a
/// reader sees the old report or the new one, never a part).
pub fn replace_report(dir: &Path, html: &str) -> Result<PathBuf, PackageError> {
    let target = dir.join(REPORT);
    let tmp = dir.join(format!(".{REPORT}-{}-{}", std::process::id(), unique()));
    write_synced(&tmp, html.as_bytes())?;
    std::fs::rename(&tmp, &target).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error("cannot write", &target)(e)
    })?;
    Ok(target)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), PackageError> {
    let mut f = std::fs::File::create(path).map_err(io_error("cannot write", path))?;
    f.write_all(bytes).map_err(io_error("cannot write", path))?;
    f.sync_all().map_err(io_error("cannot write", path))
}

/// The version number `latest` in a pipeline's folder points at, when it points at one.
pub fn latest_version(pipeline_dir: &Path) -> Option<u32> {
    let target = std::fs::read_link(pipeline_dir.join(LATEST)).ok()?;
    crate::version_number(target.to_str()?)
}

/// Points `latest` at version `n` of the pipeline folder `dir` (a challenger that won), unless
/// `latest` already points at a newer version: promotion never moves `latest` backwards.
/// Returns whether `latest` now points at `n`.
pub fn promote(dir: &Path, n: u32) -> Result<bool, PackageError> {
    if latest_version(dir).is_some_and(|current| current > n) {
        return Ok(false);
    }
    link_latest(dir, n)?;
    Ok(true)
}

/// Replaces `latest` by a link to version `n`, atomically (a new link renamed over the old),
/// unless a newer version exists: a run paused between its rename and this call must not move
/// `latest` backwards.
fn point_latest(dir: &Path, n: u32) -> Result<(), PackageError> {
    let newest = versions(dir).last().copied().unwrap_or(n);
    if newest > n || latest_version(dir).is_some_and(|current| current > n) {
        return Ok(());
    }
    link_latest(dir, n)
}

/// `latest` replaced by a link to `v<n>`: a new link renamed over the old.
fn link_latest(dir: &Path, n: u32) -> Result<(), PackageError> {
    let link = dir.join(LATEST);
    let tmp = dir.join(format!(".latest-{}-{}", std::process::id(), unique()));
    let _ = std::fs::remove_file(&tmp);
    #[cfg(unix)]
    std::os::unix::fs::symlink(crate::version_name(n), &tmp).map_err(io_error("cannot write", &tmp))?;
    #[cfg(not(unix))]
    std::fs::write(&tmp, crate::version_name(n)).map_err(io_error("cannot write", &tmp))?;
    std::fs::rename(&tmp, &link).map_err(io_error("cannot write", &link))
}

/// Removes the staging folders and link files that runs which no longer exist left behind (a
/// run killed mid-write). Another live run's files are left alone.
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix(".incomplete-")
            .or_else(|| name.strip_prefix(".latest-"))
        else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| pid != std::process::id() && !process_alive(pid)) {
            let path = entry.path();
            let _ = if path.is_dir() && !path.is_symlink() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// Whether a process of this id runs (on a system without `/proc`, assumed so: nothing is
/// removed that might be in use).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// A number no other call in this process gets, so two writers in one process never share a
/// staging name.
fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// An unfinished version folder, removed unless it was renamed into place.
struct Staging(PathBuf);

impl Staging {
    fn create(dir: &Path) -> Result<Staging, PackageError> {
        let path = dir.join(format!(".incomplete-{}-{}", std::process::id(), unique()));
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(io_error("cannot write", &path))?;
        }
        std::fs::create_dir(&path).map_err(io_error("cannot write", &path))?;
        Ok(Staging(path))
    }

    /// The folder was renamed into place: nothing is left to remove. (Forgetting the value
    /// instead leaked its path, found by the `request` fuzz target's leak sanitizer.)
    fn renamed(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_left_by_dead_runs_is_removed_and_a_live_runs_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        // No process has id 4294967; this test's own process is alive.
        let dead = dir.path().join(".incomplete-4294967-0");
        let dead_link = dir.path().join(".latest-4294967-3");
        let live = dir.path().join(format!(".incomplete-{}-99", std::process::id()));
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join("model.txt"), b"half").unwrap();
        std::fs::write(&dead_link, b"v1").unwrap();
        std::fs::create_dir(&live).unwrap();
        remove_stale(dir.path());
        assert!(!dead.exists() && !dead_link.exists());
        assert!(live.exists(), "this process's own staging is not stale");
    }

    #[test]
    fn the_largest_version_number_is_an_error_not_an_overflow() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("p").join(format!("v{}", u32::MAX))).unwrap();
        let err = write(
            dir.path(),
            "p",
            &[],
            &|_, _| unreachable!("no version to write"),
            &|_| String::new(),
            Latest::Move,
            None,
        )
        .unwrap_err();
        assert!(matches!(err, PackageError::VersionsExhausted { .. }), "{err}");
    }

    #[test]
    fn a_kept_version_waits_for_promotion_which_never_moves_latest_back() {
        let dir = tempfile::tempdir().unwrap();
        for n in [1, 2, 3] {
            std::fs::create_dir_all(dir.path().join(format!("v{n}"))).unwrap();
        }
        point_latest(dir.path(), 3).unwrap();
        assert!(!promote(dir.path(), 2).unwrap(), "v3 serves: v2 is older");
        assert_eq!(latest_version(dir.path()), Some(3));
        std::fs::create_dir_all(dir.path().join("v4")).unwrap();
        std::fs::create_dir_all(dir.path().join("v5")).unwrap();
        // v5 exists, yet v4 won its comparison: promotion does not wait for the newest.
        assert!(promote(dir.path(), 4).unwrap());
        assert_eq!(latest_version(dir.path()), Some(4));
    }

    #[test]
    fn latest_never_moves_back_to_an_older_version() {
        let dir = tempfile::tempdir().unwrap();
        for v in ["v1", "v2", "v3"] {
            std::fs::create_dir(dir.path().join(v)).unwrap();
        }
        point_latest(dir.path(), 3).unwrap();
        // A run that paused after renaming v2 into place moves `latest` only after v3 took it.
        point_latest(dir.path(), 2).unwrap();
        let link = std::fs::read_link(dir.path().join(LATEST)).unwrap();
        assert_eq!(link, Path::new("v3"));
        // The newest version takes it when its own run gets there.
        std::fs::create_dir(dir.path().join("v4")).unwrap();
        point_latest(dir.path(), 4).unwrap();
        assert_eq!(std::fs::read_link(dir.path().join(LATEST)).unwrap(), Path::new("v4"));
    }
}
