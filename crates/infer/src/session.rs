//! One exported model in an ONNX Runtime session: rows of features in, scores out.

use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType, TensorRef};

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::OnnxRuntime;

/// Creating or running a session failed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// ONNX Runtime refused the model.
    #[error("ONNX Runtime cannot load the model")]
    Load(#[source] ort::Error),
    /// The model's inputs or outputs are not those of an exported churnguard model.
    #[error("the ONNX model is not a churnguard export: {0}")]
    Shape(String),
    /// ONNX Runtime failed while scoring.
    #[error("ONNX Runtime failed to score")]
    Run(#[source] ort::Error),
    /// The rows handed over are not a whole number of rows of the model's features.
    #[error("{values} values is not a whole number of rows of {features} features")]
    Rows {
        /// Values given.
        values: usize,
        /// Features per row.
        features: usize,
    },
    /// A scoring thread panicked (a bug).
    #[error("internal error: a scoring thread panicked")]
    Panicked,
}

/// Sessions opened for a requested thread count: 0 means one per core (at most
/// [`DEFAULT_MAX_SESSIONS`]); more than the machine's cores is capped at its cores (each session
/// holds the model's trees, and more sessions than cores only cost memory).
pub fn sessions_for(threads: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match threads {
        0 => cores.min(DEFAULT_MAX_SESSIONS),
        n => n.min(cores),
    }
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

/// An exported model ready to score: one single-threaded ONNX Runtime session per thread, a
/// batch split between them. ONNX Runtime's own threads split each call of the tree ensemble into
/// 128-row steps with a barrier each (its threads spin there): on the 100-tree benchmark model two
/// one-thread sessions scored 1,000,000 rows in 1.94-2.00 s against 2.25-2.27 s for one session
/// with two threads.
pub struct OnnxModel {
    sessions: Vec<OneSession>,
    io: Io,
}

/// A session and its run options.
struct OneSession {
    session: Session,
    /// Runs that ask for the scores alone (no label to compute and copy).
    scores_only: RunOptions<HasSelectedOutputs>,
}

/// The model's input and outputs.
struct Io {
    input: String,
    double: bool,
    score_output: String,
    label_output: Option<String>,
}

/// Sessions opened by default: each holds its own copy of the model's trees, so a many-core
/// machine does not get one per core unless asked (`threads`).
pub const DEFAULT_MAX_SESSIONS: usize = 8;

/// Fewest rows worth a thread of their own.
const MIN_ROWS_PER_SESSION: usize = 1024;

/// Chunks per session a batch is cut into, so that a session slowed by a busy core takes fewer.
const CHUNKS_PER_SESSION: usize = 8;

/// Fewest rows in a chunk (one ONNX Runtime call each).
const MIN_CHUNK_ROWS: usize = 256;

impl OnnxModel {
    /// Creates `threads` sessions from the model's bytes (0: one per core, at most
    /// [`DEFAULT_MAX_SESSIONS`]).
    pub fn load(runtime: &OnnxRuntime, bytes: &[u8], threads: usize) -> Result<Self, SessionError> {
        let load = SessionError::Load;
        let threads = sessions_for(threads);
        let mut sessions = Vec::with_capacity(threads);
        for _ in 0..threads {
            let session = Session::builder(runtime.environment())
                .map_err(load)?
                .with_intra_threads(1)
                .map_err(|e| SessionError::Load(e.into()))?
                .commit_from_memory(bytes)
                .map_err(load)?;
            sessions.push(session);
        }
        let io = Io::of(&sessions[0])?;
        let sessions = sessions
            .into_iter()
            .map(|session| {
                let scores_only = RunOptions::new()
                    .map_err(load)?
                    .with_outputs(OutputSelector::no_default().with(io.score_output.as_str()));
                Ok(OneSession { session, scores_only })
            })
            .collect::<Result<_, SessionError>>()?;
        Ok(OnnxModel { sessions, io })
    }

    /// Whether the model takes 64-bit input.
    pub fn takes_f64(&self) -> bool {
        self.io.double
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
        if features == 0 || !rows.len().is_multiple_of(features) {
            return Err(SessionError::Rows {
                values: rows.len(),
                features,
            });
        }
        let n = rows.len() / features;
        let parts = (n / MIN_ROWS_PER_SESSION).clamp(1, self.sessions.len());
        let io = &self.io;
        if parts == 1 {
            return io.run(&mut self.sessions[0], rows, features, labels);
        }
        // Sessions pull chunks of rows as they finish the last one, rather than taking an equal
        // share each: on a core another process keeps busy a session runs at about half speed,
        // and with equal shares the whole batch waited for it (two sessions beside a busy
        // neighbour were 12% slower than one, `make bench`'s busy section). Chunks have an even
        // number of rows, so the pairs rows are scored in, and with them every score, stay the same.
        let chunk_rows = n
            .div_ceil(parts * CHUNKS_PER_SESSION)
            .max(MIN_CHUNK_ROWS)
            .next_multiple_of(2);
        let chunks: Vec<&[f64]> = rows.chunks(chunk_rows * features).collect();
        let next = AtomicUsize::new(0);
        let done: Vec<Vec<(usize, Result<Scores, SessionError>)>> = std::thread::scope(|s| {
            let running: Vec<_> = self
                .sessions
                .iter_mut()
                .take(parts)
                .map(|one| {
                    let (next, chunks) = (&next, &chunks);
                    s.spawn(move || {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(chunk) = chunks.get(i) else {
                                break;
                            };
                            let scored = io.run(one, chunk, features, labels);
                            let failed = scored.is_err();
                            done.push((i, scored));
                            if failed {
                                break;
                            }
                        }
                        done
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|r| {
                    r.join()
                        .unwrap_or_else(|_| vec![(usize::MAX, Err(SessionError::Panicked))])
                })
                .collect()
        });
        // Back into row order (a panicked session's sentinel sorts last).
        let mut results: Vec<(usize, Result<Scores, SessionError>)> = done.into_iter().flatten().collect();
        results.sort_by_key(|(i, _)| *i);
        let results = results.into_iter().map(|(_, r)| r);
        let mut all = Scores {
            width: 1,
            values: Vec::with_capacity(n),
            labels: None,
        };
        for part in results {
            let part = part?;
            all.width = part.width;
            all.values.extend(part.values);
            if let Some(l) = part.labels {
                all.labels.get_or_insert_with(Vec::new).extend(l);
            }
        }
        Ok(all)
    }
}

impl Io {
    fn of(session: &Session) -> Result<Io, SessionError> {
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
        Ok(Io {
            input: input.name().to_string(),
            double,
            score_output,
            label_output,
        })
    }

    /// Scores `rows` so that each row's score does not depend on the rows beside it. ONNX
    /// Runtime's tree ensemble scores rows in pairs, and the last row of an odd count alone, on
    /// a path that sums the trees in another order (a 1-ulp difference measured on 1 row in
    /// 13 to 1 in 4): a list scored partition by partition must equal the whole list, so every
    /// row is scored in a pair, the odd one out beside a copy of itself.
    fn run(&self, one: &mut OneSession, rows: &[f64], features: usize, labels: bool) -> Result<Scores, SessionError> {
        let n = rows.len() / features;
        if n.is_multiple_of(2) {
            return self.run_pairs(one, rows, features, labels);
        }
        let (even, last) = rows.split_at((n - 1) * features);
        let mut scores = if n > 1 {
            self.run_pairs(one, even, features, labels)?
        } else {
            Scores {
                width: 1,
                values: Vec::new(),
                labels: labels.then(Vec::new),
            }
        };
        let twice: Vec<f64> = last.iter().chain(last).copied().collect();
        let pair = self.run_pairs(one, &twice, features, labels)?;
        scores.width = pair.width;
        scores.values.extend_from_slice(&pair.values[..pair.width]);
        if let (Some(all), Some(l)) = (&mut scores.labels, pair.labels) {
            all.extend(l.into_iter().take(1));
        }
        Ok(scores)
    }

    fn run_pairs(
        &self,
        one: &mut OneSession,
        rows: &[f64],
        features: usize,
        labels: bool,
    ) -> Result<Scores, SessionError> {
        let run = SessionError::Run;
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
            one.session.run(inputs)
        } else {
            one.session.run_with_options(inputs, &one.scores_only)
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
