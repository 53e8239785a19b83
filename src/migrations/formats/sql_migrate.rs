//! sql-migrate: any `<name>.sql` with `-- +migrate Up [notransaction]` and
//! `-- +migrate Down [notransaction]` sections and `-- +migrate StatementBegin` / `StatementEnd`
//! blocks sent unsplit. The id is the file name; files sort by their leading number when they
//! have one (ties and files without one by name, the latter after all numbered ones), exactly as
//! sql-migrate's `byId` does. Files sharing a leading number are legitimate (the id is the whole
//! name), so sql-migrate chains never report `duplicate-version`.

use super::{Marker, Section, file_name, list_dir, sections};
use crate::migrations::{LoadError, Migration, Transaction, Version, read_sql_file};
use std::path::Path;

pub(super) fn load(dir: &Path) -> Result<Vec<Migration>, LoadError> {
    let (files, _) = list_dir(dir)?;
    let mut migrations = Vec::new();
    for path in files {
        let id = file_name(&path);
        let Some(stem) = id.strip_suffix(".sql") else { continue };
        let digits = stem.bytes().take_while(u8::is_ascii_digit).count();
        let version = Version::parse(&stem[..digits]);
        let name = stem[digits..].trim_start_matches(['-', '_', ' ', '.']).replace(['_', '-'], " ");
        let text = read_sql_file(&path)?;
        let parsed = sections(&path, &text, classify)?;
        if parsed.up.is_none() && parsed.down.is_none() {
            return Err(LoadError::invalid(&path, 1, "no `-- +migrate Up` or `-- +migrate Down` annotation"));
        }
        let script = |section: &Section, direction: &str| -> Result<_, LoadError> {
            let mut script = section.script(&path, &text, direction == "Down")?;
            script.transaction = if section.no_transaction {
                Transaction::None(format!("marked `-- +migrate {direction} notransaction`"))
            } else {
                Transaction::Wrapped
            };
            Ok(script)
        };
        let up = match &parsed.up {
            Some(section) => script(section, "Up")?,
            // A file with only a Down section applies nothing on the way up.
            None => crate::migrations::Script::new(&path, 1, String::new())?,
        };
        migrations.push(Migration {
            id: id.clone(),
            version,
            name: name.trim().to_string(),
            parents: Vec::new(),
            apply: crate::migrations::Apply::Sql,
            up,
            down: parsed.down.as_ref().map(|s| script(s, "Down")).transpose()?,
        });
    }
    Ok(migrations)
}

/// sql-migrate commands: lines starting `-- +migrate ` (case-sensitive, as the tool reads them);
/// unknown commands are ignored like the tool does.
pub(crate) fn classify(line: &str) -> Result<Option<Marker>, String> {
    let Some(rest) = line.strip_prefix("-- +migrate ") else { return Ok(None) };
    let mut fields = rest.split_whitespace();
    let Some(command) = fields.next() else { return Err("incomplete `-- +migrate` command".to_string()) };
    let no_transaction = fields.any(|option| option == "notransaction");
    Ok(match command {
        "Up" => Some(Marker::Up(no_transaction)),
        "Down" => Some(Marker::Down(no_transaction)),
        "StatementBegin" => Some(Marker::Begin),
        "StatementEnd" => Some(Marker::End),
        other => Some(Marker::Ignored(format!("unknown sql-migrate command `{other}` ignored, as sql-migrate does"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands() {
        assert_eq!(classify("-- +migrate Up"), Ok(Some(Marker::Up(false))));
        assert_eq!(classify("-- +migrate Up notransaction"), Ok(Some(Marker::Up(true))));
        assert_eq!(classify("-- +migrate Down notransaction"), Ok(Some(Marker::Down(true))));
        assert_eq!(classify("-- +migrate StatementEnd"), Ok(Some(Marker::End)));
        assert_eq!(
            classify("-- +migrate up"),
            Ok(Some(Marker::Ignored("unknown sql-migrate command `up` ignored, as sql-migrate does".into())))
        );
        assert_eq!(classify("--+migrate Up"), Ok(None));
    }
}
