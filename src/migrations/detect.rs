//! Format detection for `--format auto`: looks at file names and markers in the migrations
//! directory and explains its choice.

use super::formats::{file_name, list_dir};
use super::{Format, LoadError, display_path};
use std::path::Path;

/// The detected format and the reasons, shown with `--verbose`.
#[derive(Debug, Clone)]
pub struct Detection {
    pub format: Format,
    pub reasons: Vec<String>,
}

/// Detects the format of the migrations in `dir`.
pub fn detect(dir: &Path) -> Result<Detection, LoadError> {
    if let Some(reason) = crate::alembic::config::detect(dir) {
        return Ok(Detection { format: Format::Alembic, reasons: vec![reason] });
    }
    let (files, _) = list_dir(dir)?;
    let sql: Vec<String> = files.iter().map(|p| file_name(p)).filter(|n| n.ends_with(".sql")).collect();
    if sql.is_empty() {
        return Err(LoadError::Empty { path: display_path(dir), hint: " (no .sql files)".to_string() });
    }
    Ok(Detection {
        format: Format::Sqlx,
        reasons: vec![format!("format sqlx: {} .sql files named <version>_<name>", sql.len())],
    })
}
