//! One loader per migration tool; each turns a directory into unordered `Migration`s following
//! that tool's own naming and marker rules. Also the parser shared by the formats that keep up
//! and down in one file behind marker comments (goose, sql-migrate, dbmate).

mod alembic;
pub(crate) mod dbmate;
pub(crate) mod diesel;
pub(crate) mod flyway;
pub(crate) mod golang_migrate;
pub(crate) mod goose;
pub(crate) mod sql_migrate;
mod sqlx;

use super::{Format, LoadError, LoadOptions, Migration, Script, Version, display_path};
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What a loader read: the migrations, unordered, and remarks shown with `--verbose`.
#[derive(Debug, Default)]
pub struct Loaded {
    pub migrations: Vec<Migration>,
    pub notes: Vec<String>,
}

impl From<Vec<Migration>> for Loaded {
    fn from(migrations: Vec<Migration>) -> Loaded {
        Loaded { migrations, notes: Vec::new() }
    }
}

/// Reads every migration of `format` in `dir` (order and parent links are set by the caller).
pub fn load(format: Format, dir: &Path, options: &LoadOptions) -> Result<Loaded, LoadError> {
    match format {
        Format::Alembic => alembic::load(dir).map(Loaded::from),
        Format::Sqlx => sqlx::load(dir).map(Loaded::from),
        Format::GolangMigrate => golang_migrate::load(dir).map(Loaded::from),
        Format::Goose => goose::load(dir),
        Format::SqlMigrate => sql_migrate::load(dir).map(Loaded::from),
        Format::Dbmate => dbmate::load(dir).map(Loaded::from),
        Format::Diesel => diesel::load(dir).map(Loaded::from),
        Format::Flyway => flyway::load(dir, &options.locations, &options.placeholders),
    }
}

/// The entries of `dir`, sorted by file name, split into (files, directories). Everything
/// that is not a directory counts as a file, so that a loader whose naming rules take it reads
/// it through `read_sql_file`, which refuses what is not a regular file of the repository.
pub(crate) fn list_dir(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), LoadError> {
    let io = |source| LoadError::Io { path: display_path(dir), source };
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        // The entry's type comes with the listing; only a link needs a look at its target.
        let is_dir = match entry.file_type() {
            Ok(kind) if !kind.is_symlink() => kind.is_dir(),
            _ => path.is_dir(),
        };
        if is_dir {
            super::check_entry(&path)?;
            dirs.push(path);
        } else {
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

/// Refuses a version the tool itself cannot store: golang-migrate keeps versions as unsigned,
/// goose and sqlx as signed 64-bit integers.
pub(crate) fn fits_64(path: &Path, version: &str, tool: &str, signed: bool) -> Result<(), LoadError> {
    let fits = if signed { version.parse::<i64>().is_ok() } else { version.parse::<u64>().is_ok() };
    if fits {
        return Ok(());
    }
    let kind = if signed { "a signed" } else { "an unsigned" };
    Err(LoadError::invalid(
        path,
        1,
        format!("version {version} does not fit in {kind} 64-bit integer, so {tool} refuses it"),
    ))
}

/// Splits `<digits><sep><name>` into a version and a description (`_` shown as spaces).
pub(crate) fn version_and_name(stem: &str, sep: char) -> Option<(Version, String)> {
    let (version, name) = match stem.split_once(sep) {
        Some((v, n)) => (v, n),
        None => (stem, ""),
    };
    let version = Version::parse(version).filter(|_| !version.contains(['.', '_']))?;
    Some((version, shown_name(name)))
}

/// The name part of a migration's file name as the report shows it: `_` as spaces, trimmed.
pub(crate) fn shown_name(name: &str) -> String {
    name.replace('_', " ").trim().to_string()
}

/// Each version's first migration, by position: pairing a down file with its up by version costs
/// a lookup, not a scan of the chain.
pub(crate) fn by_version(migrations: &[Migration]) -> std::collections::HashMap<Version, usize> {
    let mut index = std::collections::HashMap::with_capacity(migrations.len());
    for (i, m) in migrations.iter().enumerate() {
        if let Some(v) = &m.version {
            index.entry(v.clone()).or_insert(i);
        }
    }
    index
}

/// A marker comment recognised by a section format's line classifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Start of the up section; `true` when the marker turns the transaction off.
    Up(bool),
    /// Start of the down section.
    Down(bool),
    /// Start of a block kept as one statement.
    Begin,
    /// End of that block.
    End,
    /// The whole file runs without a transaction (goose `NO TRANSACTION`).
    NoTransaction,
    /// A marker we accept without acting on it, with the reason shown in `--verbose`.
    Ignored(String),
}

/// One direction of a section file.
#[derive(Debug)]
pub(crate) struct Section {
    /// Line of the marker that opens the section.
    pub marker_line: u32,
    /// The marker turned the transaction off for this direction.
    pub no_transaction: bool,
    /// Byte range of the section's text (after the marker line) in the file.
    pub range: Range<usize>,
    /// Kept blocks, as byte ranges of the file.
    pub blocks: Vec<Range<usize>>,
}

/// A file split at its marker comments.
#[derive(Debug, Default)]
pub(crate) struct Sections {
    pub up: Option<Section>,
    pub down: Option<Section>,
    /// A file-level marker turned transactions off for both directions.
    pub no_transaction: bool,
    /// Ignored markers: (line, reason).
    pub ignored: Vec<(u32, String)>,
    /// First line of SQL before the first up/down marker, if any.
    pub sql_before_markers: Option<u32>,
}

impl Section {
    /// The section as a script of `path`, whose full text is `text`; a `down` section is read
    /// as [`Script::down`] reads it.
    pub(crate) fn script(&self, path: &Path, text: &str, down: bool) -> Result<Script, LoadError> {
        let sql = text[self.range.clone()].to_string();
        let first_line = crate::sql::line_of(text, self.range.start);
        let blocks: Vec<Range<usize>> =
            self.blocks.iter().map(|b| b.start - self.range.start..b.end - self.range.start).collect();
        if down {
            Script::down(path, first_line, sql, &blocks)
        } else {
            Script::with_blocks(path, first_line, sql, &blocks)
        }
    }
}

/// Splits `text` (the contents of `path`) at the markers `classify` recognises; `classify`
/// returns `Err(message)` for a malformed marker. A `Begin` must be closed by an `End` in the
/// same section; a direction may appear only once.
pub(crate) fn sections(
    path: &Path,
    text: &str,
    classify: impl Fn(&str) -> Result<Option<Marker>, String>,
) -> Result<Sections, LoadError> {
    let mut result = Sections::default();
    // (is_up, section being filled, open block start with its line)
    let mut current: Option<(bool, Section)> = None;
    let mut open_block: Option<(usize, u32)> = None;
    let mut offset = 0usize;
    let close = |current: Option<(bool, Section)>, end: usize, result: &mut Sections| {
        if let Some((is_up, mut section)) = current {
            section.range.end = end;
            if is_up {
                result.up = Some(section);
            } else {
                result.down = Some(section);
            }
        }
    };
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line_no = index as u32 + 1;
        let line_start = offset;
        offset += raw.len();
        let line = raw.trim_end_matches(['\n', '\r']);
        let marker = classify(line).map_err(|message| LoadError::invalid(path, line_no, message))?;
        let Some(marker) = marker else {
            if current.is_none() && result.sql_before_markers.is_none() && !is_trivia(line) {
                result.sql_before_markers = Some(line_no);
            }
            continue;
        };
        match marker {
            Marker::Up(no_tx) | Marker::Down(no_tx) => {
                let is_up = matches!(marker, Marker::Up(_));
                if let Some((_, begin_line)) = open_block {
                    return Err(LoadError::invalid(
                        path,
                        begin_line,
                        "StatementBegin is not closed by StatementEnd before the next section",
                    ));
                }
                let taken = if is_up { result.up.is_some() } else { result.down.is_some() };
                if taken || current.as_ref().is_some_and(|(up, _)| *up == is_up) {
                    return Err(LoadError::invalid(
                        path,
                        line_no,
                        format!("a second {} section; keep one", if is_up { "up" } else { "down" }),
                    ));
                }
                close(current.take(), line_start, &mut result);
                current = Some((
                    is_up,
                    Section { marker_line: line_no, no_transaction: no_tx, range: offset..offset, blocks: Vec::new() },
                ));
            }
            Marker::Begin => {
                if current.is_none() {
                    return Err(LoadError::invalid(path, line_no, "StatementBegin outside an up or down section"));
                }
                if let Some((_, begin_line)) = open_block {
                    return Err(LoadError::invalid(
                        path,
                        line_no,
                        format!("StatementBegin inside the block opened at line {begin_line}; close it first"),
                    ));
                }
                open_block = Some((offset, line_no));
            }
            Marker::End => {
                let (Some((start, _)), Some((_, section))) = (open_block.take(), current.as_mut()) else {
                    return Err(LoadError::invalid(path, line_no, "StatementEnd without StatementBegin"));
                };
                section.blocks.push(start..line_start);
            }
            Marker::NoTransaction => result.no_transaction = true,
            Marker::Ignored(reason) => result.ignored.push((line_no, reason)),
        }
    }
    if let Some((_, begin_line)) = open_block {
        return Err(LoadError::invalid(path, begin_line, "StatementBegin is never closed by StatementEnd"));
    }
    close(current, text.len(), &mut result);
    Ok(result)
}

/// True for a blank line or a line holding only a `--` comment.
fn is_trivia(line: &str) -> bool {
    let line = line.trim();
    line.is_empty() || line.starts_with("--")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(line: &str) -> Result<Option<Marker>, String> {
        Ok(match line.trim() {
            "-- up" => Some(Marker::Up(false)),
            "-- up notx" => Some(Marker::Up(true)),
            "-- down" => Some(Marker::Down(false)),
            "-- begin" => Some(Marker::Begin),
            "-- end" => Some(Marker::End),
            "-- bad" => return Err("bad marker".into()),
            _ => None,
        })
    }

    #[test]
    fn sections_map_to_file_lines_and_keep_blocks() {
        let text = "-- header\n-- up notx\nCREATE TABLE a (x int);\n-- begin\nDO $$ BEGIN END $$;\nSELECT 1;\n-- end\n\n-- down\nDROP TABLE a;\n";
        let path = Path::new("m.sql");
        let s = sections(path, text, classify).unwrap();
        assert_eq!(s.sql_before_markers, None);
        let up = s.up.unwrap();
        assert!(up.no_transaction);
        let script = up.script(path, text, false).unwrap();
        assert_eq!(script.first_line, 3);
        let lines: Vec<u32> = script.split.statements.iter().map(|st| script.statement_line(st)).collect();
        assert_eq!(lines, vec![3, 5]);
        assert_eq!(script.text(&script.split.statements[1]), "DO $$ BEGIN END $$;\nSELECT 1;");
        let down = s.down.unwrap().script(path, text, true).unwrap();
        assert_eq!(down.first_line, 10);
        assert_eq!(down.text(&down.split.statements[0]), "DROP TABLE a");
    }

    #[test]
    fn empty_sections_still_exist_and_missing_ones_do_not() {
        let path = Path::new("m.sql");
        let s = sections(path, "-- up\n-- nothing here\n", classify).unwrap();
        assert!(s.up.unwrap().script(path, "-- up\n-- nothing here\n", false).unwrap().is_empty());
        assert!(s.down.is_none());
    }

    #[test]
    fn malformed_markers_name_their_line() {
        let path = Path::new("m.sql");
        let err = |text: &str| sections(path, text, classify).unwrap_err().to_string();
        assert_eq!(err("-- up\n-- begin\nSELECT 1;\n"), "m.sql:2: StatementBegin is never closed by StatementEnd");
        assert_eq!(err("-- up\nSELECT 1;\n-- end\n"), "m.sql:3: StatementEnd without StatementBegin");
        assert_eq!(err("-- up\n-- down\n-- up\n"), "m.sql:3: a second up section; keep one");
        assert_eq!(err("-- up\n-- bad\n"), "m.sql:2: bad marker");
        let s = sections(path, "SELECT 1;\n-- up\n", classify).unwrap();
        assert_eq!(s.sql_before_markers, Some(1));
    }
}
