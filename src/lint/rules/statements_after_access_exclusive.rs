//! `statements-after-access-exclusive`: more statements run while the transaction holds an
//! ACCESS EXCLUSIVE lock on an existing table.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;

/// The rule.
pub const RULE: Rule = Rule {
    id: "statements-after-access-exclusive",
    severity: Severity::Warning,
    why: "It lengthens an outage that has already begun rather than causing one, by however long the later statements take.",
    summary: "Statements run while the transaction holds an ACCESS EXCLUSIVE lock on an existing table.",
    detects: "The trace remembers when the migration's transaction holds ACCESS EXCLUSIVE on a table or view that existed before the migration (from ALTER TABLE, RENAME, CREATE OR REPLACE VIEW, ...). The rule fires on the first later statement in the same transaction that does work. SET and transaction control do not count, nor do statements that only write a catalog row about an object and finish at once: `COMMENT ON`, `GRANT` / `REVOKE`, `SECURITY LABEL`, `ALTER DEFAULT PRIVILEGES`. Reported once per migration.",
    production: "ACCESS EXCLUSIVE blocks even plain SELECTs, and locks are held until COMMIT. Every statement after the one that took it lengthens the outage of that table: index builds, data updates or function bodies run while the application cannot read the table.",
    instead: "Take the ACCESS EXCLUSIVE lock last, or move the statement that takes it into its own migration so its transaction commits right away. Statements on unrelated objects belong before it.",
    help: "move this statement before the one that locks the table, or split the migration",
    once_per_migration: true,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    match &trace.exclusive_before {
        Some(table) if trace.error.is_none() => vec![format!(
            "runs while the transaction still holds the ACCESS EXCLUSIVE lock on {} taken by an earlier statement, so reads and writes of {} wait for this statement too",
            table.qualified(),
            table.qualified()
        )],
        _ => Vec::new(),
    }
}
