//! `rename`: renaming an existing table, view or column (backward-incompatible).

use super::Rule;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;
use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

/// The rule.
pub const RULE: Rule = Rule {
    id: "rename",
    severity: Severity::Warning,
    why: "A rename is instant; it breaks only code still using the old name, which `backward-incompatible` reports.",
    summary: "An existing table, view or column is renamed while the running application uses the old name.",
    detects: "A `RENAME` of a table, view, materialized view or column whose relation existed before the migration (the trace finds it among the relations it locks). A column added earlier in the same migration is not reported.",
    production: "Application instances still running the old code query the old name and fail from the moment the migration commits until they are replaced.",
    instead: "Expand and contract: add the new column (or a view with the new name), write to both, backfill, move readers over, and drop the old name in a later release.",
    help: "add the new name alongside the old one, migrate the code, and drop the old name later",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    let Some(NodeEnum::RenameStmt(stmt)) = trace.node else { return Vec::new() };
    let Some(range) = stmt.relation.as_ref() else { return Vec::new() };
    match ObjectType::try_from(stmt.rename_type) {
        Ok(ObjectType::ObjectColumn) => match trace.existing_table(Some(range)) {
            Some(table) if !trace.added_columns.contains(&(table.relation.oid, stmt.subname.clone())) => vec![format!(
                "renames column {} of existing table {} to {}: code using the old name fails",
                stmt.subname,
                table.relation.qualified(),
                stmt.newname
            )],
            _ => Vec::new(),
        },
        Ok(ObjectType::ObjectTable | ObjectType::ObjectView | ObjectType::ObjectMatview) => {
            let renamed = trace.locks.iter().find(|l| {
                l.relation.name == stmt.newname
                    && (range.schemaname.is_empty() || l.relation.schema == range.schemaname)
            });
            match renamed {
                Some(_) => vec![format!(
                    "renames existing {} to {}: code using the old name fails",
                    range.relname, stmt.newname
                )],
                None => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}
