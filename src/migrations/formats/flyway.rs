//! Flyway (and refinery, which shares its `V<n>__` names): versioned `V<version>__<desc>.sql`,
//! undo `U<version>__<desc>.sql` (the down of the same version) and repeatable `R__<desc>.sql`
//! (applied after every versioned one, by description; its id is the file name's stem), and
//! baseline `B<version>__<desc>.sql`: on an empty database (ours) Flyway runs the latest
//! baseline instead of the versioned migrations up to its version, then the later ones; so do
//! we, and the notes say which it stands for. Versions are dot- or underscore-separated numbers
//! (`1.2`, `1_12_3`, `001`). Other files are ignored, as Flyway does, and listed in the notes.
//!
//! `${name}` placeholders are substituted before splitting, from `--placeholder`, or for
//! Flyway's built-ins `flyway:defaultSchema` (`public`), `flyway:filename` and `flyway:table`;
//! a placeholder without a value is a load error, as it is for Flyway. Like Flyway, a script
//! with a statement PostgreSQL refuses inside a transaction block (`CREATE INDEX CONCURRENTLY`
//! ...) runs without one, and a `<file>.sql.conf` with `executeInTransaction=false` turns the
//! transaction off.

use super::{Loaded, file_name, list_dir};
use crate::migrations::{
    LoadError, Migration, Script, Transaction, Version, display_path, read_sql_file, same_path, up_to_repository_root,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The Flyway configuration (`flyway.conf`, `conf/flyway.conf` or `flyway.toml`) in `dir` or a
/// folder above it, up to the repository's root, whose `locations` name `dir`: all its
/// locations hold the chain (Flyway merges them into one). `None` when there is none, or the
/// nearest names other folders only (it configures another chain).
fn configured_locations(dir: &Path) -> Option<(PathBuf, Vec<PathBuf>)> {
    let absolute = std::path::absolute(dir).ok()?;
    for folder in up_to_repository_root(&absolute) {
        for name in ["flyway.conf", "conf/flyway.conf", "flyway.toml"] {
            let config = folder.join(name);
            let Ok(text) = std::fs::read_to_string(&config) else { continue };
            let listed = if name.ends_with(".toml") { toml_locations(&text) } else { properties_locations(&text) };
            let Some(listed) = listed else { continue };
            // Relative locations are meant from where flyway runs: the project's root, the
            // folder holding the config (or its `conf/`).
            let resolved: Vec<PathBuf> = listed.iter().filter_map(|l| resolve_location(folder, l)).collect();
            return resolved.iter().any(|p| same_path(p, dir)).then_some((config, resolved));
        }
    }
    None
}

/// `flyway.locations=filesystem:a,classpath:b` of a Java properties file.
fn properties_locations(text: &str) -> Option<Vec<String>> {
    text.lines().map(str::trim).filter(|l| !l.starts_with('#') && !l.starts_with('!')).find_map(|line| {
        let (key, value) = line.split_once(['=', ':'])?;
        (key.trim() == "flyway.locations").then(|| value.split(',').map(|v| v.trim().to_string()).collect())
    })
}

/// `locations = ["filesystem:a", ...]` of flyway.toml (its first, usually under `[flyway]`).
fn toml_locations(text: &str) -> Option<Vec<String>> {
    let at = text.lines().position(|l| l.trim_start().starts_with("locations") && l.contains('='))?;
    let rest: String = text.lines().skip(at).collect::<Vec<_>>().join("\n");
    let (_, value) = rest.split_once('=')?;
    let list = value.trim_start().strip_prefix('[')?.split(']').next()?;
    Some(
        list.split(',')
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
            .filter(|v| !v.is_empty())
            .collect(),
    )
}

/// A location as a folder: `filesystem:PATH`, or `classpath:PATH` (the default prefix) under a
/// Maven/Gradle project's resources when it is there. `None` for other schemes (S3, GCS).
fn resolve_location(root: &Path, location: &str) -> Option<PathBuf> {
    let (scheme, path) = location.split_once(':').filter(|(s, _)| !s.contains('/')).unwrap_or(("classpath", location));
    match scheme {
        "filesystem" => Some(root.join(path)),
        "classpath" => {
            let resources = root.join("src/main/resources").join(path);
            Some(if resources.is_dir() { resources } else { root.join(path) })
        }
        _ => None,
    }
}

/// Whether folder `a` is `b` or inside it.
fn within(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a.starts_with(b),
        _ => a.starts_with(b),
    }
}

/// What a Flyway file name declares.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Versioned(Version),
    Undo(Version),
    Repeatable,
    Baseline(Version),
}

pub(super) fn load(
    dir: &Path,
    locations: &[PathBuf],
    placeholders: &BTreeMap<String, String>,
) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    let mut folders = vec![dir.to_path_buf()];
    if locations.is_empty() {
        if let Some((config, configured)) = configured_locations(dir) {
            let shown: Vec<String> = configured.iter().map(|p| display_path(p)).collect();
            loaded.notes.push(format!("{}: locations {}", display_path(&config), shown.join(", ")));
            // Missing ones are skipped, as Flyway warns and goes on; folders inside `dir` are
            // scanned with it.
            folders.extend(configured.into_iter().filter(|p| p.is_dir() && !within(p, dir)));
        }
    } else {
        for location in locations {
            if !location.is_dir() {
                return Err(LoadError::Location { path: display_path(location), reason: "no such directory".into() });
            }
            if !within(location, dir) {
                folders.push(location.clone());
            }
        }
    }
    // Flyway scans a location and its subfolders (e.g. `V1/`, `data/`): all of them count.
    let mut files = Vec::new();
    while let Some(folder) = folders.pop() {
        let (found, subfolders) = list_dir(&folder)?;
        files.extend(found);
        folders.extend(subfolders);
    }
    let mut undos = Vec::new();
    let mut baselines = Vec::new();
    let mut ignored = Vec::new();
    for path in files {
        let name = file_name(&path);
        let Some(stem) = name.strip_suffix(".sql") else { continue };
        let Some((kind, description)) = parse_name(stem) else {
            ignored.push(name);
            continue;
        };
        let text = substitute(&path, &read_sql_file(&path)?, placeholders)?;
        let mut script = if matches!(kind, Kind::Undo(_)) {
            Script::down(&path, 1, text, &[])?
        } else {
            Script::new(&path, 1, text)?
        };
        if let Some(false) = execute_in_transaction(&path.with_file_name(format!("{name}.conf")))? {
            script.transaction = Transaction::None(format!("`executeInTransaction=false` in {name}.conf"));
        }
        match kind {
            Kind::Baseline(version) => baselines.push((version, description, script)),
            Kind::Versioned(version) => loaded.migrations.push(Migration {
                id: version.as_str().to_string(),
                version: Some(version),
                name: description,
                parents: Vec::new(),
                apply: crate::migrations::Apply::Sql,
                up: script,
                down: None,
            }),
            Kind::Undo(version) => undos.push((version, script)),
            Kind::Repeatable => loaded.migrations.push(Migration {
                id: stem.to_string(),
                version: None,
                name: description,
                parents: Vec::new(),
                apply: crate::migrations::Apply::Sql,
                up: script,
                down: None,
            }),
        }
    }
    // The latest baseline stands for every versioned migration up to its version.
    let baseline = baselines.into_iter().max_by(|a, b| a.0.cmp(&b.0));
    if let Some((version, description, script)) = baseline {
        let (covered, kept): (Vec<Migration>, Vec<Migration>) = std::mem::take(&mut loaded.migrations)
            .into_iter()
            .partition(|m| m.version.as_ref().is_some_and(|v| *v <= version));
        loaded.notes.push(format!(
            "flyway: baseline {} stands for {} versioned migration(s) up to version {version} on an empty database, as Flyway runs it",
            script.display_path(),
            covered.len()
        ));
        loaded.migrations = kept;
        loaded.migrations.push(Migration {
            id: version.as_str().to_string(),
            version: Some(version.clone()),
            name: description,
            parents: Vec::new(),
            apply: crate::migrations::Apply::Sql,
            up: script,
            down: None,
        });
        // Undos of the versions it stands for have nothing to undo; its own version's undo is its down.
        undos.retain(|(v, _)| *v >= version);
    }
    let index = super::by_version(&loaded.migrations);
    for (version, script) in undos {
        let Some(migration) = index.get(&version).map(|&i| &mut loaded.migrations[i]) else {
            return Err(LoadError::invalid(
                &script.path,
                1,
                format!("undo migration for version {version}, but there is no V{version}__ migration"),
            ));
        };
        if let Some(other) = &migration.down {
            return Err(LoadError::invalid(
                &script.path,
                1,
                format!("a second undo migration for version {version} (the first is {})", other.display_path()),
            ));
        }
        migration.down = Some(script);
    }
    if !ignored.is_empty() {
        loaded.notes.push(format!(
            "flyway: ignored {} .sql file(s) not named V<version>__, U<version>__, B<version>__ or R__: {}",
            ignored.len(),
            ignored.join(", ")
        ));
    }
    Ok(loaded)
}

/// `V1.2__desc`, `U001__desc`, `R__desc`, `B3__desc` → kind and description (`_` shown as
/// spaces).
fn parse_name(stem: &str) -> Option<(Kind, String)> {
    let prefix = stem.chars().next()?;
    let (version, _) = stem[1..].split_once("__")?;
    let description = description(stem)?;
    let kind = match prefix {
        'R' if version.is_empty() => Kind::Repeatable,
        'V' => Kind::Versioned(Version::parse(version)?),
        'U' => Kind::Undo(Version::parse(version)?),
        'B' => Kind::Baseline(Version::parse(version)?),
        _ => return None,
    };
    Some((kind, description))
}

/// The description a Flyway file name (its stem) gives, as Flyway writes it in its history: the
/// part after `__`, `_` shown as spaces.
pub(crate) fn description(stem: &str) -> Option<String> {
    let (_, description) = stem.split_once("__")?;
    Some(super::shown_name(description))
}

/// Replaces every `${name}` in `text` (the contents of `path`).
fn substitute(path: &Path, text: &str, placeholders: &BTreeMap<String, String>) -> Result<String, LoadError> {
    if !text.contains("${") {
        return Ok(text.to_string());
    }
    let lookup = |name: &str| -> Option<String> {
        // Flyway matches placeholder names case-insensitively.
        if let Some((_, value)) = placeholders.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)) {
            return Some(value.clone());
        }
        match name.to_ascii_lowercase().as_str() {
            "flyway:defaultschema" => Some("public".to_string()),
            "flyway:filename" => Some(file_name(path)),
            "flyway:table" => Some("flyway_schema_history".to_string()),
            _ => None,
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let name_len = after.bytes().take_while(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(b)).count();
        if name_len == 0 || !after[name_len..].starts_with('}') {
            // Not a placeholder by Flyway's syntax: keep the text.
            out.push_str("${");
            rest = after;
            continue;
        }
        let name = &after[..name_len];
        let Some(value) = lookup(name) else {
            let line = crate::sql::line_of(text, text.len() - rest.len() + at);
            return Err(LoadError::invalid(
                path,
                line,
                format!("placeholder ${{{name}}} has no value; pass --placeholder {name}=VALUE"),
            ));
        };
        out.push_str(&value);
        rest = &after[name_len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `executeInTransaction` from a script's `.sql.conf`, if the file exists and sets it.
fn execute_in_transaction(path: &Path) -> Result<Option<bool>, LoadError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = read_sql_file(path)?;
    for (index, line) in text.lines().enumerate() {
        let Some((key, value)) = line.split_once('=') else { continue };
        if key.trim() == "executeInTransaction" {
            return match value.trim() {
                "true" => Ok(Some(true)),
                "false" => Ok(Some(false)),
                other => Err(LoadError::invalid(
                    path,
                    index as u32 + 1,
                    format!("executeInTransaction must be true or false, not {other}"),
                )),
            };
        }
    }
    Ok(None)
}

/// Whether a file name follows Flyway's naming (for detection).
pub(crate) fn looks_like_flyway(file: &str) -> bool {
    file.strip_suffix(".sql").and_then(parse_name).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_of_flyway_conf_and_flyway_toml() {
        let conf =
            "# comment\nflyway.url=jdbc:postgresql://h/db\nflyway.locations = filesystem:sql, classpath:db/migration\n";
        assert_eq!(properties_locations(conf), Some(vec!["filesystem:sql".into(), "classpath:db/migration".into()]));
        assert_eq!(properties_locations("#flyway.locations=filesystem:x\n"), None);
        let toml = "[flyway]\nlocations = [\"filesystem:sql\", 'filesystem:data']\n";
        assert_eq!(toml_locations(toml), Some(vec!["filesystem:sql".into(), "filesystem:data".into()]));
        let root = Path::new("/p");
        assert_eq!(resolve_location(root, "filesystem:sql"), Some(PathBuf::from("/p/sql")));
        assert_eq!(resolve_location(root, "db/migration"), Some(PathBuf::from("/p/db/migration")));
        assert_eq!(resolve_location(root, "s3:bucket/migrations"), None);
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn names() {
        assert_eq!(parse_name("V1__init"), Some((Kind::Versioned(v("1")), "init".into())));
        assert_eq!(parse_name("V1_12_3__a_b"), Some((Kind::Versioned(v("1.12.3")), "a b".into())));
        assert_eq!(parse_name("V092___drop_x"), Some((Kind::Versioned(v("92")), "drop x".into())));
        assert_eq!(parse_name("U1.2__undo"), Some((Kind::Undo(v("1.2")), "undo".into())));
        assert_eq!(parse_name("R__views"), Some((Kind::Repeatable, "views".into())));
        assert_eq!(parse_name("V1_init"), None);
        assert_eq!(parse_name("Vx__init"), None);
        assert_eq!(parse_name("R1__x"), None);
        assert_eq!(parse_name("init"), None);
    }

    #[test]
    fn placeholders() {
        let path = Path::new("V1__x.sql");
        let values = BTreeMap::from([("Owner".to_string(), "app".to_string())]);
        assert_eq!(
            substitute(path, "GRANT ALL ON ${flyway:defaultSchema}.t TO ${owner}; -- ${flyway:filename}", &values)
                .unwrap(),
            "GRANT ALL ON public.t TO app; -- V1__x.sql"
        );
        assert_eq!(substitute(path, "SELECT '${ not one }', '${'", &values).unwrap(), "SELECT '${ not one }', '${'");
        let err = substitute(path, "SELECT 1;\nSELECT ${missing};", &values).unwrap_err().to_string();
        assert_eq!(err, "V1__x.sql:2: placeholder ${missing} has no value; pass --placeholder missing=VALUE");
    }
}
