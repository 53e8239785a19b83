//! `drop-table`: DROP TABLE of a table that existed before the migration.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::NodeEnum;

/// The rule.
pub const RULE: Rule = Rule {
    id: "drop-table",
    severity: Severity::Warning,
    why: "Dropping a table is instant; the hazard is code still using it and the data lost, which `destructive-change` reports as an error on the same statement.",
    summary: "A table that existed before the migration is dropped.",
    detects: "The trace sees a table that existed before the migration disappear from `pg_class` during a DROP statement (also through `CASCADE` or `DROP SCHEMA`). Dropping a table created earlier in the same migration is not reported.",
    production: "The data is gone for good and application instances still running the old code fail on every query of the table.",
    instead: "Remove all use of the table from the application first and deploy that; drop the table in a later release, after a backup, or rename it aside and drop it later still.",
    help: "stop using the table in a release before the one that drops it",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    if !matches!(trace.node, Some(NodeEnum::DropStmt(_))) {
        return Vec::new();
    }
    trace
        .dropped
        .iter()
        .filter(|r| matches!(r.kind, 'r' | 'p'))
        .map(|r| format!("drops existing table {} and its data; code still using it fails", r.qualified()))
        .collect()
}
