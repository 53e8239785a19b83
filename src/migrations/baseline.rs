//! Compares a chain with its files at a git ref (in CI, the pull request's base branch):
//! migrations edited after they were merged (`edited-migration`, Flyway's checksum idea) and
//! new migrations that sort before the newest one on the base (`out-of-order`). Runs `git`;
//! knows nothing of databases.

use super::{Apply, Chain, Migration, display_path};
use crate::findings::{Finding, Severity};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Why the comparison could not be made; each message names `--base-ref`.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("--base-ref {reference}: cannot run git (install git, or drop --base-ref)")]
    NoGit {
        reference: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--base-ref {reference}: {path} is not inside a git work tree")]
    NotARepository { reference: String, path: String },
    #[error(
        "--base-ref {reference}: git does not know this ref; fetch it first (e.g. `git fetch origin {reference}`, or checkout with fetch-depth: 0)"
    )]
    UnknownRef { reference: String },
    #[error("--base-ref {reference}: `git {command}` failed: {message}")]
    Git { reference: String, command: String, message: String },
}

/// The findings of comparing `chain` with the same files at `reference`.
pub fn check(chain: &Chain, reference: &str) -> Result<Vec<Finding>, BaselineError> {
    let git = Git::open(&chain.dir, reference)?;
    // Each migration's main file (the up script, or the Alembic revision) and its other files.
    let mut files: Vec<(usize, String)> = Vec::new();
    for (i, m) in chain.migrations.iter().enumerate() {
        for path in migration_files(m) {
            if let Some(relative) = git.relative(&path) {
                files.push((i, relative));
            }
        }
    }
    let folders: BTreeSet<String> = files
        .iter()
        .map(|(_, f)| Path::new(f).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default())
        .map(|p| if p.is_empty() { ".".to_string() } else { p })
        .collect();
    let folders: Vec<String> = folders.into_iter().collect();
    let mut args = vec!["ls-tree", "-r", "--name-only", reference, "--"];
    args.extend(folders.iter().map(String::as_str));
    let on_base: HashSet<String> = git.run(&args)?.lines().map(str::to_string).collect();
    let mut args = vec!["diff", "--name-only", "--no-renames", reference, "--"];
    args.extend(folders.iter().map(String::as_str));
    let changed: HashSet<String> = git.run(&args)?.lines().map(str::to_string).collect();

    let mut findings = Vec::new();
    let mut reported = HashSet::new();
    for (i, file) in &files {
        if !on_base.contains(file) || !changed.contains(file) || !reported.insert(file.clone()) {
            continue;
        }
        let m = &chain.migrations[*i];
        let line = git.first_changed_line(reference, file)?;
        findings.push(
            Finding::new(
                "edited-migration",
                Severity::Error,
                format!(
                    "{} already exists on {reference} and was changed here; databases that applied it will not run it again, so the edit never reaches them",
                    m.id
                ),
            )
            .in_migration(&m.id)
            .at(display_path(&git.root.join(file)), Some(line))
            .with_help("revert the edit and make the change in a new migration"),
        );
    }

    let main_file = |m: &Migration| migration_files(m).first().and_then(|p| git.relative(p));
    let is_new: Vec<bool> =
        chain.migrations.iter().map(|m| main_file(m).is_some_and(|f| !on_base.contains(&f))).collect();
    findings.extend(out_of_order(chain, &is_new, reference));
    Ok(findings)
}

fn migration_files(m: &Migration) -> Vec<PathBuf> {
    match &m.apply {
        Apply::Alembic(rev) => vec![rev.file.clone()],
        Apply::Sql => std::iter::once(m.up.path.clone()).chain(m.down.as_ref().map(|d| d.path.clone())).collect(),
    }
}

/// New migrations that the base's history already passed: for versioned formats a version
/// below the newest on the base, for graph formats an ancestor of a revision on the base.
fn out_of_order(chain: &Chain, is_new: &[bool], reference: &str) -> Vec<Finding> {
    let migrations = &chain.migrations;
    let mut findings = Vec::new();
    let finding = |m: &Migration, later: &Migration| {
        let (file, line) = match &m.apply {
            Apply::Alembic(rev) => (display_path(&rev.file), rev.down_revision_line),
            Apply::Sql => (m.up.display_path(), m.up.first_line),
        };
        Finding::new(
            "out-of-order",
            Severity::Error,
            format!(
                "{} is new in this change but comes before {}, which is already on {reference}; databases already past {} never apply it",
                m.id, later.id, later.id
            ),
        )
        .in_migration(&m.id)
        .at(file, Some(line))
    };
    let newest_on_base = migrations
        .iter()
        .zip(is_new)
        .filter(|(m, new)| !**new && m.version.is_some())
        .max_by(|(a, _), (b, _)| a.version.cmp(&b.version))
        .map(|(m, _)| m);
    if let Some(newest) = newest_on_base {
        for (m, _) in migrations.iter().zip(is_new).filter(|(_, new)| **new) {
            if m.version.is_some() && m.version < newest.version {
                findings
                    .push(finding(m, newest).with_help(format!("renumber {} so it comes after {}", m.id, newest.id)));
            }
        }
    }
    // Graph formats: a base revision descending from a new one means the new one was slipped
    // into history that already ran.
    let index: HashMap<&str, usize> = migrations.iter().enumerate().map(|(i, m)| (m.id.as_str(), i)).collect();
    let mut flagged = HashSet::new();
    for (b, base) in migrations.iter().enumerate() {
        if is_new[b] || base.version.is_some() || !matches!(base.apply, Apply::Alembic(_)) {
            continue;
        }
        let mut stack: Vec<usize> = base.parents.iter().filter_map(|p| index.get(p.as_str()).copied()).collect();
        let mut seen = HashSet::new();
        while let Some(i) = stack.pop() {
            if !seen.insert(i) {
                continue;
            }
            if is_new[i] && flagged.insert(i) {
                findings.push(finding(&migrations[i], base).with_help(format!(
                    "give {} the current head as down_revision and restore {}'s down_revision",
                    migrations[i].id, base.id
                )));
            }
            stack.extend(migrations[i].parents.iter().filter_map(|p| index.get(p.as_str()).copied()));
        }
    }
    findings
}

/// A git work tree and the ref to compare with.
struct Git {
    root: PathBuf,
    reference: String,
}

impl Git {
    fn open(dir: &Path, reference: &str) -> Result<Git, BaselineError> {
        let probe = Git { root: dir.to_path_buf(), reference: reference.to_string() };
        let top = probe.run(&["rev-parse", "--show-toplevel"]).map_err(|e| match e {
            BaselineError::Git { .. } => {
                BaselineError::NotARepository { reference: reference.to_string(), path: display_path(dir) }
            }
            other => other,
        })?;
        let root = std::fs::canonicalize(top.trim()).unwrap_or_else(|_| PathBuf::from(top.trim()));
        let git = Git { root, reference: reference.to_string() };
        git.run(&["rev-parse", "--verify", "--quiet", &format!("{reference}^{{commit}}")])
            .map_err(|_| BaselineError::UnknownRef { reference: reference.to_string() })?;
        Ok(git)
    }

    /// `path` relative to the work tree root, with `/`.
    fn relative(&self, path: &Path) -> Option<String> {
        let path = std::fs::canonicalize(path).ok()?;
        Some(path.strip_prefix(&self.root).ok()?.to_string_lossy().replace('\\', "/"))
    }

    fn run(&self, args: &[&str]) -> Result<String, BaselineError> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(args)
            .output()
            .map_err(|source| BaselineError::NoGit { reference: self.reference.clone(), source })?;
        if !output.status.success() {
            return Err(BaselineError::Git {
                reference: self.reference.clone(),
                command: args.join(" "),
                message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The first line of `file` that differs from `reference` (from `@@ -a,b +c,d @@`).
    fn first_changed_line(&self, reference: &str, file: &str) -> Result<u32, BaselineError> {
        let diff = self.run(&["diff", "-U0", "--no-color", reference, "--", file])?;
        let line = diff
            .lines()
            .find_map(|l| l.strip_prefix("@@ "))
            .and_then(|h| h.split_whitespace().find_map(|part| part.strip_prefix('+')))
            .and_then(|range| range.split(',').next())
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(1);
        Ok(line.max(1))
    }
}
