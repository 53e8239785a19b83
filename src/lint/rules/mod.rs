//! The lint rules: one file per rule, each a kebab-case id, a default severity, the text of its
//! documentation page and a check over one statement's trace. `docs/rules/<id>.md` is rendered
//! from the same text by `doc_page`.

mod concurrently_in_transaction;
mod constraint_validation;
mod drop_column;
mod drop_index_not_concurrent;
mod drop_table;
mod enum_add_value_in_transaction;
mod exclusion_constraint;
mod foreign_key_not_indexed;
mod index_not_concurrent;
mod json_column;
mod lock_timeout_missing;
mod not_null_column_without_default;
mod rename;
mod set_not_null_scan;
mod statements_after_access_exclusive;
mod table_rewrite;
mod type_change_rewrite;
mod unique_constraint_build;
mod volatile_default_rewrite;

use super::trace::StatementTrace;
use crate::findings::Severity;
use std::fmt::Write;

/// One lint rule and its documentation.
#[derive(Debug)]
pub struct Rule {
    /// Stable kebab-case id, used in findings, waivers and `docs/rules/<id>.md`.
    pub id: &'static str,
    /// Severity unless configured otherwise.
    pub severity: Severity,
    /// Why the rule has that severity by default.
    pub why: &'static str,
    /// One line: what the rule reports.
    pub summary: &'static str,
    /// How the trace decides (what it does).
    pub detects: &'static str,
    /// What happens in production (why it is bad).
    pub production: &'static str,
    /// The safe way (use instead), Markdown.
    pub instead: &'static str,
    /// One-line fix shown with each finding.
    pub help: &'static str,
    /// Report only the first hit of each migration.
    pub once_per_migration: bool,
    /// Messages for each problem this rule sees in one statement's trace.
    pub check: fn(&StatementTrace) -> Vec<String>,
}

/// Every rule, in documentation order.
pub static ALL: &[&Rule] = &[
    &lock_timeout_missing::RULE,
    &statements_after_access_exclusive::RULE,
    &table_rewrite::RULE,
    &index_not_concurrent::RULE,
    &constraint_validation::RULE,
    &set_not_null_scan::RULE,
    &type_change_rewrite::RULE,
    &unique_constraint_build::RULE,
    &exclusion_constraint::RULE,
    &enum_add_value_in_transaction::RULE,
    &drop_column::RULE,
    &drop_table::RULE,
    &drop_index_not_concurrent::RULE,
    &rename::RULE,
    &volatile_default_rewrite::RULE,
    &concurrently_in_transaction::RULE,
    &foreign_key_not_indexed::RULE,
    &json_column::RULE,
    &not_null_column_without_default::RULE,
];

/// Rules decided once the whole migration ran, on traces the tracer builds then.
pub static AT_END: &[&Rule] = &[&foreign_key_not_indexed::RULE];

/// The rule with `id`.
pub fn by_id(id: &str) -> Option<&'static Rule> {
    ALL.iter().copied().find(|r| r.id == id)
}

/// The Markdown page `docs/rules/<id>.md` of a rule.
pub fn doc_page(rule: &Rule) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!-- Generated from src/lint/rules/; edit the rule, then run `UPDATE_RULE_DOCS=1 cargo test --lib lint::rules`. -->\n"
    );
    let _ =
        writeln!(out, "# `{}`\n\n{}\n\nDefault severity: **{}**. {}\n", rule.id, rule.summary, rule.severity, rule.why);
    let _ = writeln!(out, "## What it detects\n\n{}\n", rule.detects);
    let _ = writeln!(out, "## What happens in production\n\n{}\n", rule.production);
    let _ = writeln!(out, "## The safe way\n\n{}\n", rule.instead);
    let _ = writeln!(
        out,
        "## Waiving it\n\nPut `-- migration-guard: ignore {} -- why` on the line before the statement or on one of its lines (squawk, Atlas, eugene and diesel-guard waivers work too: see [waivers](../waivers.md)); the report lists the waiver and its reason.",
        rule.id
    );
    out
}

/// `docs/rules/README.md`: the index of every rule, lint and stage rules.
pub fn doc_index() -> String {
    let mut out = String::from(
        "<!-- Generated from src/lint/rules/ and src/rules.rs; run `UPDATE_RULE_DOCS=1 cargo test --lib lint::rules`. -->\n\n# Rules\n\nA rule is an error by default only when it fails the deploy or blocks production for real on a busy table; advice is a warning or a note. Each page says why. `--rule RULE=LEVEL` (input `rules`) changes a severity; [waivers](../waivers.md) silence one finding.\n\n## Lint\n\nDecided from a trace of the migration as it runs on a real PostgreSQL: only objects that existed before the migration count.\n\n| Rule | Default | Reports |\n|---|---|---|\n",
    );
    for rule in ALL {
        let _ = writeln!(out, "| [`{}`]({}.md) | {} | {} |", rule.id, rule.id, rule.severity, rule.summary);
    }
    out.push_str("\n## Apply, round trip, effects, graph and drift\n\n| Rule | Default | Reported by | Reports |\n|---|---|---|---|\n");
    for rule in crate::rules::ALL {
        let _ = writeln!(
            out,
            "| [`{}`]({}.md) | {} | {} | {} |",
            rule.id, rule.id, rule.severity, rule.stage, rule.summary
        );
    }
    out
}

/// Functions the rule files share.
mod util {
    use crate::lint::trace::StatementTrace;
    use pg_query::NodeEnum;

    /// Whether the statement is an `ALTER TABLE`.
    pub fn is_alter_table(trace: &StatementTrace) -> bool {
        matches!(trace.node, Some(NodeEnum::AlterTableStmt(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for rule in ALL {
            assert!(seen.insert(rule.id), "duplicate {}", rule.id);
            assert!(rule.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{}", rule.id);
            assert!(!rule.help.is_empty() && !rule.instead.is_empty() && !rule.production.is_empty());
        }
        assert!(by_id("index-not-concurrent").is_some());
    }

    /// `docs/rules/` matches the rule texts; `UPDATE_RULE_DOCS=1` rewrites it.
    #[test]
    fn docs_are_up_to_date() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/rules");
        let mut pages: Vec<(String, String)> = ALL.iter().map(|r| (format!("{}.md", r.id), doc_page(r))).collect();
        pages.extend(crate::rules::ALL.iter().map(|r| (format!("{}.md", r.id), crate::rules::doc_page(r))));
        pages.push(("README.md".into(), doc_index()));
        if std::env::var_os("UPDATE_RULE_DOCS").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in &pages {
                std::fs::write(dir.join(name), text).unwrap();
            }
        }
        for (name, text) in &pages {
            let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
            assert!(
                &on_disk == text,
                "docs/rules/{name} is out of date; run `UPDATE_RULE_DOCS=1 cargo test --lib lint::rules`"
            );
        }
    }
}
