//! Which PostgreSQL major the embedded server runs: the `postgres-version` setting, else a
//! version a project declares for its other tools (`diesel-guard.toml`, `.squawk.toml`), else
//! the default binaries.

use std::path::{Path, PathBuf};

/// A PostgreSQL major asked for, and by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionChoice {
    pub major: u32,
    /// Who asked, for messages: `--postgres-version`, `input postgres-version`, a file.
    pub source: String,
    /// A setting must be met (else the check stops); a project's hint is followed where the
    /// major is installed, and otherwise only noted.
    pub required: bool,
}

/// Files that declare the server major a project runs on, and their key (top level).
const HINTS: &[(&str, &str)] = &[("diesel-guard.toml", "postgres_version"), (".squawk.toml", "pg_version")];

/// The major of a setting's value: `16`, `16.2` or `"16"`; `None` when it is not one.
pub fn parse_major(value: &str) -> Option<u32> {
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    let major = value.split('.').next()?;
    let major: u32 = major.parse().ok()?;
    // 9.x majors had two parts; the embedded server needs 10 or newer anyway.
    (10..100).contains(&major).then_some(major)
}

/// The version a project declares, read from the hint files in `dir` and its parents up to the
/// repository's root (the folder with `.git`), nearest first, or up to `stop`.
pub fn declared(dir: &Path, stop: &Path) -> Option<VersionChoice> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let stop = std::fs::canonicalize(stop).unwrap_or_else(|_| stop.to_path_buf());
    for folder in crate::migrations::up_to_repository_root(&dir) {
        for (file, key) in HINTS {
            let path = folder.join(file);
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            if let Some(major) = top_level(&text, key).as_deref().and_then(parse_major) {
                return Some(VersionChoice { major, source: shown(&path, &stop), required: false });
            }
        }
        if folder == stop {
            break;
        }
    }
    None
}

/// The value of a top-level `key = value` of a TOML file (before its first table), unparsed.
fn top_level(text: &str, key: &str) -> Option<String> {
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            return None;
        }
        let Some((name, value)) = line.split_once('=') else { continue };
        if name.trim() == key {
            let value = value.split_once(" #").map_or(value, |(v, _)| v);
            return Some(value.trim().to_string());
        }
    }
    None
}

/// `path` relative to `stop` where it is inside it, for messages.
fn shown(path: &Path, stop: &Path) -> String {
    path.strip_prefix(stop).map(Path::to_path_buf).unwrap_or_else(|_| PathBuf::from(path)).display().to_string()
}

/// `15 (/usr/lib/postgresql/15/bin), 16 (...)`, or `none`, for messages.
pub fn list(installed: &[(u32, PathBuf)]) -> String {
    if installed.is_empty() {
        return "none".into();
    }
    installed.iter().map(|(major, bin)| format!("{major} ({})", bin.display())).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majors_from_settings() {
        assert_eq!(parse_major("16"), Some(16));
        assert_eq!(parse_major(" \"17.1\" "), Some(17));
        assert_eq!(parse_major("'15'"), Some(15));
        assert_eq!(parse_major("9.6"), None);
        assert_eq!(parse_major("latest"), None);
        assert_eq!(parse_major(""), None);
    }

    #[test]
    fn hints_are_read_from_the_top_level_only_nearest_first() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir(repo.path().join(".git")).unwrap();
        let migrations = repo.path().join("db/migrations");
        std::fs::create_dir_all(&migrations).unwrap();
        assert_eq!(declared(&migrations, repo.path()), None);

        std::fs::write(repo.path().join(".squawk.toml"), "excluded_rules = []\npg_version = \"16.2\" # prod\n")
            .unwrap();
        let found = declared(&migrations, repo.path()).unwrap();
        assert_eq!((found.major, found.source.as_str(), found.required), (16, ".squawk.toml", false));

        // A key inside a table is not the top-level setting.
        std::fs::write(repo.path().join("db/diesel-guard.toml"), "[rules]\npostgres_version = 14\n").unwrap();
        assert_eq!(declared(&migrations, repo.path()).unwrap().major, 16);
        std::fs::write(repo.path().join("db/diesel-guard.toml"), "postgres_version = 17\n").unwrap();
        let found = declared(&migrations, repo.path()).unwrap();
        assert_eq!((found.major, found.source.as_str()), (17, "db/diesel-guard.toml"));

        // Nothing above the repository's root is read.
        let inner = repo.path().join("db");
        std::fs::create_dir(inner.join(".git")).unwrap();
        std::fs::remove_file(inner.join("diesel-guard.toml")).unwrap();
        assert_eq!(declared(&migrations, repo.path()), None);
    }
}
