//! `report`: a package's `report.html` drawn again from its verified manifest.

use std::path::{Path, PathBuf};

use churnguard_package::{Package, replace_report};

use crate::AppError;

/// Verifies the package at `path`, draws its report and replaces `report.html` in it; returns
/// the report's path.
pub fn redraw_report(path: &Path) -> Result<PathBuf, AppError> {
    let package = Package::open(path)?;
    let html = churnguard_report::package_report(&package.manifest);
    Ok(replace_report(&package.dir, &html)?)
}
