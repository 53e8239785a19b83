//! sqlx: `<version>_<description>.sql` (simple) or `.up.sql` / `.down.sql` (reversible); a script
//! whose first line is `-- no-transaction` runs outside a transaction.

use super::{file_name, list_dir, version_and_name};
use crate::migrations::{Apply, LoadError, Migration, Script, Transaction, read_sql_file};
use std::collections::BTreeMap;
use std::path::Path;

/// The up and down script of one migration, and which naming style the up used.
type Pair = (Option<Script>, Option<Script>, Kind);

enum Kind {
    Simple,
    Up,
    Down,
}

pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, LoadError> {
    let (files, _) = list_dir(dir)?;
    // Keyed by (version text, description) so an up and its down meet; a BTreeMap keeps
    // duplicates of one version apart and in file-name order.
    let mut found: BTreeMap<(String, String), Pair> = BTreeMap::new();
    for path in files {
        let name = file_name(&path);
        let (stem, kind) = if let Some(s) = name.strip_suffix(".up.sql") {
            (s, Kind::Up)
        } else if let Some(s) = name.strip_suffix(".down.sql") {
            (s, Kind::Down)
        } else if let Some(s) = name.strip_suffix(".sql") {
            (s, Kind::Simple)
        } else {
            continue;
        };
        let Some((version, description)) = version_and_name(stem, '_') else {
            return Err(LoadError::invalid(
                &path,
                1,
                "sqlx migration names start with a numeric version and `_` (e.g. 20240101120000_create_users.sql)",
            ));
        };
        super::fits_64(&path, version.as_str(), "sqlx", true)?;
        let script = script(&path, matches!(kind, Kind::Down))?;
        let entry = found.entry((version.as_str().to_string(), description)).or_insert((None, None, Kind::Simple));
        match kind {
            Kind::Down => entry.1 = Some(script),
            Kind::Up | Kind::Simple => {
                if let Some(other) = &entry.0 {
                    return Err(LoadError::invalid(
                        &path,
                        1,
                        format!("{} is the same migration; keep only one of them", other.display_path()),
                    ));
                }
                entry.0 = Some(script);
                entry.2 = kind;
            }
        }
    }
    let mut migrations = Vec::with_capacity(found.len());
    for ((version, description), (up, down, _)) in found {
        let Some(up) = up else {
            let down = down.expect("an entry has an up or a down");
            return Err(LoadError::invalid(&down.path, 1, "a .down.sql without its .up.sql"));
        };
        migrations.push(Migration {
            id: version.clone(),
            version: super::Version::parse(&version),
            name: description,
            parents: Vec::new(),
            up,
            down,
            apply: Apply::Sql,
        });
    }
    Ok(migrations)
}

fn script(path: &Path, down: bool) -> Result<Script, LoadError> {
    let sql = read_sql_file(path)?;
    let no_transaction = sql.starts_with("-- no-transaction");
    let mut script = if down { Script::down(path, 1, sql, &[])? } else { Script::new(path, 1, sql)? };
    script.transaction =
        if no_transaction { Transaction::None("marked `-- no-transaction`".to_string()) } else { Transaction::Wrapped };
    Ok(script)
}
