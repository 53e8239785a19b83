//! One loader per migration tool; each turns a directory into unordered `Migration`s following
//! that tool's own naming and marker rules.

mod alembic;
mod sqlx;

use super::{Format, LoadError, LoadOptions, Migration, Version, display_path};
use std::path::{Path, PathBuf};

/// Reads every migration of `format` in `dir` (order and parent links are set by the caller).
pub fn load(format: Format, dir: &Path, options: &LoadOptions) -> Result<Vec<Migration>, LoadError> {
    let _ = options;
    match format {
        Format::Sqlx => sqlx::load(dir),
        Format::Alembic => alembic::load(dir),
        other => Err(LoadError::Undetected {
            path: display_path(dir),
            reason: format!("format {other} is not supported yet"),
        }),
    }
}

/// The entries of `dir`, sorted by file name, split into (files, directories).
pub(crate) fn list_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), LoadError> {
    let io = |source| LoadError::Io { path: display_path(dir), source };
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if path.is_dir() {
            dirs.push(path);
        } else if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    dirs.sort();
    Ok((files, dirs))
}

/// The file name of `path` as text (lossy; only used for matching and messages).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Splits `<digits><sep><name>` into a version and a description (`_` shown as spaces).
pub(crate) fn version_and_name(stem: &str, sep: char) -> Option<(Version, String)> {
    let (version, name) = match stem.split_once(sep) {
        Some((v, n)) => (v, n),
        None => (stem, ""),
    };
    let version = Version::parse(version).filter(|_| !version.contains(['.', '_']))?;
    Some((version, name.replace('_', " ").trim().to_string()))
}
