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
}

fn check(call: &'static str, code: i32) -> Result<(), LightGbmError> {
    if code == 0 {
        return Ok(());
    }
    // SAFETY: LightGBM returns a pointer to a thread-local, NUL-terminated message.
    let message = unsafe { CStr::from_ptr(sys::LGBM_GetLastError()) }
        .to_string_lossy()
        .into_owned();
    Err(LightGbmError { call, message })
}

fn c_string(call: &'static str, s: &str) -> Result<CString, LightGbmError> {
    CString::new(s).map_err(|_| LightGbmError {
        call,
        message: "a parameter string contains a NUL byte".into(),
    })
}

fn shape(call: &'static str, values: usize, cols: usize) -> Result<(i32, i32), LightGbmError> {
    let bad = |message: String| LightGbmError { call, message };
    if cols == 0 || !values.is_multiple_of(cols) {
        return Err(bad(format!("{values} values is not a whole number of rows of {cols}")));
    }
    let rows = i32::try_from(values / cols).map_err(|_| bad("too many rows".into()))?;
    let cols = i32::try_from(cols).map_err(|_| bad("too many columns".into()))?;
    Ok((rows, cols))
}

/// Training rows, binned by LightGBM.
pub struct Dataset {
    handle: sys::DatasetHandle,
}

impl Dataset {
    /// Bins a row-major matrix of `cols` features with its labels. `params` is LightGBM's
    /// `key=value` list (for example `categorical_feature=2 max_bin=63 zero_as_missing=true`).
    pub fn from_rows(x: &[f64], cols: usize, labels: &[f32], params: &str) -> Result<Self, LightGbmError> {
        let (rows, cols) = shape("LGBM_DatasetCreateFromMat", x.len(), cols)?;
        if labels.len() != rows as usize {
            return Err(LightGbmError {
                call: "LGBM_DatasetSetField",
                message: format!("{} labels for {rows} rows", labels.len()),
            });
        }
        let params = c_string("LGBM_DatasetCreateFromMat", params)?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: `x` holds rows * cols doubles, row-major, alive for the call.
        check("LGBM_DatasetCreateFromMat", unsafe {
            sys::LGBM_DatasetCreateFromMat(
                x.as_ptr() as *const c_void,
                sys::C_API_DTYPE_FLOAT64 as i32,
                rows,
                cols,
                1,
                params.as_ptr(),
                std::ptr::null_mut(),
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
}

impl Booster {
    /// Trains `iterations` boosting rounds on `data` with LightGBM's `key=value` parameters.
    pub fn train(data: &Dataset, params: &str, iterations: usize) -> Result<Self, LightGbmError> {
        let params = c_string("LGBM_BoosterCreate", params)?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: the dataset handle is valid for the duration of the call.
        check("LGBM_BoosterCreate", unsafe {
            sys::LGBM_BoosterCreate(data.handle, params.as_ptr(), &mut handle)
        })?;
        let b = Booster { handle };
        for _ in 0..iterations {
            let mut finished = 0;
            // SAFETY: valid booster handle.
            check("LGBM_BoosterUpdateOneIter", unsafe {
                sys::LGBM_BoosterUpdateOneIter(b.handle, &mut finished)
            })?;
        }
        Ok(b)
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
        Ok(Booster { handle })
    }

    /// The model as LightGBM's text format.
    pub fn model_text(&self) -> Result<String, LightGbmError> {
        let call = "LGBM_BoosterSaveModelToString";
        let mut len = 0i64;
        let mut buf = vec![0u8; 1 << 16];
        for _ in 0..2 {
            // SAFETY: `buf` has `buf.len()` writable bytes; LightGBM reports the length it needs.
            check(call, unsafe {
                sys::LGBM_BoosterSaveModelToString(
                    self.handle,
                    0,
                    -1,
                    0,
                    buf.len() as i64,
                    &mut len,
                    buf.as_mut_ptr() as *mut std::os::raw::c_char,
                )
            })?;
            if (len as usize) <= buf.len() {
                break;
            }
            buf = vec![0u8; len as usize];
        }
        buf.truncate((len as usize).saturating_sub(1));
        String::from_utf8(buf).map_err(|_| LightGbmError {
            call,
            message: "the model text is not UTF-8".into(),
        })
    }

    /// Predicts for a row-major matrix of `cols` features.
    pub fn predict(&self, x: &[f64], cols: usize, what: Prediction) -> Result<Vec<f64>, LightGbmError> {
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
                1,
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
