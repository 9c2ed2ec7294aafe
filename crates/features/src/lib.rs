//! Point-in-time features and churn labels.
//!
//! A snapshot at a cutoff date has one row per customer known at that date. Every feature is
//! computed strictly from rows dated before the cutoff; the label looks only at
//! `[cutoff, cutoff + horizon)`. Training and scoring call the same [`snapshot`] function, scoring
//! with the cutoff set to the scoring date and the [`FeatureSpec`] stored with the model.
//!
//! Population: with an events table, the customers with at least one event before the cutoff
//! (the customers table only adds attributes, so a customer who signs up later never leaks into
//! an earlier snapshot); without one, every row of the customers table.
//!
//! Work is parallel over customers (rayon); each row is computed by the same sequential
//! arithmetic whatever the thread count, so the output is bitwise the same for any thread count.

mod aggregate;
mod history;
mod plan;
mod snapshot;
mod spec;
mod value;

use churnguard_config::Date;
use churnguard_ingest::IngestError;

pub use history::{Attribute, Categories, CustomerIndex, History, Series, load, load_tables, load_with_progress};
pub use plan::{AttributeKind, spec_for};
pub use snapshot::{Outcomes, Snapshot, SnapshotReport, outcomes, snapshot};
pub use spec::{Feature, FeatureKind, FeatureSpec};
pub use value::{customer_values, spend};

/// Name of the cutoff column of a feature table.
pub const CUTOFF: &str = "cutoff";
/// Name of the label column of a feature table (1 churned, 0 stayed, null unknown).
pub const LABEL: &str = "label";
/// Layout version of [`FeatureSpec`].
pub const SPEC_VERSION: u32 = 1;

/// Building features failed.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// A table could not be read.
    #[error(transparent)]
    Ingest(IngestError),
    /// The cutoff leaves no customer with history.
    #[error("cutoff {cutoff} is on or before the first event ({first}): no customer has any history before it")]
    CutoffBeforeData {
        /// The cutoff asked for.
        cutoff: Date,
        /// The first event's date.
        first: Date,
    },
    /// The data does not produce the features a model expects.
    #[error("the features of this pipeline differ from the model's FeatureSpec:\n  - {}", .0.join("\n  - "))]
    SpecMismatch(Vec<String>),
    /// `scoring.value_attribute` names no numeric attribute.
    #[error("`scoring.value_attribute` \"{0}\" is not a numeric column of the customers table")]
    ValueAttribute(String),
    /// Building the Arrow table failed.
    #[error("cannot assemble the feature table")]
    Arrow(#[source] arrow::error::ArrowError),
}
