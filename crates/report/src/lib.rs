//! Self-contained HTML pages with charts drawn by plotters' SVG backend: a model package's
//! `report.html` (from its manifest alone, so it can be drawn again for any package) and the
//! pages of `churnguard compare` and `churnguard monitor`. Nothing on a page is fetched from the network.

mod chart;
mod compare;
mod curves;
mod html;
mod monitor;
mod package;

pub use compare::{comparison_report, figure_table, gate_table, migration_table, paired_table};
pub use html::{Table, p_value};
pub use monitor::{feature_table, matured_table, monitoring_report, population_table};
pub use package::package_report;
