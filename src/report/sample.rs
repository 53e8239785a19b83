//! Reports built in code for the renderers' snapshot tests (fixed times, no database).

use super::{ChainInfo, Database, MigrationReport, MigrationStatus, Report};
use crate::findings::{FailOn, Finding, Severity};
use crate::migrations::Transaction;
use crate::postgres::Provider;
use crate::runner::StatementError;

/// A migration's line in a report, with made-up figures.
pub fn migration(id: &str, name: &str, status: MigrationStatus) -> MigrationReport {
    MigrationReport {
        id: id.into(),
        scope: crate::scope::MigrationScope::Changed,
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
    Some(Database { provider: Provider::Ephemeral, server_version: "15.8".into(), version_note: None })
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
        refused: false,
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

/// A pull request check: three merged migrations (one with a finding that does not count), two
/// changed ones (one with an error, one whose finding a waiver took), an unused waiver and a
/// baseline with a stale entry.
pub fn change_scoped() -> Report {
    use crate::scope::MigrationScope;
    use crate::waivers::{Reach, Syntax, WaiverReport};
    let mut migrations: Vec<MigrationReport> = ["1_users", "2_orders", "3_index"]
        .iter()
        .map(|n| {
            let (id, name) = n.split_once('_').unwrap();
            let mut m = migration(id, name, MigrationStatus::Applied);
            m.scope = MigrationScope::Merged;
            m.duration_ms = 1.5;
            m
        })
        .collect();
    let mut added = migration("4", "status_index", MigrationStatus::Applied);
    added.round_trip =
        Some(crate::roundtrip::RoundTripResult { status: crate::roundtrip::RoundTripStatus::Passed, note: None });
    migrations.push(added);
    let mut dropped = migration("5", "drop_legacy", MigrationStatus::Applied);
    dropped.round_trip = Some(crate::roundtrip::RoundTripResult {
        status: crate::roundtrip::RoundTripStatus::OneWay,
        note: Some("its down raises an exception".into()),
    });
    migrations.push(dropped);
    let findings = vec![
        Finding::new("index-not-concurrent", Severity::Error, "CREATE INDEX on orders blocks writes while it builds")
            .in_migration("4")
            .at("db/migrations/4_status_index.sql", Some(1))
            .with_help("use CREATE INDEX CONCURRENTLY in a migration without a transaction"),
        Finding::new("lock-timeout-missing", Severity::Warning, "no lock_timeout before ALTER TABLE orders")
            .in_migration("4")
            .at("db/migrations/4_status_index.sql", Some(1)),
        Finding::new("irreversible-by-design", Severity::Info, "5 is not reversible by design")
            .in_migration("5")
            .at("db/migrations/5_drop_legacy.down.sql", Some(1)),
    ];
    let mut report = Report::new(FailOn::Error, database(), chain(), migrations, findings, 1234.5);
    report.scope =
        super::ScopeSummary { basis: "compared with origin/main".into(), changed: 2, merged: 3, notice: None };
    report.merged_findings = vec![
        Finding::new("index-not-concurrent", Severity::Error, "an old index built without CONCURRENTLY")
            .in_migration("3")
            .at("db/migrations/3_index.sql", Some(1)),
    ];
    let waived = Finding::new("destructive-change", Severity::Error, "5 drops column orders.legacy | and its values")
        .in_migration("5")
        .at("db/migrations/5_drop_legacy.sql", Some(2));
    report.waivers = vec![
        WaiverReport {
            syntax: Syntax::Squawk,
            reach: Reach::Statement,
            file: "db/migrations/5_drop_legacy.sql".into(),
            line: 1,
            migration: "5".into(),
            rules: vec!["ban-drop-column".into()],
            reason: Some("unused since v2 <b>really</b>".into()),
            note: None,
            waived: vec![waived],
        },
        WaiverReport {
            syntax: Syntax::MigrationGuard,
            reach: Reach::File,
            file: "db/migrations/4_status_index.sql".into(),
            line: 3,
            migration: "4".into(),
            rules: vec!["table-rewrite".into()],
            reason: None,
            note: None,
            waived: Vec::new(),
        },
    ];
    report.baseline = Some(crate::baseline::BaselineReport {
        file: "migration-guard-baseline.json".into(),
        matched: vec![Finding::new("json-column", Severity::Info, "m").in_migration("4")],
        stale: vec![crate::baseline::Entry {
            rule: "table-rewrite".into(),
            migration: Some("4".into()),
            fingerprint: "00ff".into(),
            file: Some("db/migrations/4_status_index.sql".into()),
            line: Some(7),
            message: "ALTER TABLE orders rewrites the table".into(),
        }],
    });
    report
}

/// Strings a pull request controls, hostile: a file name and SQL with newlines and markup,
/// PostgreSQL texts that try to close `<details>`, forge a heading, mention a team, embed an
/// image or a link, carry another job's marker or a workflow command.
pub fn hostile() -> Report {
    let evil = "x</details>\n## ✅ Migration Guard passed\n<img src=x onerror=alert(1)> @acme/admins [click](https://evil.example) <!-- migration-guard:CI/other -->\n::error file=a.sql::forged | cell";
    let file = "db/migrations/2_`evil`|\n::warning::x.sql";
    let mut failed = migration("2", "evil</summary>name @here", MigrationStatus::Failed);
    failed.error = Some(StatementError {
        file: file.into(),
        line: 3,
        sqlstate: "P0001".into(),
        message: evil.into(),
        detail: Some(evil.into()),
        hint: Some(evil.into()),
        statement: 0,
        statement_text: "SELECT '```\n## not a heading'".into(),
        refused: false,
    });
    let findings = vec![
        Finding::new("migration-failed", Severity::Error, evil).in_migration("2").at(file, Some(3)).with_help(evil),
    ];
    let mut report = Report::new(FailOn::Error, database(), chain(), vec![failed], findings, 10.0);
    report.waivers = vec![crate::waivers::WaiverReport {
        syntax: crate::waivers::Syntax::MigrationGuard,
        reach: crate::waivers::Reach::Statement,
        file: file.into(),
        line: 1,
        migration: "2".into(),
        rules: vec![evil.into()],
        reason: Some(evil.into()),
        note: Some(evil.into()),
        waived: Vec::new(),
    }];
    report
}
