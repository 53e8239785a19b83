//! golang-migrate: `<version>_<name>.up.sql` and `<version>_<name>.down.sql`, version an
//! unsigned integer; other files are ignored, as the tool does.
//!
//! golang-migrate opens no transaction of its own: it sends each file as one query string, which
//! PostgreSQL runs as one implicit transaction unless the file controls its own. We mirror that
//! with `Transaction::inferred`: a file with its own `BEGIN`/`COMMIT` runs as written, statement
//! by statement; a file with a statement PostgreSQL refuses inside a transaction block (e.g.
//! `CREATE INDEX CONCURRENTLY`, which golang-migrate users keep alone in a file) runs without
//! one; every other file is wrapped in a transaction, which keeps it atomic like the tool does.

use super::{file_name, list_dir};
use crate::migrations::{LoadError, Migration, Script, Version, read_sql_file};
use std::path::Path;

pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, LoadError> {
    let (files, _) = list_dir(dir)?;
    let mut migrations: Vec<Migration> = Vec::new();
    let mut downs = Vec::new();
    for path in files {
        let Some((version_text, name, up)) = parse_name(&file_name(&path)) else { continue };
        let Some(version) = Version::parse(&version_text) else { continue };
        super::fits_64(&path, &version_text, "golang-migrate", false)?;
        let sql = read_sql_file(&path)?;
        let script = if up { Script::new(&path, 1, sql)? } else { Script::down(&path, 1, sql, &[])? };
        if up {
            migrations.push(migration(version_text, version, &name, script, None));
        } else {
            downs.push((version, version_text, name, script));
        }
    }
    // golang-migrate pairs an up and a down by version alone; their names may differ.
    let mut index = super::by_version(&migrations);
    for (version, version_text, name, down) in downs {
        match index.get(&version).map(|&i| &mut migrations[i]) {
            Some(m) if m.down.is_none() => m.down = Some(down),
            Some(_) => {
                return Err(LoadError::invalid(
                    &down.path,
                    1,
                    format!("a second .down.sql for version {version_text}"),
                ));
            }
            // Without an up file golang-migrate records the version and runs nothing.
            None => {
                index.insert(version.clone(), migrations.len());
                let up = Script::new(&down.path, 1, String::new())?;
                migrations.push(migration(version_text, version, &name, up, Some(down)));
            }
        }
    }
    Ok(migrations)
}

/// A migration of the chain; `name` as in the file name.
fn migration(id: String, version: Version, name: &str, up: Script, down: Option<Script>) -> Migration {
    Migration {
        id,
        version: Some(version),
        name: super::shown_name(name),
        parents: Vec::new(),
        apply: crate::migrations::Apply::Sql,
        up,
        down,
    }
}

/// `<digits>_<name>.(up|down).sql` → (version, name, is_up).
pub(crate) fn parse_name(file: &str) -> Option<(String, String, bool)> {
    let (stem, up) = match (file.strip_suffix(".up.sql"), file.strip_suffix(".down.sql")) {
        (Some(stem), _) => (stem, true),
        (None, Some(stem)) => (stem, false),
        (None, None) => return None,
    };
    let (version, name) = stem.split_once('_')?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((version.to_string(), name.to_string(), up))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(parse_name("001_init.up.sql"), Some(("001".into(), "init".into(), true)));
        assert_eq!(parse_name("10_a_b.down.sql"), Some(("10".into(), "a_b".into(), false)));
        assert_eq!(parse_name("10.up.sql"), None);
        assert_eq!(parse_name("v1_init.up.sql"), None);
        assert_eq!(parse_name("1_init.sql"), None);
    }

    #[test]
    fn downs_pair_with_ups_by_version() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str| std::fs::write(dir.path().join(name), "SELECT 1;\n").unwrap();
        // The same version written two ways, under two names; a down with no up.
        write("0001_create.up.sql");
        write("1_drop.down.sql");
        write("2_b.up.sql");
        write("3_gone.down.sql");
        let mut loaded = load(dir.path()).unwrap();
        loaded.sort_by(|a, b| a.version.cmp(&b.version));
        let paired: Vec<(&str, bool, bool)> =
            loaded.iter().map(|m| (m.id.as_str(), m.up.sql.is_empty(), m.down.is_some())).collect();
        assert_eq!(paired, [("0001", false, true), ("2", false, false), ("3", true, true)]);
        write("01_again.down.sql");
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("a second .down.sql for version"), "{err}");
    }
}
