//! Progress bars for long work, drawn on stderr only when it is a terminal.

use churnguard_app::AppError;
use churnguard_app::ReadProgress as Progress;
use churnguard_config::Role;
use indicatif::{ProgressBar, ProgressStyle};

/// A bar counting `unit` up to `total` (a spinner when the total is unknown).
pub fn bar(prefix: &str, total: Option<u64>, unit: &str) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let template = format!("{{prefix:>12}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} {{elapsed}} (eta {{eta}})");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(prefix.to_string());
    bar
}

/// One progress bar per table, drawn on stderr only when it is a terminal.
#[derive(Default)]
pub struct TableBars {
    current: Option<(Role, ProgressBar)>,
}

impl TableBars {
    /// Moves the bar of the table being read, starting a new bar for a new table.
    pub fn update(&mut self, p: Progress) {
        if self.current.as_ref().is_none_or(|(r, _)| *r != p.role) {
            self.finish();
            let bar = bar(p.role.name(), p.total_rows, "rows");
            self.current = Some((p.role, bar));
        }
        if let Some((_, bar)) = &self.current {
            bar.set_position(p.rows_read);
        }
    }

    /// Clears the current bar.
    pub fn finish(&mut self) {
        if let Some((_, bar)) = self.current.take() {
            bar.finish_and_clear();
        }
    }
}

/// The bars of a job of the application layer: one per table read, then one per counted stage
/// (snapshots, tuning trials, boosting rounds, customers scored).
#[derive(Default)]
pub struct Bars {
    tables: TableBars,
    current: Option<ProgressBar>,
}

impl Bars {
    /// Draws one progress report.
    pub fn update(&mut self, p: churnguard_app::Progress) {
        use churnguard_app::Progress as P;
        let (prefix, done, total, unit, message) = match p {
            P::Read(r) => return self.tables.update(r),
            P::Stage(_) => return self.finish(),
            P::Note(note) => {
                self.finish();
                eprintln!("note: {note}");
                return;
            }
            P::Snapshot { cutoff, done, total } => ("snapshots", done, total, "cutoffs", Some(cutoff)),
            P::Trial { number, of } => ("tuning", number, of, "trials", None),
            P::Round { round, of } => ("training", round, of, "rounds", None),
            P::Scored { done, total } => ("scoring", done, total, "customers", None),
            P::Compared { done, total } => ("comparing", done, total, "packages", None),
            P::Partition { key, done, total } => (
                "partitions",
                done,
                total,
                "partitions",
                (!key.is_empty()).then(|| format!("part={key}")),
            ),
        };
        self.tables.finish();
        let b = self
            .current
            .get_or_insert_with(|| bar(prefix, Some(total as u64), unit));
        b.set_position(done as u64);
        if let Some(m) = message {
            b.set_message(m);
        }
    }

    /// Loads a pipeline's tables with a bar per table.
    pub fn load(&mut self, p: &churnguard_config::Pipeline) -> Result<churnguard_app::History, AppError> {
        let history = churnguard_app::load(p, &mut |r| self.update(r));
        self.finish();
        history
    }

    /// Clears every bar.
    pub fn finish(&mut self) {
        self.tables.finish();
        if let Some(b) = self.current.take() {
            b.finish_and_clear();
        }
    }
}
