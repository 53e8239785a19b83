//! goose: `<version>_<name>.sql` (version a positive integer) with `-- +goose Up` and
//! `-- +goose Down` sections, `-- +goose StatementBegin` / `StatementEnd` blocks sent unsplit, and
//! `-- +goose NO TRANSACTION` for the whole file. `-- +goose ENVSUB ON/OFF` (environment
//! substitution) is accepted but not applied, with a note. goose's Go migrations cannot be run
//! from SQL: a versioned `.go` file takes its place in the chain as a migration that runs
//! nothing, with a `migration-not-run` warning, rather than a silent gap or a refused chain.

use super::{Loaded, Marker, Section, file_name, list_dir, sections};
use crate::migrations::{LoadError, Migration, Script, Transaction, Version, read_sql_file};
use std::path::Path;

pub(super) fn load(dir: &Path) -> Result<Loaded, LoadError> {
    let (files, _) = list_dir(dir)?;
    let mut loaded = Loaded::default();
    for path in files {
        let name = file_name(&path);
        if let Some(stem) = name.strip_suffix(".go") {
            if !stem.ends_with("_test")
                && let Some((version, description)) = parse_name(stem)
            {
                super::fits_64(&path, version.as_str(), "goose", true)?;
                let reason = format!(
                    "goose Go migration {}: the check cannot run Go code, so the migrations after it were applied without it",
                    version.as_str()
                );
                loaded.migrations.push(Migration {
                    id: version.as_str().to_string(),
                    version: Some(version),
                    name: description,
                    parents: Vec::new(),
                    up: Script::new(&path, 1, String::new())?,
                    down: None,
                    apply: crate::migrations::Apply::Opaque(reason),
                });
            }
            continue;
        }
        let Some(stem) = name.strip_suffix(".sql") else { continue };
        let Some((version, description)) = parse_name(stem) else {
            return Err(LoadError::invalid(
                &path,
                1,
                "goose migration names start with a positive integer version and `_` (e.g. 00001_create_users.sql)",
            ));
        };
        super::fits_64(&path, version.as_str(), "goose", true)?;
        let text = read_sql_file(&path)?;
        let parsed = sections(&path, &text, classify)?;
        if let Some(line) = parsed.sql_before_markers {
            return Err(LoadError::invalid(
                &path,
                line,
                "SQL before `-- +goose Up`; goose requires the Up annotation first",
            ));
        }
        let Some(up) = &parsed.up else {
            return Err(LoadError::invalid(&path, 1, "no `-- +goose Up` annotation"));
        };
        if parsed.down.as_ref().is_some_and(|down| down.marker_line < up.marker_line) {
            return Err(LoadError::invalid(&path, up.marker_line, "`-- +goose Up` must come before `-- +goose Down`"));
        }
        for (line, reason) in &parsed.ignored {
            loaded.notes.push(format!("{}:{line}: {reason}", crate::migrations::display_path(&path)));
        }
        let script = |section: &Section, down: bool| -> Result<_, LoadError> {
            let mut script = section.script(&path, &text, down)?;
            script.transaction = if parsed.no_transaction {
                Transaction::None("marked `-- +goose NO TRANSACTION`".to_string())
            } else {
                Transaction::Wrapped
            };
            Ok(script)
        };
        loaded.migrations.push(Migration {
            id: version.as_str().to_string(),
            version: Some(version),
            name: description,
            parents: Vec::new(),
            apply: crate::migrations::Apply::Sql,
            up: script(up, false)?,
            down: parsed.down.as_ref().map(|s| script(s, true)).transpose()?,
        });
    }
    Ok(loaded)
}

/// `<positive integer>_<name>` → (version, description).
fn parse_name(stem: &str) -> Option<(Version, String)> {
    let (version, name) = stem.split_once('_')?;
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) || version.bytes().all(|b| b == b'0') {
        return None;
    }
    Some((Version::parse(version)?, super::shown_name(name)))
}

/// goose annotations: `-- +goose <command>`, case-insensitive.
pub(crate) fn classify(line: &str) -> Result<Option<Marker>, String> {
    let Some(rest) = line.trim_start().strip_prefix("--") else { return Ok(None) };
    let Some(command) = rest.trim_start().strip_prefix("+goose") else { return Ok(None) };
    let command = command.split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
    Ok(Some(match command.as_str() {
        "up" => Marker::Up(false),
        "down" => Marker::Down(false),
        "statementbegin" => Marker::Begin,
        "statementend" => Marker::End,
        "no transaction" => Marker::NoTransaction,
        "envsub on" | "envsub off" => {
            Marker::Ignored(format!("`-- +goose {command}` ignored: environment variables are not substituted"))
        }
        _ => return Err(format!("unknown goose annotation `{}`", line.trim())),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations() {
        assert_eq!(classify("-- +goose Up"), Ok(Some(Marker::Up(false))));
        assert_eq!(classify("--  +goose   NO   TRANSACTION "), Ok(Some(Marker::NoTransaction)));
        assert_eq!(classify("-- +goose StatementBegin"), Ok(Some(Marker::Begin)));
        assert_eq!(classify("-- plain comment"), Ok(None));
        assert!(classify("-- +goose Sideways").is_err());
        assert!(matches!(classify("-- +goose ENVSUB ON"), Ok(Some(Marker::Ignored(_)))));
    }

    #[test]
    fn names() {
        assert_eq!(
            parse_name("00002_add_users").map(|(v, n)| (v.to_string(), n)),
            Some(("00002".into(), "add users".into()))
        );
        assert!(parse_name("0_zero").is_none());
        assert!(parse_name("init").is_none());
        assert!(parse_name("v1_init").is_none());
    }
}
