//! The tree ensemble as typed data: parsed from LightGBM's model text, exported exactly to ONNX,
//! evaluated by a pure-Rust predictor used to cross-check, and explained by TreeSHAP
//! contributions (the reasons given for each at-risk customer).
