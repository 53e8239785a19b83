//! `foreign-key-not-indexed`: a foreign key added by the migration whose referencing columns no
//! index covers once the migration has run.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;

/// The rule.
pub const RULE: Rule = Rule {
    id: "foreign-key-not-indexed",
    severity: Severity::Info,
    why: "Performance advice: deletes on the referenced table and joins slow down as the table grows, but nothing fails or locks at deploy time.",
    summary: "A foreign key is added without an index on its referencing columns.",
    detects: "After the last statement of a migration that added foreign keys, one catalog query checks each of them: the rule fires when no non-partial index on the referencing table has the key's columns as its leading columns (in any order). An index created later in the same migration counts; one created by a later migration does not. A key counts when the referencing or the referenced table existed before the migration: `ALTER TABLE ... ADD FOREIGN KEY`, `ADD COLUMN ... REFERENCES`, and `CREATE TABLE` of a new table that references an existing one. Like every rule here, a key between two tables that the migration both creates is left out (eugene's E15, which lists every key of the database still without an index once its whole run ends, includes those); so are keys that existed before and keys that `ALTER COLUMN TYPE` re-creates. Reported at the statement that added the key.",
    production: "Every `DELETE` on the referenced table, and every `UPDATE` of its key, runs a referential-integrity query on the referencing table; without an index that query scans the whole referencing table, once per row, while holding row locks. A cleanup job or an `ON DELETE CASCADE` that was instant becomes a long-running, lock-holding query as the referencing table grows, and fixing it means another migration that builds the index on a table in use.",
    instead: "Create the index on the referencing columns in the same deploy. For a new table, create it right after the table; for an existing table, build it concurrently (in a migration without a transaction) before adding the key:\n\n```sql\nCREATE INDEX CONCURRENTLY orders_customer_id_idx ON orders (customer_id);\n-- then\nALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n  FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n```",
    help: "create an index whose leading columns are the foreign key's columns",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    trace
        .unindexed_foreign_keys
        .iter()
        .map(|fk| {
            let columns = fk.columns.join(", ");
            format!(
                "foreign key {} on {} ({columns}) references {} but no index on {} starts with ({columns}): every DELETE or key UPDATE on {} scans {}",
                fk.name, fk.table, fk.referenced, fk.table, fk.referenced, fk.table
            )
        })
        .collect()
}
