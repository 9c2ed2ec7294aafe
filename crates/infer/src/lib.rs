//! Scoring with ONNX Runtime: loading the runtime library, opening verified model packages, and
//! batch scoring into a ranked risk list with tiers, reasons, value at risk and actions.
//!
//! This crate never links LightGBM: a production job needs only the exported model package and
//! the ONNX Runtime shared library.

mod kept;
mod merge;
mod output;
mod package;
mod runtime;
mod score;
mod session;

pub use churnguard_config::UNKNOWN_RISK;
pub use kept::{
    KeptHeader, KeptList, KeptStamp, keep_list, kept_lists, kept_path, lists_dir, newest_kept_list, row_ids_source,
};
pub use merge::{MergeError, MergeRequest, Merged, merge_lists, write_partition_list};
pub use output::{ListFormat, OutputError, WITHIN_CAPACITY, list_batches, win_back_path, write_list, write_win_back};
pub use package::{Judgement, ModelPackage, OpenError};
pub use runtime::{MIN_ORT_VERSION, OnnxRuntime, RuntimeError, find_library};
pub use score::{
    CapacityMarker, Counted, ListSummary, ListTotals, REASONS, Reason, Risk, RiskList, ScoreError, StageTimes,
    TierTotal, TopRow, WinBack, reasons, score, sentence, snapshot_probabilities,
};
pub use session::{DEFAULT_MAX_SESSIONS, OnnxModel, Scores, SessionError, sessions_for};
