//! dbmate: `<version>_<name>.sql` with `-- migrate:up` and `-- migrate:down` blocks, each
//! optionally followed by `transaction:false`. As in dbmate, the up block is required and comes
//! first, and no SQL may stand outside the blocks; files not named `<digits>_...sql` are ignored.
//! dbmate applies its files in file-name order, and so do we: for its fixed-width timestamps
//! that is the versions' order, while `10_x.sql` runs before `9_y.sql` (as the deploy will).

use super::{Marker, Section, file_name, list_dir, sections, version_and_name};
use crate::migrations::{LoadError, Migration, Transaction, read_sql_file};
use std::path::Path;

pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, LoadError> {
    let (files, _) = list_dir(dir)?;
    let mut migrations = Vec::new();
    for path in files {
        let name = file_name(&path);
        let Some(stem) = name.strip_suffix(".sql") else { continue };
        if !stem.contains('_') {
            continue;
        }
        let Some((version, description)) = version_and_name(stem, '_') else { continue };
        let text = read_sql_file(&path)?;
        let parsed = sections(&path, &text, classify)?;
        let Some(up) = &parsed.up else {
            return Err(LoadError::invalid(&path, 1, "dbmate requires an up block: add `-- migrate:up`"));
        };
        if let Some(line) = parsed.sql_before_markers {
            return Err(LoadError::invalid(
                &path,
                line,
                "SQL outside the `-- migrate:up` and `-- migrate:down` blocks",
            ));
        }
        if parsed.down.as_ref().is_some_and(|down| down.marker_line < up.marker_line) {
            return Err(LoadError::invalid(
                &path,
                up.marker_line,
                "`-- migrate:up` must come before `-- migrate:down`",
            ));
        }
        let script = |section: &Section, direction: &str| -> Result<_, LoadError> {
            let mut script = section.script(&path, &text, direction == "down")?;
            script.transaction = if section.no_transaction {
                Transaction::None(format!("marked `-- migrate:{direction} transaction:false`"))
            } else {
                Transaction::Wrapped
            };
            Ok(script)
        };
        migrations.push(Migration {
            id: version.as_str().to_string(),
            version: Some(version),
            name: description,
            parents: Vec::new(),
            apply: crate::migrations::Apply::Sql,
            up: script(up, "up")?,
            down: parsed.down.as_ref().map(|s| script(s, "down")).transpose()?,
        });
    }
    Ok(migrations)
}

/// `--\s*migrate:up|down` at the start of a line, then `key:value` options.
pub(crate) fn classify(line: &str) -> Result<Option<Marker>, String> {
    let Some(rest) = line.strip_prefix("--") else { return Ok(None) };
    let Some(rest) = rest.trim_start().strip_prefix("migrate:") else { return Ok(None) };
    let (direction, options) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let mut no_transaction = false;
    for option in options.split_whitespace() {
        match option.split_once(':') {
            Some(("transaction", "false")) => no_transaction = true,
            Some(("transaction", "true")) => no_transaction = false,
            _ => return Err(format!("unknown dbmate option `{option}` (expected transaction:false)")),
        }
    }
    Ok(match direction {
        "up" => Some(Marker::Up(no_transaction)),
        "down" => Some(Marker::Down(no_transaction)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        assert_eq!(classify("-- migrate:up"), Ok(Some(Marker::Up(false))));
        assert_eq!(classify("--migrate:up transaction:false"), Ok(Some(Marker::Up(true))));
        assert_eq!(classify("-- migrate:down"), Ok(Some(Marker::Down(false))));
        assert_eq!(classify("-- migrate:upper"), Ok(None));
        assert!(classify("-- migrate:up transaction:maybe").is_err());
        assert_eq!(classify("SELECT 1; -- migrate:up"), Ok(None));
    }
}
