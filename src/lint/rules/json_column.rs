//! `json-column`: a column of type `json` (not `jsonb`) added to an existing table.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::NodeEnum;
use pg_query::protobuf::{AlterTableType, TypeName};

/// The rule.
pub const RULE: Rule = Rule {
    id: "json-column",
    severity: Severity::Info,
    why: "A design note: `json` works, `jsonb` is usually what teams want (equality, indexes); nothing fails or locks.",
    summary: "A `json` (not `jsonb`) column is added to an existing table, breaking queries that compare its rows.",
    detects: "An `ALTER TABLE ... ADD COLUMN` of type `json` (or `pg_catalog.json`) on a table that existed before the migration (the trace finds the table among the relations it locks). As in eugene (E3, which looks only at columns added to tables that existed before its run) and strong_migrations, a `json` column in a table created by the same migration is not reported: no query uses that table yet. Arrays of `json` and domains over it are not reported either.",
    production: "`json` has no equality operator. Queries that already run against the table and compare whole rows, such as `SELECT DISTINCT t.*`, `UNION` (without `ALL`), `GROUP BY t.*` or `t.* IN (...)`, fail with `could not identify an equality operator for type json` as soon as the column exists, although the migration itself succeeds.",
    instead: "Use `jsonb`, which has equality and indexing and is what nearly every use of `json` wants:\n\n```sql\nALTER TABLE orders ADD COLUMN metadata jsonb;\n```",
    help: "use jsonb instead of json",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    let columns: Vec<&str> = trace
        .alter_table_commands()
        .into_iter()
        .filter(|(t, _)| *t == AlterTableType::AtAddColumn)
        .filter_map(|(_, c)| match c.def.as_ref().and_then(|d| d.node.as_ref()) {
            Some(NodeEnum::ColumnDef(def)) if def.type_name.as_ref().is_some_and(is_json) => Some(def.colname.as_str()),
            _ => None,
        })
        .collect();
    if columns.is_empty() {
        return Vec::new();
    }
    let Some(table) = trace.existing_table(trace.alter_table_relation()) else { return Vec::new() };
    columns
        .iter()
        .map(|c| {
            format!(
                "adds json column {c} to existing table {}: queries comparing its rows (SELECT DISTINCT, UNION, GROUP BY) fail because json has no equality operator",
                table.relation.qualified()
            )
        })
        .collect()
}

/// `json` or `pg_catalog.json`, not an array of it.
fn is_json(name: &TypeName) -> bool {
    let parts: Vec<&str> = name
        .names
        .iter()
        .filter_map(|n| match &n.node {
            Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
            _ => None,
        })
        .collect();
    name.array_bounds.is_empty() && matches!(parts.as_slice(), ["json"] | ["pg_catalog", "json"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_of(sql: &str) -> TypeName {
        let parsed = pg_query::parse(sql, 0).unwrap();
        let Some(NodeEnum::AlterTableStmt(stmt)) = parsed.protobuf.stmts[0].stmt.as_ref().unwrap().node.as_ref() else {
            panic!("not an ALTER TABLE")
        };
        let Some(NodeEnum::AlterTableCmd(cmd)) = stmt.cmds[0].node.as_ref() else { panic!("no command") };
        let Some(NodeEnum::ColumnDef(def)) = cmd.def.as_ref().unwrap().node.as_ref() else { panic!("no column") };
        def.type_name.clone().unwrap()
    }

    #[test]
    fn only_plain_json_counts() {
        assert!(is_json(&type_of("ALTER TABLE t ADD COLUMN c json")));
        assert!(is_json(&type_of("ALTER TABLE t ADD COLUMN c JSON NOT NULL DEFAULT '{}'")));
        assert!(is_json(&type_of("ALTER TABLE t ADD COLUMN c pg_catalog.json")));
        assert!(!is_json(&type_of("ALTER TABLE t ADD COLUMN c jsonb")));
        assert!(!is_json(&type_of("ALTER TABLE t ADD COLUMN c json[]")));
        assert!(!is_json(&type_of("ALTER TABLE t ADD COLUMN c text")));
    }
}
