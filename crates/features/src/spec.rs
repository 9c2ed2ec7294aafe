//! The `FeatureSpec`: the names, order, types and categorical dictionaries of a feature table,
//! saved with every model so that scoring computes exactly what training did.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How a feature's values are to be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum FeatureKind {
    /// A number.
    Numeric,
    /// A category code: the index of the value in `values`; missing or unseen values are null.
    Categorical {
        /// The dictionary, in code order.
        values: Vec<String>,
    },
}

/// One feature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feature {
    /// Stable column name.
    pub name: String,
    /// One line saying what it measures.
    pub description: String,
    /// Numeric or categorical.
    pub kind: FeatureKind,
}

impl Feature {
    /// A value of this feature as a person reads it: a category's name (not its code), a number
    /// as written; `None` when missing.
    pub fn value_text(&self, v: f64) -> Option<String> {
        if v.is_nan() {
            return None;
        }
        match &self.kind {
            FeatureKind::Categorical { values } => Some(
                (v >= 0.0)
                    .then(|| values.get(v as usize))
                    .flatten()
                    .map_or_else(|| "unknown".to_string(), Clone::clone),
            ),
            FeatureKind::Numeric => Some(v.to_string()),
        }
    }
}

/// The shape of a feature table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Layout version of this structure.
    pub version: u32,
    /// Features in column order.
    pub features: Vec<Feature>,
    /// Windows of the windowed families, in days.
    pub windows_days: Vec<u32>,
    /// Interaction kinds counted as complaints.
    pub complaint_kinds: Vec<String>,
    /// The churn definition, in words.
    pub label: Option<String>,
}

impl FeatureSpec {
    /// Whether each feature, in column order, is one a team cannot act on, so never a reason:
    /// those that grow with the calendar, and those `scoring.not_actionable` names.
    pub fn not_actionable(&self, s: &churnguard_config::ScoringConfig) -> Vec<bool> {
        self.grows_with_calendar()
            .into_iter()
            .zip(&self.features)
            .map(|(calendar, f)| {
                calendar
                    || s.not_actionable
                        .iter()
                        .any(|n| churnguard_config::names_feature(n, &f.name))
            })
            .collect()
    }

    /// The `[features]` settings that made this spec: a package's features can be built again
    /// with them whatever the pipeline file says today.
    pub fn features_config(&self) -> churnguard_config::FeaturesConfig {
        churnguard_config::FeaturesConfig {
            windows_days: self.windows_days.clone(),
            complaint_kinds: self.complaint_kinds.clone(),
        }
    }

    /// SHA-256 of the spec's canonical JSON, in hex.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(&json).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Feature names in order.
    pub fn names(&self) -> Vec<&str> {
        self.features.iter().map(|f| f.name.as_str()).collect()
    }

    /// Adds to each categorical feature's dictionary the values `other` has for the feature of
    /// the same name (sorted, without repeats); features `other` lacks keep theirs.
    pub fn add_dictionaries(&mut self, other: &FeatureSpec) {
        for f in &mut self.features {
            let theirs = other.features.iter().find(|g| g.name == f.name).map(|g| &g.kind);
            if let (FeatureKind::Categorical { values }, Some(FeatureKind::Categorical { values: theirs })) =
                (&mut f.kind, theirs)
            {
                values.extend(theirs.iter().cloned());
                values.sort();
                values.dedup();
            }
        }
    }

    /// The spec of two parts of one data set (two workers' customers): the same features, each
    /// category dictionary the sorted union of both; or how the parts differ.
    pub fn union(&self, other: &FeatureSpec) -> Result<FeatureSpec, Vec<String>> {
        let differences = self.differences(other, false);
        if !differences.is_empty() {
            return Err(differences);
        }
        let mut out = self.clone();
        out.add_dictionaries(other);
        Ok(out)
    }

    /// The differences between `self` (expected) and `other` (found), one line each; empty
    /// when they agree. Categorical dictionaries are compared only when `dictionaries` is set:
    /// new data may meet new values, which scoring maps to missing and counts.
    pub fn differences(&self, other: &FeatureSpec, dictionaries: bool) -> Vec<String> {
        let mut out = Vec::new();
        let (a, b) = (self.names(), other.names());
        for n in a.iter().filter(|n| !b.contains(n)) {
            out.push(format!("feature `{n}` is missing"));
        }
        for n in b.iter().filter(|n| !a.contains(n)) {
            out.push(format!("feature `{n}` is new"));
        }
        if out.is_empty() && a != b {
            out.push(format!(
                "features are in another order: expected {}, found {}",
                a.join(","),
                b.join(",")
            ));
        }
        for fa in &self.features {
            if let Some(fb) = other.features.iter().find(|f| f.name == fa.name)
                && differ(&fa.kind, &fb.kind, dictionaries)
            {
                out.push(format!(
                    "feature `{}` differs: expected {:?}, found {:?}",
                    fa.name, fa.kind, fb.kind
                ));
            }
        }
        if self.windows_days != other.windows_days {
            out.push(format!(
                "windows differ: expected {:?}, found {:?}",
                self.windows_days, other.windows_days
            ));
        }
        if self.label != other.label {
            out.push(format!(
                "label differs: expected {:?}, found {:?}",
                self.label, other.label
            ));
        }
        out
    }
}

fn differ(a: &FeatureKind, b: &FeatureKind, dictionaries: bool) -> bool {
    match (a, b) {
        (FeatureKind::Numeric, FeatureKind::Numeric) => false,
        (FeatureKind::Categorical { values: x }, FeatureKind::Categorical { values: y }) => dictionaries && x != y,
        _ => true,
    }
}
