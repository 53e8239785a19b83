//! `index-not-concurrent`: CREATE INDEX without CONCURRENTLY on an existing table.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::NodeEnum;

/// The rule.
pub const RULE: Rule = Rule {
    id: "index-not-concurrent",
    severity: Severity::Error,
    why: "Writes to the table stop for the whole build, which on a large table takes minutes.",
    summary: "`CREATE INDEX` without `CONCURRENTLY` on a table that existed before the migration.",
    detects: "The statement is a `CREATE INDEX` without `CONCURRENTLY` and the trace sees it create an index whose table existed before the migration. An index on a table created earlier in the same migration is not reported.",
    production: "A plain CREATE INDEX holds a SHARE lock for the whole build: inserts, updates and deletes on the table wait until every row has been read and sorted, which on a large table is minutes of blocked writes.",
    instead: "Build it concurrently, outside a transaction (in a migration of its own, marked to run without one):\n\n```sql\nCREATE INDEX CONCURRENTLY orders_customer_idx ON orders (customer_id);\n```\n\nIf it fails, drop the INVALID index it leaves behind and retry.",
    help: "use CREATE INDEX CONCURRENTLY in a migration that runs outside a transaction",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    let Some(NodeEnum::IndexStmt(stmt)) = trace.node else { return Vec::new() };
    if stmt.concurrent {
        return Vec::new();
    }
    trace
        .new_indexes
        .iter()
        .map(|(index, table)| {
            format!(
                "CREATE INDEX {} on existing table {} without CONCURRENTLY holds a SHARE lock that blocks writes to {} for the whole build",
                index.qualified(),
                table.qualified(),
                table.qualified()
            )
        })
        .collect()
}
