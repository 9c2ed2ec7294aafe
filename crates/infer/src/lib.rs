//! Scoring with ONNX Runtime: loading the runtime library and, as later work lands, model
//! packages, batch scoring, risk tiers, reasons, value at risk, actions and the HTTP service.
//!
//! This crate never links LightGBM: a production job needs only the exported model package and
//! the ONNX Runtime shared library.

mod runtime;
mod session;

pub use runtime::{MIN_ORT_VERSION, OnnxRuntime, RuntimeError, find_library};
pub use session::{OnnxModel, Scores, SessionError};
