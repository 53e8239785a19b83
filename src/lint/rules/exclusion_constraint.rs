//! `exclusion-constraint`: ADD EXCLUDE on an existing table.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;

/// The rule.
pub const RULE: Rule = Rule {
    id: "exclusion-constraint",
    severity: Severity::Error,
    why: "The index behind it is built under ACCESS EXCLUSIVE: reads and writes stop for the whole build.",
    summary: "An exclusion constraint is added to an existing table.",
    detects: "The trace sees a new `EXCLUDE` constraint (contype `x`) on a table that existed before the migration.",
    production: "An exclusion constraint builds its index and checks every row while ACCESS EXCLUSIVE blocks all reads and writes, and unlike unique constraints it cannot be built concurrently and attached afterwards.",
    instead: "Add exclusion constraints when the table is created, or to a new table that is filled in the background and swapped in. Otherwise schedule a maintenance window.",
    help: "create exclusion constraints with the table, or plan a maintenance window",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    trace
        .constraints
        .iter()
        .filter(|c| c.kind == 'x' && c.created)
        .map(|c| {
            format!(
                "adds exclusion constraint {} to existing table {}: its index is built and every row checked under an ACCESS EXCLUSIVE lock",
                c.name,
                c.table.qualified()
            )
        })
        .collect()
}
