//! The `[monitoring]` and `[retraining]` sections: when the nightly check warns or alerts, and
//! when a retrained challenger may replace the model that serves.

use serde::Serialize;

use crate::raw::{RawMonitoring, RawRetraining};
use crate::{Checker, ConfigError};

/// When `churnguard monitor` warns and alerts. Drift thresholds are effect sizes, not p-values:
/// on large populations every test rejects, while PSI bands keep their meaning.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonitoringConfig {
    /// PSI from which a feature or the score is reported as shifted (default 0.1).
    pub psi_warn: f64,
    /// PSI from which a feature or the score counts as drifted: monitor's drift exit code
    /// (default 0.25).
    pub psi_alert: f64,
    /// Rise of a feature's missing share over training's that counts as drift (default 0.05).
    pub missing_rise: f64,
    /// Share of customers with a category the model never saw that counts as drift (default 0.01).
    pub unseen_share: f64,
    /// Change of the share of known customers still with us that counts as drift (default 0.1).
    pub alive_share_change: f64,
    /// Fall of AUC on matured labels below the training test AUC that counts as a performance
    /// drop: monitor's performance exit code (default 0.03).
    pub auc_drop: f64,
    /// Rise of the expected calibration error over training's test figure that counts as a
    /// performance drop (default 0.05).
    pub ece_rise: f64,
    /// Whether `score` keeps a copy of every list it writes beside the packages, for monitoring
    /// the outcomes of what was sent (default true).
    pub keep_lists: bool,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            psi_warn: 0.1,
            psi_alert: 0.25,
            missing_rise: 0.05,
            unseen_share: 0.01,
            alive_share_change: 0.1,
            auc_drop: 0.03,
            ece_rise: 0.05,
            keep_lists: true,
        }
    }
}

/// When `churnguard retrain` promotes its challenger: margins by which it may be worse than the
/// model serving, on the newest labelled snapshot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RetrainingConfig {
    /// How much lower the challenger's AUC may be (default 0.005).
    pub auc_margin: f64,
    /// How much higher its expected calibration error may be (default 0.02).
    pub ece_margin: f64,
    /// How much higher its Brier score may be (default 0.005).
    pub brier_margin: f64,
    /// Whether the challenger's snapshots move forward with the data, so its test cutoff is the
    /// newest whose outcomes are known (default true; false trains on the configured dates).
    pub roll_cutoffs: bool,
}

impl Default for RetrainingConfig {
    fn default() -> Self {
        RetrainingConfig {
            auc_margin: 0.005,
            ece_margin: 0.02,
            brier_margin: 0.005,
            roll_cutoffs: true,
        }
    }
}

impl Checker<'_> {
    fn share(&self, key: &str, v: Option<f64>, default: f64) -> Result<f64, ConfigError> {
        let v = v.unwrap_or(default);
        self.ensure(v.is_finite() && (0.0..=1.0).contains(&v), key, || {
            format!("must be between 0 and 1, got {v}")
        })?;
        Ok(v)
    }

    pub(crate) fn monitoring(&self, m: Option<RawMonitoring>) -> Result<MonitoringConfig, ConfigError> {
        let d = MonitoringConfig::default();
        let Some(m) = m else { return Ok(d) };
        let psi = |key: &str, v: Option<f64>, default: f64| -> Result<f64, ConfigError> {
            let k = format!("monitoring.{key}");
            let v = v.unwrap_or(default);
            self.ensure(v.is_finite() && v > 0.0 && v <= 10.0, &k, || {
                format!("must be above 0 and at most 10, got {v}")
            })?;
            Ok(v)
        };
        let psi_warn = psi("psi_warn", m.psi_warn, d.psi_warn)?;
        let psi_alert = psi("psi_alert", m.psi_alert, d.psi_alert)?;
        self.ensure(psi_warn <= psi_alert, "monitoring.psi_warn", || {
            format!("must not be above psi_alert ({psi_alert}), got {psi_warn}")
        })?;
        Ok(MonitoringConfig {
            psi_warn,
            psi_alert,
            missing_rise: self.share("monitoring.missing_rise", m.missing_rise, d.missing_rise)?,
            unseen_share: self.share("monitoring.unseen_share", m.unseen_share, d.unseen_share)?,
            alive_share_change: self.share(
                "monitoring.alive_share_change",
                m.alive_share_change,
                d.alive_share_change,
            )?,
            auc_drop: self.share("monitoring.auc_drop", m.auc_drop, d.auc_drop)?,
            ece_rise: self.share("monitoring.ece_rise", m.ece_rise, d.ece_rise)?,
            keep_lists: m.keep_lists.unwrap_or(d.keep_lists),
        })
    }

    pub(crate) fn retraining(&self, r: Option<RawRetraining>) -> Result<RetrainingConfig, ConfigError> {
        let d = RetrainingConfig::default();
        let Some(r) = r else { return Ok(d) };
        Ok(RetrainingConfig {
            auc_margin: self.share("retraining.auc_margin", r.auc_margin, d.auc_margin)?,
            ece_margin: self.share("retraining.ece_margin", r.ece_margin, d.ece_margin)?,
            brier_margin: self.share("retraining.brier_margin", r.brier_margin, d.brier_margin)?,
            roll_cutoffs: r.roll_cutoffs.unwrap_or(d.roll_cutoffs),
        })
    }
}
