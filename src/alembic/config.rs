//! Where an Alembic project keeps its revisions: `alembic.ini` (`script_location`,
//! `version_locations`, `%(here)s`), an environment directory (`env.py` + `versions/`), or a
//! versions folder given directly.

use crate::migrations::{LoadError, display_path, same_path, up_to_repository_root};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The parts of an Alembic project we need to read and run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project's `alembic.ini`; `None` when only the script directory is known.
    pub ini: Option<PathBuf>,
    /// The environment directory holding `env.py`; `None` for a bare versions folder.
    pub script_location: Option<PathBuf>,
    /// Folders holding revision files.
    pub version_locations: Vec<PathBuf>,
    /// `recursive_version_locations = true`: revision files in subfolders count too.
    pub recursive: bool,
    /// The version locations are the PostgreSQL folders of per-dialect ones, which env.py
    /// picks at run time: Alembic is given them, as the project's own runner does.
    pub per_dialect: bool,
    /// Where `alembic` runs: the ini's folder (relative paths in it are meant from there).
    pub run_dir: PathBuf,
}

/// Why `dir` looks like an Alembic project, if it does (for format detection).
pub fn detect(dir: &Path) -> Option<String> {
    if dir.join("alembic.ini").is_file() {
        Some("alembic: alembic.ini found".to_string())
    } else if dir.join("env.py").is_file() && dir.join("versions").is_dir() {
        Some("alembic: env.py and versions/ found".to_string())
    } else if dir.parent().is_some_and(|p| p.join("env.py").is_file()) && has_python(dir) {
        Some("alembic: a versions folder next to env.py".to_string())
    } else {
        None
    }
}

fn has_python(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|e| e.path().extension().is_some_and(|x| x == "py")))
        .unwrap_or(false)
}

/// Folders PostgreSQL's revisions are kept in when a project keeps one versions folder per
/// database dialect (`versions/postgresql`, `versions/sqlite`: env.py sets the one for the
/// database it migrates, e.g. `context.script.version_locations = [...]`).
const DIALECT_FOLDERS: &[&str] = &["postgresql", "postgres"];

/// The version locations with each one that holds no revision itself but a PostgreSQL folder
/// that does replaced by that folder, and whether any was.
fn per_dialect(locations: Vec<PathBuf>) -> (Vec<PathBuf>, bool) {
    let mut replaced = false;
    let locations = locations
        .into_iter()
        .map(|location| {
            let folder = (!has_python(&location))
                .then(|| DIALECT_FOLDERS.iter().map(|name| location.join(name)).find(|d| has_python(d)))
                .flatten();
            replaced |= folder.is_some();
            folder.unwrap_or(location)
        })
        .collect();
    (locations, replaced)
}

/// Finds the project for `dir`: a folder with `alembic.ini`, an environment folder, or a
/// versions folder.
pub fn locate(dir: &Path) -> Result<Project, LoadError> {
    let dir = std::path::absolute(dir).map_err(|source| LoadError::Io { path: display_path(dir), source })?;
    let ini = dir.join("alembic.ini");
    if ini.is_file() {
        return from_ini(&ini);
    }
    if let Some(project) = ini_above(&dir) {
        return Ok(project);
    }
    if dir.join("env.py").is_file() {
        let (version_locations, per_dialect) = per_dialect(vec![dir.join("versions")]);
        return Ok(Project {
            ini: None,
            script_location: Some(dir.clone()),
            version_locations,
            recursive: false,
            per_dialect,
            run_dir: dir,
        });
    }
    let parent = dir.parent().filter(|p| p.join("env.py").is_file()).map(Path::to_path_buf);
    Ok(Project {
        ini: None,
        script_location: parent,
        version_locations: vec![dir.clone()],
        recursive: false,
        per_dialect: false,
        run_dir: dir,
    })
}

/// The project of an `alembic.ini` in a folder above `dir` (up to the repository's root) that
/// names `dir` as its script location or one of its version locations: `alembic init` puts
/// alembic.ini at the root and the environment in a folder of its own.
fn ini_above(dir: &Path) -> Option<Project> {
    up_to_repository_root(dir).skip(1).find_map(|folder| {
        let ini = folder.join("alembic.ini");
        let project = from_ini(&ini).ok()?;
        let names_dir = project.script_location.as_deref().is_some_and(|s| same_path(s, dir))
            || project.version_locations.iter().any(|v| same_path(v, dir));
        names_dir.then_some(project)
    })
}

/// Reads the `[alembic]` section of an ini file.
pub fn from_ini(ini: &Path) -> Result<Project, LoadError> {
    let text = std::fs::read_to_string(ini).map_err(|source| LoadError::Io { path: display_path(ini), source })?;
    let here = ini.parent().unwrap_or(Path::new(".")).to_path_buf();
    let section = read_section(&text, "alembic");
    let value = |key: &str| section.get(key).map(|(v, line)| (interpolate(v, &here, &section), *line));
    // Alembic resolves relative locations from the working directory; we run it from the ini's
    // folder, unless the location is only there from the working directory (an ini kept in a
    // subfolder, run from the root with `-c`).
    let mut base = here.clone();
    let script_location = match value("script_location") {
        // `package:folder`, as Alembic resolves it: the package's folder on sys.path, which
        // for a project is the ini's folder or a `prepend_sys_path` entry.
        Some((location, line)) if location.contains(':') && !here.join(&location).exists() => {
            let (package, resource) = location.split_once(':').unwrap_or_default();
            let mut roots = vec![here.clone()];
            if let Some((paths, _)) = value("prepend_sys_path") {
                let separator = value("path_separator").map(|(s, _)| s);
                roots.extend(split_locations(&paths, separator.as_deref()).into_iter().map(|p| here.join(p)));
            }
            let folder = Path::new(&package.replace('.', "/")).join(resource);
            roots.iter().map(|root| root.join(&folder)).find(|dir| dir.is_dir()).ok_or_else(|| {
                LoadError::invalid(
                    ini,
                    line,
                    format!(
                        "script_location {location:?} names package {package}'s folder {resource}, not found next to alembic.ini or on its prepend_sys_path"
                    ),
                )
            })?
        }
        Some((location, _)) => {
            let cwd = std::env::current_dir().unwrap_or_else(|_| here.clone());
            if Path::new(&location).is_relative() && !here.join(&location).is_dir() && cwd.join(&location).is_dir() {
                base = cwd;
            }
            base.join(&location)
        }
        // Flask-Migrate's ini sits in the environment folder and names none (its commands set
        // the location themselves).
        None if here.join("env.py").is_file() => here.clone(),
        None => return Err(LoadError::invalid(ini, 1, "no `script_location` in the [alembic] section")),
    };
    let version_locations = match value("version_locations") {
        Some((list, _)) => {
            let separator = value("path_separator").map(|(s, _)| s);
            split_locations(&list, separator.as_deref()).into_iter().map(|p| base.join(p)).collect()
        }
        None => vec![script_location.join("versions")],
    };
    let recursive = value("recursive_version_locations").is_some_and(|(v, _)| v.eq_ignore_ascii_case("true"));
    let (version_locations, per_dialect) =
        if recursive { (version_locations, false) } else { per_dialect(version_locations) };
    Ok(Project {
        ini: Some(ini.to_path_buf()),
        script_location: Some(script_location),
        version_locations,
        recursive,
        per_dialect,
        run_dir: base,
    })
}

/// Key → (raw value, 1-based line) of one section, configparser style: `key = value` or
/// `key: value`, `#`/`;` comment lines, indented continuation lines.
fn read_section(text: &str, name: &str) -> HashMap<String, (String, u32)> {
    let mut out: HashMap<String, (String, u32)> = HashMap::new();
    let mut inside = false;
    let mut last: Option<String> = None;
    for (index, raw) in text.lines().enumerate() {
        let trimmed = raw.trim();
        if trimmed.starts_with('[') && trimmed.ends_with(']') {
            inside = trimmed[1..trimmed.len() - 1].trim() == name;
            last = None;
            continue;
        }
        if !inside || trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if raw.starts_with([' ', '\t']) {
            if let Some((value, _)) = last.as_ref().and_then(|key| out.get_mut(key)) {
                value.push('\n');
                value.push_str(trimmed);
            }
            continue;
        }
        if let Some(at) = trimmed.find(['=', ':']) {
            let key = trimmed[..at].trim().to_lowercase();
            out.insert(key.clone(), (trimmed[at + 1..].trim().to_string(), index as u32 + 1));
            last = Some(key);
        }
    }
    out
}

/// configparser's basic interpolation: `%(here)s`, other keys of the section, and `%%`.
fn interpolate(value: &str, here: &Path, section: &HashMap<String, (String, u32)>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("%%") {
            out.push('%');
            rest = after;
        } else if let Some((name, after)) = rest.strip_prefix("%(").and_then(|r| r.split_once(")s")) {
            match name {
                "here" => out.push_str(&here.to_string_lossy()),
                other => out.push_str(section.get(other).map_or("", |(v, _)| v.as_str())),
            }
            rest = after;
        } else {
            out.push('%');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

/// Splits `version_locations` the way Alembic does: by `path_separator` when set, else by
/// spaces or commas (the legacy behaviour).
fn split_locations(list: &str, separator: Option<&str>) -> Vec<String> {
    let parts: Vec<&str> = match separator {
        Some("newline") => list.lines().collect(),
        Some("space") => list.split(' ').collect(),
        Some("os") | Some(":") => list.split(':').collect(),
        Some(";") => list.split(';').collect(),
        _ => list.split([' ', ',', '\n']).collect(),
    };
    parts.into_iter().map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_dialect_versions_folders_give_the_postgresql_one() {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["env/versions/postgresql", "env/versions/sqlite", "flat/versions/postgresql"] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        }
        for file in ["env/env.py", "env/versions/postgresql/a.py", "env/versions/sqlite/b.py", "flat/env.py"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        // Revisions beside the dialect folders: the folder is the chain, as Alembic reads it.
        std::fs::write(dir.path().join("flat/versions/c.py"), "").unwrap();
        std::fs::write(dir.path().join("flat/versions/postgresql/d.py"), "").unwrap();
        let project = locate(&dir.path().join("env")).unwrap();
        assert_eq!(project.version_locations, vec![dir.path().join("env/versions/postgresql")]);
        assert!(project.per_dialect);
        let project = locate(&dir.path().join("flat")).unwrap();
        assert_eq!((project.version_locations, project.per_dialect), (vec![dir.path().join("flat/versions")], false));
    }

    #[test]
    fn ini_with_here_and_version_locations() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("alembic.ini");
        std::fs::write(
            &ini,
            "[alembic]\n# comment\nscript_location = %(here)s/db\nversion_locations = %(here)s/db/a\n  %(here)s/db/b\nsqlalchemy.url = postgresql://x%%y@h/d\n\n[loggers]\nscript_location = nope\n",
        )
        .unwrap();
        let project = from_ini(&ini).unwrap();
        assert_eq!(project.script_location, Some(dir.path().join("db")));
        assert_eq!(project.version_locations, vec![dir.path().join("db/a"), dir.path().join("db/b")]);
        assert_eq!(project.run_dir, dir.path());
    }

    #[test]
    fn default_versions_folder_and_relative_location() {
        let dir = tempfile::tempdir().unwrap();
        let ini = dir.path().join("alembic.ini");
        std::fs::write(&ini, "[alembic]\nscript_location: migrations\n").unwrap();
        let project = from_ini(&ini).unwrap();
        assert_eq!(project.version_locations, vec![dir.path().join("migrations/versions")]);
        std::fs::write(&ini, "[alembic]\nsqlalchemy.url = x\n").unwrap();
        assert!(from_ini(&ini).unwrap_err().to_string().contains("script_location"));
    }

    #[test]
    fn an_environment_or_versions_folder_takes_the_ini_above_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("alembic/versions")).unwrap();
        std::fs::create_dir_all(root.join("other/versions")).unwrap();
        for env in ["alembic", "other"] {
            std::fs::write(root.join(env).join("env.py"), "").unwrap();
        }
        std::fs::write(
            root.join("alembic.ini"),
            "[alembic]\nscript_location = %(here)s/alembic\nprepend_sys_path = .\n",
        )
        .unwrap();
        for folder in ["alembic", "alembic/versions"] {
            let project = locate(&root.join(folder)).unwrap();
            assert_eq!(project.ini, Some(root.join("alembic.ini")), "{folder}");
            assert_eq!(project.run_dir, root, "{folder}");
        }
        // An ini that names another environment is not this one's.
        let project = locate(&root.join("other")).unwrap();
        assert_eq!(project.ini, None);
        assert_eq!(project.run_dir, root.join("other"));
    }

    #[test]
    fn package_resource_locations_and_the_flask_migrate_ini() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/myapp/db/migrations/versions")).unwrap();
        let ini = root.join("alembic.ini");
        std::fs::write(&ini, "[alembic]\nscript_location = myapp.db:migrations\nprepend_sys_path = src\n").unwrap();
        let project = from_ini(&ini).unwrap();
        assert_eq!(project.script_location, Some(root.join("src/myapp/db/migrations")));
        std::fs::write(&ini, "[alembic]\nscript_location = otherapp:migrations\n").unwrap();
        let err = from_ini(&ini).unwrap_err().to_string();
        assert!(
            err.contains(
                "alembic.ini:2: script_location \"otherapp:migrations\" names package otherapp's folder migrations"
            ),
            "{err}"
        );

        // Flask-Migrate: the ini in the environment folder, without script_location.
        let flask = root.join("migrations");
        std::fs::create_dir_all(flask.join("versions")).unwrap();
        std::fs::write(flask.join("env.py"), "").unwrap();
        std::fs::write(
            flask.join("alembic.ini"),
            "# A generic, single database configuration.\n\n[alembic]\n\n[loggers]\nkeys = root\n",
        )
        .unwrap();
        let project = locate(&flask).unwrap();
        assert_eq!(project.script_location, Some(flask.clone()));
        assert_eq!(project.version_locations, vec![flask.join("versions")]);
    }

    #[test]
    fn separators() {
        assert_eq!(split_locations("a b,c", None), ["a", "b", "c"]);
        assert_eq!(split_locations("a b;c", Some(";")), ["a b", "c"]);
    }
}
