//! The feature plan: every feature the data allows, in a fixed order, and how each one is
//! computed from a customer's aggregates.

use churnguard_config::{FeaturesConfig, Pipeline};

use crate::aggregate::{Agg, ContactAgg, days};
use crate::{Attribute, Feature, FeatureKind, FeatureSpec, History, SPEC_VERSION};

/// What one feature computes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Calc {
    Recency,
    Tenure,
    Frequency,
    MonetaryTotal,
    AmountMean,
    AmountMax,
    AmountStd,
    QuantityTotal,
    EventsIn(usize),
    AmountIn(usize),
    ActiveDaysIn(usize),
    Trend(usize),
    GapMean,
    GapStd,
    GapMax,
    LastGap,
    RecencyOverGap,
    ContactsTotal,
    ContactsIn(usize),
    ComplaintsIn(usize),
    ScoreMean,
    DaysSinceComplaint,
    Numeric(usize),
    Categorical(usize),
    DateAge(usize),
}

/// The spec of the features this pipeline's data gives, with categorical dictionaries taken from
/// the data (sorted values).
pub fn spec_for(p: &Pipeline, h: &History) -> FeatureSpec {
    let cfg = &p.features;
    let plan = plan(cfg, h);
    let features = plan
        .iter()
        .map(|(name, description, calc)| Feature {
            name: name.clone(),
            description: description.clone(),
            kind: match calc {
                Calc::Categorical(a) if let Attribute::Categorical(v) = &h.attributes[*a].1 => {
                    let mut values: Vec<String> = v.values.iter().map(|s| s.to_string()).collect();
                    values.sort();
                    FeatureKind::Categorical { values }
                }
                _ => FeatureKind::Numeric,
            },
        })
        .collect();
    FeatureSpec {
        version: SPEC_VERSION,
        features,
        windows_days: cfg.windows_days.clone(),
        complaint_kinds: cfg.complaint_kinds.clone(),
        label: p.label.as_ref().map(ToString::to_string),
    }
}

/// The feature of how long someone has been a customer.
const TENURE: &str = "tenure_days";

/// Every feature the data allows, in a fixed order: (name, description, calculation).
// One long flat list on purpose: the order is part of every FeatureSpec and model, and reading it
// top to bottom is how a reviewer checks that order; split into pieces it would be harder to see.
pub(crate) fn plan(cfg: &FeaturesConfig, h: &History) -> Vec<(String, String, Calc)> {
    let mut out: Vec<(String, String, Calc)> = Vec::new();
    let mut add = |name: String, desc: String, calc| out.push((name, desc, calc));
    let (amount, quantity, _) = h.event_columns;
    if h.events.is_some() {
        add(
            "recency_days".into(),
            "days from the last event to the cutoff".into(),
            Calc::Recency,
        );
        add(
            TENURE.into(),
            "days from the first event to the cutoff".into(),
            Calc::Tenure,
        );
        add("frequency".into(), "events before the cutoff".into(), Calc::Frequency);
        if amount {
            add(
                "monetary_total".into(),
                "sum of amounts before the cutoff".into(),
                Calc::MonetaryTotal,
            );
            add("amount_mean".into(), "mean amount per event".into(), Calc::AmountMean);
            add(
                "amount_max".into(),
                "largest amount of one event".into(),
                Calc::AmountMax,
            );
            add(
                "amount_std".into(),
                "standard deviation of amounts (population)".into(),
                Calc::AmountStd,
            );
        }
        if quantity {
            add(
                "quantity_total".into(),
                "sum of quantities before the cutoff".into(),
                Calc::QuantityTotal,
            );
        }
        for (i, w) in cfg.windows_days.iter().enumerate() {
            add(
                format!("events_{w}d"),
                format!("events in the {w} days before the cutoff"),
                Calc::EventsIn(i),
            );
            if amount {
                add(
                    format!("amount_{w}d"),
                    format!("sum of amounts in the {w} days before the cutoff"),
                    Calc::AmountIn(i),
                );
            }
            add(
                format!("active_days_{w}d"),
                format!("distinct days with an event in the {w} days before the cutoff"),
                Calc::ActiveDaysIn(i),
            );
            add(
                format!("trend_{w}d"),
                format!("(events in the last {w} days + 1) / (events in the {w} days before those + 1)"),
                Calc::Trend(i),
            );
        }
        add(
            "gap_mean_days".into(),
            "mean days between consecutive events".into(),
            Calc::GapMean,
        );
        add(
            "gap_std_days".into(),
            "standard deviation of days between events (population)".into(),
            Calc::GapStd,
        );
        add(
            "gap_max_days".into(),
            "longest gap between events, days".into(),
            Calc::GapMax,
        );
        add(
            "last_gap_days".into(),
            "days between the last two events".into(),
            Calc::LastGap,
        );
        add(
            "recency_over_gap".into(),
            "recency divided by the mean gap".into(),
            Calc::RecencyOverGap,
        );
    }
    if h.contacts.is_some() {
        add(
            "contacts_total".into(),
            "support contacts before the cutoff".into(),
            Calc::ContactsTotal,
        );
        for (i, w) in cfg.windows_days.iter().enumerate() {
            add(
                format!("contacts_{w}d"),
                format!("support contacts in the {w} days before the cutoff"),
                Calc::ContactsIn(i),
            );
            add(
                format!("complaints_{w}d"),
                format!("complaints in the {w} days before the cutoff"),
                Calc::ComplaintsIn(i),
            );
        }
        if h.has_score {
            add(
                "score_mean".into(),
                "mean contact score before the cutoff".into(),
                Calc::ScoreMean,
            );
        }
        add(
            "days_since_complaint".into(),
            "days from the last complaint to the cutoff".into(),
            Calc::DaysSinceComplaint,
        );
    }
    for (i, (name, attr)) in h.attributes.iter().enumerate() {
        let kind = match attr {
            Attribute::Numeric(_) => AttributeKind::Numeric,
            Attribute::Categorical(_) => AttributeKind::Categorical,
            Attribute::Date(_) => AttributeKind::Date,
        };
        let (feature, description) = attribute_feature(name, kind);
        add(
            feature,
            description,
            match kind {
                AttributeKind::Numeric => Calc::Numeric(i),
                AttributeKind::Categorical => Calc::Categorical(i),
                AttributeKind::Date => Calc::DateAge(i),
            },
        );
    }
    out
}

/// How a customers-table column is read as a feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeKind {
    /// A number.
    Numeric,
    /// A category (text, integer codes or booleans).
    Categorical,
    /// A date, turned into days before the cutoff.
    Date,
}

/// The feature name and description of customers-table column `column`.
fn attribute_feature(column: &str, kind: AttributeKind) -> (String, String) {
    match kind {
        AttributeKind::Numeric => (format!("attr_{column}"), format!("customer attribute `{column}`")),
        AttributeKind::Categorical => (
            format!("attr_{column}"),
            format!("customer attribute `{column}` (category code)"),
        ),
        AttributeKind::Date => (
            format!("attr_{column}_days"),
            format!("days from customer date `{column}` to the cutoff"),
        ),
    }
}

impl FeatureSpec {
    /// The customers-table columns the features read, in feature order, and how each is read:
    /// what a customer given as raw attributes must (and may) carry.
    pub fn attribute_columns(&self) -> Vec<(String, AttributeKind)> {
        self.features
            .iter()
            .filter_map(|f| {
                let column = f.description.split('`').nth(1)?;
                [AttributeKind::Numeric, AttributeKind::Categorical, AttributeKind::Date]
                    .into_iter()
                    .find(|&k| attribute_feature(column, k) == (f.name.clone(), f.description.clone()))
                    .map(|k| (column.to_string(), k))
            })
            .collect()
    }

    /// Whether each feature, in column order, grows with the calendar by construction (days
    /// since the first event, days since a customer date): its distribution moves a day every
    /// day for the same customers, so a drift check of it says only that time has passed.
    pub fn grows_with_calendar(&self) -> Vec<bool> {
        let dates: Vec<String> = self
            .attribute_columns()
            .into_iter()
            .filter(|(_, k)| *k == AttributeKind::Date)
            .map(|(column, k)| attribute_feature(&column, k).0)
            .collect();
        self.features
            .iter()
            .map(|f| f.name == TENURE || dates.contains(&f.name))
            .collect()
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn value(
    calc: Calc,
    a: Option<&Agg>,
    ct: Option<&ContactAgg>,
    h: &History,
    c: u32,
    c_ms: i64,
    dict: Option<&Vec<f64>>,
) -> f64 {
    let nan = f64::NAN;
    let ev = |f: &dyn Fn(&Agg) -> f64| a.filter(|a| a.n > 0).map_or(nan, f);
    let con = |f: &dyn Fn(&ContactAgg) -> f64| ct.map_or(nan, f);
    match calc {
        Calc::Recency => ev(&|a| days(c_ms - a.last)),
        Calc::Tenure => ev(&|a| days(c_ms - a.first)),
        Calc::Frequency => a.map_or(0.0, |a| a.n as f64),
        Calc::MonetaryTotal => ev(&|a| a.amount_sum),
        Calc::AmountMean => ev(&|a| {
            if a.amount_n > 0 {
                a.amount_sum / a.amount_n as f64
            } else {
                nan
            }
        }),
        Calc::AmountMax => ev(&|a| a.amount_max),
        Calc::AmountStd => ev(&|a| {
            if a.amount_n > 0 {
                (a.amount_m2 / a.amount_n as f64).sqrt()
            } else {
                nan
            }
        }),
        Calc::QuantityTotal => ev(&|a| a.quantity_sum),
        Calc::EventsIn(i) => a.map_or(0.0, |a| f64::from(a.window_n[i])),
        Calc::AmountIn(i) => a.map_or(0.0, |a| a.window_amount[i]),
        Calc::ActiveDaysIn(i) => a.map_or(0.0, |a| f64::from(a.window_days[i])),
        Calc::Trend(i) => a.map_or(nan, |a| {
            (f64::from(a.window_n[i]) + 1.0) / (f64::from(a.previous_n[i]) + 1.0)
        }),
        Calc::GapMean => ev(&|a| if a.gap_n > 0 { a.gap_mean } else { nan }),
        Calc::GapStd => ev(&|a| {
            if a.gap_n > 0 {
                (a.gap_m2 / a.gap_n as f64).sqrt()
            } else {
                nan
            }
        }),
        Calc::GapMax => ev(&|a| a.gap_max),
        Calc::LastGap => ev(&|a| a.last_gap),
        Calc::RecencyOverGap => ev(&|a| {
            if a.gap_n > 0 && a.gap_mean > 0.0 {
                days(c_ms - a.last) / a.gap_mean
            } else {
                nan
            }
        }),
        Calc::ContactsTotal => con(&|x| f64::from(x.n)),
        Calc::ContactsIn(i) => con(&|x| f64::from(x.window_n[i])),
        Calc::ComplaintsIn(i) => con(&|x| f64::from(x.window_complaints[i])),
        Calc::ScoreMean => con(&|x| {
            if x.score_n > 0 {
                x.score_sum / f64::from(x.score_n)
            } else {
                nan
            }
        }),
        Calc::DaysSinceComplaint => con(&|x| x.last_complaint.map_or(nan, |t| days(c_ms - t))),
        Calc::Numeric(i) => match &h.attributes[i].1 {
            Attribute::Numeric(v) => v[c as usize],
            _ => nan,
        },
        Calc::Categorical(i) => match (&h.attributes[i].1, dict) {
            (Attribute::Categorical(v), Some(d)) => d.get(v.codes[c as usize] as usize).copied().unwrap_or(nan),
            _ => nan,
        },
        Calc::DateAge(i) => match &h.attributes[i].1 {
            Attribute::Date(v) => v[c as usize].map_or(nan, |t| days(c_ms - t)),
            _ => nan,
        },
    }
}
