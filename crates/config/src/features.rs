//! The `[features]` section: feature windows and the contacts that count as complaints.

use serde::Serialize;

use crate::raw::RawFeatures;
use crate::{Checker, ConfigError};

/// Default feature windows, in days.
pub const DEFAULT_WINDOWS_DAYS: [u32; 3] = [30, 90, 180];
/// Default interaction kinds that count as complaints.
pub const DEFAULT_COMPLAINT_KINDS: [&str; 1] = ["complaint"];

/// Feature settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FeaturesConfig {
    /// Look-back windows for counts, sums, active days and trends, increasing.
    pub windows_days: Vec<u32>,
    /// Interaction kinds that count as complaints.
    pub complaint_kinds: Vec<String>,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        FeaturesConfig {
            windows_days: DEFAULT_WINDOWS_DAYS.to_vec(),
            complaint_kinds: DEFAULT_COMPLAINT_KINDS.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl Checker<'_> {
    pub(crate) fn features(&self, f: RawFeatures) -> Result<FeaturesConfig, ConfigError> {
        let mut out = FeaturesConfig::default();
        if let Some(w) = f.windows_days {
            self.ensure(!w.is_empty() && w.len() <= 8, "features.windows_days", || {
                "give between 1 and 8 windows".into()
            })?;
            let mut days = Vec::with_capacity(w.len());
            for (i, d) in w.into_iter().enumerate() {
                let key = format!("features.windows_days[{i}]");
                self.ensure((1..=3650).contains(&d), &key, || {
                    format!("must be between 1 and 3650 days, got {d}")
                })?;
                days.push(d as u32);
            }
            self.ensure(days.windows(2).all(|p| p[0] < p[1]), "features.windows_days", || {
                "must be distinct and increasing".into()
            })?;
            out.windows_days = days;
        }
        if let Some(k) = f.complaint_kinds {
            out.complaint_kinds = k;
        }
        Ok(out)
    }
}
