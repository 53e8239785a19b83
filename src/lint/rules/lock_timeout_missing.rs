//! `lock-timeout-missing`: a lock that blocks writes taken on an existing table while
//! `lock_timeout` is unset.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;

/// The rule.
pub const RULE: Rule = Rule {
    id: "lock-timeout-missing",
    severity: Severity::Warning,
    why: "Waiting for a lock with no timeout only hurts when a long query holds the table at deploy time; the statement itself is fine. Worth fixing in every migration, but not a stop.",
    summary: "A lock that blocks writes is taken on an existing table, view or sequence without `lock_timeout`.",
    detects: "After each statement the trace reads `pg_locks` for this backend. The rule fires on the first statement of a migration that acquires SHARE or a stronger mode (CREATE INDEX, ALTER TABLE, DROP, CREATE TRIGGER, foreign keys, CREATE OR REPLACE VIEW, ALTER SEQUENCE...) on a table, view or sequence that existed before the migration while `lock_timeout` is 0. Reported once per migration.",
    production: "A lock request waits behind every transaction already using the table (a long report, an idle-in-transaction connection, autovacuum in wraparound mode). While it waits, every later query on the table queues behind it, so a migration that itself takes milliseconds can stall all traffic to the table for as long as the slowest query runs.",
    instead: "Set a short lock timeout at the top of the migration and retry the deploy if it fires:\n\n```sql\nSET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN note text;\n```\n\n`SET LOCAL lock_timeout` scopes it to the migration's transaction.",
    help: "start the migration with `SET lock_timeout = '2s';` (and retry on timeout)",
    once_per_migration: true,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    if trace.lock_timeout {
        return Vec::new();
    }
    trace
        .locks
        .iter()
        .filter(|l| l.relation.is_queried() || l.relation.kind == 'S')
        .filter_map(|l| l.acquired.iter().copied().filter(|m| m.blocks_writes()).max().map(|m| (l, m)))
        // The strongest mode; among equals, the oldest relation (pg_locks has no order).
        .max_by(|(a, m), (b, n)| m.cmp(n).then_with(|| b.relation.oid.cmp(&a.relation.oid)))
        .map(|(l, mode)| {
            format!(
                "takes {} lock on {} with no lock_timeout: while it waits for running queries, all {} of {} queue behind it",
                mode.with_article(),
                l.relation.qualified(),
                mode.blocks(),
                l.relation.qualified()
            )
        })
        .into_iter()
        .collect()
}
