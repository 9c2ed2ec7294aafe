//! LightGBM training through `lightgbm3` (with OpenMP): splits that match production, early
//! stopping, tuning, cross-validation, and the versioned model package.

pub mod lightgbm;
