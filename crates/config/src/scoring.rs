//! The `[scoring]` section: how the risk list values customers, ranks them and chooses an action.

use serde::Serialize;

use crate::raw::{RawAction, RawScoring};
use crate::{Checker, ConfigError, Label};

/// A risk tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The riskiest customers.
    High,
    /// The next ones.
    Medium,
    /// Everyone else.
    Low,
}

impl Tier {
    /// The tier's name as written in configs and outputs.
    pub fn name(self) -> &'static str {
        match self {
            Tier::High => "high",
            Tier::Medium => "medium",
            Tier::Low => "low",
        }
    }

    /// All tiers, riskiest first.
    pub const ALL: [Tier; 3] = [Tier::High, Tier::Medium, Tier::Low];

    /// The tier of a probability given the lowest probabilities of the high and medium tiers.
    pub fn of(probability: f64, high: f64, medium: f64) -> Tier {
        if probability >= high {
            Tier::High
        } else if probability >= medium {
            Tier::Medium
        } else {
            Tier::Low
        }
    }

    /// Position in [`Tier::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::str::FromStr for Tier {
    type Err = String;

    fn from_str(s: &str) -> Result<Tier, String> {
        Tier::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| format!("\"{s}\" is not a tier (high, medium, low)"))
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How the list is ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// Highest churn probability first.
    Probability,
    /// Highest value at risk first.
    ValueAtRisk,
}

impl RankBy {
    /// The order of rows `a` and `b` in the list (first: `Less`): by decreasing probability, or
    /// by decreasing value at risk then probability; the row breaks ties, so the order is total.
    /// Without values every value at risk is 0: the list is by probability.
    pub fn compare(self, probabilities: &[f64], values: Option<&[f64]>, a: usize, b: usize) -> std::cmp::Ordering {
        let by_probability = || probabilities[b].total_cmp(&probabilities[a]).then(a.cmp(&b));
        match (self, values) {
            (RankBy::ValueAtRisk, Some(values)) => {
                let (va, vb) = (values[a] * probabilities[a], values[b] * probabilities[b]);
                vb.total_cmp(&va).then_with(by_probability)
            }
            _ => by_probability(),
        }
    }

    /// The rows in list order.
    pub fn order(self, probabilities: &[f64], values: Option<&[f64]>) -> Vec<usize> {
        let mut order: Vec<usize> = (0..probabilities.len()).collect();
        order.sort_unstable_by(|&a, &b| self.compare(probabilities, values, a, b));
        order
    }

    /// Its name in the config and the manifest.
    pub fn name(self) -> &'static str {
        match self {
            RankBy::Probability => "probability",
            RankBy::ValueAtRisk => "value_at_risk",
        }
    }
}

/// One retention rule: customers of `tier` whose top reason matches get `action`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionRule {
    /// The tier it applies to.
    pub tier: Tier,
    /// A feature name, or a prefix ending in `*`; `None` matches any reason.
    pub reason: Option<String>,
    /// What the retention team should do.
    pub action: String,
}

impl ActionRule {
    /// Whether the rule applies to a customer of `tier` whose top reason is `feature`.
    pub fn matches(&self, tier: Tier, feature: Option<&str>) -> bool {
        self.tier == tier
            && match (&self.reason, feature) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(_), Some(f)) => self.names(f),
            }
    }

    /// Whether the rule's `reason` names this feature: the feature's name or its source
    /// column (`plan` names `attr_plan`), exactly or by a prefix ending in `*`.
    pub fn names(&self, feature: &str) -> bool {
        let Some(r) = &self.reason else { return true };
        let source = feature.strip_prefix("attr_");
        let hit = |name: &str| match r.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == r,
        };
        hit(feature) || source.is_some_and(hit)
    }
}

/// Scoring settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScoringConfig {
    /// Days of history whose spend estimates a customer's value (default 365).
    pub lookback_days: u32,
    /// Days of value at stake (default: the label's horizon, else 90).
    pub horizon_days: u32,
    /// A customers-table attribute holding spend, for pipelines without event amounts.
    pub value_attribute: Option<String>,
    /// The number of days `value_attribute` covers (default 30: a monthly charge).
    pub value_attribute_days: u32,
    /// Order of the list (default: by value at risk when customers have a value, else by
    /// probability).
    pub rank_by: Option<RankBy>,
    /// Customers scored per batch (default 65,536): bounds the memory of scoring.
    pub batch_rows: usize,
    /// Give reasons to low-tier customers too (default false: high and medium only, since
    /// TreeSHAP costs about twice as much per customer as scoring).
    pub explain_all: bool,
    /// Rules in order: the first that matches chooses the action.
    pub actions: Vec<ActionRule>,
    /// The action of each tier when no rule matches (high, medium, low).
    pub default_actions: [String; 3],
}

/// Default actions per tier.
pub const DEFAULT_ACTIONS: [&str; 3] = ["personal retention call", "retention offer by email", "no action"];

impl ScoringConfig {
    /// The defaults for a pipeline with this label.
    pub fn defaults(label: Option<&Label>) -> ScoringConfig {
        ScoringConfig {
            lookback_days: 365,
            horizon_days: match label {
                Some(Label::Inactivity { horizon_days } | Label::Event { horizon_days, .. }) => *horizon_days,
                _ => 90,
            },
            value_attribute: None,
            value_attribute_days: 30,
            rank_by: None,
            batch_rows: 65_536,
            explain_all: false,
            actions: Vec::new(),
            default_actions: DEFAULT_ACTIONS.map(String::from),
        }
    }

    /// The list's order: `rank_by` when set, else value at risk when customers have a value.
    pub fn ranking(&self, value_known: bool) -> RankBy {
        self.rank_by.unwrap_or(if value_known {
            RankBy::ValueAtRisk
        } else {
            RankBy::Probability
        })
    }

    /// The rules (by index) whose `reason` matches none of these features: they could never
    /// choose an action.
    pub fn unmatched_rules(&self, features: &[&str]) -> Vec<usize> {
        self.actions
            .iter()
            .enumerate()
            .filter(|(_, r)| r.reason.is_some() && !features.iter().any(|f| r.names(f)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Every action a customer can get, with the rule that gives it (`rule 2`, `default for
    /// high`): the rules in order, then each tier's default.
    pub fn choices(&self) -> Vec<(String, String)> {
        let rules = self
            .actions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.action.clone(), format!("rule {}", i + 1)));
        let defaults = Tier::ALL
            .into_iter()
            .map(|t| (self.default_actions[t.index()].clone(), format!("default for {t}")));
        rules.chain(defaults).collect()
    }

    /// The index in [`ScoringConfig::choices`] of a customer's action: the first rule that
    /// matches, else the tier's default.
    pub fn action_for(&self, tier: Tier, top_reason: Option<&str>) -> usize {
        self.actions
            .iter()
            .position(|r| r.matches(tier, top_reason))
            .unwrap_or(self.actions.len() + tier.index())
    }
}

impl Checker<'_> {
    fn tier(&self, key: &str, name: &str) -> Result<Tier, ConfigError> {
        Tier::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| self.err(key, format!("\"{name}\" is not a tier (high, medium, low)")))
    }

    fn action(&self, i: usize, a: RawAction) -> Result<ActionRule, ConfigError> {
        let key = |k: &str| format!("scoring.actions[{i}].{k}");
        let tier = self.tier(&key("tier"), &a.tier)?;
        self.ensure(!a.action.trim().is_empty(), &key("action"), || {
            "must not be empty".into()
        })?;
        if let Some(r) = &a.reason {
            self.ensure(!r.trim().is_empty() && r != "*", &key("reason"), || {
                "must be a feature name or a prefix ending in `*` (leave it out to match any reason)".into()
            })?;
        }
        Ok(ActionRule {
            tier,
            reason: a.reason,
            action: a.action,
        })
    }

    pub(crate) fn scoring(&self, s: Option<RawScoring>, label: Option<&Label>) -> Result<ScoringConfig, ConfigError> {
        let d = ScoringConfig::defaults(label);
        let Some(s) = s else { return Ok(d) };
        let rank_by = match s.rank_by.as_deref() {
            None => d.rank_by,
            Some("probability") => Some(RankBy::Probability),
            Some("value_at_risk") => Some(RankBy::ValueAtRisk),
            Some(other) => {
                return Err(self.err(
                    "scoring.rank_by",
                    format!("\"{other}\" is not a ranking (probability, value_at_risk)"),
                ));
            }
        };
        let days = |key: &str, v: Option<i64>, default: u32| -> Result<u32, ConfigError> {
            let v = v.unwrap_or(i64::from(default));
            self.ensure((1..=3650).contains(&v), key, || {
                format!("must be between 1 and 3650 days, got {v}")
            })?;
            Ok(v as u32)
        };
        let batch_rows = s.batch_rows.unwrap_or(d.batch_rows as i64);
        self.ensure((1..=10_000_000).contains(&batch_rows), "scoring.batch_rows", || {
            format!("must be between 1 and 10000000, got {batch_rows}")
        })?;
        if let Some(a) = &s.value_attribute {
            self.column("scoring.value_attribute", a)?;
        }
        let mut actions = Vec::new();
        for (i, a) in s.actions.into_iter().enumerate() {
            actions.push(self.action(i, a)?);
        }
        let mut default_actions = d.default_actions.clone();
        if let Some(da) = s.default_actions {
            for (slot, (name, v)) in
                default_actions
                    .iter_mut()
                    .zip([("high", da.high), ("medium", da.medium), ("low", da.low)])
            {
                if let Some(v) = v {
                    self.ensure(!v.trim().is_empty(), &format!("scoring.default_actions.{name}"), || {
                        "must not be empty".into()
                    })?;
                    *slot = v;
                }
            }
        }
        Ok(ScoringConfig {
            lookback_days: days("scoring.lookback_days", s.lookback_days, d.lookback_days)?,
            horizon_days: days("scoring.horizon_days", s.horizon_days, d.horizon_days)?,
            value_attribute: s.value_attribute,
            value_attribute_days: days(
                "scoring.value_attribute_days",
                s.value_attribute_days,
                d.value_attribute_days,
            )?,
            rank_by,
            batch_rows: batch_rows as usize,
            explain_all: s.explain_all.unwrap_or(d.explain_all),
            actions,
            default_actions,
        })
    }
}
