//! `not-null-column-without-default`: a NOT NULL (or primary key) column without a default added
//! to an existing table, which fails on any table that has rows.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, ColumnDef, ConstrType};

/// The rule.
pub const RULE: Rule = Rule {
    id: "not-null-column-without-default",
    severity: Severity::Error,
    why: "It fails at deploy time on any table that has rows, though it passes on the scratch database.",
    summary: "A NOT NULL column without a default is added to an existing table: the migration fails wherever the table has rows.",
    detects: "An `ALTER TABLE ... ADD COLUMN` declared `NOT NULL` or `PRIMARY KEY`, with no `DEFAULT`, identity, generated expression or serial type, on a table that existed before the migration (the trace finds the table among the relations it locks). The check run applies it to a scratch database whose tables have only the rows earlier migrations inserted, so it passes there; production tables have rows. A column added to a table created by the same migration is not reported, nor one added to a table that the same transaction emptied first (`TRUNCATE`, or `DELETE` without `WHERE`, with no `INSERT` into it since; after a `DELETE`, rows that other transactions insert before the `ALTER TABLE` gets its lock would still make it fail).",
    production: "PostgreSQL fills the new column with NULL for every existing row, so on a table with rows the statement fails with `column ... contains null values` and the deploy stops; a migration tool that does not run it in a transaction leaves the earlier statements applied.",
    instead: "Add the column nullable (or with a constant default, which is instant since PostgreSQL 11), backfill it in batches, then add the NOT NULL constraint safely (see `set-not-null-scan`):\n\n```sql\nALTER TABLE orders ADD COLUMN currency text NOT NULL DEFAULT 'EUR';\n```",
    help: "give the column a DEFAULT, or add it nullable, backfill, then set NOT NULL",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    let columns: Vec<&str> = trace
        .alter_table_commands()
        .into_iter()
        .filter(|(t, _)| *t == AlterTableType::AtAddColumn)
        .filter_map(|(_, c)| match c.def.as_ref().and_then(|d| d.node.as_ref()) {
            Some(NodeEnum::ColumnDef(def)) if required_without_default(def) => Some(def.colname.as_str()),
            _ => None,
        })
        .collect();
    if columns.is_empty() {
        return Vec::new();
    }
    let Some(table) = trace.existing_table(trace.alter_table_relation()) else { return Vec::new() };
    let relation = &table.relation;
    if trace
        .emptied
        .iter()
        .any(|(schema, name)| *name == relation.name && (schema.is_empty() || *schema == relation.schema))
    {
        // Emptied in the same transaction first: there are no rows to fill.
        return Vec::new();
    }
    columns
        .iter()
        .map(|c| {
            format!(
                "adds NOT NULL column {c} without a default to existing table {}: fails with \"contains null values\" wherever the table has rows",
                table.relation.qualified()
            )
        })
        .collect()
}

/// NOT NULL or PRIMARY KEY, and nothing that gives existing rows a value.
fn required_without_default(def: &ColumnDef) -> bool {
    let kinds: Vec<ConstrType> = def
        .constraints
        .iter()
        .filter_map(|c| match &c.node {
            Some(NodeEnum::Constraint(c)) => ConstrType::try_from(c.contype).ok(),
            _ => None,
        })
        .collect();
    let required =
        def.is_not_null || kinds.iter().any(|k| matches!(k, ConstrType::ConstrNotnull | ConstrType::ConstrPrimary));
    let filled = def.raw_default.is_some()
        || kinds
            .iter()
            .any(|k| matches!(k, ConstrType::ConstrDefault | ConstrType::ConstrIdentity | ConstrType::ConstrGenerated));
    let serial = def.type_name.as_ref().is_some_and(|t| {
        t.names.iter().any(|n| {
            matches!(&n.node, Some(NodeEnum::String(s))
                if matches!(s.sval.as_str(), "serial" | "bigserial" | "smallserial" | "serial2" | "serial4" | "serial8"))
        })
    });
    required && !filled && !serial
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(sql: &str) -> ColumnDef {
        let parsed = pg_query::parse(sql, 0).unwrap();
        let Some(NodeEnum::AlterTableStmt(stmt)) = parsed.protobuf.stmts[0].stmt.as_ref().unwrap().node.as_ref() else {
            panic!("not an ALTER TABLE")
        };
        let Some(NodeEnum::AlterTableCmd(cmd)) = stmt.cmds[0].node.as_ref() else { panic!("no command") };
        let Some(NodeEnum::ColumnDef(def)) = cmd.def.as_ref().unwrap().node.as_ref() else { panic!("no column") };
        *def.clone()
    }

    #[test]
    fn needs_not_null_and_no_value_for_existing_rows() {
        assert!(required_without_default(&column("ALTER TABLE t ADD COLUMN c int NOT NULL")));
        assert!(required_without_default(&column("ALTER TABLE t ADD COLUMN c int PRIMARY KEY")));
        assert!(!required_without_default(&column("ALTER TABLE t ADD COLUMN c int")));
        assert!(!required_without_default(&column("ALTER TABLE t ADD COLUMN c int NOT NULL DEFAULT 0")));
        assert!(!required_without_default(&column("ALTER TABLE t ADD COLUMN c bigserial NOT NULL")));
        assert!(!required_without_default(&column(
            "ALTER TABLE t ADD COLUMN c bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
        )));
        assert!(!required_without_default(&column(
            "ALTER TABLE t ADD COLUMN c int NOT NULL GENERATED ALWAYS AS (1) STORED"
        )));
    }
}
