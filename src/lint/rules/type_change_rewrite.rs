//! `type-change-rewrite`: ALTER COLUMN TYPE that rewrites an existing table or rebuilds its
//! indexes.

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::protobuf::AlterTableType;

/// The rule.
pub const RULE: Rule = Rule {
    id: "type-change-rewrite",
    severity: Severity::Error,
    why: "The table and its indexes are rebuilt under ACCESS EXCLUSIVE: reads and writes stop for as long as it takes.",
    summary: "`ALTER COLUMN ... TYPE` rewrites an existing table or rebuilds its indexes.",
    detects: "The statement changes a column's type and the trace sees the table's or one of its indexes' file node change. Binary-compatible changes that PostgreSQL does in place (`varchar(10)` to `varchar(20)` or `text`, dropping a length limit or a timestamp precision) leave the file nodes alone and are not reported, also for indexed columns: the indexes PostgreSQL re-creates under their old names keep their files.",
    production: "The whole table is rewritten and every index rebuilt while ACCESS EXCLUSIVE blocks all reads and writes; on a large table that is an outage of minutes or hours.",
    instead: "Add a new column of the new type, backfill it in batches, switch the application over, then drop the old column. Or pick a type change PostgreSQL can do without a rewrite (e.g. `varchar(n)` to `text`).",
    help: "add a column of the new type, backfill it in batches and switch over instead",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    let columns = trace.altered_columns(AlterTableType::AtAlterColumnType);
    if columns.is_empty() || trace.rewritten.is_empty() {
        return Vec::new();
    }
    let tables: Vec<String> = trace.rewritten.iter().filter(|r| r.is_table()).map(|r| r.qualified()).collect();
    let what = if tables.is_empty() {
        let indexes: Vec<String> = trace.rewritten.iter().map(|r| r.qualified()).collect();
        format!("rebuilds index {}", indexes.join(", "))
    } else {
        format!("rewrites {}", tables.join(", "))
    };
    vec![format!(
        "changing the type of {} {what} under an ACCESS EXCLUSIVE lock that blocks reads and writes",
        columns.join(", ")
    )]
}
