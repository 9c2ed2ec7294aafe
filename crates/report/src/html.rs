//! The page around the charts: one self-contained HTML file that fetches nothing (a content
//! security policy forbids it), tables, and number formatting.

use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number as tables show it: enough digits to check it against the manifest (up to 6
/// significant), whole numbers without decimals.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let digits = if x.abs() >= 1.0 {
        (5 - x.abs().log10().floor() as i32).max(0)
    } else {
        6
    };
    format!("{x:.*}", digits as usize)
}

/// A p-value: four decimals, or two significant digits below 0.0001 (never printed as 0).
pub fn p_value(p: f64) -> String {
    if p >= 1e-4 || p == 0.0 || !p.is_finite() {
        format!("{p:.4}")
    } else {
        format!("{p:.1e}")
    }
}

/// A share as a percentage with one decimal.
pub fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A chart drawn: its SVG and its data table.
pub struct Drawn {
    /// Inline SVG, or a note saying why it could not be drawn.
    pub svg: String,
    /// The data it shows.
    pub table: Table,
}

/// A table of text cells.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as aligned text for a terminal.
    pub fn text(&self) -> String {
        let columns = self.header.len();
        let mut width = vec![0usize; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (k, cell) in row.iter().enumerate().take(columns) {
                width[k] = width[k].max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for (r, row) in std::iter::once(&self.header).chain(&self.rows).enumerate() {
            for (k, cell) in row.iter().enumerate().take(columns) {
                let pad = width[k] - cell.chars().count();
                // Names left, figures right.
                if k == 0 {
                    let _ = write!(out, "{cell}{}", " ".repeat(pad));
                } else {
                    let _ = write!(out, "  {}{cell}", " ".repeat(pad));
                }
            }
            out.push('\n');
            if r == 0 {
                let rule: usize = width.iter().sum::<usize>() + 2 * (columns - 1);
                out.push_str(&"-".repeat(rule));
                out.push('\n');
            }
        }
        out
    }

    /// The table as HTML; `name` goes in its `data-table` attribute, which tests and readers
    /// of the page can look it up by.
    pub fn html(&self, name: &str) -> String {
        let mut out = format!("<table data-table=\"{}\"><thead><tr>", escape(name));
        for h in &self.header {
            let _ = write!(out, "<th>{}</th>", escape(h));
        }
        out.push_str("</tr></thead><tbody>");
        for row in &self.rows {
            out.push_str("<tr>");
            for cell in row {
                let _ = write!(out, "<td>{}</td>", escape(cell));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
        out
    }
}

/// A page being built: sections of headings, text, figures and tables.
pub struct Page {
    title: String,
    body: String,
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px auto;max-width:1180px;color:#222;line-height:1.4}\
h1{font-size:1.6em;margin-bottom:0}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:2em}\
.lead{color:#555;margin-top:4px}.grid{display:flex;flex-wrap:wrap;gap:16px}\
figure{margin:0;border:1px solid #e3e3e3;padding:6px;background:#fff}figcaption{font-size:.85em;color:#555;max-width:560px}\
table{border-collapse:collapse;font-size:.9em;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}\
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}details{font-size:.85em;margin-top:4px}\
details table{max-height:none}pre{background:#f7f7f7;padding:8px;overflow:auto;font-size:.8em;max-height:480px}\
.error{color:#b00}.note{color:#555;font-size:.9em}.worse{color:#b00;font-weight:bold}.better{color:#070}";

impl Page {
    /// An empty page.
    pub fn new(title: &str) -> Page {
        Page {
            title: title.to_string(),
            body: String::new(),
        }
    }

    /// A section heading.
    pub fn heading(&mut self, text: &str) {
        let _ = write!(self.body, "<h2>{}</h2>", escape(text));
    }

    /// A paragraph of plain text.
    pub fn text(&mut self, text: &str) {
        let _ = write!(self.body, "<p>{}</p>", escape(text));
    }

    /// A paragraph in the muted style of notes.
    pub fn note(&mut self, text: &str) {
        let _ = write!(self.body, "<p class=\"note\">{}</p>", escape(text));
    }

    /// Raw HTML made by this crate.
    pub fn raw(&mut self, html: &str) {
        self.body.push_str(html);
    }

    /// A table.
    pub fn table(&mut self, name: &str, table: &Table) {
        self.body.push_str(&table.html(name));
    }

    /// Preformatted text.
    pub fn pre(&mut self, text: &str) {
        let _ = write!(self.body, "<pre>{}</pre>", escape(text));
    }

    /// Figures side by side: each chart, its caption and its data table (folded).
    pub fn figures(&mut self, figures: &[(&str, Drawn, String)]) {
        self.body.push_str("<div class=\"grid\">");
        for (name, drawn, caption) in figures {
            let _ = write!(
                self.body,
                "<figure data-chart=\"{}\">{}<figcaption>{}</figcaption><details><summary>Data</summary>{}</details></figure>",
                escape(name),
                drawn.svg,
                escape(caption),
                drawn.table.html(name),
            );
        }
        self.body.push_str("</div>");
    }

    /// The whole page.
    pub fn finish(self, lead: &str) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>{STYLE}</style></head>\
<body><h1>{title}</h1><p class=\"lead\">{lead}</p>{body}</body></html>\n",
            title = escape(&self.title),
            lead = escape(lead),
            body = self.body,
        )
    }
}
