//! `concurrently-in-transaction`: a statement PostgreSQL refuses inside a transaction block
//! (CREATE INDEX CONCURRENTLY, ...) run inside one.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use crate::sql::TxEffect;

/// The rule.
pub const RULE: Rule = Rule {
    id: "concurrently-in-transaction",
    severity: Severity::Error,
    why: "The migration fails at deploy time.",
    summary: "`CREATE INDEX CONCURRENTLY` (or another statement that cannot run in a transaction) inside a transaction.",
    detects: "The statement is one PostgreSQL refuses inside a transaction block (`CREATE/DROP INDEX CONCURRENTLY`, `REINDEX CONCURRENTLY`, `DETACH PARTITION CONCURRENTLY`, `VACUUM`, ...) and the migration runs it inside one: the runner's wrapping transaction or the script's own BEGIN.",
    production: "The migration fails with `cannot run inside a transaction block` on every deploy.",
    instead: "Put the statement in a migration of its own and mark that migration to run without a transaction (`-- no-transaction` for sqlx, `-- +goose NO TRANSACTION`, `notransaction` for sql-migrate, `transaction:false` for dbmate, `run_in_transaction = false` for diesel's metadata.toml, `executeInTransaction=false` for Flyway).",
    help: "move it to its own migration marked to run outside a transaction",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    match trace.tx {
        TxEffect::NotInTransaction(what) if trace.in_transaction => {
            vec![format!("{what} cannot run inside a transaction block, and this migration runs it inside one")]
        }
        _ => Vec::new(),
    }
}
