//! Progress bars for long work, drawn on stderr only when it is a terminal.

use churnguard_config::Role;
use churnguard_ingest::Progress;
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
