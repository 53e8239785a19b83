//! `enum-add-value-in-transaction`: ALTER TYPE ... ADD VALUE where the transaction makes it
//! fail: before PostgreSQL 12 at all, since 12 when the new value is used before COMMIT.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::NodeEnum;

/// `unsafe_new_enum_value_usage`.
const UNSAFE_NEW_ENUM_VALUE: &str = "55P04";
/// `active_sql_transaction`.
const IN_TRANSACTION_BLOCK: &str = "25001";

/// The rule.
pub const RULE: Rule = Rule {
    id: "enum-add-value-in-transaction",
    severity: Severity::Error,
    why: "The migration fails at deploy time.",
    summary: "`ALTER TYPE ... ADD VALUE` inside a transaction where the server refuses it.",
    detects: "Decided by the server version and the outcome. On PostgreSQL before 12, `ADD VALUE` inside a transaction block fails. On 12 and later it runs, but a new value of an enum that existed before the transaction cannot be used until COMMIT: the rule fires on the statement that fails with SQLSTATE 55P04 after an `ADD VALUE` earlier in the same transaction.",
    production: "The migration fails at deploy time (and in a tool that wraps every migration in a transaction it can never succeed), leaving the deploy half done if earlier migrations committed.",
    instead: "Add the value in a migration of its own, committed before any migration that uses it; before PostgreSQL 12, that migration must also run outside a transaction.\n\n```sql\n-- migration 1\nALTER TYPE status ADD VALUE IF NOT EXISTS 'archived';\n-- migration 2\nUPDATE tickets SET status = 'archived' WHERE closed_at < now() - interval '1 year';\n```",
    help: "add the enum value in its own migration, committed before it is used",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    let Some(error) = trace.error else { return Vec::new() };
    if error.sqlstate == UNSAFE_NEW_ENUM_VALUE
        && let Some((line, value)) = trace.enum_values_added.last()
    {
        return vec![format!(
            "uses enum value {value}, added at line {line} in the same transaction; PostgreSQL only allows it after COMMIT"
        )];
    }
    let adds_value = matches!(trace.node, Some(NodeEnum::AlterEnumStmt(s)) if !s.new_val.is_empty());
    if adds_value && error.sqlstate == IN_TRANSACTION_BLOCK && trace.server_version_num < 120000 {
        return vec![format!(
            "PostgreSQL {} cannot run ALTER TYPE ... ADD VALUE inside a transaction block",
            trace.server_version_num / 10000
        )];
    }
    Vec::new()
}
