//! diesel: one directory per migration, `<version>_<name>/` with `up.sql` and an optional
//! `down.sql`; `metadata.toml` with `run_in_transaction = false` turns the transaction off. The
//! version is the name's prefix with its dashes removed, as diesel records it
//! (`2019-02-27-170003_x` → `20190227170003`), and versions order as text, as diesel sorts
//! them; `00000000000000_diesel_initial_setup` is a migration like any other. A down that
//! cannot be split is kept for the round trip to report (diesel never reads it to migrate). Directories not named `<version>_<name>` are ignored.

use super::{file_name, list_dir};
use crate::migrations::{LoadError, Migration, Script, Transaction, Version, read_sql_file};
use std::path::Path;

pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, LoadError> {
    let (_, dirs) = list_dir(dir)?;
    let mut migrations = Vec::new();
    for path in dirs {
        let Some((id, name)) = parse_name(&file_name(&path)) else { continue };
        let up_path = path.join("up.sql");
        if !up_path.is_file() {
            return Err(LoadError::invalid(&path, 1, "diesel migration directory without up.sql"));
        }
        let run_in_transaction = run_in_transaction(&path.join("metadata.toml"))?;
        let script = |file: &Path, down: bool| -> Result<Script, LoadError> {
            let sql = read_sql_file(file)?;
            let mut script = if down { Script::down(file, 1, sql, &[])? } else { Script::new(file, 1, sql)? };
            script.transaction = if run_in_transaction {
                Transaction::Wrapped
            } else {
                Transaction::None("`run_in_transaction = false` in metadata.toml".to_string())
            };
            Ok(script)
        };
        let down_path = path.join("down.sql");
        migrations.push(Migration {
            // diesel keys and orders migrations by the version string.
            version: Version::lexical(&id),
            id,
            name,
            parents: Vec::new(),
            apply: crate::migrations::Apply::Sql,
            up: script(&up_path, false)?,
            down: if down_path.is_file() { Some(script(&down_path, true)?) } else { None },
        });
    }
    Ok(migrations)
}

/// `<digits and dashes>_<name>` → (version without dashes, name).
pub(crate) fn parse_name(dir_name: &str) -> Option<(String, String)> {
    let (version, name) = dir_name.split_once('_')?;
    if !version.bytes().any(|b| b.is_ascii_digit()) || !version.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    Some((version.replace('-', ""), super::shown_name(name)))
}

/// Reads `run_in_transaction` from a migration's `metadata.toml` (absent: true). The file holds
/// only top-level `key = value` pairs, so a line reader does and keeps the dependency list short.
fn run_in_transaction(path: &Path) -> Result<bool, LoadError> {
    if !path.is_file() {
        return Ok(true);
    }
    let text = read_sql_file(path)?;
    for (index, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim() == "run_in_transaction" {
            return match value.trim() {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(LoadError::invalid(
                    path,
                    index as u32 + 1,
                    format!("run_in_transaction must be true or false, not {other}"),
                )),
            };
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_drop_dashes() {
        assert_eq!(
            parse_name("2019-02-27-170003_create_community"),
            Some(("20190227170003".into(), "create community".into()))
        );
        assert_eq!(
            parse_name("00000000000000_diesel_initial_setup"),
            Some(("00000000000000".into(), "diesel initial setup".into()))
        );
        assert_eq!(parse_name("README"), None);
        assert_eq!(parse_name("--_x"), None);
        assert_eq!(parse_name("v1_x"), None);
    }

    #[test]
    fn metadata() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("metadata.toml");
        assert!(run_in_transaction(&file).unwrap());
        std::fs::write(&file, "# comment\nrun_in_transaction = false # inline\n").unwrap();
        assert!(!run_in_transaction(&file).unwrap());
        std::fs::write(&file, "run_in_transaction = \"no\"\n").unwrap();
        assert!(
            run_in_transaction(&file)
                .unwrap_err()
                .to_string()
                .ends_with(":1: run_in_transaction must be true or false, not \"no\"")
        );
    }
}
