//! Rendering cost of the report files and the PR comment for large reports (many migrations
//! and findings), so publishing stays a small part of a check. Run with
//! `cargo bench --bench report_render`.

use migration_guard::findings::{FailOn, Finding, Severity};
use migration_guard::migrations::Transaction;
use migration_guard::report::{self, ChainInfo, MigrationReport, MigrationStatus, Report, markdown};
use std::time::{Duration, Instant};

fn report(migrations: usize, findings: usize) -> Report {
    let list = (0..migrations)
        .map(|i| MigrationReport {
            id: format!("{i:05}"),
            scope: migration_guard::scope::MigrationScope::Changed,
            name: format!("migration_{i}"),
            path: format!("db/migrations/{i:05}_migration_{i}.sql"),
            down_path: None,
            status: MigrationStatus::Applied,
            duration_ms: 1.5,
            transaction: Transaction::Wrapped,
            statements: 3,
            error: None,
            partially_applied: false,
            changes: Vec::new(),
            round_trip: None,
            after_failure: None,
            trace_note: None,
        })
        .collect();
    let found = (0..findings)
        .map(|i| {
            let m = i % migrations.max(1);
            Finding::new(
                "lint-rule",
                if i % 3 == 0 { Severity::Error } else { Severity::Warning },
                format!("finding {i}: a message of ordinary length about a statement"),
            )
            .in_migration(format!("{m:05}"))
            .at(format!("db/migrations/{m:05}_migration_{m}.sql"), Some(i as u32 % 200 + 1))
            .with_help("do it another way")
        })
        .collect();
    Report::new(FailOn::Error, None, ChainInfo { format: "sqlx".into(), dir: "db/migrations".into() }, list, found, 1.0)
}

fn time(label: &str, runs: u32, mut f: impl FnMut() -> usize) {
    let mut best = Duration::MAX;
    let mut size = 0;
    for _ in 0..runs {
        let start = Instant::now();
        size = f();
        best = best.min(start.elapsed());
    }
    println!("{label:<44} {:>9.2} ms  {:>10} bytes", best.as_secs_f64() * 1000.0, size);
}

fn main() {
    for (migrations, findings) in [(50, 20), (1_000, 2_000), (5_000, 20_000)] {
        let r = report(migrations, findings);
        println!("-- {migrations} migrations, {findings} findings");
        time("all report files (json, md, sarif, xml)", 5, || report::files(&r).iter().map(|(_, t)| t.len()).sum());
        time("PR comment (limited to 65,536 characters)", 5, || {
            markdown::render_limited(&r, markdown::COMMENT_BUDGET, "see the artifact").len()
        });
    }
}
