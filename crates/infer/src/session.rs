//! One exported model in an ONNX Runtime session: rows of features in, scores out.

use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType, TensorRef};

use crate::OnnxRuntime;

/// Creating or running a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// ONNX Runtime refused the model.
    #[error("ONNX Runtime cannot load the model: {0}")]
    Load(String),
    /// The model's inputs or outputs are not those of an exported churnguard model.
    #[error("the ONNX model is not a churnguard export: {0}")]
    Shape(String),
    /// Scoring failed.
    #[error("ONNX Runtime failed to score: {0}")]
    Run(String),
}

/// Scores of a batch: one row of `width` values per input row, plus the label when the model
/// is a classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// Values per row: 1 (probability or prediction) or the number of classes.
    pub width: usize,
    /// Row-major values.
    pub values: Vec<f64>,
    /// Predicted class per row, for classifiers.
    pub labels: Option<Vec<i64>>,
}

/// An exported model ready to score.
pub struct OnnxModel {
    session: Session,
    input: String,
    double: bool,
    score_output: String,
    label_output: Option<String>,
    /// Runs that ask for the scores alone (no label to compute and copy).
    scores_only: RunOptions<HasSelectedOutputs>,
}

impl OnnxModel {
    /// Creates a session from the model's bytes, with `threads` intra-op threads (0: ONNX
    /// Runtime's default).
    pub fn load(runtime: &OnnxRuntime, bytes: &[u8], threads: usize) -> Result<Self, SessionError> {
        let load = |e: ort::Error| SessionError::Load(e.to_string());
        let mut builder = Session::builder(runtime.environment()).map_err(load)?;
        if threads > 0 {
            builder = builder
                .with_intra_threads(threads)
                .map_err(|e| SessionError::Load(e.to_string()))?;
        }
        let session = builder.commit_from_memory(bytes).map_err(load)?;
        let [input] = session.inputs() else {
            return Err(SessionError::Shape(format!(
                "{} inputs, expected 1",
                session.inputs().len()
            )));
        };
        let double = match input.dtype().tensor_type() {
            Some(TensorElementType::Float32) => false,
            Some(TensorElementType::Float64) => true,
            other => return Err(SessionError::Shape(format!("input of type {other:?}"))),
        };
        let input = input.name().to_string();
        let label_output = session
            .outputs()
            .iter()
            .find(|o| o.name() == churnguard_model::names::LABEL)
            .map(|o| o.name().to_string());
        let score_output = session
            .outputs()
            .iter()
            .find(|o| o.name() != churnguard_model::names::LABEL)
            .map(|o| o.name().to_string())
            .ok_or_else(|| SessionError::Shape("no score output".into()))?;
        let scores_only = RunOptions::new()
            .map_err(load)?
            .with_outputs(OutputSelector::no_default().with(score_output.as_str()));
        Ok(OnnxModel {
            session,
            input,
            double,
            score_output,
            label_output,
            scores_only,
        })
    }

    /// Whether the model takes 64-bit input.
    pub fn takes_f64(&self) -> bool {
        self.double
    }

    /// Scores `rows` (row-major, `features` values per row), with the predicted labels.
    pub fn score(&mut self, rows: &[f64], features: usize) -> Result<Scores, SessionError> {
        self.run(rows, features, true)
    }

    /// The scores alone, without labels: what batch scoring needs.
    pub fn scores(&mut self, rows: &[f64], features: usize) -> Result<Scores, SessionError> {
        self.run(rows, features, false)
    }

    fn run(&mut self, rows: &[f64], features: usize, labels: bool) -> Result<Scores, SessionError> {
        let run = |e: ort::Error| SessionError::Run(e.to_string());
        if features == 0 || !rows.len().is_multiple_of(features) {
            return Err(SessionError::Run(format!(
                "{} values is not a whole number of rows of {features} features",
                rows.len()
            )));
        }
        let shape = [rows.len() / features, features];
        // f64 rows go in as they are (no copy); f32 models get a narrowed copy.
        let value: SessionInputValue<'_> = if self.double {
            TensorRef::from_array_view((shape, rows)).map_err(run)?.into()
        } else {
            let narrow: Vec<f32> = rows.iter().map(|&v| v as f32).collect();
            Tensor::from_array((shape, narrow)).map_err(run)?.into()
        };
        let inputs = ort::inputs![self.input.as_str() => value];
        let outputs = if labels {
            self.session.run(inputs)
        } else {
            self.session.run_with_options(inputs, &self.scores_only)
        }
        .map_err(run)?;
        let scores = &outputs[self.score_output.as_str()];
        let (dims, values): (Vec<i64>, Vec<f64>) = if self.double {
            let (s, v) = scores.try_extract_tensor::<f64>().map_err(run)?;
            (s.to_vec(), v.to_vec())
        } else {
            let (s, v) = scores.try_extract_tensor::<f32>().map_err(run)?;
            (s.to_vec(), v.iter().map(|&x| f64::from(x)).collect())
        };
        let width = if dims.len() == 2 { dims[1].max(1) as usize } else { 1 };
        let labels = match (&self.label_output, labels) {
            (Some(name), true) => Some(
                outputs[name.as_str()]
                    .try_extract_tensor::<i64>()
                    .map_err(run)?
                    .1
                    .to_vec(),
            ),
            _ => None,
        };
        Ok(Scores { width, values, labels })
    }
}
