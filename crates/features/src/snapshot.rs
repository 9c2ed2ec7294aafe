//! One snapshot: the feature table of the customers still with us at a cutoff, their labels, and
//! the customers the label's own definition already counts as gone.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int8Array};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use churnguard_config::{AliveRule, Date, Label, MS_PER_DAY, Pipeline, label_matches};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::aggregate::{contact_agg, event_agg};
use crate::plan::{Calc, plan, value};
use crate::{Attribute, CUTOFF, FeatureError, FeatureKind, FeatureSpec, History, LABEL};

/// Customers per parallel task when building a snapshot.
const BLOCK: usize = 2048;

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
    /// Customers with history whom the label's definition already counts as churned at the
    /// cutoff (not in the snapshot; the win-back list).
    #[serde(default)]
    pub already_churned: u64,
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
    /// Adds the counts of another part of the same snapshot (another partition's customers).
    pub fn add(&mut self, other: &SnapshotReport) {
        self.customers += other.customers;
        self.labelled += other.labelled;
        self.churned += other.churned;
        self.already_churned += other.already_churned;
        self.events_without_customer_row += other.events_without_customer_row;
        self.contacts_of_unknown_customers += other.contacts_of_unknown_customers;
        for (f, n) in &other.unseen_categories {
            match self.unseen_categories.iter_mut().find(|(g, _)| g == f) {
                Some((_, m)) => *m += n,
                None => self.unseen_categories.push((f.clone(), *n)),
            }
        }
        for w in &other.warnings {
            if !self.warnings.contains(w) {
                self.warnings.push(w.clone());
            }
        }
    }

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
    /// The history indices of the already-churned customers, by id.
    pub already_churned: Vec<u32>,
}

impl Snapshot {
    /// Feature `j` (in spec order) of every row, NaN where it is missing.
    pub fn feature(&self, j: usize) -> Vec<f64> {
        use arrow::array::{Array, AsArray};
        use arrow::datatypes::Float64Type;
        let column = self.batch.column(j + 2).as_primitive::<Float64Type>();
        (0..column.len())
            .map(|i| if column.is_valid(i) { column.value(i) } else { f64::NAN })
            .collect()
    }

    /// Each row's label: churned, stayed, or `None` when the outcome is not known yet.
    pub fn labels(&self) -> Vec<Option<bool>> {
        use arrow::array::Array;
        let Some(label) = self
            .batch
            .columns()
            .last()
            .and_then(|c| c.as_any().downcast_ref::<Int8Array>())
        else {
            return vec![None; self.batch.num_rows()];
        };
        (0..label.len())
            .map(|i| label.is_valid(i).then(|| label.value(i) > 0))
            .collect()
    }
}

/// Builds the feature table at `cutoff` with the given spec (from [`crate::spec_for`] when
/// training, from the model when scoring). Fails when the data's features differ from the spec.
pub fn snapshot(p: &Pipeline, h: &History, spec: &FeatureSpec, cutoff: Date) -> Result<Snapshot, FeatureError> {
    let structural = spec.differences(&crate::spec_for(p, h), false);
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
    let dictionaries = dictionaries(spec, &plan, h);
    let (population, already_churned) = population(p, h, c_ms);
    let horizon = Horizon::of(p, h, c_ms);
    let (columns, labels) = fill(p, h, &plan, &dictionaries, &population, c_ms, &horizon);
    let unseen_categories = unseen(h, &plan, &dictionaries, &population);
    let labelled = labels.iter().flatten().count() as u64;
    let churned = labels.iter().flatten().filter(|&&l| l == 1).count() as u64;
    let batch = assemble(h, spec, &population, cutoff, columns, labels)?;
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
            already_churned: already_churned.len() as u64,
            unlabelled_reason: horizon.unlabelled_reason,
            unseen_categories,
            events_without_customer_row: h.events_without_customer_row,
            contacts_of_unknown_customers: h.contacts_of_unknown_customers,
            warnings,
        },
        population,
        already_churned,
    })
}

/// Category codes by the spec's dictionaries, so scoring uses training's codes: per categorical
/// feature, the spec code of each of the data's own codes (NaN when unseen).
fn dictionaries(spec: &FeatureSpec, plan: &[(String, String, Calc)], h: &History) -> Vec<Option<Vec<f64>>> {
    spec.features
        .iter()
        .zip(plan)
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
        .collect()
}

/// The customers known at the cutoff, split into those still with us (the snapshot) and those
/// the label's own definition already counts as churned, each sorted by id. With an events
/// table a customer is known from their first event (the customers table only adds
/// attributes, so a customer who signs up later never leaks into an earlier snapshot); without
/// one, every row of the customers table.
fn population(p: &Pipeline, h: &History, c_ms: i64) -> (Vec<u32>, Vec<u32>) {
    let n_customers = h.customers.len() as u32;
    let active_ms = p.snapshots.active_within_days.map(|d| i64::from(d) * MS_PER_DAY);
    let rule = p.alive_rule();
    let churn_code = churn_code(p, h);
    // 0: not known at the cutoff (or outside `active_within_days`), 1: alive, 2: already churned.
    let class: Vec<u8> = (0..n_customers)
        .into_par_iter()
        .map(|c| match &h.events {
            Some(e) => {
                let (before, _) = e.split(c, c_ms);
                if before.is_empty() {
                    return 0;
                }
                let last = e.ts[before.end - 1];
                if active_ms.is_some_and(|a| c_ms - last > a) {
                    return 0;
                }
                let gone = match &rule {
                    AliveRule::Everyone => false,
                    AliveRule::ActiveWithin { days } => c_ms - last > i64::from(*days) * MS_PER_DAY,
                    AliveRule::NoEventBefore { .. } => {
                        churn_code.is_some_and(|code| before.clone().any(|r| e.kind[r] == code))
                    }
                };
                if gone { 2 } else { 1 }
            }
            None => u8::from(h.has_row[c as usize]),
        })
        .collect();
    let of_class = |k: u8| {
        let mut rows: Vec<u32> = (0..n_customers).filter(|&c| class[c as usize] == k).collect();
        h.customers.sort_by_id(&mut rows);
        rows
    };
    (of_class(1), of_class(2))
}

/// The code of the churn event's type among the events' kinds (event labels only).
fn churn_code(p: &Pipeline, h: &History) -> Option<u32> {
    match &p.label {
        Some(Label::Event { event_type, .. }) => h
            .events
            .as_ref()
            .and_then(|e| e.kinds.iter().position(|k| k == event_type))
            .map(|i| i as u32),
        _ => None,
    }
}

/// Where a snapshot's label window ends, or why its labels are unknown.
struct Horizon {
    /// The end of `[cutoff, cutoff + horizon)`, UTC ms, when the data covers it.
    end: Option<i64>,
    /// Why labels are missing, when they are.
    unlabelled_reason: Option<String>,
    /// The churn event's code (event labels).
    churn_code: Option<u32>,
}

impl Horizon {
    fn of(p: &Pipeline, h: &History, c_ms: i64) -> Horizon {
        let (end, unlabelled_reason) = match &p.label {
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
            Some(Label::Column { column, .. }) => match &h.label_values {
                Some(_) => (None, None),
                None => (
                    None,
                    Some(format!(
                        "the customers table has no `{column}` column: a table to score, not to train on"
                    )),
                ),
            },
            None => (None, Some("the pipeline defines no label".into())),
        };
        Horizon {
            end,
            unlabelled_reason,
            churn_code: churn_code(p, h),
        }
    }
}

/// Features written straight into their columns, a block of customers per task (no row-major
/// copy of the whole table is ever made), and each customer's label.
fn fill(
    p: &Pipeline,
    h: &History,
    plan: &[(String, String, Calc)],
    dictionaries: &[Option<Vec<f64>>],
    population: &[u32],
    c_ms: i64,
    horizon: &Horizon,
) -> (Vec<Vec<f64>>, Vec<Option<i8>>) {
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
    let (k, n) = (plan.len(), population.len());
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
                *label = label_of(p, h, horizon, c, ev.as_ref().map(|(_, _, after)| after.clone()));
            }
        });
    (columns, labels)
}

/// Customer `c`'s label at a cutoff: 1 churned, 0 stayed, `None` when not known yet. `after` is
/// the range of the customer's events from the cutoff on.
fn label_of(p: &Pipeline, h: &History, horizon: &Horizon, c: u32, after: Option<std::ops::Range<usize>>) -> Option<i8> {
    match (&p.label, &h.events, after) {
        (Some(Label::Column { positive, .. }), _, _) => h
            .label_values
            .as_ref()
            .and_then(|v| v.get(c))
            .map(|v| i8::from(label_matches(v, positive))),
        (Some(Label::Inactivity { .. }), Some(e), Some(after)) => horizon.end.map(|end| {
            let active = e.ts[after].first().is_some_and(|&t| t < end);
            i8::from(!active)
        }),
        (Some(Label::Event { .. }), Some(e), Some(after)) => horizon.end.map(|end| {
            let churned = horizon
                .churn_code
                .is_some_and(|code| after.take_while(|&r| e.ts[r] < end).any(|r| e.kind[r] == code));
            i8::from(churned)
        }),
        _ => None,
    }
}

/// Who a snapshot at `cutoff` holds and their outcomes, without computing any feature: what
/// monitoring needs to judge a list scored earlier once its horizon has passed.
#[derive(Clone, Debug)]
pub struct Outcomes {
    /// The history indices of the customers still with us at the cutoff, by id.
    pub population: Vec<u32>,
    /// Each one's outcome: churned, stayed, or `None` when not known yet.
    pub labels: Vec<Option<bool>>,
    /// Why outcomes are unknown, when they are.
    pub unlabelled_reason: Option<String>,
    /// Customers the label's definition already counts as gone at the cutoff.
    pub already_churned: u64,
}

/// The population and outcomes of the snapshot at `cutoff` ([`snapshot`]'s, without features).
pub fn outcomes(p: &Pipeline, h: &History, cutoff: Date) -> Outcomes {
    let c_ms = cutoff.start_ms();
    let (population, already_churned) = population(p, h, c_ms);
    let horizon = Horizon::of(p, h, c_ms);
    let labels = population
        .par_iter()
        .map(|&c| {
            let after = h.events.as_ref().map(|e| e.split(c, c_ms).1);
            label_of(p, h, &horizon, c, after).map(|l| l > 0)
        })
        .collect();
    Outcomes {
        population,
        labels,
        unlabelled_reason: horizon.unlabelled_reason,
        already_churned: already_churned.len() as u64,
    }
}

/// Categorical values of the population not in the spec's dictionaries, by feature.
fn unseen(
    h: &History,
    plan: &[(String, String, Calc)],
    dictionaries: &[Option<Vec<f64>>],
    population: &[u32],
) -> Vec<(String, u64)> {
    let mut out = Vec::new();
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
                out.push((name.clone(), n));
            }
        }
    }
    out
}

/// The Arrow table: customer id, cutoff, the features (NaN as null), the label.
fn assemble(
    h: &History,
    spec: &FeatureSpec,
    population: &[u32],
    cutoff: Date,
    columns: Vec<Vec<f64>>,
    labels: Vec<Option<i8>>,
) -> Result<RecordBatch, FeatureError> {
    let mut output: Vec<ArrayRef> = vec![
        h.customers.ids(population),
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
    output.push(Arc::new(Int8Array::from(labels)));
    fields.push(Field::new(LABEL, DataType::Int8, true));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), output).map_err(FeatureError::Arrow)
}
