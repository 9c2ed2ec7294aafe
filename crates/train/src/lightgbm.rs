//! A small safe wrapper over LightGBM's C API (through `lightgbm3-sys`, the same LightGBM build
//! as `lightgbm3`) for what the safe crate cannot do: dataset parameters (categorical features,
//! `max_bin`, `zero_as_missing`, `use_missing`), predictions sized for every class, and
//! contributions for multiclass models.

use std::ffi::{CStr, CString, c_void};

use lightgbm3_sys as sys;

/// LightGBM refused a call; the message is LightGBM's own.
#[derive(Debug, thiserror::Error)]
#[error("LightGBM {call}: {message}")]
pub struct LightGbmError {
    /// The C API function that failed.
    pub call: &'static str,
    /// LightGBM's message.
    pub message: String,
    /// The parser's error, when LightGBM's output could not be read.
    #[source]
    pub cause: Option<serde_json::Error>,
}

impl LightGbmError {
    /// A refusal with LightGBM's (or churnguard's) message and no further cause.
    pub fn new(call: &'static str, message: String) -> LightGbmError {
        LightGbmError {
            call,
            message,
            cause: None,
        }
    }
}

fn check(call: &'static str, code: i32) -> Result<(), LightGbmError> {
    if code == 0 {
        return Ok(());
    }
    // SAFETY: LightGBM returns a pointer to a thread-local, NUL-terminated message.
    let message = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) }
        .to_string_lossy()
        .into_owned();
    Err(LightGbmError::new(call, message))
}

fn c_string(call: &'static str, s: &str) -> Result<CString, LightGbmError> {
    CString::new(s).map_err(|_| LightGbmError::new(call, "a parameter string contains a NUL byte".into()))
}

/// Text from a call that fills a caller's buffer and reports the length it needs (NUL included):
/// called again with a buffer of that length when the first was too small.
fn text_out(
    call: &'static str,
    first: usize,
    fill: &mut dyn FnMut(i64, &mut i64, *mut std::os::raw::c_char) -> i32,
) -> Result<Vec<u8>, LightGbmError> {
    let mut len = 0i64;
    let mut buf = vec![0u8; first];
    for _ in 0..2 {
        check(
            call,
            fill(
                buf.len() as i64,
                &mut len,
                buf.as_mut_ptr() as *mut std::os::raw::c_char,
            ),
        )?;
        if (len as usize) <= buf.len() {
            break;
        }
        buf = vec![0u8; len as usize];
    }
    buf.truncate((len as usize).saturating_sub(1));
    Ok(buf)
}

fn shape(call: &'static str, values: usize, cols: usize) -> Result<(i32, i32), LightGbmError> {
    let bad = |message: String| LightGbmError::new(call, message);
    if cols == 0 || !values.is_multiple_of(cols) {
        return Err(bad(format!("{values} values is not a whole number of rows of {cols}")));
    }
    let rows = i32::try_from(values / cols).map_err(|_| bad("too many rows".into()))?;
    let cols = i32::try_from(cols).map_err(|_| bad("too many columns".into()))?;
    Ok((rows, cols))
}

/// How a matrix's values are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One row after another.
    RowMajor,
    /// One column (feature) after another.
    ColumnMajor,
}

/// Training rows, binned by LightGBM.
pub struct Dataset {
    handle: sys::DatasetHandle,
}

impl Dataset {
    /// Bins a row-major matrix of `cols` features with its labels. `params` is LightGBM's
    /// `key=value` list (for example `categorical_feature=2 max_bin=63 zero_as_missing=true`).
    pub fn from_rows(x: &[f64], cols: usize, labels: &[f32], params: &str) -> Result<Self, LightGbmError> {
        Self::from_matrix(x, cols, Layout::RowMajor, labels, params, None)
    }

    /// Bins a matrix of `cols` features in either layout. With a `reference`, the bins are the
    /// reference's (as a validation set needs).
    pub fn from_matrix(
        x: &[f64],
        cols: usize,
        layout: Layout,
        labels: &[f32],
        params: &str,
        reference: Option<&Dataset>,
    ) -> Result<Self, LightGbmError> {
        let (rows, cols) = shape("LGBM_DatasetCreateFromMat", x.len(), cols)?;
        if labels.len() != rows as usize {
            return Err(LightGbmError::new(
                "LGBM_DatasetSetField",
                format!("{} labels for {rows} rows", labels.len()),
            ));
        }
        let params = c_string("LGBM_DatasetCreateFromMat", params)?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: `x` holds rows * cols doubles in the stated layout, alive for the call; the
        // reference handle, when given, is a live dataset.
        check("LGBM_DatasetCreateFromMat", unsafe {
            sys::LGBM_DatasetCreateFromMat(
                x.as_ptr() as *const c_void,
                sys::C_API_DTYPE_FLOAT64 as i32,
                rows,
                cols,
                i32::from(layout == Layout::RowMajor),
                params.as_ptr(),
                reference.map_or(std::ptr::null_mut(), |r| r.handle),
                &mut handle,
            )
        })?;
        let ds = Dataset { handle };
        // SAFETY: `labels` holds one float per row; LightGBM copies it.
        check("LGBM_DatasetSetField", unsafe {
            sys::LGBM_DatasetSetField(
                ds.handle,
                c"label".as_ptr(),
                labels.as_ptr() as *const c_void,
                rows,
                sys::C_API_DTYPE_FLOAT32 as i32,
            )
        })?;
        Ok(ds)
    }

    /// Names the features (they are written into the model text).
    pub fn set_feature_names(&self, names: &[&str]) -> Result<(), LightGbmError> {
        let call = "LGBM_DatasetSetFeatureNames";
        let owned = names
            .iter()
            .map(|n| c_string(call, n))
            .collect::<Result<Vec<CString>, _>>()?;
        let mut pointers: Vec<*const std::os::raw::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
        let n = i32::try_from(pointers.len()).map_err(|_| LightGbmError::new(call, "too many features".into()))?;
        // SAFETY: `pointers` holds `n` NUL-terminated strings alive for the call; LightGBM copies them.
        check(call, unsafe {
            sys::LGBM_DatasetSetFeatureNames(self.handle, pointers.as_mut_ptr(), n)
        })
    }
}

impl Drop for Dataset {
    fn drop(&mut self) {
        // SAFETY: the handle came from LightGBM and is freed once.
        unsafe { sys::LGBM_DatasetFree(self.handle) };
    }
}

/// What to predict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prediction {
    /// Transformed scores (probabilities for classifiers).
    Normal,
    /// Raw scores.
    Raw,
    /// TreeSHAP contributions: per class, one per feature plus the expected value.
    Contributions,
}

/// A trained (or loaded) LightGBM model.
pub struct Booster {
    handle: sys::BoosterHandle,
    // LightGBM keeps pointers to its training and validation data while it can still train, so
    // the booster owns them; they are freed after the booster (fields drop in order).
    _data: Vec<Dataset>,
}

/// Which importance to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Importance {
    /// Times a feature is used in a split.
    Splits,
    /// Total gain of the splits on a feature.
    Gain,
}

impl Booster {
    /// A booster ready to train on `data` with LightGBM's `key=value` parameters.
    pub fn new(data: Dataset, params: &str) -> Result<Self, LightGbmError> {
        let params = c_string("LGBM_BoosterCreate", params)?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: the dataset handle is valid; the booster keeps the dataset alive.
        check("LGBM_BoosterCreate", unsafe {
            sys::LGBM_BoosterCreate(data.handle, params.as_ptr(), &mut handle)
        })?;
        Ok(Booster {
            handle,
            _data: vec![data],
        })
    }

    /// Trains `iterations` boosting rounds on `data` with LightGBM's `key=value` parameters.
    pub fn train(data: Dataset, params: &str, iterations: usize) -> Result<Self, LightGbmError> {
        let b = Self::new(data, params)?;
        for _ in 0..iterations {
            if b.update()? {
                break;
            }
        }
        Ok(b)
    }

    /// Adds a data set evaluated after every round (index 1 for the first, 2 for the next). It must
    /// have been binned with the training data as its reference.
    pub fn add_validation(&mut self, data: Dataset) -> Result<(), LightGbmError> {
        // SAFETY: both handles are live; the booster keeps the dataset alive.
        check("LGBM_BoosterAddValidData", unsafe {
            sys::LGBM_BoosterAddValidData(self.handle, data.handle)
        })?;
        self._data.push(data);
        Ok(())
    }

    /// One boosting round; true when LightGBM can split no further.
    pub fn update(&self) -> Result<bool, LightGbmError> {
        let mut finished = 0;
        // SAFETY: valid booster handle.
        check("LGBM_BoosterUpdateOneIter", unsafe {
            sys::LGBM_BoosterUpdateOneIter(self.handle, &mut finished)
        })?;
        Ok(finished != 0)
    }

    /// The metrics LightGBM computes on data set `index` (0 training, 1.. validation), in the order
    /// of the `metric` parameter.
    pub fn evaluation(&self, index: usize) -> Result<Vec<f64>, LightGbmError> {
        let mut count = 0;
        // SAFETY: valid handle; LightGBM writes the count.
        check("LGBM_BoosterGetEvalCounts", unsafe {
            sys::LGBM_BoosterGetEvalCounts(self.handle, &mut count)
        })?;
        let mut out = vec![0.0; count.max(0) as usize];
        let mut written = 0;
        // SAFETY: `out` has room for every metric.
        check("LGBM_BoosterGetEval", unsafe {
            sys::LGBM_BoosterGetEval(self.handle, index as i32, &mut written, out.as_mut_ptr())
        })?;
        out.truncate(written.max(0) as usize);
        Ok(out)
    }

    /// Per-feature importance of the first `iterations` rounds (all when `None`).
    pub fn importance(
        &self,
        kind: Importance,
        iterations: Option<usize>,
        features: usize,
    ) -> Result<Vec<f64>, LightGbmError> {
        let mut out = vec![0.0; features];
        let kind = match kind {
            Importance::Splits => sys::C_API_FEATURE_IMPORTANCE_SPLIT,
            Importance::Gain => sys::C_API_FEATURE_IMPORTANCE_GAIN,
        } as i32;
        // SAFETY: `out` holds one double per feature of the training data, as LightGBM writes.
        check("LGBM_BoosterFeatureImportance", unsafe {
            sys::LGBM_BoosterFeatureImportance(self.handle, iterations.map_or(0, |i| i as i32), kind, out.as_mut_ptr())
        })?;
        Ok(out)
    }

    /// Loads a model from LightGBM's model text.
    pub fn from_text(text: &str) -> Result<Self, LightGbmError> {
        let text = c_string("LGBM_BoosterLoadModelFromString", text)?;
        let mut handle = std::ptr::null_mut();
        let mut iterations = 0;
        // SAFETY: NUL-terminated text alive for the call.
        check("LGBM_BoosterLoadModelFromString", unsafe {
            sys::LGBM_BoosterLoadModelFromString(text.as_ptr(), &mut iterations, &mut handle)
        })?;
        Ok(Booster {
            handle,
            _data: Vec::new(),
        })
    }

    /// The model as LightGBM's text format.
    pub fn model_text(&self) -> Result<String, LightGbmError> {
        self.model_text_of(None)
    }

    /// The model's first `iterations` rounds (all when `None`) as LightGBM's text format.
    pub fn model_text_of(&self, iterations: Option<usize>) -> Result<String, LightGbmError> {
        let call = "LGBM_BoosterSaveModelToString";
        let buf = text_out(call, 1 << 16, &mut |capacity, len, out| {
            // SAFETY: `out` has `capacity` writable bytes; LightGBM reports the length it needs.
            unsafe {
                sys::LGBM_BoosterSaveModelToString(
                    self.handle,
                    0,
                    iterations.map_or(-1, |i| i as i32),
                    0,
                    capacity,
                    len,
                    out,
                )
            }
        })?;
        String::from_utf8(buf).map_err(|_| LightGbmError::new(call, "the model text is not UTF-8".into()))
    }

    /// Predicts for a row-major matrix of `cols` features.
    pub fn predict(&self, x: &[f64], cols: usize, what: Prediction) -> Result<Vec<f64>, LightGbmError> {
        self.predict_matrix(x, cols, Layout::RowMajor, what)
    }

    /// Predicts for a matrix of `cols` features in either layout.
    pub fn predict_matrix(
        &self,
        x: &[f64],
        cols: usize,
        layout: Layout,
        what: Prediction,
    ) -> Result<Vec<f64>, LightGbmError> {
        let call = "LGBM_BoosterPredictForMat";
        let (rows, cols) = shape(call, x.len(), cols)?;
        let kind = match what {
            Prediction::Normal => sys::C_API_PREDICT_NORMAL,
            Prediction::Raw => sys::C_API_PREDICT_RAW_SCORE,
            Prediction::Contributions => sys::C_API_PREDICT_CONTRIB,
        } as i32;
        let mut needed = 0i64;
        // SAFETY: valid handle; LightGBM writes the output size.
        check("LGBM_BoosterCalcNumPredict", unsafe {
            sys::LGBM_BoosterCalcNumPredict(self.handle, rows, kind, 0, -1, &mut needed)
        })?;
        let mut out = vec![0.0; needed.max(0) as usize];
        let mut written = 0i64;
        // SAFETY: `x` is rows * cols doubles; `out` has the size LightGBM asked for.
        check(call, unsafe {
            sys::LGBM_BoosterPredictForMat(
                self.handle,
                x.as_ptr() as *const c_void,
                sys::C_API_DTYPE_FLOAT64 as i32,
                rows,
                cols,
                i32::from(layout == Layout::RowMajor),
                kind,
                0,
                -1,
                c"".as_ptr(),
                &mut written,
                out.as_mut_ptr(),
            )
        })?;
        out.truncate(written.max(0) as usize);
        Ok(out)
    }
}

impl Drop for Booster {
    fn drop(&mut self) {
        // SAFETY: the handle came from LightGBM and is freed once.
        unsafe { sys::LGBM_BoosterFree(self.handle) };
    }
}

/// This process's place in LightGBM's socket network for data-parallel training: joined when
/// made, left when dropped. LightGBM keeps one network per process.
pub struct Network {
    _joined: (),
}

impl Network {
    /// Joins the network of `machines` (`host:port`, one per worker, rank order), listening on
    /// `port`; LightGBM waits up to `timeout_minutes` for the others.
    pub fn join(machines: &[String], port: u16, timeout_minutes: u32) -> Result<Network, LightGbmError> {
        let call = "LGBM_NetworkInit";
        let list = c_string(call, &machines.join(","))?;
        let n = i32::try_from(machines.len()).map_err(|_| LightGbmError::new(call, "too many machines".into()))?;
        let timeout = i32::try_from(timeout_minutes.max(1)).unwrap_or(i32::MAX);
        // SAFETY: NUL-terminated list alive for the call; LightGBM copies what it keeps.
        check(call, unsafe {
            sys::LGBM_NetworkInit(list.as_ptr(), i32::from(port), timeout, n)
        })?;
        Ok(Network { _joined: () })
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // SAFETY: the network was initialized by `join`.
        unsafe { sys::LGBM_NetworkFree() };
    }
}

/// Caps the threads of every LightGBM call in this process at `threads` (a `num_threads`
/// parameter above it is cut to it).
pub fn set_max_threads(threads: u32) -> Result<(), LightGbmError> {
    let call = "LGBM_SetMaxThreads";
    let n = i32::try_from(threads.max(1)).unwrap_or(i32::MAX);
    // SAFETY: sets one process-wide integer.
    check(call, unsafe { sys::LGBM_SetMaxThreads(n) })
}

/// LightGBM's parameters and their aliases, as LightGBM reports them: each canonical name with the
/// other names it accepts.
pub fn parameter_aliases() -> Result<Vec<(String, Vec<String>)>, LightGbmError> {
    let call = "LGBM_DumpParamAliases";
    let buf = text_out(call, 1 << 15, &mut |capacity, len, out| {
        // SAFETY: `out` has `capacity` writable bytes; LightGBM reports the length it needs.
        unsafe { sys::LGBM_DumpParamAliases(capacity, len, out) }
    })?;
    let bad = |message: String| LightGbmError::new(call, message);
    let json: serde_json::Value = serde_json::from_slice(&buf).map_err(|e| LightGbmError {
        call,
        message: "its parameter list is not JSON".into(),
        cause: Some(e),
    })?;
    let map = json.as_object().ok_or_else(|| bad("not a JSON object".into()))?;
    Ok(map
        .iter()
        .map(|(k, v)| {
            let aliases = v
                .as_array()
                .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            (k.clone(), aliases)
        })
        .collect())
}
