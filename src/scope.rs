//! Which migrations the change under review adds or edits (*changed*: applied with every check)
//! and which it only replays (*merged*: applied as fast as possible and never judged), and so
//! which findings count towards the verdict. Pure code over the chain and its comparison with
//! the base.

use crate::findings::Finding;
use crate::migrations::git::Comparison;
use crate::migrations::{Chain, Version};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Whether a migration is judged in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MigrationScope {
    /// Added or edited by the change: traced, round-tripped, its effects and data checked.
    Changed,
    /// Already merged: replayed to build the schema the change applies to, nothing more.
    Merged,
}

/// Rules about the chain as a whole: they count whichever migration they are filed under,
/// because the change can cause them (a second head, an edit, a migration slipped in before
/// merged ones, models that no longer match).
const CHAIN_RULES: &[&str] = &[
    "missing-parent",
    "cycle",
    "branch-point",
    "multiple-heads",
    "duplicate-revision",
    "edited-migration",
    "out-of-order",
    crate::schema::drift::RULE,
    // A merged migration that fails (or that the check refuses to run) stops the check before
    // the change is applied: the verdict cannot be "passed".
    crate::roundtrip::MIGRATION_FAILED,
    "cluster-wide-statement",
];

/// What to compare with, as the settings resolved it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeSettings {
    /// The base given (flag, input, config) or implied by the event (the PR's base branch,
    /// the commit before a push); `None`: the merge-base with the remote's default branch.
    pub base_ref: Option<String>,
    /// Migrations up to and including this version or revision count as merged.
    pub start_after: Option<String>,
    /// Judge every migration whatever the base says (`--scope all`, and `baseline`).
    pub all: bool,
}

/// How the base was found.
#[derive(Debug)]
pub enum Base {
    /// Named by the settings.
    Given(Comparison),
    /// The merge-base with the remote's default branch, found on its own.
    Discovered(Comparison),
    /// None could be found, for this reason.
    Missing(String),
}

impl Base {
    /// The comparison, when there is a base.
    pub fn comparison(&self) -> Option<&Comparison> {
        match self {
            Base::Given(c) | Base::Discovered(c) => Some(c),
            Base::Missing(_) => None,
        }
    }
}

/// Why the scope cannot be decided.
#[derive(Debug, thiserror::Error)]
pub enum ScopeError {
    #[error("{setting}: no migration has the version or revision {value:?}")]
    UnknownStartAfter { setting: String, value: String },
}

/// The scope of one run.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Per migration of the chain, in chain order.
    pub scopes: Vec<MigrationScope>,
    /// Per migration: its main file is new (not at the base).
    pub added: Vec<bool>,
    /// What the scope was decided from, for the report ("compared with origin/main").
    pub basis: String,
    /// Said once on the terminal when every migration counts as changed for want of a base.
    pub notice: Option<String>,
    /// A base (or `start-after`) told changed from merged migrations: what the added ones
    /// create is new in production.
    pub has_base: bool,
    /// Version of each migration, by id, to tell whether a duplicate involves a changed one.
    versions: HashMap<String, Option<Version>>,
}

impl Scope {
    /// Decides the scope of `chain` from `base` and the settings; `start_setting` names where
    /// `start-after` came from, for errors.
    pub fn resolve(
        chain: &Chain,
        settings: &ScopeSettings,
        base: &Base,
        start_setting: &str,
    ) -> Result<Scope, ScopeError> {
        let n = chain.migrations.len();
        let comparison = base.comparison();
        let added: Vec<bool> = (0..n).map(|i| comparison.is_none_or(|c| c.is_added(i))).collect();
        let mut changed: Vec<bool> = (0..n).map(|i| comparison.is_none_or(|c| c.is_changed(i))).collect();
        let mut basis = match base {
            Base::Given(c) | Base::Discovered(c) => format!("compared with {}", c.base),
            Base::Missing(_) => "no base to compare with: every migration judged".to_string(),
        };
        let mut notice = match base {
            Base::Missing(reason) if !settings.all && settings.start_after.is_none() => Some(format!(
                "every migration counts as changed: no base to compare with ({reason}); pass --base-ref REF to judge only what a branch changes"
            )),
            _ => None,
        };
        if let Base::Discovered(c) = base
            && !changed.contains(&true)
        {
            // Run by hand on a branch that changes no migration: judging nothing helps nobody.
            changed = vec![true; n];
            basis = "every migration judged".to_string();
            notice = Some(format!(
                "no migration changed relative to {}: judging every migration; pass --base-ref REF to compare with another ref",
                c.base
            ));
        }
        if let Some(value) = &settings.start_after {
            let merged = up_to(chain, value).ok_or_else(|| ScopeError::UnknownStartAfter {
                setting: start_setting.to_string(),
                value: value.clone(),
            })?;
            for (slot, merged) in changed.iter_mut().zip(merged) {
                *slot &= !merged;
            }
            basis.push_str(&format!(", start-after {value}"));
        }
        if settings.all {
            changed = vec![true; n];
            basis = "every migration judged (scope: all)".to_string();
            notice = None;
        }
        let scopes =
            changed.into_iter().map(|c| if c { MigrationScope::Changed } else { MigrationScope::Merged }).collect();
        let versions = chain.migrations.iter().map(|m| (m.id.clone(), m.version.clone())).collect();
        // Without a base every migration is judged as if it were the one being deployed.
        let has_base = settings.start_after.is_some() || (comparison.is_some() && notice.is_none());
        Ok(Scope { scopes, added, basis, notice, has_base: has_base && !settings.all, versions })
    }

    /// Every migration judged: the scope of a run without a base, and of `baseline`.
    pub fn everything(chain: &Chain, basis: &str) -> Scope {
        let n = chain.migrations.len();
        Scope {
            scopes: vec![MigrationScope::Changed; n],
            added: vec![true; n],
            basis: basis.to_string(),
            notice: None,
            has_base: false,
            versions: chain.migrations.iter().map(|m| (m.id.clone(), m.version.clone())).collect(),
        }
    }

    /// Whether migration `index` is judged.
    pub fn is_changed(&self, index: usize) -> bool {
        self.scopes[index] == MigrationScope::Changed
    }

    /// How many migrations are changed and merged.
    pub fn counts(&self) -> (usize, usize) {
        let changed = self.scopes.iter().filter(|s| **s == MigrationScope::Changed).count();
        (changed, self.scopes.len() - changed)
    }

    /// Splits findings into those that count (on changed migrations, about the whole chain, or
    /// about no migration) and those on merged migrations, which never count.
    pub fn split(&self, chain: &Chain, findings: Vec<Finding>) -> (Vec<Finding>, Vec<Finding>) {
        let changed_ids: HashSet<&str> = chain
            .migrations
            .iter()
            .zip(&self.scopes)
            .filter(|(_, s)| **s == MigrationScope::Changed)
            .map(|(m, _)| m.id.as_str())
            .collect();
        let changed_versions: Vec<&Version> =
            changed_ids.iter().filter_map(|id| self.versions.get(*id).and_then(Option::as_ref)).collect();
        findings.into_iter().partition(|f| {
            let Some(id) = f.migration.as_deref() else { return true };
            if changed_ids.contains(id) || CHAIN_RULES.contains(&f.rule.as_str()) {
                return true;
            }
            // A version used twice counts when one of its users is changed.
            f.rule == "duplicate-version"
                && self.versions.get(id).and_then(Option::as_ref).is_some_and(|v| changed_versions.contains(&v))
        })
    }
}

/// Per migration: at or before `value` (a migration id, or a version of a versioned format).
/// For a graph format, the revision named and its ancestors.
fn up_to(chain: &Chain, value: &str) -> Option<Vec<bool>> {
    let n = chain.migrations.len();
    if let Some(at) = chain.migrations.iter().position(|m| m.id == value) {
        if chain.format != crate::migrations::Format::Alembic {
            return Some((0..n).map(|i| i <= at).collect());
        }
        let index: HashMap<&str, usize> =
            chain.migrations.iter().enumerate().map(|(i, m)| (m.id.as_str(), i)).collect();
        let mut merged = vec![false; n];
        let mut stack = vec![at];
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut merged[i], true) {
                continue;
            }
            stack.extend(chain.migrations[i].parents.iter().filter_map(|p| index.get(p.as_str()).copied()));
        }
        return Some(merged);
    }
    let version = Version::parse(value)?;
    let versioned = chain.migrations.iter().any(|m| m.version.is_some());
    versioned.then(|| chain.migrations.iter().map(|m| m.version.as_ref().is_some_and(|v| *v <= version)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Severity;
    use crate::migrations::{LoadOptions, load};

    fn chain(files: &[&str]) -> (tempfile::TempDir, Chain) {
        let dir = tempfile::tempdir().unwrap();
        for name in files {
            std::fs::write(dir.path().join(name), "SELECT 1;\n").unwrap();
        }
        let options = LoadOptions { format: Some(crate::migrations::Format::Sqlx), ..LoadOptions::default() };
        let chain = load(dir.path(), &options).unwrap();
        (dir, chain)
    }

    fn settings(start_after: Option<&str>) -> ScopeSettings {
        ScopeSettings { start_after: start_after.map(str::to_string), ..ScopeSettings::default() }
    }

    #[test]
    fn start_after_takes_an_id_or_a_version() {
        let (_dir, chain) = chain(&["0001_a.sql", "0002_b.sql", "0010_c.sql"]);
        let missing = Base::Missing("test".into());
        let scope = Scope::resolve(&chain, &settings(Some("0002")), &missing, "--start-after").unwrap();
        assert_eq!(scope.scopes, [MigrationScope::Merged, MigrationScope::Merged, MigrationScope::Changed]);
        assert!(scope.notice.is_none(), "start-after is a base of its own");
        let scope = Scope::resolve(&chain, &settings(Some("5")), &missing, "--start-after").unwrap();
        assert_eq!(scope.counts(), (1, 2));
        let err = Scope::resolve(&chain, &settings(Some("nope")), &missing, "input start-after").unwrap_err();
        assert_eq!(err.to_string(), "input start-after: no migration has the version or revision \"nope\"");
        let all = ScopeSettings { all: true, ..settings(Some("0002")) };
        assert_eq!(Scope::resolve(&chain, &all, &missing, "x").unwrap().counts(), (3, 0));
    }

    #[test]
    fn without_a_base_everything_is_changed_and_the_user_is_told() {
        let (_dir, chain) = chain(&["1_a.sql", "2_b.sql"]);
        let scope = Scope::resolve(&chain, &settings(None), &Base::Missing("not a git work tree".into()), "").unwrap();
        assert_eq!(scope.counts(), (2, 0));
        assert!(scope.notice.unwrap().contains("not a git work tree"));
    }

    #[test]
    fn findings_on_merged_migrations_do_not_count_unless_about_the_chain() {
        let (_dir, chain) = chain(&["1_a.sql", "2_b.sql", "3_c.sql"]);
        let scope = Scope::resolve(&chain, &settings(Some("2")), &Base::Missing(String::new()), "").unwrap();
        let on = |rule: &str, id: &str| Finding::new(rule, Severity::Error, "m").in_migration(id);
        let (counted, merged) = scope.split(
            &chain,
            vec![
                on("index-not-concurrent", "1"),
                on("index-not-concurrent", "3"),
                on("multiple-heads", "2"),
                on("migration-failed", "1"),
                Finding::new("drift", Severity::Error, "d"),
                on("duplicate-version", "2"),
            ],
        );
        let ids = |fs: &[Finding]| fs.iter().map(|f| (f.rule.clone(), f.migration.clone())).collect::<Vec<_>>();
        assert_eq!(
            ids(&counted),
            [
                ("index-not-concurrent".to_string(), Some("3".to_string())),
                ("multiple-heads".to_string(), Some("2".to_string())),
                ("migration-failed".to_string(), Some("1".to_string())),
                ("drift".to_string(), None),
            ]
        );
        assert_eq!(
            ids(&merged),
            [
                ("index-not-concurrent".to_string(), Some("1".to_string())),
                ("duplicate-version".to_string(), Some("2".to_string())),
            ]
        );
    }
}
