//! One error for the jobs, each library's cause kept typed, and the one rule that tells a usage
//! error (exit 2) from a failure (exit 1).

use std::path::PathBuf;

use churnguard_config::Date;

/// A job failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The pipeline defines no label, so nothing can be trained.
    #[error("{} defines no churn label: add a [label] section to train a model", file.display())]
    NoLabel {
        /// The config file.
        file: PathBuf,
    },
    /// The models folder cannot be created or written.
    #[error("the models folder {} is not writable", path.display())]
    ModelsDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A setting of the pipeline file was refused while training (a LightGBM parameter).
    #[error("{}", file.display())]
    Setting {
        /// The config file.
        file: PathBuf,
        /// The refusal, naming the key.
        #[source]
        source: Box<churnguard_train::TrainError>,
    },
    /// A feature table was asked without a cutoff.
    #[error(
        "no cutoff: give --cutoff YYYY-MM-DD, or set [snapshots] train_cutoffs or test_cutoff in {}",
        file.display()
    )]
    NoCutoff {
        /// The config file.
        file: PathBuf,
    },
    /// A feature cutoff is before the data.
    #[error(transparent)]
    CutoffBeforeData(churnguard_features::FeatureError),
    /// The scoring date is before the data.
    #[error("--as-of {as_of}")]
    AsOf {
        /// The date asked for.
        as_of: Date,
        /// The refusal.
        #[source]
        source: churnguard_features::FeatureError,
    },
    /// The data gives no day to score at.
    #[error(
        "no scoring date: the tables hold no dated row; set `data.as_of` in {} or pass --as-of",
        file.display()
    )]
    NoDate {
        /// The config file.
        file: PathBuf,
    },
    /// An action rule's `reason` names no feature of the model.
    #[error(
        "{}: `scoring.actions[{}]` (rule {rule}) has reason \"{reason}\", which matches no feature of the model: name a feature or its column (features: {})",
        file.display(), rule - 1, features.join(", ")
    )]
    ActionRule {
        /// The config file.
        file: PathBuf,
        /// The rule's number, from 1.
        rule: usize,
        /// Its reason.
        reason: String,
        /// The model's features.
        features: Vec<String>,
    },
    /// A file could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The synthetic data set was refused or could not be written.
    #[error(transparent)]
    Synth(#[from] churnguard_synth::SynthError),
    /// The list's folder cannot be created.
    #[error("cannot create the output folder {}", path.display())]
    OutputFolder {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The list would be written inside a model package.
    #[error("{} is inside the model package {}: write the list elsewhere (the package's files are verified by hash)", out.display(), package.display())]
    OutputInPackage {
        /// The list's path.
        out: PathBuf,
        /// The package folder.
        package: PathBuf,
    },
    /// The exported model differs from LightGBM beyond the limit.
    #[error(
        "the exported model differs from LightGBM by {difference:e} (limit {limit:e}); nothing was written; please report this model"
    )]
    Parity {
        /// The largest difference found.
        difference: f64,
        /// The limit.
        limit: f64,
    },
    /// `retrain` needs an out-of-time test to compare models on customers neither trained on.
    #[error(
        "{} has no `snapshots.test_cutoff`: retrain compares models on an out-of-time snapshot that neither trained on; add one",
        file.display()
    )]
    NoOutOfTimeTest {
        /// The config file.
        file: PathBuf,
    },
    /// A calibration was asked of a model that is not a binary classifier.
    #[error("a calibration needs a binary classifier; this model's objective is {objective}")]
    NotBinary {
        /// The model's objective.
        objective: String,
    },
    /// `compare` was given fewer than two packages.
    #[error("compare needs at least two packages, got {given}")]
    NeedTwoPackages {
        /// Packages given.
        given: usize,
    },
    /// The snapshot a comparison needs has no known outcomes yet.
    #[error("the outcomes at cutoff {cutoff} are not known yet ({reason}): pass an earlier --cutoff")]
    Unlabelled {
        /// The cutoff.
        cutoff: Date,
        /// Why its labels are missing.
        reason: String,
    },
    /// A package's snapshot holds other customers than the baseline's (a bug: the population
    /// follows the pipeline, not the package).
    #[error("internal error: {} scored other customers than the baseline", package.display())]
    PopulationDiffers {
        /// The package.
        package: PathBuf,
    },
    /// A package trained on every customer of the compare cutoff: no figure of it there would
    /// be measured on customers it did not learn from.
    #[error(
        "{} trained on every customer at {cutoff} (its test is out of time, at {test}): compare at a cutoff after its training cutoffs, such as {test}",
        package.display()
    )]
    TrainedOnEveryone {
        /// The package.
        package: PathBuf,
        /// The compare cutoff.
        cutoff: Date,
        /// The package's own test cutoff.
        test: Date,
    },
    /// The packages' held-out customers do not overlap: they share no customer that none of
    /// them trained on.
    #[error(
        "no customer at {cutoff} was held out by every package ({}): compare packages trained with the same split, or at a later cutoff",
        splits.join("; ")
    )]
    NoSharedHeldOut {
        /// The compare cutoff.
        cutoff: Date,
        /// Each package's split, in words.
        splits: Vec<String>,
    },
    /// A `scoring.not_actionable` name matches no feature of the model.
    #[error(
        "{}: scoring.not_actionable names `{name}`, which matches no feature of the model (features: {})",
        file.display(),
        features.join(", ")
    )]
    NotActionable {
        /// The config file.
        file: PathBuf,
        /// The name.
        name: String,
        /// The model's features.
        features: Vec<String>,
    },
    /// A kept list's ids are row numbers of another table than the one outcomes come from.
    #[error(
        "{}: its customer ids are row numbers of {scored_on}, and the outcomes come from {outcomes_from}; row numbers of two files are not the same customers. Give the customers table an id column (data.customers.customer_id) and score again",
        list.display()
    )]
    RowIdsElsewhere {
        /// The kept list.
        list: PathBuf,
        /// The table whose rows its ids number.
        scored_on: String,
        /// The table the outcomes come from now.
        outcomes_from: String,
    },
    /// Figures could not be computed (one class only among the customers, say).
    #[error(transparent)]
    Eval(#[from] churnguard_eval::EvalError),
    /// Features could not be built.
    #[error(transparent)]
    Features(#[from] churnguard_features::FeatureError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] churnguard_train::TrainError),
    /// The model could not be parsed or exported.
    #[error(transparent)]
    Model(#[from] churnguard_model::ModelError),
    /// A package could not be written or opened.
    #[error(transparent)]
    Package(#[from] churnguard_package::PackageError),
    /// A package could not be made ready to score.
    #[error(transparent)]
    Open(#[from] churnguard_infer::OpenError),
    /// ONNX Runtime could not be loaded.
    #[error(transparent)]
    Runtime(#[from] churnguard_infer::RuntimeError),
    /// ONNX Runtime failed on a model.
    #[error(transparent)]
    Session(#[from] churnguard_infer::SessionError),
    /// Scoring failed.
    #[error(transparent)]
    Score(#[from] churnguard_infer::ScoreError),
    /// The list could not be written.
    #[error(transparent)]
    Output(#[from] churnguard_infer::OutputError),
    /// Partitions could not be found, read or written.
    #[error(transparent)]
    Ingest(#[from] churnguard_ingest::IngestError),
    /// Partition lists could not be merged.
    #[error(transparent)]
    Merge(#[from] churnguard_infer::MergeError),
    /// `--rank` was given for a pipeline without `[distributed]`.
    #[error("{} has no [distributed] section: list the workers' host:port in distributed.machines to train on several machines", file.display())]
    NotDistributed {
        /// The config file.
        file: PathBuf,
    },
    /// A rank outside the machine list.
    #[error("rank {rank} is not in a job of {size} workers (ranks 0 to {})", size.saturating_sub(1))]
    BadRank {
        /// The rank asked for.
        rank: usize,
        /// Workers listed.
        size: usize,
    },
    /// A worker's data does not fit the others'.
    #[error("rank {rank} differs from rank 0 in {what}")]
    WorkersDisagree {
        /// The worker.
        rank: usize,
        /// What differs.
        what: String,
    },
    /// The workers could not reach or hear each other.
    #[error(transparent)]
    Cluster(#[from] churnguard_cluster::ClusterError),
    /// Partitioned tables need a scoring date known before any partition is read.
    #[error(
        "the tables of {} are partitioned: pass --as-of or set `data.as_of` (the end of the data is known only after every partition is read, and each partition must be scored at the same date)",
        file.display()
    )]
    PartitionedNoDate {
        /// The config file.
        file: PathBuf,
    },
    /// A partition was asked for, but the tables are not partitioned, or have no such partition.
    #[error("{}: {why}", file.display())]
    NoSuchPartition {
        /// The config file.
        file: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl AppError {
    /// Whether the error is in what the user asked for (config, arguments, a package of another
    /// pipeline), which the CLI reports with exit code 2, rather than a failure while doing it.
    pub fn is_usage(&self) -> bool {
        match self {
            AppError::NoLabel { .. }
            | AppError::Setting { .. }
            | AppError::AsOf { .. }
            | AppError::NoCutoff { .. }
            | AppError::CutoffBeforeData(_)
            | AppError::NoDate { .. }
            | AppError::ActionRule { .. }
            | AppError::OutputInPackage { .. }
            | AppError::NeedTwoPackages { .. }
            | AppError::NotBinary { .. }
            | AppError::TrainedOnEveryone { .. }
            | AppError::NoSharedHeldOut { .. }
            | AppError::RowIdsElsewhere { .. }
            | AppError::NotActionable { .. }
            | AppError::NoOutOfTimeTest { .. }
            | AppError::PartitionedNoDate { .. }
            | AppError::NotDistributed { .. }
            | AppError::BadRank { .. }
            | AppError::NoSuchPartition { .. }
            | AppError::Merge(churnguard_infer::MergeError::Mismatch { .. })
            | AppError::Unlabelled { .. } => true,
            AppError::Synth(churnguard_synth::SynthError::Invalid(_)) => true,
            AppError::Package(e) => e.is_usage(),
            AppError::Open(e) => e.is_usage(),
            AppError::Score(churnguard_infer::ScoreError::Package(e)) => e.is_usage(),
            _ => false,
        }
    }

    /// What the error is about, for a face that raises one kind of exception per kind.
    pub fn kind(&self) -> ErrorKind {
        match self {
            AppError::Package(_)
            | AppError::Open(_)
            | AppError::Parity { .. }
            | AppError::Score(churnguard_infer::ScoreError::Package(_)) => ErrorKind::Package,
            AppError::Read { .. }
            | AppError::Ingest(_)
            | AppError::Features(_)
            | AppError::CutoffBeforeData(_)
            | AppError::AsOf { .. }
            | AppError::NoDate { .. }
            | AppError::Unlabelled { .. } => ErrorKind::Data,
            e if e.is_usage() => ErrorKind::Config,
            _ => ErrorKind::Other,
        }
    }
}

/// The kinds of [`AppError`] a face tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The pipeline or the request is wrong.
    Config,
    /// The tables are missing, damaged or do not fit the pipeline.
    Data,
    /// The package is missing, damaged, or of another pipeline.
    Package,
    /// Anything else: a failure while doing the job (a disk, ONNX Runtime, LightGBM).
    Other,
}
