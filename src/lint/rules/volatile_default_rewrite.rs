//! `volatile-default-rewrite`: ADD COLUMN whose value must be computed per row, rewriting an
//! existing table.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::protobuf::AlterTableType;

/// The rule.
pub const RULE: Rule = Rule {
    id: "volatile-default-rewrite",
    severity: Severity::Error,
    why: "The table is rewritten under ACCESS EXCLUSIVE: reads and writes stop for as long as it takes.",
    summary: "`ADD COLUMN` with a volatile default (or serial, identity, stored generated) rewrites an existing table.",
    detects: "The statement adds a column to a table that existed before the migration and the trace sees the table's file node change. Since PostgreSQL 11 a constant default is stored in the catalog and causes no rewrite, so only defaults that must be computed per row (`random()`, `clock_timestamp()`, `gen_random_uuid()`, `serial`, identity and stored generated columns) are reported.",
    production: "Every row is rewritten to store its own value while ACCESS EXCLUSIVE blocks all reads and writes.",
    instead: "Add the column without a default (or with a constant one), set the volatile default afterwards with `ALTER COLUMN ... SET DEFAULT` (applies to new rows only), and backfill existing rows in batches.",
    help: "add the column without the volatile default, then SET DEFAULT and backfill in batches",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    let columns: Vec<String> = trace
        .alter_table_commands()
        .into_iter()
        .filter(|(t, _)| *t == AlterTableType::AtAddColumn)
        .filter_map(|(_, c)| match c.def.as_ref().and_then(|d| d.node.as_ref()) {
            Some(pg_query::NodeEnum::ColumnDef(def)) => Some(def.colname.clone()),
            _ => None,
        })
        .collect();
    if columns.is_empty() {
        return Vec::new();
    }
    trace
        .rewritten
        .iter()
        .filter(|r| r.is_table())
        .map(|t| {
            format!(
                "adding column {} rewrites every row of existing table {} under an ACCESS EXCLUSIVE lock (its value is computed per row)",
                columns.join(", "),
                t.qualified()
            )
        })
        .collect()
}
