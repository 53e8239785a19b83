//! The baseline file: the findings a team accepted when it adopted the check, for repositories
//! without a usable base to compare with. `migration-guard baseline` writes it; `check` leaves
//! out the findings it lists and reports entries that no longer match as stale. Entries are
//! keyed by rule, migration and a fingerprint of the statement (not its line), so they survive
//! edits elsewhere in the file.

use crate::findings::{Finding, Severity};
use crate::migrations::{Apply, Chain, display_path};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The file `check` reads when none is named, and `baseline` writes.
pub const DEFAULT_FILE: &str = "migration-guard-baseline.json";

/// Version of the file's shape.
const FILE_VERSION: u32 = 1;

/// Why the baseline cannot be read or written; each message names the file.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("{path}: cannot read the baseline (fix `baseline`, or create it with `migration-guard baseline`)")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a baseline file: {message} (write it again with `migration-guard baseline`)")]
    Syntax { path: String, line: usize, message: String },
    #[error("{path}: schema_version {found} is newer than this migration-guard reads ({FILE_VERSION}); upgrade it")]
    Version { path: String, found: u32 },
    #[error("{path}: cannot write the baseline")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub rule: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration: Option<String>,
    /// Stable fingerprint of what the finding is about (the statement, else the message).
    pub fingerprint: String,
    /// Where it was when recorded, for readers; not matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    schema_version: u32,
    entries: Vec<Entry>,
}

/// What the baseline did in one run.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineReport {
    pub file: String,
    /// Findings it holds: they do not count.
    pub matched: Vec<Finding>,
    /// Entries on judged migrations that matched no finding: fixed, or moved out of shape.
    pub stale: Vec<Entry>,
}

/// A baseline read from its file.
#[derive(Debug, Clone)]
pub struct Baseline {
    path: String,
    entries: Vec<Entry>,
}

impl Baseline {
    /// Reads `explicit` (which must exist), or else `migration-guard-baseline.json` in the
    /// working directory when it exists.
    pub fn find(explicit: Option<&Path>) -> Result<Option<Baseline>, BaselineError> {
        let path = match explicit {
            Some(path) => path.to_path_buf(),
            None if Path::new(DEFAULT_FILE).is_file() => PathBuf::from(DEFAULT_FILE),
            None => return Ok(None),
        };
        let shown = display_path(&path);
        let text =
            std::fs::read_to_string(&path).map_err(|source| BaselineError::Read { path: shown.clone(), source })?;
        let file: File = serde_json::from_str(&text).map_err(|e| BaselineError::Syntax {
            path: shown.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
        if file.schema_version > FILE_VERSION {
            return Err(BaselineError::Version { path: shown, found: file.schema_version });
        }
        Ok(Some(Baseline { path: shown, entries: file.entries }))
    }

    /// Leaves out the findings the baseline holds (each entry holds one finding). Entries for
    /// which `judged` is true that matched nothing are stale.
    pub fn apply(
        &self,
        fingerprints: &Fingerprints,
        findings: Vec<Finding>,
        judged: impl Fn(&Entry) -> bool,
    ) -> (Vec<Finding>, BaselineReport) {
        let key = |rule: &str, migration: Option<&str>, print: &str| {
            (rule.to_string(), migration.map(str::to_string), print.to_string())
        };
        let mut open: HashMap<(String, Option<String>, String), Vec<usize>> = HashMap::new();
        for (i, e) in self.entries.iter().enumerate() {
            open.entry(key(&e.rule, e.migration.as_deref(), &e.fingerprint)).or_default().push(i);
        }
        let mut used = vec![false; self.entries.len()];
        let mut kept = Vec::new();
        let mut matched = Vec::new();
        for f in findings {
            let print = fingerprints.of(&f);
            let hit = open.get_mut(&key(&f.rule, f.migration.as_deref(), &print)).and_then(Vec::pop);
            match hit {
                Some(i) => {
                    used[i] = true;
                    matched.push(f);
                }
                None => kept.push(f),
            }
        }
        let stale =
            self.entries.iter().zip(used).filter(|(e, used)| !used && judged(e)).map(|(e, _)| e.clone()).collect();
        (kept, BaselineReport { file: self.path.clone(), matched, stale })
    }
}

/// Writes the baseline holding `findings` (errors and warnings: infos never count) to `path`;
/// returns how many entries it has.
pub fn write(path: &Path, fingerprints: &Fingerprints, findings: &[Finding]) -> Result<usize, BaselineError> {
    let mut entries: Vec<Entry> = findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .map(|f| Entry {
            rule: f.rule.clone(),
            migration: f.migration.clone(),
            fingerprint: fingerprints.of(f),
            file: f.file.clone(),
            line: f.line,
            message: f.message.clone(),
        })
        .collect();
    entries.sort_by(|a, b| (&a.file, a.line, &a.rule).cmp(&(&b.file, b.line, &b.rule)));
    let count = entries.len();
    let mut text = serde_json::to_string_pretty(&File { schema_version: FILE_VERSION, entries }).expect("serializes");
    text.push('\n');
    let shown = display_path(path);
    std::fs::write(path, text).map_err(|source| BaselineError::Write { path: shown, source })?;
    Ok(count)
}

/// Finds the statement a finding points at, to fingerprint it.
pub struct Fingerprints {
    /// Per file as shown in findings: (first line, last line, text) of each statement.
    statements: HashMap<String, Vec<(u32, u32, String)>>,
    /// Per Python revision file: its lines.
    sources: HashMap<String, Vec<String>>,
}

impl Fingerprints {
    /// Indexes the statements of every migration of `chain`.
    pub fn new(chain: &Chain) -> Fingerprints {
        let mut statements: HashMap<String, Vec<(u32, u32, String)>> = HashMap::new();
        let mut sources = HashMap::new();
        for m in &chain.migrations {
            if let Apply::Alembic(rev) = &m.apply {
                let text = std::fs::read_to_string(&rev.file).unwrap_or_default();
                sources.insert(display_path(&rev.file), text.lines().map(str::to_string).collect());
                continue;
            }
            for script in std::iter::once(&m.up).chain(m.down.as_ref()) {
                let list = statements.entry(script.display_path()).or_default();
                for st in &script.split.statements {
                    let last = script.file_line(st.end.saturating_sub(1).max(st.start));
                    list.push((script.statement_line(st), last, script.text(st).to_string()));
                }
            }
        }
        Fingerprints { statements, sources }
    }

    /// The fingerprint of a finding: of its statement when it points into one, else of its
    /// message with numbers left out (they carry sizes and times).
    pub fn of(&self, f: &Finding) -> String {
        let statement = f.file.as_deref().zip(f.line).and_then(|(file, line)| {
            if let Some(lines) = self.sources.get(file) {
                return lines.get(line.saturating_sub(1) as usize).map(|l| l.trim().to_string());
            }
            self.statements.get(file)?.iter().find(|(a, b, _)| (*a..=*b).contains(&line)).map(|(_, _, t)| t.clone())
        });
        let subject = match statement {
            Some(text) => statement_key(&text),
            None => f.message.chars().filter(|c| !c.is_ascii_digit()).collect(),
        };
        let mut hasher = Sha256::new();
        for part in [f.rule.as_str(), f.migration.as_deref().unwrap_or(""), subject.as_str()] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// What identifies a statement whatever its layout: PostgreSQL's parse-tree fingerprint (blind to
/// whitespace, comments and literal values), or for text it cannot parse the words of the text.
fn statement_key(text: &str) -> String {
    match pg_query::fingerprint(text, 0, pg_query::FingerprintOptions::FULL_RELNAME) {
        Ok(print) => print.hex,
        Err(_) => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_keyed_by_shape_not_layout() {
        assert_eq!(statement_key("DROP TABLE a;"), statement_key("-- gone\ndrop   table\n  a"));
        assert_ne!(statement_key("DROP TABLE a"), statement_key("DROP TABLE b"));
        assert_eq!(statement_key("not sql at all"), "not sql at all");
    }

    #[test]
    fn entries_match_once_and_stale_ones_are_reported() {
        let empty = Fingerprints { statements: HashMap::new(), sources: HashMap::new() };
        let f = |rule: &str, id: &str, message: &str| Finding::new(rule, Severity::Error, message).in_migration(id);
        let entry = |finding: &Finding| Entry {
            rule: finding.rule.clone(),
            migration: finding.migration.clone(),
            fingerprint: empty.of(finding),
            file: None,
            line: None,
            message: String::new(),
        };
        let accepted = f("drift", "1", "table t took 12 ms");
        let baseline = Baseline {
            path: "b.json".into(),
            entries: vec![entry(&accepted), entry(&f("drift", "2", "gone")), entry(&f("drift", "3", "merged"))],
        };
        let findings = vec![f("drift", "1", "table t took 99 ms"), f("drift", "1", "table t took 5 ms")];
        let (kept, report) = baseline.apply(&empty, findings, |e| e.migration.as_deref() != Some("3"));
        assert_eq!(report.matched.len(), 1, "one entry holds one finding");
        assert_eq!(kept.len(), 1);
        assert_eq!(report.stale.iter().map(|e| e.migration.as_deref()).collect::<Vec<_>>(), [Some("2")]);
    }
}
