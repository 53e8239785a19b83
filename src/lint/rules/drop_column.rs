//! `drop-column`: DROP COLUMN on an existing table.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::protobuf::AlterTableType;

/// The rule.
pub const RULE: Rule = Rule {
    id: "drop-column",
    severity: Severity::Warning,
    why: "Dropping a column is instant; the hazard is code still reading it and the data lost, which `destructive-change` reports as an error on the same statement.",
    summary: "A column of an existing table is dropped while the running application may still use it.",
    detects: "An `ALTER TABLE ... DROP COLUMN` on a table that existed before the migration (the trace finds the table among the relations it locks). The trace checks that the table really lost a column (`pg_attribute.attisdropped`), so `DROP COLUMN IF EXISTS` of a missing column is not reported, nor is a column added earlier in the same migration.",
    production: "Deploys roll out migrations before (or while) the new application version starts: instances still running the old code select, insert or map the column and fail at once. ORMs that list every column in SELECT and INSERT break even if the column is unused.",
    instead: "Stop using the column first: deploy code that neither reads nor writes it (for ORMs, mark it ignored), then drop it in a later release.",
    help: "ship code that no longer uses the column first, then drop it in a later release",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    let columns = trace.altered_columns(AlterTableType::AtDropColumn);
    if columns.is_empty() {
        return Vec::new();
    }
    let Some(table) = trace.existing_table(trace.alter_table_relation()) else { return Vec::new() };
    if !trace.columns_dropped.iter().any(|r| r.oid == table.relation.oid) {
        // `DROP COLUMN IF EXISTS` of a column that was not there.
        return Vec::new();
    }
    columns
        .iter()
        .filter(|c| !trace.added_columns.contains(&(table.relation.oid, c.to_string())))
        .map(|c| {
            format!(
                "drops column {c} of existing table {}: application code still using it fails as soon as this runs",
                table.relation.qualified()
            )
        })
        .collect()
}
