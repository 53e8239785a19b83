//! Reports built in code for the renderers' snapshot tests (fixed times, no database).

use super::{ChainInfo, Database, MigrationReport, MigrationStatus, Report};
use crate::findings::{FailOn, Finding, Severity};
use crate::migrations::Transaction;
use crate::postgres::Provider;
use crate::runner::StatementError;

fn migration(id: &str, name: &str, status: MigrationStatus) -> MigrationReport {
    MigrationReport {
        id: id.into(),
        name: name.into(),
        path: format!("db/migrations/{id}_{name}.sql"),
        down_path: None,
        status,
        duration_ms: 12.5,
        transaction: Transaction::Wrapped,
        statements: 2,
        error: None,
        partially_applied: false,
        changes: Vec::new(),
        round_trip: None,
        after_failure: None,
        trace_note: None,
    }
}

fn database() -> Option<Database> {
    Some(Database { provider: Provider::Ephemeral, server_version: "15.8".into() })
}

fn chain() -> ChainInfo {
    ChainInfo { format: "sqlx".into(), dir: "db/migrations".into() }
}

/// Three migrations: applied, failed (with an error and a hint), skipped; an error, a warning
/// and a chain-level note.
pub fn failing() -> Report {
    let mut failed = migration("2", "add_index", MigrationStatus::Failed);
    failed.transaction = Transaction::None("CREATE INDEX CONCURRENTLY cannot run inside a transaction (line 1)".into());
    failed.partially_applied = true;
    failed.error = Some(StatementError {
        file: "db/migrations/2_add_index.sql".into(),
        line: 3,
        sqlstate: "42703".into(),
        message: "column \"emial\" does not exist".into(),
        detail: None,
        hint: Some("Perhaps you meant to reference the column \"users.email\".".into()),
        statement: 1,
        statement_text: "CREATE INDEX CONCURRENTLY users_email ON users (emial);".into(),
    });
    let findings = vec![
        Finding::new(
            "migration-failed",
            Severity::Error,
            "migration 2 failed: column \"emial\" does not exist (SQLSTATE 42703) | pipes stay in the cell",
        )
        .in_migration("2")
        .at("db/migrations/2_add_index.sql", Some(3))
        .with_help("Perhaps you meant to reference the column \"users.email\"."),
        Finding::new("adding-not-null-column", Severity::Warning, "adding a NOT NULL column rewrites the table")
            .in_migration("1")
            .at("db/migrations/1_users.sql", Some(2)),
        Finding::new("chain-note", Severity::Info, "the chain has no down migrations"),
    ];
    Report::new(
        FailOn::Error,
        database(),
        chain(),
        vec![
            migration("1", "users", MigrationStatus::Applied),
            failed,
            migration("3", "backfill", MigrationStatus::Skipped),
        ],
        findings,
        2345.6,
    )
}

/// Two applied migrations and no findings.
pub fn passing() -> Report {
    Report::new(
        FailOn::Error,
        database(),
        chain(),
        vec![migration("1", "users", MigrationStatus::Applied), migration("2", "posts", MigrationStatus::Applied)],
        Vec::new(),
        812.0,
    )
}

/// `n` error findings on one migration, for size limits.
pub fn many_findings(n: usize) -> Report {
    let findings = (0..n)
        .map(|i| {
            Finding::new(
                "lint-rule",
                Severity::Error,
                format!("finding number {i} with a message long enough to matter"),
            )
            .in_migration("1")
            .at("db/migrations/1_users.sql", Some(i as u32 + 1))
        })
        .collect();
    Report::new(
        FailOn::Error,
        database(),
        chain(),
        vec![migration("1", "users", MigrationStatus::Applied)],
        findings,
        1.0,
    )
}
