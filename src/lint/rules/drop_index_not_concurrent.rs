//! `drop-index-not-concurrent`: DROP INDEX without CONCURRENTLY on an existing index.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

/// The rule.
pub const RULE: Rule = Rule {
    id: "drop-index-not-concurrent",
    severity: Severity::Warning,
    why: "The ACCESS EXCLUSIVE lock is held only briefly; it hurts while the statement waits behind long queries, which a lock_timeout bounds.",
    summary: "`DROP INDEX` without `CONCURRENTLY` on an index that existed before the migration.",
    detects: "A `DROP INDEX` without `CONCURRENTLY` removes an index that existed before the migration (seen disappearing from `pg_class`).",
    production: "DROP INDEX takes ACCESS EXCLUSIVE on the index's table. The drop itself is quick, but waiting for the lock behind a long query stalls all reads and writes of the table.",
    instead: "Drop it concurrently, outside a transaction:\n\n```sql\nDROP INDEX CONCURRENTLY IF EXISTS orders_old_idx;\n```",
    help: "use DROP INDEX CONCURRENTLY in a migration that runs outside a transaction",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    let Some(NodeEnum::DropStmt(stmt)) = trace.node else { return Vec::new() };
    if stmt.concurrent || ObjectType::try_from(stmt.remove_type) != Ok(ObjectType::ObjectIndex) {
        return Vec::new();
    }
    trace
        .dropped
        .iter()
        .filter(|r| r.is_index())
        .map(|r| {
            format!(
                "drops existing index {} without CONCURRENTLY, taking an ACCESS EXCLUSIVE lock on its table",
                r.qualified()
            )
        })
        .collect()
}
