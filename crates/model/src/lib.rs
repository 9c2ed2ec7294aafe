//! The tree ensemble as typed data: parsed from LightGBM's model text, exported exactly to ONNX,
//! evaluated by a pure-Rust predictor used to cross-check, and explained by TreeSHAP
//! contributions (the reasons given for each at-risk customer).

mod ensemble;
mod explain;
mod export;
pub mod onnx;
mod predict;

pub use ensemble::{Child, Condition, Ensemble, MAX_CLASSES, MAX_DEPTH, Missing, Objective, Split, Tree};
pub use explain::{REASONS, main_reasons};
pub use export::{ExportOptions, InputType, LogOddsMap, export, names};
pub use predict::{ZERO_THRESHOLD, goes_left, max_abs_difference, threshold_neighbours, transform};

/// Reading or exporting a model failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model text is malformed; names the tree (if any) and the field.
    #[error("invalid LightGBM model text: {}field `{field}`: {message}", tree.map(|t| format!("tree {t}, ")).unwrap_or_default())]
    Parse {
        /// The tree, or `None` for the header.
        tree: Option<usize>,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The model uses something churnguard cannot reproduce exactly.
    #[error("unsupported LightGBM model: {0}")]
    Unsupported(String),
}

/// Bytes (such as a digest) as lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lower-case hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(bytes))
}
