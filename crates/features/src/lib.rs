//! Point-in-time features and churn labels: snapshots at cutoff dates, labels (inactivity, an
//! explicit column, or a churn event), feature families computed strictly from rows before the
//! cutoff, and the `FeatureSpec` stored with every model so that scoring computes exactly what
//! training did. Parallel over customers with rayon.
