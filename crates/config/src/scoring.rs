//! The `[scoring]` section: how the risk list values customers, ranks them and chooses an action.

use serde::Serialize;

use crate::raw::{RawAction, RawCapacity, RawDefaultActions, RawScoring};
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

    /// The name of a customer's risk level, [`UNKNOWN_RISK`] when it is unknown (`None`).
    pub fn name_of(level: Option<Tier>) -> &'static str {
        level.map_or(UNKNOWN_RISK, Tier::name)
    }
}

/// What every face calls the risk level of a customer missing too many inputs.
pub const UNKNOWN_RISK: &str = "unknown";

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

/// Which side of the package's value cut-off a customer is on (fixed at training: the top
/// `scoring.high_value_percent` of the test customers by value). Customers without a known value
/// are low value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueSegment {
    /// Among the most valuable customers.
    High,
    /// Everyone else.
    Low,
}

impl ValueSegment {
    /// The segment's name as written in configs and outputs.
    pub fn name(self) -> &'static str {
        match self {
            ValueSegment::High => "high",
            ValueSegment::Low => "low",
        }
    }

    /// Both segments, most valuable first.
    pub const ALL: [ValueSegment; 2] = [ValueSegment::High, ValueSegment::Low];

    /// Position in [`ValueSegment::ALL`].
    pub fn index(self) -> usize {
        self as usize
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

/// How many customers the retention team can reach in one list: resolved on the list being
/// scored, down its priority order.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Capacity {
    /// This many customers.
    Top(u64),
    /// This share (percent) of the list's customers, rounded up.
    TopPercent(f64),
}

impl Capacity {
    /// The customers it reaches in a list of `customers`.
    pub fn customers(self, customers: u64) -> u64 {
        match self {
            Capacity::Top(n) => n.min(customers),
            Capacity::TopPercent(k) => ((customers as f64 * k / 100.0).ceil() as u64).min(customers),
        }
    }

    /// Reads `N` (customers) or `N%` (a share of the list), as the CLI's `--capacity` takes it.
    pub fn parse(text: &str) -> Result<Capacity, String> {
        let bad =
            || format!("\"{text}\" is not a capacity: give a number of customers (500) or a share of the list (10%)");
        match text.trim().strip_suffix('%') {
            Some(share) => {
                let k: f64 = share.trim().parse().map_err(|_| bad())?;
                Capacity::top_percent(k).map_err(|why| format!("{}: {why}", bad()))
            }
            None => {
                let n: u64 = text.trim().parse().map_err(|_| bad())?;
                Capacity::top(n).map_err(|why| format!("{}: {why}", bad()))
            }
        }
    }

    fn top(n: u64) -> Result<Capacity, String> {
        if n == 0 {
            return Err("a capacity of 0 customers reaches no one".into());
        }
        Ok(Capacity::Top(n))
    }

    fn top_percent(k: f64) -> Result<Capacity, String> {
        if !(k > 0.0 && k <= 100.0) {
            return Err(format!("the share must be above 0 and at most 100, got {k}"));
        }
        Ok(Capacity::TopPercent(k))
    }
}

impl std::fmt::Display for Capacity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Capacity::Top(n) => write!(f, "{n} customers"),
            Capacity::TopPercent(k) => write!(f, "{k}% of the list"),
        }
    }
}

/// One retention rule: customers of a risk level (and value segment, when given) whose top
/// reason matches get `action`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionRule {
    /// The risk level it applies to.
    pub tier: Tier,
    /// The value segment it applies to; `None` matches both.
    pub value: Option<ValueSegment>,
    /// A feature name, or a prefix ending in `*`; `None` matches any reason.
    pub reason: Option<String>,
    /// What the retention team should do.
    pub action: String,
}

impl ActionRule {
    /// Whether the rule applies to a customer of `tier` and `value` whose top reason is
    /// `feature`.
    pub fn matches(&self, tier: Tier, value: ValueSegment, feature: Option<&str>) -> bool {
        self.tier == tier
            && self.value.is_none_or(|v| v == value)
            && match (&self.reason, feature) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(_), Some(f)) => self.names(f),
            }
    }

    /// Whether the rule's `reason` names this feature (see [`names_feature`]).
    pub fn names(&self, feature: &str) -> bool {
        self.reason.as_deref().is_none_or(|r| names_feature(r, feature))
    }
}

/// Whether a config's feature name `pattern` names this feature: the feature's name or its
/// source column (`plan` names `attr_plan`), exactly or by a prefix ending in `*`.
pub fn names_feature(pattern: &str, feature: &str) -> bool {
    let source = feature.strip_prefix("attr_");
    let hit = |name: &str| match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    };
    hit(feature) || source.is_some_and(hit)
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
    /// Give reasons to every customer (default false: those of high or medium risk and the
    /// high-value ones, whom an action reaches; TreeSHAP costs about twice as much per customer
    /// as scoring).
    pub explain_all: bool,
    /// The top share (percent) of the test customers by value that is "high value" (default
    /// 20), fixed at training into a value cut-off.
    pub high_value_percent: f64,
    /// Features a team cannot act on (names, source columns or prefixes ending in `*`), never
    /// given as a reason, though they still predict; besides these, the features that grow with
    /// the calendar (tenure, days since a customer date) never are (default: none more).
    pub not_actionable: Vec<String>,
    /// A customer missing more than this share of the model's inputs gets the risk level
    /// "unknown" and no action (default 0.5): a probability made mostly of missing values is
    /// the model's guess about a blank, not about the customer.
    pub max_missing_share: f64,
    /// How many customers the team can reach per list (`{ top = N }` or `{ top_percent = k }`):
    /// the first of the list by priority, of known risk, are marked `within_capacity` (default:
    /// none set, no mark).
    pub capacity: Option<Capacity>,
    /// Rules in order: the first that matches chooses the action.
    pub actions: Vec<ActionRule>,
    /// The action of each risk level (high, medium, low) for a low-value customer when no rule
    /// matches.
    pub default_actions: [String; 3],
    /// The same for a high-value customer.
    pub high_value_actions: [String; 3],
}

/// The action, and its rule, of a customer whose risk is unknown.
pub const UNKNOWN_ACTION: (&str, &str) = ("no action", "risk unknown: too many inputs missing");

/// Default actions per risk level, for low-value customers (or when values are unknown).
pub const DEFAULT_ACTIONS: [&str; 3] = ["personal retention call", "retention offer by email", "no action"];
/// Default actions per risk level for high-value customers: the matrix's valuable row, where a
/// customer of low risk still deserves care.
pub const HIGH_VALUE_ACTIONS: [&str; 3] = ["personal retention call", "personal retention call", "loyalty care"];

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
            high_value_percent: 20.0,
            not_actionable: Vec::new(),
            max_missing_share: 0.5,
            capacity: None,
            actions: Vec::new(),
            default_actions: DEFAULT_ACTIONS.map(String::from),
            high_value_actions: HIGH_VALUE_ACTIONS.map(String::from),
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

    /// The `not_actionable` names that match none of these features: a typo there would
    /// silently give the reason it meant to hold back.
    pub fn unmatched_not_actionable(&self, features: &[&str]) -> Vec<&str> {
        self.not_actionable
            .iter()
            .filter(|n| !features.iter().any(|f| names_feature(n, f)))
            .map(String::as_str)
            .collect()
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
    /// high`, `default for high, high value`): the rules in order, then each risk level's
    /// default for low-value customers, then for high-value ones.
    pub fn choices(&self) -> Vec<(String, String)> {
        let rules = self
            .actions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.action.clone(), format!("rule {}", i + 1)));
        let defaults = Tier::ALL
            .into_iter()
            .map(|t| (self.default_actions[t.index()].clone(), format!("default for {t}")));
        let valuable = Tier::ALL.into_iter().map(|t| {
            (
                self.high_value_actions[t.index()].clone(),
                format!("default for {t}, high value"),
            )
        });
        let unknown = std::iter::once((UNKNOWN_ACTION.0.to_string(), UNKNOWN_ACTION.1.to_string()));
        rules.chain(defaults).chain(valuable).chain(unknown).collect()
    }

    /// The index in [`ScoringConfig::choices`] of the action of a customer whose risk is
    /// unknown (too many inputs missing): the last choice.
    pub fn unknown_action(&self) -> usize {
        self.actions.len() + 2 * Tier::ALL.len()
    }

    /// Whether a customer missing `missing` of the model's `inputs` has an unknown risk.
    pub fn risk_unknown(&self, missing: usize, inputs: usize) -> bool {
        inputs > 0 && missing as f64 > self.max_missing_share * inputs as f64
    }

    /// The index in [`ScoringConfig::choices`] of a customer's action: for a risk `level`
    /// (`None`: unknown, too many inputs missing: [`ScoringConfig::unknown_action`]) the first
    /// rule that matches, else the default of the risk level and value segment.
    pub fn action_for(&self, level: Option<Tier>, value: ValueSegment, top_reason: Option<&str>) -> usize {
        let Some(tier) = level else {
            return self.unknown_action();
        };
        let default = match value {
            ValueSegment::Low => self.actions.len() + tier.index(),
            ValueSegment::High => self.actions.len() + Tier::ALL.len() + tier.index(),
        };
        self.actions
            .iter()
            .position(|r| r.matches(tier, value, top_reason))
            .unwrap_or(default)
    }

    /// Whether a customer of risk `level` (`None`: unknown) gets reasons: every customer an
    /// action may reach (high or medium risk, or high value), or everyone with `explain_all`;
    /// never one whose risk is unknown. The one rule the list, the merge, the service and the
    /// report follow.
    pub fn explains(&self, level: Option<Tier>, value: ValueSegment) -> bool {
        level.is_some_and(|tier| self.explain_all || tier != Tier::Low || value == ValueSegment::High)
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
        let value = match a.value.as_deref() {
            None => None,
            Some(name) => Some(
                ValueSegment::ALL
                    .into_iter()
                    .find(|v| v.name() == name)
                    .ok_or_else(|| self.err(&key("value"), format!("\"{name}\" is not a value segment (high, low)")))?,
            ),
        };
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
            value,
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
        let default_actions = self.default_actions("default_actions", s.default_actions, &d.default_actions)?;
        let high_value_actions =
            self.default_actions("high_value_actions", s.high_value_actions, &d.high_value_actions)?;
        let high_value_percent = s.high_value_percent.unwrap_or(d.high_value_percent);
        let max_missing_share = s.max_missing_share.unwrap_or(d.max_missing_share);
        self.ensure(
            (0.0..=1.0).contains(&max_missing_share),
            "scoring.max_missing_share",
            || format!("must be a share from 0 to 1, got {max_missing_share}"),
        )?;
        self.ensure(
            high_value_percent > 0.0 && high_value_percent <= 100.0,
            "scoring.high_value_percent",
            || format!("must be a percentage above 0 and at most 100, got {high_value_percent}"),
        )?;
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
            high_value_percent,
            not_actionable: s.not_actionable.unwrap_or_default(),
            max_missing_share,
            capacity: self.capacity(s.capacity)?,
            actions,
            default_actions,
            high_value_actions,
        })
    }

    /// `scoring.capacity`: exactly one of `top` and `top_percent`.
    fn capacity(&self, raw: Option<RawCapacity>) -> Result<Option<Capacity>, ConfigError> {
        let Some(raw) = raw else { return Ok(None) };
        let key = "scoring.capacity";
        let checked = match (raw.top, raw.top_percent) {
            (Some(n), None) => u64::try_from(n)
                .map_err(|_| format!("top must not be negative, got {n}"))
                .and_then(Capacity::top),
            (None, Some(k)) => Capacity::top_percent(k),
            _ => Err("give either `top = N` (customers) or `top_percent = k` (a share of the list)".into()),
        };
        checked.map(Some).map_err(|why| self.err(key, why))
    }

    /// A `[scoring.<table>]` of actions per risk level over `defaults`.
    fn default_actions(
        &self,
        table: &str,
        given: Option<RawDefaultActions>,
        defaults: &[String; 3],
    ) -> Result<[String; 3], ConfigError> {
        let mut actions = defaults.clone();
        if let Some(da) = given {
            for (slot, (name, v)) in actions
                .iter_mut()
                .zip([("high", da.high), ("medium", da.medium), ("low", da.low)])
            {
                if let Some(v) = v {
                    self.ensure(!v.trim().is_empty(), &format!("scoring.{table}.{name}"), || {
                        "must not be empty".into()
                    })?;
                    *slot = v;
                }
            }
        }
        Ok(actions)
    }
}
