//! `table-rewrite`: an existing table or index gets a new file (rewritten or rebuilt), by a
//! statement no more specific rule explains.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::NodeEnum;
use pg_query::protobuf::AlterTableType;

/// The rule.
pub const RULE: Rule = Rule {
    id: "table-rewrite",
    severity: Severity::Error,
    why: "A rewrite holds ACCESS EXCLUSIVE for as long as copying the table takes: on a busy table every read and write stops, for minutes on a large one.",
    summary: "An existing table, materialized view or index is rewritten under an exclusive lock.",
    detects: "The trace compares each locked relation's `pg_class.relfilenode` with its value before the statement: a new file node means PostgreSQL copied the whole relation (VACUUM FULL, CLUSTER, SET TABLESPACE, SET LOGGED/UNLOGGED, REFRESH MATERIALIZED VIEW without CONCURRENTLY, REINDEX, ALTER TABLE forms that force a rewrite). Column type changes and added columns are reported by `type-change-rewrite` and `volatile-default-rewrite` instead; TRUNCATE is not reported.",
    production: "A rewrite copies every row and rebuilds every index while holding ACCESS EXCLUSIVE: the table can be neither read nor written until it finishes, which on a large table means minutes to hours of downtime, plus twice the disk space meanwhile.",
    instead: "Avoid the rewrite: build a new table or column alongside and backfill in batches, use `REINDEX ... CONCURRENTLY`, `REFRESH MATERIALIZED VIEW CONCURRENTLY` (needs a unique index), or `pg_repack` for reclaiming space.",
    help: "avoid rewriting a live table: backfill a new object in batches or use the CONCURRENTLY form",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    if trace.rewritten.is_empty() || matches!(trace.node, Some(NodeEnum::TruncateStmt(_))) {
        return Vec::new();
    }
    let specific = trace
        .alter_table_commands()
        .iter()
        .any(|(t, _)| matches!(t, AlterTableType::AtAlterColumnType | AlterTableType::AtAddColumn));
    if specific {
        return Vec::new();
    }
    let tables: Vec<_> = trace.rewritten.iter().filter(|r| r.is_table()).collect();
    if !tables.is_empty() {
        return tables
            .iter()
            .map(|t| {
                format!("rewrites all of {} under an ACCESS EXCLUSIVE lock (its file was replaced)", t.qualified())
            })
            .collect();
    }
    let indexes: Vec<String> = trace.rewritten.iter().map(|r| r.qualified()).collect();
    vec![format!("rebuilds index {} under an exclusive lock", indexes.join(", "))]
}
