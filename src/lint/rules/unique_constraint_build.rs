//! `unique-constraint-build`: ADD PRIMARY KEY / UNIQUE that builds its index on an existing
//! table under ACCESS EXCLUSIVE.

use super::Rule;
use super::util::is_alter_table;
use crate::findings::Severity;
use crate::lint::trace::StatementTrace;

/// The rule.
pub const RULE: Rule = Rule {
    id: "unique-constraint-build",
    severity: Severity::Error,
    why: "The unique index is built under a lock that blocks writes for the whole build.",
    summary: "`ADD PRIMARY KEY` / `ADD UNIQUE` builds an index on an existing table under ACCESS EXCLUSIVE.",
    detects: "An ALTER TABLE on a table that existed before the migration creates a new index (seen as a new index relation in the trace) for a primary key or unique constraint. `ADD CONSTRAINT ... USING INDEX` does not build one and is not reported.",
    production: "The unique index is built while ACCESS EXCLUSIVE blocks all reads and writes, for as long as reading and sorting the whole table takes.",
    instead: "Build the index concurrently first, then attach it (instant):\n\n```sql\nCREATE UNIQUE INDEX CONCURRENTLY users_email_key ON users (email);\n-- next migration\nALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;\n```",
    help: "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX",
    once_per_migration: false,
    check,
};

fn check(trace: &StatementTrace) -> Vec<String> {
    if !is_alter_table(trace) {
        return Vec::new();
    }
    trace
        .new_indexes
        .iter()
        .filter(|(index, _)| !trace.constraints.iter().any(|c| c.kind == 'x' && c.name == index.name))
        .map(|(index, table)| {
            format!(
                "builds unique index {} on existing table {} while an ACCESS EXCLUSIVE lock blocks reads and writes",
                index.qualified(),
                table.qualified()
            )
        })
        .collect()
}
