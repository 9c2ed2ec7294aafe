//! The one error type of pipeline configs: every message names the file and, where there is one,
//! the key at fault.

use std::path::PathBuf;

/// What went wrong with a pipeline config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read at all.
    #[error("cannot read pipeline config {}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The path is not a regular file, or is larger than any pipeline config.
    #[error("{} is not a pipeline config: {why}", path.display())]
    NotAConfig {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        why: String,
    },
    /// The file is not valid TOML.
    #[error("{}{}: not valid TOML: {message}", path.display(), line_suffix(*line))]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the fault, when known.
        line: Option<usize>,
        /// The parser's description.
        message: String,
    },
    /// A key is unknown, missing, of the wrong type or has an impossible value.
    #[error("{}{}: `{key}`: {message}", path.display(), line_suffix(*line))]
    Key {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the fault, when known.
        line: Option<usize>,
        /// Dotted path of the key, such as `label.horizon_days`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

fn line_suffix(line: Option<usize>) -> String {
    line.map(|l| format!(", line {l}")).unwrap_or_default()
}

impl ConfigError {
    /// The key at fault, if the error is about one key.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Key { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// An error with its causes, as one line (`message: cause: cause`): for reports that hold text.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
