//! The `[snapshots]` section: the cutoff dates, and who a snapshot holds (the customers still
//! with us by the label's own definition).

use serde::Serialize;

use crate::raw::RawSnapshots;
use crate::{Checker, ConfigError, Date, Label, Pipeline};

/// Cutoff dates: each defines one snapshot, one row per customer known at that date.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshots {
    /// Training cutoffs in increasing order (a list, or every N days between two dates).
    pub train_cutoffs: Vec<Date>,
    /// The out-of-time evaluation cutoff.
    pub test_cutoff: Option<Date>,
    /// Keep only customers with an event in the last N days before the cutoff.
    pub active_within_days: Option<u32>,
    /// Who a snapshot holds (default: the customers still with us).
    pub population: Population,
    /// For an inactivity label: days without an event after which a customer has already
    /// churned at a cutoff (default: the label's horizon).
    pub alive_within_days: Option<u32>,
}

/// Who a snapshot (for training, test and the scored list) holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Population {
    /// Customers the label's own definition does not already count as gone: for `inactivity`,
    /// an event in the window before the cutoff; for `event`, no churn event before it. The
    /// already-churned go to the win-back list.
    #[default]
    Alive,
    /// Every customer with history, the already-churned included.
    Everyone,
}

/// Whether a customer is still with us at a cutoff, by the label's own definition.
#[derive(Clone, Debug, PartialEq)]
pub enum AliveRule {
    /// Every customer counts (population `everyone`, or a label with no notion of leaving).
    Everyone,
    /// An event in the `days` before the cutoff.
    ActiveWithin {
        /// The window, days.
        days: u32,
    },
    /// No event of this type before the cutoff.
    NoEventBefore {
        /// The churn event's type.
        event_type: String,
    },
}

impl Snapshots {
    /// The same schedule moved `days` later (training cutoffs and the test cutoff alike).
    pub fn shifted(&self, days: i32) -> Snapshots {
        let by = |d: &Date| Date::from_days(d.days() + days);
        Snapshots {
            train_cutoffs: self.train_cutoffs.iter().map(by).collect(),
            test_cutoff: self.test_cutoff.as_ref().map(by),
            ..self.clone()
        }
    }
}

impl Pipeline {
    /// Who counts as still with us at a cutoff: the rule the population and the win-back list
    /// follow.
    pub fn alive_rule(&self) -> AliveRule {
        if self.snapshots.population == Population::Everyone || self.data.events.is_none() {
            return AliveRule::Everyone;
        }
        match &self.label {
            Some(Label::Inactivity { horizon_days }) => AliveRule::ActiveWithin {
                days: self.snapshots.alive_within_days.unwrap_or(*horizon_days),
            },
            Some(Label::Event { event_type, .. }) => AliveRule::NoEventBefore {
                event_type: event_type.clone(),
            },
            _ => AliveRule::Everyone,
        }
    }
}

impl Checker<'_> {
    pub(crate) fn snapshots(&self, s: RawSnapshots) -> Result<Snapshots, ConfigError> {
        let mut train = Vec::new();
        if let Some(list) = s.train_cutoffs {
            for (i, d) in list.into_iter().enumerate() {
                train.push(self.date(&format!("snapshots.train_cutoffs[{i}]"), d)?);
            }
        }
        match (s.every_days, s.from, s.to) {
            (None, None, None) => {}
            (Some(every), Some(from), Some(to)) => {
                self.ensure(train.is_empty(), "snapshots.every_days", || {
                    "give either `train_cutoffs` or `every_days` with `from` and `to`, not both".into()
                })?;
                self.ensure((1..=3650).contains(&every), "snapshots.every_days", || {
                    format!("must be between 1 and 3650, got {every}")
                })?;
                let (from, to) = (self.date("snapshots.from", from)?, self.date("snapshots.to", to)?);
                self.ensure(from <= to, "snapshots.to", || {
                    format!("{to} is before `snapshots.from` {from}")
                })?;
                let mut d = from;
                while d <= to {
                    train.push(d);
                    d = Date::from_days(d.days() + every as i32);
                }
            }
            _ => {
                return Err(self.err(
                    "snapshots.every_days",
                    "`every_days`, `from` and `to` go together: give all three",
                ));
            }
        }
        let sorted = train.windows(2).all(|w| w[0] < w[1]);
        self.ensure(sorted, "snapshots.train_cutoffs", || {
            "must be distinct dates in increasing order".into()
        })?;
        let test_cutoff = s
            .test_cutoff
            .map(|d| self.date("snapshots.test_cutoff", d))
            .transpose()?;
        if let (Some(t), Some(last)) = (test_cutoff, train.last()) {
            self.ensure(t > *last, "snapshots.test_cutoff", || {
                format!("{t} must come after the last training cutoff {last} (the test is out of time)")
            })?;
        }
        let active_within_days = match s.active_within_days {
            None => None,
            Some(n) if (1..=3650).contains(&n) => Some(n as u32),
            Some(n) => {
                return Err(self.err(
                    "snapshots.active_within_days",
                    format!("must be between 1 and 3650, got {n}"),
                ));
            }
        };
        let population = match s.population.as_deref() {
            None => Population::default(),
            Some("alive") => Population::Alive,
            Some("everyone") => Population::Everyone,
            Some(other) => {
                return Err(self.err(
                    "snapshots.population",
                    format!("\"{other}\" is not a population (alive, everyone)"),
                ));
            }
        };
        let alive_within_days = match s.alive_within_days {
            None => None,
            Some(n) if (1..=3650).contains(&n) => Some(n as u32),
            Some(n) => {
                return Err(self.err(
                    "snapshots.alive_within_days",
                    format!("must be between 1 and 3650, got {n}"),
                ));
            }
        };
        Ok(Snapshots {
            train_cutoffs: train,
            test_cutoff,
            active_within_days,
            population,
            alive_within_days,
        })
    }
}
