//! The optional `migration-guard.yml` in the repository: the same settings as the action's
//! inputs, under the same kebab-case names, as the lowest layer under flags and inputs. Owns
//! reading and checking the file; `settings` decides precedence and what values mean.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file read when none is named.
pub const DEFAULT_PATH: &str = "migration-guard.yml";

/// Settings the file may hold: every action input except the token, which belongs in secrets.
pub const KEYS: &[&str] = &[
    "path",
    "format",
    "database-url",
    "postgres-image",
    "pg-bin",
    "postgres-version",
    "allow-superuser",
    "roles",
    "models",
    "models-command",
    "drift-ignore",
    "seed",
    "seed-at",
    "base-ref",
    "start-after",
    "scope",
    "baseline",
    "irreversible",
    "rules",
    "python",
    "python-requirements",
    "lint",
    "round-trip",
    "migration-timeout",
    "fail-on",
    "placeholders",
    "locations",
    "session-settings",
    "comment",
    "comment-key",
    "check-run",
    "artifact-name",
    "report-dir",
    "prefix-cache",
    "slack-webhook",
    "fail-on-publish-error",
    "publish-timeout",
    "verbose",
];

/// Why the config file cannot be used; messages start with `file:line`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read (remove --config / the `config` input, or create the file)")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax { path: String, line: usize, message: String },
    #[error("{path}:{line}: unknown setting {key:?} (expected one of: {})", KEYS.join(", "))]
    UnknownKey { path: String, line: usize, key: String },
    #[error("{path}:{line}: {key}: {message}")]
    Value { path: String, line: usize, key: String, message: String },
}

/// One value from the file, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Scalars as text; lists as one item a line; maps (placeholders) as `KEY=VALUE` lines.
    pub value: String,
    pub line: usize,
}

/// A parsed config file.
#[derive(Debug, Clone, Default)]
pub struct ConfigFile {
    /// The path as shown in messages.
    pub path: String,
    pub entries: BTreeMap<String, Entry>,
}

impl ConfigFile {
    /// Reads `explicit` (which must exist), or else `migration-guard.yml` in the working
    /// directory when it exists.
    pub fn find(explicit: Option<&Path>) -> Result<Option<ConfigFile>, ConfigError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None => {
                let default = PathBuf::from(DEFAULT_PATH);
                if !default.is_file() {
                    return Ok(None);
                }
                default
            }
        };
        let shown = crate::migrations::display_path(&path);
        let text =
            std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path: shown.clone(), source })?;
        ConfigFile::parse(&shown, &text).map(Some)
    }

    /// Parses the text of a config file shown as `path`.
    pub fn parse(path: &str, text: &str) -> Result<ConfigFile, ConfigError> {
        let value: Value = serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_string(),
            line: e.location().map_or(1, |l| l.line() as usize).max(1),
            message: e.to_string().lines().next().unwrap_or_default().to_string(),
        })?;
        let mapping = match value {
            Value::Null => return Ok(ConfigFile { path: path.to_string(), entries: BTreeMap::new() }),
            Value::Object(m) => m,
            _ => {
                return Err(ConfigError::Syntax {
                    path: path.to_string(),
                    line: 1,
                    message: "expected settings as `name: value` lines".into(),
                });
            }
        };
        let mut entries = BTreeMap::new();
        for (key, value) in mapping {
            let line = line_of_key(text, &key);
            if !KEYS.contains(&key.as_str()) {
                return Err(ConfigError::UnknownKey { path: path.to_string(), line, key });
            }
            let bad = |message: &str| ConfigError::Value {
                path: path.to_string(),
                line,
                key: key.clone(),
                message: message.to_string(),
            };
            let value = match value {
                Value::Null => continue,
                Value::Array(items) => items
                    .iter()
                    .map(|item| scalar(item).ok_or_else(|| bad("list items must be plain values")))
                    .collect::<Result<Vec<_>, _>>()?
                    .join("\n"),
                Value::Object(map) => map
                    .iter()
                    .map(|(k, v)| match scalar(v) {
                        Some(v) => Ok(format!("{k}={v}")),
                        None => Err(bad("map entries must be `NAME: value`")),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join("\n"),
                other => scalar(&other).ok_or_else(|| bad("expected a plain value"))?,
            };
            entries.insert(key, Entry { value, line });
        }
        Ok(ConfigFile { path: path.to_string(), entries })
    }

    /// The value of setting `name`, if the file sets it.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The 1-based line on which top-level `key:` is written (1 when not found, e.g. flow style).
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_end();
            [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
                .iter()
                .any(|k| l.strip_prefix(k.as_str()).is_some_and(|rest| rest.trim_start().starts_with(':')))
        })
        .map_or(1, |i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_lists_and_maps() {
        let text = "# settings\npath: db/migrations\nfail-on: warning\ncheck-run: false\nround-trip: true\nplaceholders:\n  schema: app\n  owner: admin\nmodels:\n  - a.py\n  - b.py\n";
        let file = ConfigFile::parse("migration-guard.yml", text).unwrap();
        assert_eq!(file.get("path"), Some(&Entry { value: "db/migrations".into(), line: 2 }));
        assert_eq!(file.get("check-run").unwrap().value, "false");
        assert_eq!(file.get("placeholders").unwrap().value, "owner=admin\nschema=app");
        assert_eq!(file.get("placeholders").unwrap().line, 6);
        assert_eq!(file.get("models").unwrap().value, "a.py\nb.py");
        assert!(ConfigFile::parse("x.yml", "").unwrap().entries.is_empty());
    }

    #[test]
    fn errors_name_file_and_line() {
        let err = ConfigFile::parse("migration-guard.yml", "path: db\nfail_on: warning\n").unwrap_err().to_string();
        assert!(err.starts_with("migration-guard.yml:2: unknown setting \"fail_on\""), "{err}");
        let err = ConfigFile::parse("migration-guard.yml", "path: db\nformat: [a\n").unwrap_err().to_string();
        assert!(err.starts_with("migration-guard.yml:3: ") || err.starts_with("migration-guard.yml:2: "), "{err}");
        let err = ConfigFile::parse("m.yml", "path: db\ngithub-token: x\n").unwrap_err().to_string();
        assert!(err.starts_with("m.yml:2: unknown setting"), "{err}");
        let err = ConfigFile::parse("m.yml", "- a\n- b\n").unwrap_err().to_string();
        assert!(err.starts_with("m.yml:1: expected settings"), "{err}");
        let err = ConfigFile::parse("m.yml", "seed:\n  nested: [1]\n").unwrap_err().to_string();
        assert!(err.starts_with("m.yml:1: seed: map entries"), "{err}");
    }
}
