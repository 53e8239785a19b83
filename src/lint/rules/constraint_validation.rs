//! `constraint-validation`: a foreign key or CHECK constraint validated on an existing table
//! while a lock that blocks writes is held.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;

/// The rule.
pub const RULE: Rule = Rule {
    id: "constraint-validation",
    severity: Severity::Error,
    why: "The validation scans the whole table under a lock that blocks writes.",
    summary: "A foreign key or CHECK constraint is validated on an existing table while writes are blocked.",
    detects: "The trace reads the constraints of every locked table after each statement. The rule fires when a FOREIGN KEY or CHECK constraint on a table that existed before the migration is created valid (no `NOT VALID`), or is validated, while the transaction holds a lock stronger than SHARE UPDATE EXCLUSIVE on that table; this includes `VALIDATE CONSTRAINT` in the same transaction as the `ADD ... NOT VALID`.",
    production: "Validation reads the whole table (and for a foreign key, probes the referenced table for every row). Adding the constraint holds SHARE ROW EXCLUSIVE (foreign key) or ACCESS EXCLUSIVE (CHECK) meanwhile, so writes, and for CHECK also reads, stop for as long as the scan takes.",
    instead: "Add the constraint `NOT VALID` (instant, only new rows are checked), commit, then validate in a separate migration; `VALIDATE CONSTRAINT` takes only SHARE UPDATE EXCLUSIVE, which lets reads and writes continue:\n\n```sql\nALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n  FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n-- next migration\nALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;\n```",
    help: "add the constraint NOT VALID, then VALIDATE CONSTRAINT in a later migration",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    trace
        .constraints
        .iter()
        .filter(|c| matches!(c.kind, 'f' | 'c') && c.validated)
        .filter_map(|c| {
            let lock = c.table_lock.filter(|l| l.blocks_writes())?;
            let kind = if c.kind == 'f' { "foreign key" } else { "check constraint" };
            Some(if c.created {
                format!(
                    "adds {kind} {} on existing table {} without NOT VALID: every row is checked while its {} lock blocks {}",
                    c.name,
                    c.table.qualified(),
                    lock.sql_name(),
                    lock.blocks()
                )
            } else {
                format!(
                    "validates {kind} {} on {} in a transaction that holds {} on it, so {} wait for the scan",
                    c.name,
                    c.table.qualified(),
                    lock.sql_name(),
                    lock.blocks()
                )
            })
        })
        .collect()
}
