//! Evaluation of churn models: metrics and curves (AUC, PR AUC, log loss, Brier, lift and
//! capture at top-k%, calibration, confusion at a threshold, PSI), threshold strategies and
//! bootstrap intervals. Pure Rust: neither LightGBM nor ONNX Runtime is linked here.
