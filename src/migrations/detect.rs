//! Format detection for `--format auto`: looks at file names and marker comments in the
//! migrations directory and explains its choice. Decides from the strongest evidence first:
//! diesel directories, Flyway names, marker comments (goose, sql-migrate, dbmate), then the
//! `<version>_<name>` names sqlx and golang-migrate share.

use super::formats::{
    Marker, dbmate, diesel, file_name, flyway, golang_migrate, goose, list_dir, sql_migrate, version_and_name,
};
use super::{Format, LoadError, Script, display_path};
use std::path::{Path, PathBuf};

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
    let (files, dirs) = list_dir(dir)?;
    let diesel_dirs =
        dirs.iter().filter(|d| diesel::parse_name(&file_name(d)).is_some() && d.join("up.sql").is_file()).count();
    let sql: Vec<&PathBuf> = files.iter().filter(|p| file_name(p).ends_with(".sql")).collect();
    let found =
        |format: Format, reason: String| Ok(Detection { format, reasons: vec![format!("format {format}: {reason}")] });
    if diesel_dirs > 0 && diesel_dirs >= sql.len() {
        return found(Format::Diesel, format!("{diesel_dirs} directories <version>_<name>/ with up.sql"));
    }
    if sql.is_empty() {
        // Only subfolders with .sql files, named as Flyway names them: Flyway scans subfolders.
        let nested_sql: Vec<String> = dirs
            .iter()
            .filter_map(|d| list_dir(d).ok())
            .flat_map(|(files, _)| files.into_iter().map(|p| file_name(&p)).filter(|n| n.ends_with(".sql")))
            .collect();
        let flyway = nested_sql.iter().filter(|n| flyway::looks_like_flyway(n)).count();
        if flyway * 2 > nested_sql.len() {
            return found(
                Format::Flyway,
                format!(
                    "{flyway} of {} .sql files in its subfolders named V<version>__<description>.sql (Flyway scans subfolders)",
                    nested_sql.len()
                ),
            );
        }
        let nested =
            dirs.iter().filter(|d| list_dir(d).is_ok_and(|(f, _)| f.iter().any(|p| file_name(p).ends_with(".sql"))));
        let nested: Vec<String> = nested.map(|d| format!("{}/", file_name(d))).collect();
        let hint = if nested.is_empty() {
            " (no .sql files)".to_string()
        } else {
            format!(" (no .sql files here; subdirectories {} have some: point `check` at one)", nested.join(", "))
        };
        return Err(LoadError::Empty { path: display_path(dir), hint });
    }
    let total = sql.len();

    let flyway = sql.iter().filter(|p| flyway::looks_like_flyway(&file_name(p))).count();
    if flyway * 2 > total {
        return found(
            Format::Flyway,
            format!("{flyway} of {total} .sql files named V<version>__<description>.sql (or U.../R__)"),
        );
    }

    // Marker comments: count the files whose up marker each tool would recognise.
    let mut markers = [
        (Format::Goose, "-- +goose Up", 0usize),
        (Format::SqlMigrate, "-- +migrate Up", 0),
        (Format::Dbmate, "-- migrate:up", 0),
    ];
    let mut texts = Vec::with_capacity(total);
    for path in &sql {
        // Detection reads the files before any loader does: refuse FIFOs and outside links here.
        crate::migrations::check_entry(path)?;
        let text = std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let has = |classify: fn(&str) -> Result<Option<Marker>, String>| {
            text.lines().any(|l| matches!(classify(l), Ok(Some(Marker::Up(_)))))
        };
        markers[0].2 += usize::from(has(goose::classify));
        markers[1].2 += usize::from(has(sql_migrate::classify));
        markers[2].2 += usize::from(has(dbmate::classify));
        texts.push(text);
    }
    if let Some(&(format, marker, count)) = markers.iter().filter(|m| m.2 > 0).max_by_key(|m| m.2) {
        let mut reason = format!("{count} of {total} .sql files have `{marker}`");
        for (other, other_marker, n) in markers.iter().filter(|m| m.0 != format && m.2 > 0) {
            reason.push_str(&format!(" ({n} have {other}'s `{other_marker}`)"));
        }
        return found(format, reason);
    }

    let names: Vec<String> = sql.iter().map(|p| file_name(p)).collect();
    let pairs = names.iter().filter(|n| golang_migrate::parse_name(n).is_some()).count();
    let simple = names
        .iter()
        .filter(|n| !n.ends_with(".up.sql") && !n.ends_with(".down.sql"))
        .filter(|n| n.strip_suffix(".sql").and_then(|s| version_and_name(s, '_')).is_some())
        .count();
    if simple > 0 {
        return found(Format::Sqlx, format!("{simple} .sql files named <version>_<name>.sql without .up/.down"));
    }
    if pairs == 0 {
        return Err(LoadError::Undetected {
            path: display_path(dir),
            reason: format!(
                "{total} .sql files, none named like any supported tool's migrations: \
                 <version>_<name>.up.sql and .down.sql (sqlx, golang-migrate), <version>_<name>.sql (sqlx), \
                 V<version>__<name>.sql (Flyway), <version>_<name>/up.sql (diesel), \
                 or files marked `-- +goose Up`, `-- +migrate Up` or `-- migrate:up`; Alembic needs alembic.ini"
            ),
        });
    }
    // sqlx and golang-migrate share `<version>_<name>.up.sql`; they differ in who opens the
    // transaction, which is visible in the files.
    let ups: Vec<(&PathBuf, &String)> =
        sql.iter().copied().zip(&texts).filter(|(p, _)| file_name(p).ends_with(".up.sql")).collect();
    let marked = ups.iter().filter(|(_, t)| t.starts_with("-- no-transaction")).count();
    if marked > 0 {
        return found(Format::Sqlx, format!("{pairs} .up.sql/.down.sql files, {marked} marked `-- no-transaction`"));
    }
    let self_managed =
        ups.iter().filter(|(p, t)| Script::new(p, 1, t.to_string()).is_ok_and(|s| !s.transaction.is_wrapped())).count();
    if self_managed > 0 {
        return found(
            Format::GolangMigrate,
            format!(
                "{pairs} <version>_<name>.up.sql/.down.sql files; {self_managed} run their own BEGIN/COMMIT or a statement \
                 that cannot run in a transaction, unmarked, which only golang-migrate runs as written"
            ),
        );
    }
    // Nothing in the files tells them apart, and both tools would run them the same way; the
    // names hint: sqlx-cli writes timestamps, golang-migrate users mostly `-seq` numbers.
    let timestamps = names.iter().filter_map(|n| golang_migrate::parse_name(n)).all(|(v, _, _)| v.len() == 14);
    let (format, style) = if timestamps {
        (Format::Sqlx, "timestamp versions, as sqlx-cli writes them")
    } else {
        (Format::GolangMigrate, "sequence-number versions, as `migrate create -seq` writes them")
    };
    found(
        format,
        format!(
            "{pairs} <version>_<name>.up.sql/.down.sql files with {style} (the other of sqlx and golang-migrate \
             would run these files the same way; pass --format to be explicit)"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_files(files: &[(&str, &str)]) -> Result<Detection, LoadError> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        detect(dir.path())
    }

    fn format_of(files: &[(&str, &str)]) -> Format {
        detect_files(files).unwrap().format
    }

    #[test]
    fn up_down_pairs() {
        let plain = "CREATE TABLE t (x int);";
        assert_eq!(format_of(&[("001_a.up.sql", plain), ("001_a.down.sql", plain)]), Format::GolangMigrate);
        assert_eq!(format_of(&[("20240101120000_a.up.sql", plain)]), Format::Sqlx);
        assert_eq!(
            format_of(&[("001_a.up.sql", "-- no-transaction\nCREATE INDEX CONCURRENTLY i ON t (x);")]),
            Format::Sqlx
        );
        assert_eq!(
            format_of(&[("20240101120000_a.up.sql", "CREATE INDEX CONCURRENTLY i ON t (x);")]),
            Format::GolangMigrate
        );
        assert_eq!(format_of(&[("001_a.up.sql", plain), ("002_b.sql", plain)]), Format::Sqlx);
    }

    #[test]
    fn markers_and_names() {
        assert_eq!(format_of(&[("1_a.sql", "-- +goose Up\nSELECT 1;")]), Format::Goose);
        assert_eq!(format_of(&[("a.sql", "-- +migrate Up\nSELECT 1;")]), Format::SqlMigrate);
        assert_eq!(format_of(&[("1_a.sql", "-- migrate:up\nSELECT 1;")]), Format::Dbmate);
        assert_eq!(format_of(&[("V1__a.sql", "SELECT 1;"), ("R__b.sql", "SELECT 1;")]), Format::Flyway);
        assert_eq!(format_of(&[("2019-01-01-000000_a/up.sql", "SELECT 1;")]), Format::Diesel);
        let reasons =
            detect_files(&[("1_a.sql", "-- +goose Up"), ("2_b.sql", "-- +goose Up"), ("3_c.sql", "-- migrate:up")])
                .unwrap()
                .reasons;
        assert_eq!(
            reasons,
            vec!["format goose: 2 of 3 .sql files have `-- +goose Up` (1 have dbmate's `-- migrate:up`)"]
        );
    }

    #[test]
    fn nothing_to_detect() {
        // Flyway scans subfolders; other tools do not.
        assert_eq!(detect_files(&[("sql/V1__a.sql", "SELECT 1;")]).unwrap().format, Format::Flyway);
        let err = detect_files(&[("sql/001_a.up.sql", "SELECT 1;")]).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "no migrations found (no .sql files here; subdirectories sql/ have some: point `check` at one)"
            ),
            "{err}"
        );
        let err = detect_files(&[("notes.sql", "SELECT 1;")]).unwrap_err().to_string();
        assert!(err.contains("cannot tell the migration format (1 .sql files, none named like"), "{err}");
    }
}
