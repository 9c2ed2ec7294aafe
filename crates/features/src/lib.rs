//! Point-in-time features and churn labels.
//!
//! A snapshot at a cutoff date has one row per customer known at that date. Every feature is
//! computed strictly from rows dated before the cutoff; the label looks only at
//! `[cutoff, cutoff + horizon)`. Training and scoring call the same [`snapshot`] function, scoring
//! with the cutoff set to the scoring date and the [`FeatureSpec`] stored with the model.
//!
//! Population: with an events table, the customers with at least one event before the cutoff
//! (the customers table only adds attributes, so a customer who signs up later never leaks into
//! an earlier snapshot); without one, every row of the customers table.
//!
//! Work is parallel over customers (rayon); each row is computed by the same sequential
//! arithmetic whatever the thread count, so the output is bitwise the same for any thread count.

mod history;
mod spec;

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int8Array};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use churnguard_config::{Date, FeaturesConfig, Label, MS_PER_DAY, Pipeline};
use churnguard_ingest::IngestError;
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

pub use history::{Attribute, Categories, CustomerIndex, History, Series, load, load_with_progress};
pub use spec::{Feature, FeatureKind, FeatureSpec};

/// Name of the cutoff column of a feature table.
pub const CUTOFF: &str = "cutoff";
/// Name of the label column of a feature table (1 churned, 0 stayed, null unknown).
pub const LABEL: &str = "label";
/// Layout version of [`FeatureSpec`].
pub const SPEC_VERSION: u32 = 1;
/// Customers per parallel task when building a snapshot.
const BLOCK: usize = 2048;

/// Building features failed.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// A table could not be read.
    #[error(transparent)]
    Ingest(IngestError),
    /// The cutoff leaves no customer with history.
    #[error("cutoff {cutoff} is on or before the first event ({first}): no customer has any history before it")]
    CutoffBeforeData {
        /// The cutoff asked for.
        cutoff: Date,
        /// The first event's date.
        first: Date,
    },
    /// The data does not produce the features a model expects.
    #[error("the features of this pipeline differ from the model's FeatureSpec:\n  - {}", .0.join("\n  - "))]
    SpecMismatch(Vec<String>),
    /// Building the Arrow table failed.
    #[error("cannot assemble the feature table: {0}")]
    Arrow(String),
}

/// What one feature computes.
#[derive(Clone, Copy, Debug)]
enum Calc {
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

/// Every feature the data allows, in a fixed order: (name, description, calculation).
fn plan(cfg: &FeaturesConfig, h: &History) -> Vec<(String, String, Calc)> {
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
            "tenure_days".into(),
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
        match attr {
            Attribute::Numeric(_) => add(
                format!("attr_{name}"),
                format!("customer attribute `{name}`"),
                Calc::Numeric(i),
            ),
            Attribute::Categorical(_) => add(
                format!("attr_{name}"),
                format!("customer attribute `{name}` (category code)"),
                Calc::Categorical(i),
            ),
            Attribute::Date(_) => add(
                format!("attr_{name}_days"),
                format!("days from customer date `{name}` to the cutoff"),
                Calc::DateAge(i),
            ),
        }
    }
    out
}

/// What building one snapshot found.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct SnapshotReport {
    /// The cutoff.
    pub cutoff: String,
    /// Rows (customers in the snapshot).
    pub customers: u64,
    /// Rows with a known label.
    pub labelled: u64,
    /// Of those, churned.
    pub churned: u64,
    /// Why labels are missing, when they are.
    pub unlabelled_reason: Option<String>,
    /// Categorical values not in the spec's dictionary (mapped to missing), by feature.
    pub unseen_categories: Vec<(String, u64)>,
    /// Customers with events but no row in the customers table.
    pub events_without_customer_row: u64,
    /// Contacts of customers unknown to the pipeline (dropped).
    pub contacts_of_unknown_customers: u64,
    /// Things worth a look.
    pub warnings: Vec<String>,
}

impl SnapshotReport {
    /// Churned share of labelled rows.
    pub fn churn_rate(&self) -> Option<f64> {
        (self.labelled > 0).then(|| self.churned as f64 / self.labelled as f64)
    }
}

/// A feature table for one cutoff.
#[derive(Debug)]
pub struct Snapshot {
    /// customer id, cutoff, the features in spec order, label.
    pub batch: RecordBatch,
    /// What was found.
    pub report: SnapshotReport,
    /// The history index of each row's customer (for [`History`] lookups such as spend).
    pub population: Vec<u32>,
}

/// Per-customer aggregates of the rows before the cutoff.
#[derive(Default)]
struct Agg {
    n: usize,
    first: i64,
    last: i64,
    amount_n: usize,
    amount_sum: f64,
    amount_max: f64,
    amount_m2: f64,
    amount_mean: f64,
    quantity_sum: f64,
    gap_n: usize,
    gap_mean: f64,
    gap_m2: f64,
    gap_max: f64,
    last_gap: f64,
    window_n: [u32; 8],
    window_amount: [f64; 8],
    window_days: [u32; 8],
    previous_n: [u32; 8],
}

fn days(ms: i64) -> f64 {
    ms as f64 / MS_PER_DAY as f64
}

fn event_agg(s: &Series, rows: std::ops::Range<usize>, cutoff: i64, windows: &[i64]) -> Agg {
    let mut a = Agg {
        amount_max: f64::NAN,
        gap_max: f64::NAN,
        last_gap: f64::NAN,
        ..Agg::default()
    };
    let mut last_day = [i64::MIN; 8];
    let mut previous_ts: Option<i64> = None;
    for r in rows {
        let t = s.ts[r];
        if a.n == 0 {
            a.first = t;
        }
        a.n += 1;
        a.last = t;
        let v = s.value[r];
        if !v.is_nan() {
            // Welford: stable mean and variance in one pass.
            a.amount_n += 1;
            a.amount_sum += v;
            let d = v - a.amount_mean;
            a.amount_mean += d / a.amount_n as f64;
            a.amount_m2 += d * (v - a.amount_mean);
            a.amount_max = if a.amount_max.is_nan() { v } else { a.amount_max.max(v) };
        }
        if !s.extra[r].is_nan() {
            a.quantity_sum += s.extra[r];
        }
        if let Some(p) = previous_ts {
            let g = days(t - p);
            a.gap_n += 1;
            let d = g - a.gap_mean;
            a.gap_mean += d / a.gap_n as f64;
            a.gap_m2 += d * (g - a.gap_mean);
            a.gap_max = if a.gap_max.is_nan() { g } else { a.gap_max.max(g) };
            a.last_gap = g;
        }
        previous_ts = Some(t);
        let age = cutoff - t;
        let day = t.div_euclid(MS_PER_DAY);
        for (i, &w) in windows.iter().enumerate() {
            if age <= w {
                a.window_n[i] += 1;
                if !v.is_nan() {
                    a.window_amount[i] += v;
                }
                if day != last_day[i] {
                    a.window_days[i] += 1;
                    last_day[i] = day;
                }
            } else if age <= 2 * w {
                a.previous_n[i] += 1;
            }
        }
    }
    a
}

/// Per-customer aggregates of support contacts before the cutoff.
#[derive(Default)]
struct ContactAgg {
    n: u32,
    window_n: [u32; 8],
    window_complaints: [u32; 8],
    score_n: u32,
    score_sum: f64,
    last_complaint: Option<i64>,
}

fn contact_agg(
    s: &Series,
    rows: std::ops::Range<usize>,
    cutoff: i64,
    windows: &[i64],
    complaint: &[bool],
) -> ContactAgg {
    let mut a = ContactAgg::default();
    for r in rows {
        let t = s.ts[r];
        if t >= cutoff {
            break;
        }
        a.n += 1;
        let is_complaint = complaint.get(s.kind[r] as usize).copied().unwrap_or(false);
        if is_complaint {
            a.last_complaint = Some(t);
        }
        if !s.value[r].is_nan() {
            a.score_n += 1;
            a.score_sum += s.value[r];
        }
        for (i, &w) in windows.iter().enumerate() {
            if cutoff - t <= w {
                a.window_n[i] += 1;
                a.window_complaints[i] += u32::from(is_complaint);
            }
        }
    }
    a
}

/// Builds the feature table at `cutoff` with the given spec (from [`spec_for`] when training, from
/// the model when scoring). Fails when the data's features differ from the spec.
pub fn snapshot(p: &Pipeline, h: &History, spec: &FeatureSpec, cutoff: Date) -> Result<Snapshot, FeatureError> {
    let structural = spec.differences(&spec_for(p, h), false);
    if !structural.is_empty() {
        return Err(FeatureError::SpecMismatch(structural));
    }
    let c_ms = cutoff.start_ms();
    if let Some(first) = h.data_start_ms
        && c_ms <= first
    {
        return Err(FeatureError::CutoffBeforeData {
            cutoff,
            first: Date::of_ms(first),
        });
    }
    let plan = plan(&p.features, h);
    let windows: Vec<i64> = p
        .features
        .windows_days
        .iter()
        .map(|&w| i64::from(w) * MS_PER_DAY)
        .collect();
    let complaint: Vec<bool> = h
        .contacts
        .as_ref()
        .map(|c| c.kinds.iter().map(|k| p.features.complaint_kinds.contains(k)).collect())
        .unwrap_or_default();
    // Category codes by the spec's dictionaries, so scoring uses training's codes: per
    // categorical feature, the spec code of each of the data's own codes (NaN when unseen).
    let dictionaries: Vec<Option<Vec<f64>>> = spec
        .features
        .iter()
        .zip(&plan)
        .map(|(f, (_, _, calc))| match (&f.kind, calc) {
            (FeatureKind::Categorical { values }, Calc::Categorical(a)) => {
                let Attribute::Categorical(cats) = &h.attributes[*a].1 else {
                    return None;
                };
                let spec_codes: FxHashMap<&str, f64> =
                    values.iter().enumerate().map(|(i, v)| (v.as_str(), i as f64)).collect();
                Some(
                    cats.values
                        .iter()
                        .map(|v| spec_codes.get(&**v).copied().unwrap_or(f64::NAN))
                        .collect(),
                )
            }
            _ => None,
        })
        .collect();

    let n_customers = h.customers.len() as u32;
    let active_ms = p.snapshots.active_within_days.map(|d| i64::from(d) * MS_PER_DAY);
    let mut population: Vec<u32> = (0..n_customers)
        .into_par_iter()
        .filter(|&c| match &h.events {
            Some(e) => {
                let (before, _) = e.split(c, c_ms);
                !before.is_empty() && active_ms.is_none_or(|a| c_ms - e.ts[before.end - 1] <= a)
            }
            None => h.has_row[c as usize],
        })
        .collect();
    h.customers.sort_by_id(&mut population);

    let (horizon_end, unlabelled_reason) = match &p.label {
        Some(Label::Inactivity { horizon_days } | Label::Event { horizon_days, .. }) => {
            let end = c_ms + i64::from(*horizon_days) * MS_PER_DAY;
            if end > h.data_end_ms {
                (
                    None,
                    Some(format!(
                        "the {horizon_days}-day horizon runs to {}, past the end of the data ({}): this is a scoring snapshot",
                        Date::of_ms(end - 1),
                        Date::of_ms(h.data_end_ms - 1)
                    )),
                )
            } else {
                (Some(end), None)
            }
        }
        Some(Label::Column { .. }) => (None, None),
        None => (None, Some("the pipeline defines no label".into())),
    };
    let churn_code = match &p.label {
        Some(Label::Event { event_type, .. }) => h
            .events
            .as_ref()
            .and_then(|e| e.kinds.iter().position(|k| k == event_type))
            .map(|i| i as u32),
        _ => None,
    };

    let k = plan.len();
    let n = population.len();
    // Features are written straight into their columns, a block of customers per task, so no
    // row-major copy of the whole table is ever made.
    let mut columns: Vec<Vec<f64>> = (0..k).map(|_| vec![0.0; n]).collect();
    let mut labels: Vec<Option<i8>> = vec![None; n];
    let mut blocks: Vec<Vec<&mut [f64]>> = (0..n.div_ceil(BLOCK)).map(|_| Vec::with_capacity(k)).collect();
    for col in columns.iter_mut() {
        for (b, chunk) in col.chunks_mut(BLOCK).enumerate() {
            blocks[b].push(chunk);
        }
    }
    blocks
        .into_par_iter()
        .zip(labels.par_chunks_mut(BLOCK))
        .zip(population.par_chunks(BLOCK))
        .for_each(|((mut block, labels), customers)| {
            for (i, (&c, label)) in customers.iter().zip(labels).enumerate() {
                let ev = h.events.as_ref().map(|e| {
                    let (before, after) = e.split(c, c_ms);
                    (e, before, after)
                });
                let agg = ev
                    .as_ref()
                    .map(|(e, before, _)| event_agg(e, before.clone(), c_ms, &windows));
                let contacts = h
                    .contacts
                    .as_ref()
                    .map(|s| contact_agg(s, s.range(c), c_ms, &windows, &complaint));
                for (j, (_, _, calc)) in plan.iter().enumerate() {
                    block[j][i] = value(
                        *calc,
                        agg.as_ref(),
                        contacts.as_ref(),
                        h,
                        c,
                        c_ms,
                        dictionaries[j].as_ref(),
                    );
                }
                *label = match (&p.label, &ev) {
                    (Some(Label::Column { positive, .. }), _) => h
                        .label_values
                        .as_ref()
                        .and_then(|v| v.get(c))
                        .map(|v| i8::from(v == positive.as_str())),
                    (Some(Label::Inactivity { .. }), Some((e, _, after))) => horizon_end.map(|end| {
                        let active = e.ts[after.clone()].first().is_some_and(|&t| t < end);
                        i8::from(!active)
                    }),
                    (Some(Label::Event { .. }), Some((e, _, after))) => horizon_end.map(|end| {
                        let churned = churn_code.is_some_and(|code| {
                            after.clone().take_while(|&r| e.ts[r] < end).any(|r| e.kind[r] == code)
                        });
                        i8::from(churned)
                    }),
                    _ => None,
                };
            }
        });
    let mut unseen_by_feature: Vec<(String, u64)> = Vec::new();
    for (j, (name, _, calc)) in plan.iter().enumerate() {
        if let (Calc::Categorical(a), Some(dict)) = (calc, dictionaries[j].as_ref()) {
            let Attribute::Categorical(v) = &h.attributes[*a].1 else {
                continue;
            };
            let n = population
                .iter()
                .filter(|&&c| dict.get(v.codes[c as usize] as usize).is_some_and(|x| x.is_nan()))
                .count() as u64;
            if n > 0 {
                unseen_by_feature.push((name.clone(), n));
            }
        }
    }

    let mut output: Vec<ArrayRef> = vec![
        h.customers.ids(&population),
        Arc::new(Date32Array::from(vec![cutoff.days(); population.len()])),
    ];
    let mut fields = vec![
        Field::new("customer_id", output[0].data_type().clone(), false),
        Field::new(CUTOFF, DataType::Date32, false),
    ];
    let feature_columns: Vec<ArrayRef> = columns
        .into_par_iter()
        .map(|mut col| {
            // NaN marks a missing feature; Arrow marks it with a null (and a zero under it).
            let valid = BooleanBuffer::collect_bool(col.len(), |i| !col[i].is_nan());
            let nulls = (valid.count_set_bits() < col.len()).then(|| NullBuffer::new(valid));
            if nulls.is_some() {
                col.iter_mut().filter(|v| v.is_nan()).for_each(|v| *v = 0.0);
            }
            Arc::new(Float64Array::new(col.into(), nulls)) as ArrayRef
        })
        .collect();
    output.extend(feature_columns);
    fields.extend(
        spec.features
            .iter()
            .map(|f| Field::new(&f.name, DataType::Float64, true)),
    );
    let labelled = labels.iter().flatten().count() as u64;
    let churned = labels.iter().flatten().filter(|&&l| l == 1).count() as u64;
    output.push(Arc::new(Int8Array::from(labels)));
    fields.push(Field::new(LABEL, DataType::Int8, true));
    let batch =
        RecordBatch::try_new(Arc::new(Schema::new(fields)), output).map_err(|e| FeatureError::Arrow(e.to_string()))?;

    let mut warnings = Vec::new();
    if c_ms > h.data_end_ms {
        warnings.push(format!(
            "cutoff {cutoff} is after the end of the data ({}): features describe the customers as of the last data",
            Date::of_ms(h.data_end_ms - 1)
        ));
    }
    Ok(Snapshot {
        batch,
        report: SnapshotReport {
            cutoff: cutoff.to_string(),
            customers: population.len() as u64,
            labelled,
            churned,
            unlabelled_reason,
            unseen_categories: unseen_by_feature,
            events_without_customer_row: h.events_without_customer_row,
            contacts_of_unknown_customers: h.contacts_of_unknown_customers,
            warnings,
        },
        population,
    })
}

#[allow(clippy::too_many_arguments)]
fn value(
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
