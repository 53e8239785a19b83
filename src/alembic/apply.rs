//! Applies a loaded Alembic chain revision by revision (in the chain's topological order) on a
//! scratch database, and turns each step into the report's line and, on failure, a
//! `migration-failed` finding located in the revision file.

use super::run::{Alembic, RunError, sqlalchemy_url};
use crate::findings::{Finding, Severity};
use crate::migrations::{Apply, Chain, Migration, display_path};
use crate::postgres::ScratchDatabase;
use crate::postgres::{ProvisionError, Server};
use crate::report::{self, MigrationReport, MigrationStatus};
use crate::runner::StatementError;
use std::path::Path;

/// Graph findings that make Alembic refuse to load the history at all.
pub const BLOCKING: [&str; 3] = ["missing-parent", "cycle", "duplicate-revision"];

/// Why the chain could not be applied (failing revisions are findings instead).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error(transparent)]
    Load(#[from] crate::migrations::LoadError),
}

/// The report lines of a chain that was not applied.
pub fn skipped(chain: &Chain) -> Vec<MigrationReport> {
    chain.migrations.iter().map(line).collect()
}

fn line(m: &Migration) -> MigrationReport {
    let path = match &m.apply {
        Apply::Alembic(rev) => display_path(&rev.file),
        Apply::Sql => m.up.display_path(),
    };
    MigrationReport {
        id: m.id.clone(),
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
    }
}

/// Upgrades to each revision in turn on a new scratch database, stopping at the first failure.
/// `given_url` is the user's server URL (its credentials are reused); `python` runs Alembic
/// with the SQLAlchemy `driver` scheme found by [`super::run::preflight`].
pub async fn apply_chain(
    server: &Server,
    chain: &Chain,
    python: &Path,
    driver: &str,
    given_url: Option<&str>,
    verbose: bool,
) -> Result<(ScratchDatabase, Vec<MigrationReport>, Vec<Finding>), ApplyError> {
    let project = super::config::locate(&chain.dir)?;
    let database = server.create_database().await?;
    let url = sqlalchemy_url(&database.options, &database.name, given_url, driver);
    let mut alembic = Alembic::start(&project, python, url).await?;
    let mut reports = Vec::with_capacity(chain.migrations.len());
    let mut findings = Vec::new();
    let mut failed = false;
    for migration in &chain.migrations {
        let mut report = line(migration);
        let Apply::Alembic(rev) = &migration.apply else {
            reports.push(report);
            continue;
        };
        if !failed {
            let outcome = alembic.upgrade(&migration.id, &rev.file).await?;
            report.duration_ms = report::millis(outcome.duration);
            if verbose {
                eprintln!(
                    "alembic upgrade {} ({:.1} ms)\n{}",
                    migration.id,
                    report.duration_ms,
                    outcome.output.trim_end()
                );
            }
            match outcome.error {
                None => report.status = MigrationStatus::Applied,
                Some(error) => {
                    failed = true;
                    report.status = MigrationStatus::Failed;
                    let (file, line) = match &error.location {
                        Some((path, line)) => (display_path(path), *line),
                        None => (display_path(&rev.file), migration.up.first_line),
                    };
                    findings.push(
                        Finding::new(
                            "migration-failed",
                            Severity::Error,
                            format!("revision {} failed: {}", migration.id, error.message),
                        )
                        .in_migration(&migration.id)
                        .at(file.clone(), Some(line))
                        .with_help(if error.location.as_ref().is_some_and(|(p, _)| p.ends_with("env.py")) {
                            "the project's env.py failed, not the revision: run from the project root with the Python \
                             that has its packages (--python), and see --verbose for Alembic's output"
                        } else {
                            "run with --verbose to see Alembic's full output"
                        }),
                    );
                    report.error = Some(StatementError {
                        file,
                        line,
                        sqlstate: String::new(),
                        message: error.message,
                        detail: None,
                        hint: None,
                        statement: 0,
                        statement_text: "upgrade()".to_string(),
                    });
                }
            }
        }
        reports.push(report);
    }
    Ok((database, reports, findings))
}
