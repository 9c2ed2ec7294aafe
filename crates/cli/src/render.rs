//! Plain-text reports for the terminal.

use std::fmt::Write;

use churnguard_app::{TableReport, ValidationReport};

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The validation report as text.
pub fn validation(r: &ValidationReport, label: Option<&churnguard_config::Label>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Pipeline {} ({})", r.pipeline, r.config);
    if let Some(label) = &r.label {
        let _ = writeln!(s, "Label: {label}");
    }
    if r.strict {
        let _ = writeln!(s, "Strict mode: every rejected row is an error");
    }
    for t in &r.tables {
        let _ = writeln!(s);
        match (&t.report, &t.error) {
            (Some(report), _) => table(&mut s, report, label),
            (None, Some(e)) => {
                let _ = writeln!(s, "{} — {}\n  ERROR: {e}", t.role, t.path);
            }
            (None, None) => {}
        }
    }
    if !r.warnings.is_empty() {
        let _ = writeln!(s, "\nWarnings:");
        for w in &r.warnings {
            let _ = writeln!(s, "  - {w}");
        }
    }
    if !r.errors.is_empty() {
        let _ = writeln!(s, "\nErrors:");
        for e in &r.errors {
            let _ = writeln!(s, "  - {e}");
        }
    }
    let verdict = if r.usable() {
        "usable"
    } else {
        "NOT usable (see the errors above)"
    };
    let _ = writeln!(s, "\nResult: {verdict}");
    s
}

fn table(s: &mut String, t: &TableReport, label: Option<&churnguard_config::Label>) {
    let _ = writeln!(s, "{} — {} ({})", t.role, t.path, t.format);
    let range = match (&t.first, &t.last) {
        (Some(a), Some(b)) => format!(" from {a} to {b}"),
        _ => String::new(),
    };
    let headline = match t.role.as_str() {
        "customers" => format!("{} customers", thousands(t.rows_kept)),
        role => format!(
            "{} {role} of {} customers{range}",
            thousands(t.rows_kept),
            thousands(t.customers)
        ),
    };
    let _ = writeln!(s, "  {headline}");
    let _ = writeln!(
        s,
        "  rows        {} read, {} kept, {} rejected",
        thousands(t.rows_read),
        thousands(t.rows_kept),
        thousands(t.rows_rejected())
    );
    if let (Some(z), Some(n)) = (t.zero_amounts, t.negative_amounts) {
        let _ = writeln!(
            s,
            "  amounts     {} zero-amount rows, {} negative",
            thousands(z),
            thousands(n)
        );
    }
    if let Some(d) = t.duplicate_customer_rows {
        let _ = writeln!(s, "  duplicates  {} duplicate customer rows", thousands(d));
    }
    if let (Some(f), Some(a)) = (t.future_rows, &t.as_of) {
        let _ = writeln!(s, "  future      {} rows dated after as_of {a}", thousands(f));
    }
    if t.pseudonymized {
        let _ = writeln!(s, "  ids         pseudonymized (keyed hash)");
    }
    if !t.dropped_pii.is_empty() {
        let _ = writeln!(s, "  PII dropped {}", t.dropped_pii.join(", "));
    }
    let wide = t.columns.iter().map(|c| c.column.len()).max().unwrap_or(6).max(6);
    let _ = writeln!(
        s,
        "  {:<wide$}  {:<23}  {:<24}  {:>9}",
        "column", "part", "type", "nulls"
    );
    for c in &t.columns {
        let mut nulls = thousands(c.nulls);
        if c.blanks > 0 {
            let _ = write!(nulls, " ({} blank)", thousands(c.blanks));
        }
        let distinct = c.distinct.map(|d| format!("  {d} values")).unwrap_or_default();
        let _ = writeln!(
            s,
            "  {:<wide$}  {:<23}  {:<24}  {:>9}{distinct}",
            c.column,
            c.part,
            shorten(&c.source_type, 24),
            nulls
        );
    }
    for (col, why) in &t.skipped_columns {
        let _ = writeln!(s, "  skipped `{col}`: {why}");
    }
    for v in &t.value_counts {
        let shown: Vec<String> = v
            .counts
            .iter()
            .take(8)
            .map(|(k, n)| format!("{k} {}", thousands(*n)))
            .collect();
        let more = if v.counts.len() > 8 {
            format!(", ... ({} values)", v.counts.len())
        } else {
            String::new()
        };
        let _ = writeln!(s, "  values of `{}`: {}{more}", v.column, shown.join(", "));
        if let Some(churnguard_config::Label::Column { column, positive }) = label
            && *column == v.column
        {
            let total: u64 = v.counts.iter().map(|(_, n)| n).sum();
            let churners: u64 = (v.counts.iter())
                .filter(|(k, _)| churnguard_config::label_matches(k, positive))
                .map(|(_, n)| n)
                .sum();
            let _ = writeln!(
                s,
                "  churners    {} of {} rows match positive = \"{positive}\" ({:.1}%)",
                thousands(churners),
                thousands(total),
                100.0 * churners as f64 / total.max(1) as f64
            );
        }
    }
    for r in &t.rejected {
        let _ = writeln!(s, "  rejected    {} rows: {}", thousands(r.count), r.description);
        for e in &r.examples {
            let value = e.value.as_ref().map(|v| format!(" \"{v}\"")).unwrap_or_default();
            let _ = writeln!(s, "                row {} `{}`{value}", thousands(e.row), e.column);
        }
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(69_659), "69,659");
        assert_eq!(super::thousands(1_234_567), "1,234,567");
    }
}
