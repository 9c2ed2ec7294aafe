//! The application layer: the jobs churnguard runs, as library functions that take a validated
//! pipeline and report progress through [`Progress`]. The CLI adds arguments, progress bars and
//! printing; a service or a scheduler calls the same functions.
//!
//! - [`validate`], [`load`], [`partition`], [`synth`]: a pipeline's tables checked, read or
//!   split by customer; a synthetic data set;
//! - [`feature_table`]: a pipeline's point-in-time features at cutoffs, as Parquet;
//! - [`train_package`]: load, train, evaluate, export with the parity check, write the package;
//! - [`risk_list`] (with [`open_scorer`]): the early-warning list from a verified package, whole
//!   or partitioned tables, written with its win-back list and kept copy; [`list_table`]: the
//!   same list in memory, as Arrow batches;
//! - [`export_checked`]: any LightGBM model text to exact ONNX, checked through ONNX Runtime;
//! - [`fit_classifier`], [`classifier_probabilities`]: a classifier on a caller's own features;
//! - [`compare`]: packages scored on the same labelled customers, with DeLong's test;
//! - [`redraw_report`]: a package's `report.html` drawn again from its manifest;
//! - [`monitor`]: input drift against a package's references, figures on matured kept lists;
//! - [`retrain`]: a challenger trained, compared with `latest`, promoted only when not worse.

mod classifier;
mod clock;
mod compare;
mod data;
mod distributed;
mod error;
mod export;
mod features;
mod monitor;
mod partitioned;
mod report;
mod retrain;
mod score;
mod train;

pub use churnguard_infer::{lists_dir, win_back_path};
pub use classifier::{
    ClassifierParams, classifier_export_options, classifier_probabilities, fit_classifier, fit_classifier_calibration,
};
pub use compare::{CompareRequest, compare};
pub use data::{
    load, load_rows, onnx_runtime, open_package, partition, reader_panic, rows_inputs, synth, validate, write_whole,
};
pub use distributed::{DistributedOutcome, DistributedRequest, share_of, train_distributed};
pub use error::{AppError, ErrorKind};
pub use export::{ExportCheck, Exported, PROBE_ROWS, export_checked};
pub use features::{FeatureTable, FeaturesOut, FeaturesRequest, feature_table};
pub use monitor::{MonitorRequest, monitor};
pub use partitioned::{
    MergedList, PartitionListBytes, each_partition, merge_partition_bytes, merge_partition_lists, partition_keys,
    partition_list_bytes, partitioned_as_of, partitioned_spec, score_into_partition_list, score_partition,
    score_partitioned,
};
pub use report::redraw_report;
pub use retrain::{RetrainRequest, Retrained, retrain};
pub use score::{
    Kept, ListRequest, ListTable, ListTimes, Scorer, WrittenList, check_actions, default_as_of, list_path, list_table,
    open_scorer, prepare_output, risk_list, score_list, write_lists,
};
pub use train::{PARITY_TEST_ROWS, StageTimes, TrainRequest, Trained, models_dir, parity, train_package, train_with};

// The types the jobs take and return, named here from the crates that compute them, so a face
// (the CLI, the Python package) depends on the application layer and the config alone.
pub use churnguard_cluster::OnLost;
pub use churnguard_eval::{
    CalibrationFigures, CalibrationMethod, Comparison, Drift, Evaluation, FailIfWorse, Interval, Monitoring, Platt,
};
pub use churnguard_features::{History, SnapshotReport};
pub use churnguard_infer::{ListFormat, ListSummary, ModelPackage, TierTotal, UNKNOWN_RISK};
pub use churnguard_ingest::{MAX_PARTS, Progress as ReadProgress, TableReport, ValidationReport};
pub use churnguard_model::{ExportOptions, InputType, Objective};
pub use churnguard_package::{Latest, Manifest, REPORT};
pub use churnguard_synth::SynthConfig;
pub use churnguard_train::Training;

/// A stage of a job, in the order a run passes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Reading the tables.
    Load,
    /// Building the snapshots' features.
    Features,
    /// Hyper-parameter search.
    Tuning,
    /// Boosting the final model.
    Training,
    /// Validation and test figures.
    Evaluation,
    /// ONNX export and its parity check.
    Export,
    /// Writing the package.
    Package,
    /// Scoring customers.
    Scoring,
}

/// Progress of a job, reported as it happens.
#[derive(Clone, Debug)]
pub enum Progress {
    /// A stage began.
    Stage(Stage),
    /// Rows read so far from a table.
    Read(churnguard_ingest::Progress),
    /// A snapshot was built (`done` of `total`).
    Snapshot {
        /// Its cutoff.
        cutoff: String,
        /// Snapshots built so far.
        done: usize,
        /// Snapshots to build.
        total: usize,
    },
    /// A tuning trial finished.
    Trial {
        /// Its number.
        number: usize,
        /// Trials in all.
        of: usize,
    },
    /// A boosting round finished.
    Round {
        /// Rounds done.
        round: usize,
        /// Most rounds.
        of: usize,
    },
    /// Packages of a comparison scored so far.
    Compared {
        /// Packages done.
        done: usize,
        /// Packages in all.
        total: usize,
    },
    /// Partitions scored so far (the key of the one starting, empty at the end).
    Partition {
        /// The partition being scored.
        key: String,
        /// Partitions done.
        done: usize,
        /// Partitions in all.
        total: usize,
    },
    /// Customers scored so far.
    Scored {
        /// Customers done.
        done: usize,
        /// Customers in all.
        total: usize,
    },
    /// Something the user should know that does not stop the job.
    Note(String),
}
