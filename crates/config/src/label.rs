//! The `[label]` section: what churned means for this business.

use std::fmt;

use serde::Serialize;

use crate::raw::RawLabel;
use crate::{Checker, ConfigError, DataConfig};

/// The churn definition.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Label {
    /// Churned if no event falls in `[cutoff, cutoff + horizon_days)`.
    Inactivity {
        /// Length of the look-ahead window.
        horizon_days: u32,
    },
    /// Churned if the customers table's `column` equals `positive`.
    Column {
        /// The label column of the customers table.
        column: String,
        /// The value meaning "churned", as text (`"Yes"`, `"1"`, `"true"`).
        positive: String,
    },
    /// Churned if an event of type `event_type` falls in the horizon.
    Event {
        /// The value of the events' `event_type` column that means churn.
        event_type: String,
        /// Length of the look-ahead window.
        horizon_days: u32,
    },
}

/// Whether a label cell means churned: the same text, or the same number or truth value
/// (`1`, `1.0` and `true` all match `positive = 1` or `positive = true`).
pub fn label_matches(cell: &str, positive: &str) -> bool {
    let (cell, positive) = (cell.trim(), positive.trim());
    if cell == positive {
        return true;
    }
    let truth = |s: &str| match s.to_ascii_lowercase().as_str() {
        "true" => Some(1.0),
        "false" => Some(0.0),
        other => other.parse::<f64>().ok(),
    };
    matches!((truth(cell), truth(positive)), (Some(a), Some(b)) if a == b)
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Inactivity { horizon_days } => {
                write!(f, "churned = no event in the {horizon_days} days after the cutoff")
            }
            Label::Column { column, positive } => write!(f, "churned = `{column}` is \"{positive}\""),
            Label::Event {
                event_type,
                horizon_days,
            } => write!(
                f,
                "churned = a \"{event_type}\" event in the {horizon_days} days after the cutoff"
            ),
        }
    }
}

impl Checker<'_> {
    pub(crate) fn label(&self, l: RawLabel, data: &DataConfig) -> Result<Label, ConfigError> {
        let horizon = |l: &RawLabel| -> Result<u32, ConfigError> {
            match l.horizon_days {
                None => Err(self.err("label.horizon_days", format!("is required when kind = \"{}\"", l.kind))),
                Some(h) if (1..=3650).contains(&h) => Ok(h as u32),
                Some(h) => Err(self.err(
                    "label.horizon_days",
                    format!("must be between 1 and 3650 days, got {h}"),
                )),
            }
        };
        let not_for = |key: &str, present: bool| {
            self.ensure(!present, &format!("label.{key}"), || {
                format!("does not apply to kind = \"{}\"", l.kind)
            })
        };
        match l.kind.as_str() {
            "inactivity" => {
                not_for("column", l.column.is_some())?;
                not_for("positive", l.positive.is_some())?;
                not_for("event_type", l.event_type.is_some())?;
                self.ensure(data.events.is_some(), "label.kind", || {
                    "\"inactivity\" needs an events table ([data.events])".into()
                })?;
                Ok(Label::Inactivity {
                    horizon_days: horizon(&l)?,
                })
            }
            "column" => {
                not_for("horizon_days", l.horizon_days.is_some())?;
                not_for("event_type", l.event_type.is_some())?;
                self.ensure(data.customers.is_some(), "label.kind", || {
                    "\"column\" needs a customers table ([data.customers]) holding the label".into()
                })?;
                let column = l
                    .column
                    .clone()
                    .ok_or_else(|| self.err("label.column", "is required when kind = \"column\""))?;
                self.column("label.column", &column)?;
                let positive = match l.positive {
                    None => return Err(self.err("label.positive", "is required when kind = \"column\"")),
                    Some(toml::Value::String(s)) => s,
                    Some(toml::Value::Integer(i)) => i.to_string(),
                    Some(toml::Value::Boolean(b)) => b.to_string(),
                    // Labels stored as 1.0 / 0.0 (a float column) match `1.0` as they match `1`.
                    Some(toml::Value::Float(x)) if x.is_finite() => x.to_string(),
                    Some(other) => {
                        return Err(self.err(
                            "label.positive",
                            format!("must be a string, number or boolean, got {}", other.type_str()),
                        ));
                    }
                };
                if let Some(c) = &data.customers {
                    self.ensure(column != c.source.customer_id, "label.column", || {
                        "is the customer id column".into()
                    })?;
                }
                Ok(Label::Column { column, positive })
            }
            "event" => {
                not_for("column", l.column.is_some())?;
                not_for("positive", l.positive.is_some())?;
                self.ensure(
                    data.events.as_ref().is_some_and(|e| e.event_type.is_some()),
                    "label.kind",
                    || "\"event\" needs an events table with an `event_type` column (data.events.event_type)".into(),
                )?;
                let event_type = l
                    .event_type
                    .clone()
                    .ok_or_else(|| self.err("label.event_type", "is required when kind = \"event\""))?;
                Ok(Label::Event {
                    event_type,
                    horizon_days: horizon(&l)?,
                })
            }
            other => Err(self.err(
                "label.kind",
                format!("\"{other}\" is not a label kind (inactivity, column, event)"),
            )),
        }
    }
}
