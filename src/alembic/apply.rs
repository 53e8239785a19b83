//! What happens to an Alembic chain that Alembic refuses to load: the graph findings that block
//! it, and the report lines of its revisions, none of them applied. Chains that load are applied
//! by the stairway through [`super::steps::AlembicSteps`].

use crate::migrations::{Apply, Chain, Migration, display_path};
use crate::report::{MigrationReport, MigrationStatus};
use crate::scope::{MigrationScope, Scope};

/// Graph findings that make Alembic refuse to load the history at all.
pub const BLOCKING: [&str; 3] = ["missing-parent", "cycle", "duplicate-revision"];

/// The report lines of a chain that was not applied.
pub fn skipped(chain: &Chain, scope: &Scope) -> Vec<MigrationReport> {
    chain.migrations.iter().zip(&scope.scopes).map(|(m, s)| line(m, *s)).collect()
}

fn line(m: &Migration, scope: MigrationScope) -> MigrationReport {
    let path = match &m.apply {
        Apply::Alembic(rev) => display_path(&rev.file),
        Apply::Sql | Apply::Opaque(_) => m.up.display_path(),
    };
    MigrationReport {
        id: m.id.clone(),
        scope,
        name: m.name.clone(),
        path,
        down_path: None,
        status: MigrationStatus::Skipped,
        duration_ms: 0.0,
        transaction: m.up.transaction.clone(),
        statements: 0,
        error: None,
        partially_applied: false,
        changes: Vec::new(),
        round_trip: None,
        after_failure: None,
        trace_note: None,
    }
}
