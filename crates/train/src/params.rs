//! LightGBM's parameters for a pipeline: churnguard's fixed ones (objective, seed, determinism),
//! the `[model]` settings, `[model.lightgbm]` extras and tuning overrides, all under LightGBM's
//! canonical names so that an alias can never silently shadow a setting.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use churnguard_config::{ModelConfig, Pipeline};

use crate::TrainError;
use crate::lightgbm::{self, Booster, Dataset};

/// Parameters churnguard sets itself, with the config key that controls them (if any).
const RESERVED: &[(&str, &str)] = &[
    ("objective", "churn models are binary"),
    ("seed", "set `pipeline.seed`"),
    (
        "deterministic",
        "always on: the same config and data give the same model",
    ),
    ("force_row_wise", "always on, for determinism"),
    (
        "force_col_wise",
        "churnguard forces row-wise histograms, for determinism",
    ),
    ("verbosity", "churnguard keeps LightGBM quiet"),
    ("num_threads", "set `model.num_threads`"),
    ("metric", "set `model.early_stopping_metric`"),
    ("num_iterations", "set `model.num_iterations`"),
    ("early_stopping_round", "set `model.early_stopping_rounds`"),
    ("categorical_feature", "categorical features come from the FeatureSpec"),
];

/// Alias -> canonical name, from LightGBM itself.
fn canonical_names() -> Result<&'static BTreeMap<String, String>, TrainError> {
    static NAMES: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    if let Some(n) = NAMES.get() {
        return Ok(n);
    }
    let mut map = BTreeMap::new();
    for (name, aliases) in lightgbm::parameter_aliases()? {
        for a in aliases {
            map.insert(a, name.clone());
        }
        map.insert(name.clone(), name);
    }
    Ok(NAMES.get_or_init(|| map))
}

/// One parameter and the config key it came from.
#[derive(Clone, Debug, PartialEq)]
struct Param {
    value: String,
    key: Option<String>,
}

/// LightGBM parameters by canonical name, each remembering the config key that set it.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    map: BTreeMap<String, Param>,
}

impl Params {
    /// The parameters of a pipeline's `[model]`, checked against LightGBM's own list of names.
    pub fn of(p: &Pipeline) -> Result<Params, TrainError> {
        let m: &ModelConfig = &p.model;
        let mut map = BTreeMap::new();
        let mut fixed = |k: &str, v: String| {
            map.insert(k.to_string(), Param { value: v, key: None });
        };
        fixed("objective", "binary".into());
        fixed("seed", p.seed.to_string());
        fixed("deterministic", "true".into());
        fixed("force_row_wise", "true".into());
        fixed("verbosity", "-1".into());
        fixed("num_threads", m.num_threads.to_string());
        fixed("metric", m.early_stopping_metric.lightgbm_name().into());
        let mut params = Params { map };
        let named = m.lightgbm_params();
        let extras = named.len() - m.lightgbm.len();
        for (i, (k, v)) in named.into_iter().enumerate() {
            let (key, is_extra) = if i < extras {
                (format!("model.{k}"), false)
            } else {
                (format!("model.lightgbm.{k}"), true)
            };
            params.set(&k, &v, &key, !is_extra)?;
        }
        Ok(params)
    }

    /// Sets a parameter coming from config key `key`; `replace` lets it overwrite a setting made
    /// by another key (tuning does; `[model.lightgbm]` must not shadow a `[model]` field).
    pub fn set(&mut self, name: &str, value: &str, key: &str, replace: bool) -> Result<(), TrainError> {
        let bad = |message: String| TrainError::Parameter {
            key: key.to_string(),
            message,
        };
        let canonical = canonical_names()?
            .get(name)
            .cloned()
            .ok_or_else(|| bad(format!("LightGBM has no parameter `{name}`")))?;
        if let Some((_, why)) = RESERVED.iter().find(|(r, _)| *r == canonical) {
            return Err(bad(format!("LightGBM's `{canonical}` is set by churnguard: {why}")));
        }
        if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c == '=') {
            return Err(bad(format!(
                "\"{value}\" cannot be passed to LightGBM (empty, or has spaces or `=`)"
            )));
        }
        if let Some(old) = self.map.get(&canonical)
            && !replace
            && let Some(other) = &old.key
            && other != key
        {
            return Err(bad(format!(
                "is LightGBM's `{canonical}`, which `{other}` already sets: set it in one place"
            )));
        }
        self.map.insert(
            canonical,
            Param {
                value: value.to_string(),
                key: Some(key.to_string()),
            },
        );
        Ok(())
    }

    /// The value of a canonical parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(|p| p.value.as_str())
    }

    /// `(name, value)` pairs in name order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.map.iter().map(|(k, p)| (k.clone(), p.value.clone())).collect()
    }

    /// LightGBM's `key=value` list, plus dataset-only settings such as `categorical_feature`.
    pub fn to_lightgbm(&self, extra: &[(&str, String)]) -> String {
        let mut parts: Vec<String> = self.map.iter().map(|(k, p)| format!("{k}={}", p.value)).collect();
        parts.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
        parts.join(" ")
    }

    /// Asks LightGBM to accept the parameters on a tiny data set of `features` columns (so
    /// per-feature settings are checked too), before any long work. When it refuses, each
    /// config-given parameter is tried alone to name the key at fault, with LightGBM's own message.
    pub fn check(&self, features: usize) -> Result<(), TrainError> {
        let probe = |params: &str| probe(params, features);
        if probe(&self.to_lightgbm(&[])).is_ok() {
            return Ok(());
        }
        let base: Params = Params {
            map: self
                .map
                .iter()
                .filter(|(_, p)| p.key.is_none())
                .map(|(k, p)| (k.clone(), p.clone()))
                .collect(),
        };
        for (name, p) in self.map.iter().filter(|(_, p)| p.key.is_some()) {
            let mut one = base.clone();
            one.map.insert(name.clone(), p.clone());
            if let Err(e) = probe(&one.to_lightgbm(&[])) {
                return Err(TrainError::Parameter {
                    key: p.key.clone().unwrap_or_default(),
                    message: format!("LightGBM rejects {name}={}: {}", p.value, e.message),
                });
            }
        }
        // Only the combination fails: report LightGBM's message as it is.
        Err(probe(&self.to_lightgbm(&[])).err().map_or_else(
            || TrainError::Internal("LightGBM's parameter check is not repeatable".into()),
            TrainError::LightGbm,
        ))
    }
}

fn probe(params: &str, features: usize) -> Result<(), lightgbm::LightGbmError> {
    const ROWS: usize = 40;
    let cols = features.max(1);
    let x: Vec<f64> = (0..ROWS * cols).map(|i| (i % 7) as f64).collect();
    let y: Vec<f32> = (0..ROWS).map(|i| (i % 2) as f32).collect();
    let data = Dataset::from_rows(&x, cols, &y, params)?;
    Booster::new(data, params).map(|_| ())
}
