//! Alembic: Python revision files in the project's version locations, linked by
//! `down_revision` (see `crate::alembic` for finding and parsing them).

use crate::alembic::{self, Revision, script};
use crate::migrations::{Apply, LoadError, Migration, Script, Transaction, display_path};
use crate::sql::Split;
use std::path::{Path, PathBuf};

/// Reads every revision file of the project at `dir`, in file-name order (the caller orders
/// them by the graph).
pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, LoadError> {
    let project = alembic::config::locate(dir)?;
    let mut files = Vec::new();
    for location in &project.version_locations {
        if !location.is_dir() {
            return Err(LoadError::NotFound { path: display_path(location) });
        }
        collect(location, project.recursive, &mut files)?;
    }
    files.sort();
    // Parsing dominates loading large histories; spread it over the cores, keeping file order.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let chunk = files.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|path| revision(path)).collect::<Vec<_>>()))
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("a parser thread does not panic")).collect()
    })
}

/// Python files Alembic would load: not `__init__.py`, not editor lock files (`.#`).
fn collect(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let io = |source| LoadError::Io { path: display_path(dir), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if path.is_dir() {
            if recursive && name != "__pycache__" {
                crate::migrations::check_entry(&path)?;
                collect(&path, recursive, out)?;
            }
        } else if name.ends_with(".py") && !name.starts_with("__init__") && !name.starts_with(".#") {
            out.push(path);
        }
    }
    Ok(())
}

fn revision(path: &Path) -> Result<Migration, LoadError> {
    let source = crate::migrations::read_sql_file(path)?;
    let file = script::parse(&source).map_err(|e| {
        let line = match &e {
            script::ScriptError::Syntax { line } | script::ScriptError::Value { line, .. } => *line,
        };
        let message = e.to_string();
        let message = message.split_once(": ").map_or(message.as_str(), |(_, m)| m).to_string();
        LoadError::invalid(path, line, message)
    })?;
    let Some(rev) = file.revision.as_ref() else {
        return Err(LoadError::invalid(
            path,
            1,
            "no `revision = \"...\"` assignment, so Alembic cannot load this file",
        ));
    };
    let [id] = rev.values.as_slice() else {
        return Err(LoadError::invalid(path, rev.line, "`revision` must be one string"));
    };
    let down = file.down_revision.clone().unwrap_or_default();
    let depends = file.depends_on.clone().unwrap_or_default();
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = file
        .message
        .clone()
        .unwrap_or_else(|| stem.strip_prefix(id.as_str()).unwrap_or(&stem).trim_start_matches('_').replace('_', " "));
    // The SQL scripts stay empty: Alembic runs the Python. They carry the file and line of
    // `upgrade()` / `downgrade()` for reports.
    let located = |first_line: u32| Script {
        path: path.to_path_buf(),
        first_line,
        sql: String::new(),
        split: Split::default(),
        transaction: Transaction::None("applied by Alembic, which manages the transaction".to_string()),
        origins: Vec::new(),
    };
    let up = located(file.upgrade.as_ref().map_or(rev.line, |f| f.line));
    let down_script = file.downgrade.as_ref().map(|f| located(f.line));
    Ok(Migration {
        id: id.clone(),
        version: None,
        name,
        parents: down.values.clone(),
        up,
        down: down_script,
        apply: Apply::Alembic(Box::new(Revision {
            file: path.to_path_buf(),
            revision_line: rev.line,
            down_revision_line: if down.line > 0 { down.line } else { rev.line },
            branch_labels: file.branch_labels.map(|b| b.values).unwrap_or_default(),
            depends_on: depends.values,
            depends_on_line: if depends.line > 0 { depends.line } else { rev.line },
            upgrade: file.upgrade,
            downgrade: file.downgrade,
        })),
    })
}
