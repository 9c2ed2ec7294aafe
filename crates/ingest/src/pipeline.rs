//! All tables of a pipeline together: opening them, agreeing on one id layout, and validating.

use std::path::Path;

use arrow::record_batch::RecordBatch;
use churnguard_config::{Date, Label, Pipeline, Role};
use serde::Serialize;

use crate::coerce::IdKind;
use crate::error::IngestError;
use crate::pseudonym::Pseudonymizer;
pub use crate::report::Progress;
use crate::report::TableReport;
use crate::source::SourceFile;
use crate::table::{ScanOptions, TableReader};

/// The configured tables of a pipeline, opened and checked, ready to be scanned.
pub struct Tables {
    /// Events, when configured.
    pub events: Option<TableReader>,
    /// Customers, when configured.
    pub customers: Option<TableReader>,
    /// Interactions, when configured.
    pub interactions: Option<TableReader>,
    /// Settings shared by every scan, the id layout included.
    pub options: ScanOptions,
    /// Set when the pipeline pseudonymizes ids; share it across tables so pseudonyms agree.
    pub pseudonymizer: Option<Pseudonymizer>,
}

impl Tables {
    /// The opened tables in a fixed order.
    pub fn iter(&self) -> impl Iterator<Item = &TableReader> {
        [&self.events, &self.customers, &self.interactions]
            .into_iter()
            .flatten()
    }
}

/// Scan settings for a pipeline, `as_of` overriding the config's when given.
pub fn scan_options(p: &Pipeline, as_of: Option<Date>, id_output: IdKind) -> ScanOptions {
    ScanOptions {
        as_of: as_of.or(p.data.as_of),
        strict: p.data.strict,
        batch_rows: p.data.batch_rows,
        id_output,
    }
}

/// The pseudonymizer the pipeline asks for, keyed from its environment variable.
pub fn pseudonymizer(p: &Pipeline) -> Result<Option<Pseudonymizer>, IngestError> {
    if p.privacy.pseudonymize {
        Pseudonymizer::from_env(&p.privacy.key_env).map(Some)
    } else {
        Ok(None)
    }
}

fn open_role(p: &Pipeline, role: Role) -> Option<Result<TableReader, IngestError>> {
    let d = &p.data;
    match role {
        Role::Events => d.events.as_ref().map(TableReader::open_events),
        Role::Customers => d
            .customers
            .as_ref()
            .map(|t| TableReader::open_customers(t, p.label.as_ref())),
        Role::Interactions => d.interactions.as_ref().map(TableReader::open_interactions),
    }
}

/// Integer ids only when every table stores integers and nothing pseudonymizes them; otherwise
/// text, so ids from different tables still match.
fn id_layout<'a>(readers: impl Iterator<Item = &'a TableReader>, pseudonymize: bool) -> IdKind {
    let mut all_int = !pseudonymize;
    for r in readers {
        all_int &= r.id_kind() == IdKind::Integer;
    }
    if all_int { IdKind::Integer } else { IdKind::Text }
}

/// Opens every configured table, failing on the first that cannot be read.
pub fn open(p: &Pipeline, as_of: Option<Date>) -> Result<Tables, IngestError> {
    // Partitioned tables read whole must still line up, partition for partition.
    crate::partition::partitions(p)?;
    let mut slots = [None, None, None];
    for (slot, role) in slots.iter_mut().zip(Role::ALL) {
        *slot = open_role(p, role).transpose()?;
    }
    tables(p, as_of, slots)
}

/// The configured tables over rows already in memory (a request to the service): `rows` holds
/// the events, customers and interactions batches, with the configured column names, named
/// `name` in messages. They are read exactly as files are: the same mapping, coercion, checks
/// and report.
pub fn open_rows(
    p: &Pipeline,
    as_of: Option<Date>,
    rows: [Option<RecordBatch>; 3],
    name: &Path,
) -> Result<Tables, IngestError> {
    let d = &p.data;
    let mut slots = [None, None, None];
    for ((slot, role), batch) in slots.iter_mut().zip(Role::ALL).zip(rows) {
        let Some(batch) = batch else { continue };
        *slot = match role {
            Role::Events => d
                .events
                .as_ref()
                .map(|t| TableReader::events_from(t, SourceFile::from_rows(role, &t.source, batch, name))),
            Role::Customers => d.customers.as_ref().map(|t| {
                TableReader::customers_from(t, p.label.as_ref(), SourceFile::from_rows(role, &t.source, batch, name))
            }),
            Role::Interactions => d
                .interactions
                .as_ref()
                .map(|t| TableReader::interactions_from(t, SourceFile::from_rows(role, &t.source, batch, name))),
        }
        .transpose()?;
    }
    tables(p, as_of, slots)
}

fn tables(p: &Pipeline, as_of: Option<Date>, slots: [Option<TableReader>; 3]) -> Result<Tables, IngestError> {
    let pseudonymizer = pseudonymizer(p)?;
    let [events, customers, interactions] = slots;
    let id_output = id_layout(
        [&events, &customers, &interactions].into_iter().flatten(),
        pseudonymizer.is_some(),
    );
    Ok(Tables {
        events,
        customers,
        interactions,
        options: scan_options(p, as_of, id_output),
        pseudonymizer,
    })
}

/// The outcome of reading one table.
#[derive(Clone, Debug, Serialize)]
pub struct TableValidation {
    /// `events`, `customers` or `interactions`.
    pub role: String,
    /// The file.
    pub path: String,
    /// What reading found, when it could be read.
    pub report: Option<TableReport>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// What `churnguard validate` found in a pipeline's data.
#[derive(Clone, Debug, Serialize)]
pub struct ValidationReport {
    /// The pipeline's name.
    pub pipeline: String,
    /// The config file.
    pub config: String,
    /// Whether strict mode was on.
    pub strict: bool,
    /// The `as_of` date used for the future check.
    pub as_of: Option<String>,
    /// The churn definition, in words.
    pub label: Option<String>,
    /// One entry per configured table.
    pub tables: Vec<TableValidation>,
    /// Problems that make the data unusable.
    pub errors: Vec<String>,
    /// Problems worth a look that do not stop a pipeline.
    pub warnings: Vec<String>,
}

impl ValidationReport {
    /// Whether a pipeline can run on this data.
    pub fn usable(&self) -> bool {
        self.errors.is_empty()
    }

    /// The report of one table, if it was read.
    pub fn table(&self, role: Role) -> Option<&TableReport> {
        self.tables
            .iter()
            .find(|t| t.role == role.name())
            .and_then(|t| t.report.as_ref())
    }
}

/// Reads every configured table and reports what it finds. Unlike [`open`] it does not stop at
/// the first broken table: each gets its own verdict.
pub fn validate(p: &Pipeline, as_of: Option<Date>, progress: &mut dyn FnMut(Progress)) -> ValidationReport {
    let mut report = ValidationReport {
        pipeline: p.name.clone(),
        config: p.file.display().to_string(),
        strict: p.data.strict,
        as_of: as_of.or(p.data.as_of).map(|d| d.to_string()),
        label: p.label.as_ref().map(ToString::to_string),
        tables: Vec::new(),
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    let mut pseudo = match pseudonymizer(p) {
        Ok(ps) => ps,
        Err(e) => {
            // Reading ids without their pseudonyms is what the setting forbids: stop here.
            report.errors.push(churnguard_config::with_causes(&e));
            return report;
        }
    };
    // Partitions that do not line up would split customers: nothing else is worth reading.
    if let Err(e) = crate::partition::partitions(p) {
        report.errors.push(churnguard_config::with_causes(&e));
        return report;
    }
    let opened: Vec<(Role, &std::path::Path, Result<TableReader, IngestError>)> = p
        .tables()
        .into_iter()
        .filter_map(|(role, src)| open_role(p, role).map(|r| (role, src.path.as_path(), r)))
        .collect();
    let id_output = id_layout(opened.iter().filter_map(|(_, _, r)| r.as_ref().ok()), pseudo.is_some());
    let opts = scan_options(p, as_of, id_output);
    for (role, path, reader) in &opened {
        let result = reader
            .as_ref()
            .map_err(|e| churnguard_config::with_causes(e))
            .and_then(|r| {
                let total_rows = r.total_rows();
                progress(Progress {
                    role: *role,
                    rows_read: 0,
                    total_rows,
                });
                r.scan(&opts, pseudo.as_mut(), |_, rows_read| {
                    progress(Progress {
                        role: *role,
                        rows_read,
                        total_rows,
                    })
                })
                .map_err(|e| churnguard_config::with_causes(&e))
            });
        let (report_t, error) = match result {
            Ok(t) => (Some(t), None),
            Err(e) => {
                report.errors.push(e.clone());
                (None, Some(e))
            }
        };
        report.tables.push(TableValidation {
            role: role.to_string(),
            path: path.display().to_string(),
            report: report_t,
            error,
        });
    }
    check_label(p, &mut report);
    for t in report.tables.iter().filter_map(|t| t.report.as_ref()) {
        if t.rows_rejected() > 0 {
            report.warnings.push(format!(
                "{} table: {} of {} rows rejected (see below)",
                t.role,
                t.rows_rejected(),
                t.rows_read
            ));
        }
        if let Some(n) = t.future_rows.filter(|&n| n > 0) {
            report.warnings.push(format!(
                "{} table: {n} rows are dated after as_of {}",
                t.role,
                t.as_of.as_deref().unwrap_or("?")
            ));
        }
        report
            .warnings
            .extend(t.hints.iter().map(|h| format!("{} table: {h}", t.role)));
    }
    report
}

fn check_label(p: &Pipeline, report: &mut ValidationReport) {
    let counts_of = |r: &ValidationReport, role: Role, column: &str| {
        r.table(role)
            .and_then(|t| t.value_counts.iter().find(|v| v.column == column))
            .map(|v| v.counts.clone())
    };
    match &p.label {
        Some(Label::Column { column, positive }) => {
            let Some(counts) = counts_of(report, Role::Customers, column) else {
                return;
            };
            let pos: u64 = counts
                .iter()
                .filter(|(v, _)| churnguard_config::label_matches(v, positive))
                .map(|c| c.1)
                .sum();
            if pos == 0 {
                let seen: Vec<&str> = counts.iter().take(10).map(|(v, _)| v.as_str()).collect();
                report.errors.push(format!(
                    "label: no customer has `{column}` = \"{positive}\" (values seen: {}); check `label.positive`",
                    seen.join(", ")
                ));
            }
            if let Some((_, n)) = counts.iter().find(|(v, _)| v == "(null)") {
                report.warnings.push(format!(
                    "label: {n} customers have no value in `{column}`; they cannot be used for training"
                ));
            }
        }
        Some(Label::Event { event_type, .. }) => {
            let Some(col) = p.data.events.as_ref().and_then(|e| e.event_type.clone()) else {
                return;
            };
            let Some(counts) = counts_of(report, Role::Events, &col) else {
                return;
            };
            if !counts.iter().any(|(v, _)| v == event_type) {
                report.warnings.push(format!(
                    "label: no event has `{col}` = \"{event_type}\", so no customer would count as churned"
                ));
            }
        }
        _ => {}
    }
}
