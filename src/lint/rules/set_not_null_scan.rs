//! `set-not-null-scan`: SET NOT NULL that scans an existing table under ACCESS EXCLUSIVE.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::protobuf::AlterTableType;

/// The rule.
pub const RULE: Rule = Rule {
    id: "set-not-null-scan",
    severity: Severity::Error,
    why: "The scan runs under ACCESS EXCLUSIVE: reads and writes stop for as long as it takes.",
    summary: "`ALTER COLUMN ... SET NOT NULL` scans an existing table under an ACCESS EXCLUSIVE lock.",
    detects: "The statement sets a column NOT NULL on a table that existed before the migration, and the table's sequential-scan counter for the transaction (`pg_stat_get_xact_numscans`) went up: PostgreSQL had no valid `CHECK (col IS NOT NULL)` to prove the column and read every row. When such a constraint exists (PostgreSQL 12+), there is no scan and no finding.",
    production: "The verification scan reads the whole table while ACCESS EXCLUSIVE blocks all reads and writes.",
    instead: "Prove the column first without blocking, then set it:\n\n```sql\nALTER TABLE users ADD CONSTRAINT users_email_not_null CHECK (email IS NOT NULL) NOT VALID;\n-- next migration\nALTER TABLE users VALIDATE CONSTRAINT users_email_not_null;\nALTER TABLE users ALTER COLUMN email SET NOT NULL;  -- no scan\nALTER TABLE users DROP CONSTRAINT users_email_not_null;\n```",
    help: "add CHECK (col IS NOT NULL) NOT VALID, validate it in a later migration, then SET NOT NULL",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    let columns = trace.altered_columns(AlterTableType::AtSetNotNull);
    if columns.is_empty() {
        return Vec::new();
    }
    let Some(table) = trace.existing_table(trace.alter_table_relation()) else { return Vec::new() };
    if !trace.scanned.iter().any(|r| r.oid == table.relation.oid) {
        return Vec::new();
    }
    vec![format!(
        "SET NOT NULL on {} ({}) reads every row to check it while an ACCESS EXCLUSIVE lock blocks reads and writes",
        table.relation.qualified(),
        columns.join(", ")
    )]
}
