//! Finding and loading the ONNX Runtime shared library once per process.
//!
//! `ort` is built with `load-dynamic`: nothing is linked at build time, and the library is found
//! at run time from, in order, an explicit path (a `--ort-lib` flag), the `ORT_DYLIB_PATH`
//! environment variable, and the project's own install location (`.tools/lib`, written by
//! `scripts/setup.sh`) next to or above the running executable.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Oldest ONNX Runtime release this build can drive (`ort`'s `api-31`).
pub const MIN_ORT_VERSION: &str = "1.31";

const LIB_NAME: &str = "libonnxruntime.so";

/// The ONNX Runtime library could not be found or used.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No library file at any of the places looked at.
    #[error(
        "ONNX Runtime library not found (looked at: {}). Install it with `scripts/setup.sh` (or `make setup`), or point `--ort-lib` / ORT_DYLIB_PATH at libonnxruntime.so {MIN_ORT_VERSION} or newer (it ships in the PyPI wheel `onnxruntime`, under onnxruntime/capi/)",
        looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// Every path tried.
        looked: Vec<PathBuf>,
    },
    /// The file exists but could not be loaded, or is too old.
    #[error(
        "cannot use ONNX Runtime from {} (churnguard needs ONNX Runtime {MIN_ORT_VERSION} or newer; `scripts/setup.sh` installs a suitable one)",
        path.display()
    )]
    Load {
        /// The library file.
        path: PathBuf,
        /// The loader's reason (the dynamic loader's or ONNX Runtime's own error).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The process already loaded a different library; one process holds one runtime.
    #[error(
        "ONNX Runtime is already loaded from {} in this process; cannot switch to {}",
        loaded.display(),
        requested.display()
    )]
    AlreadyLoaded {
        /// The library in use.
        loaded: PathBuf,
        /// The one asked for.
        requested: PathBuf,
    },
}

/// The loaded ONNX Runtime, shared by every session of the process.
#[derive(Debug)]
pub struct OnnxRuntime {
    /// The library file in use.
    pub path: PathBuf,
    /// Its release, such as `1.32.0`.
    pub version: String,
    /// ONNX Runtime's own build description.
    pub build_info: String,
    // ort keeps only a weak reference to the environment: holding it here keeps it alive for
    // every later session of the process.
    environment: ort::environment::Environment,
}

static RUNTIME: OnceLock<OnnxRuntime> = OnceLock::new();

/// The library path to use: `explicit`, else `ORT_DYLIB_PATH`, else the project's install.
pub fn find_library(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    let mut looked = Vec::new();
    let candidates = explicit
        .map(Path::to_path_buf)
        .into_iter()
        .chain(
            std::env::var_os("ORT_DYLIB_PATH")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        )
        .chain(project_candidates());
    for c in candidates {
        if c.is_file() {
            return Ok(c);
        }
        looked.push(c);
        if explicit.is_some() {
            // An explicit path that is wrong must not be papered over by another library.
            break;
        }
    }
    Err(RuntimeError::NotFound { looked })
}

fn project_candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            out.push(dir.join("lib").join(LIB_NAME));
        }
        // target/<profile>/churnguard → <project>/.tools/lib
        for dir in exe.ancestors().skip(1).take(4) {
            out.push(dir.join(".tools").join("lib").join(LIB_NAME));
        }
    }
    out
}

impl OnnxRuntime {
    /// The process-wide ONNX Runtime environment that sessions are created in.
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.environment
    }

    /// Loads the library (once per process) and returns the runtime in use.
    pub fn load(explicit: Option<&Path>) -> Result<&'static OnnxRuntime, RuntimeError> {
        if let Some(rt) = RUNTIME.get() {
            if let Some(p) = explicit
                && !same_file(p, &rt.path)
            {
                return Err(RuntimeError::AlreadyLoaded {
                    loaded: rt.path.clone(),
                    requested: p.to_path_buf(),
                });
            }
            return Ok(rt);
        }
        let path = find_library(explicit)?;
        let path = path.canonicalize().unwrap_or(path);
        let load_error = |source: Box<dyn std::error::Error + Send + Sync>| RuntimeError::Load {
            path: path.clone(),
            source,
        };
        let environment = ort::init_from(&path)
            .map_err(|e| load_error(Box::new(e)))?
            .with_name("churnguard")
            .build()
            .map_err(|e| load_error(Box::new(e)))?;
        let build_info = ort::info().to_string();
        let version = version_of(&build_info, &path);
        Ok(RUNTIME.get_or_init(|| OnnxRuntime {
            path,
            version,
            build_info,
            environment,
        }))
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    a.canonicalize().is_ok_and(|a| a == b)
}

/// The release from the build description (`git-branch=rel-1.32.0`), else from the file name
/// (`libonnxruntime.so.1.32.0`).
fn version_of(build_info: &str, path: &Path) -> String {
    let from_info = build_info
        .split([',', ' '])
        .find_map(|part| part.trim().strip_prefix("git-branch=rel-"))
        .map(str::to_string);
    let from_name = || {
        path.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("libonnxruntime.so."))
            .map(str::to_string)
    };
    from_info.or_else(from_name).unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_installed_runtime_and_reports_its_version() {
        let rt = OnnxRuntime::load(None).unwrap();
        assert!(rt.path.is_file());
        let mut parts = rt.version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        assert!(
            major == 1 && minor >= 31,
            "version {} from {}",
            rt.version,
            rt.build_info
        );
        // A second load gives the same runtime; a different explicit file is refused.
        assert_eq!(OnnxRuntime::load(None).unwrap().path, rt.path);
        let other = std::env::temp_dir().join("churnguard-not-this-one.so");
        std::fs::write(&other, b"x").unwrap();
        assert!(matches!(
            OnnxRuntime::load(Some(&other)),
            Err(RuntimeError::AlreadyLoaded { .. })
        ));
    }

    #[test]
    fn a_wrong_explicit_path_is_not_replaced_by_another_library() {
        let e = find_library(Some(Path::new("/nonexistent/libonnxruntime.so"))).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/libonnxruntime.so"), "{msg}");
        assert!(msg.contains("scripts/setup.sh"), "{msg}");
        if let RuntimeError::NotFound { looked } = e {
            assert_eq!(looked.len(), 1);
        }
    }

    #[test]
    fn version_from_build_info_or_file_name() {
        let p = Path::new("/x/libonnxruntime.so.1.32.0");
        assert_eq!(
            version_of("ORT Build Info: git-branch=rel-1.31.1, git-commit-id=abc", p),
            "1.31.1"
        );
        assert_eq!(version_of("ORT Build Info: git-branch=main", p), "1.32.0");
    }
}
