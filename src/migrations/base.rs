//! Findings from comparing a chain with its base (in CI, the pull request's base branch):
//! migrations edited after they were merged (`edited-migration`, Flyway's checksum idea) and
//! new migrations that sort before merged ones (`out-of-order`). Pure code over a
//! [`Comparison`]; knows nothing of databases.

use super::git::{Comparison, GitError};
use super::{Apply, Chain, Migration, display_path};
use crate::findings::Finding;
use crate::rules;
use std::collections::{HashMap, HashSet};

/// The findings of comparing `chain` with its base.
pub fn check(chain: &Chain, comparison: &Comparison) -> Result<Vec<Finding>, GitError> {
    let base = &comparison.base;
    let mut findings = Vec::new();
    let mut reported = HashSet::new();
    for (i, m) in chain.migrations.iter().enumerate() {
        for file in comparison.edited_files(i) {
            if !reported.insert(file.to_string()) {
                continue;
            }
            let line = comparison.first_changed_line(file)?;
            findings.push(
                Finding::of(
                    &rules::EDITED,
                    format!(
                        "{} already exists on {base} and was changed here; databases that applied it will not run it again, so the edit never reaches them",
                        m.id
                    ),
                )
                .in_migration(&m.id)
                .at(comparison.display(file), Some(line))
                .with_help("revert the edit and make the change in a new migration"),
            );
        }
    }
    let is_new: Vec<bool> = (0..chain.migrations.len()).map(|i| comparison.is_added(i)).collect();
    findings.extend(out_of_order(chain, &is_new, base));
    Ok(findings)
}

/// New migrations that the base's history already passed: for versioned formats a version
/// below the newest on the base, for graph formats an ancestor of a revision on the base.
fn out_of_order(chain: &Chain, is_new: &[bool], reference: &str) -> Vec<Finding> {
    let migrations = &chain.migrations;
    let mut findings = Vec::new();
    let finding = |m: &Migration, later: &Migration| {
        let (file, line) = match &m.apply {
            Apply::Alembic(rev) => (display_path(&rev.file), rev.down_revision_line),
            Apply::Sql | Apply::Opaque(_) => (m.up.display_path(), m.up.first_line),
        };
        Finding::of(
            &rules::OUT_OF_ORDER,
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
