//! Where an Alembic project keeps its revisions: `alembic.ini` (`script_location`,
//! `version_locations`, `%(here)s`), an environment directory (`env.py` + `versions/`), or a
//! versions folder given directly.

use crate::migrations::{LoadError, display_path};
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

/// Finds the project for `dir`: a folder with `alembic.ini`, an environment folder, or a
/// versions folder.
pub fn locate(dir: &Path) -> Result<Project, LoadError> {
    let dir = std::path::absolute(dir).map_err(|source| LoadError::Io { path: display_path(dir), source })?;
    let ini = dir.join("alembic.ini");
    if ini.is_file() {
        return from_ini(&ini);
    }
    if dir.join("env.py").is_file() {
        return Ok(Project {
            ini: None,
            script_location: Some(dir.clone()),
            version_locations: vec![dir.join("versions")],
            recursive: false,
            run_dir: dir,
        });
    }
    let parent = dir.parent().filter(|p| p.join("env.py").is_file()).map(Path::to_path_buf);
    Ok(Project {
        ini: None,
        script_location: parent,
        version_locations: vec![dir.clone()],
        recursive: false,
        run_dir: dir,
    })
}

/// Reads the `[alembic]` section of an ini file.
pub fn from_ini(ini: &Path) -> Result<Project, LoadError> {
    let text = std::fs::read_to_string(ini).map_err(|source| LoadError::Io { path: display_path(ini), source })?;
    let here = ini.parent().unwrap_or(Path::new(".")).to_path_buf();
    let section = read_section(&text, "alembic");
    let value = |key: &str| section.get(key).map(|(v, line)| (interpolate(v, &here, &section), *line));
    let Some((location, line)) = value("script_location") else {
        return Err(LoadError::invalid(ini, 1, "no `script_location` in the [alembic] section"));
    };
    if location.contains(':') && !Path::new(&location).exists() {
        return Err(LoadError::invalid(
            ini,
            line,
            format!("script_location {location:?} names a package resource; use a path (e.g. %(here)s/migrations)"),
        ));
    }
    let script_location = here.join(&location);
    let version_locations = match value("version_locations") {
        Some((list, _)) => {
            let separator = value("path_separator").map(|(s, _)| s);
            split_locations(&list, separator.as_deref()).into_iter().map(|p| here.join(p)).collect()
        }
        None => vec![script_location.join("versions")],
    };
    let recursive = value("recursive_version_locations").is_some_and(|(v, _)| v.eq_ignore_ascii_case("true"));
    Ok(Project {
        ini: Some(ini.to_path_buf()),
        script_location: Some(script_location),
        version_locations,
        recursive,
        run_dir: here,
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
    fn separators() {
        assert_eq!(split_locations("a b,c", None), ["a", "b", "c"]);
        assert_eq!(split_locations("a b;c", Some(";")), ["a b", "c"]);
    }
}
