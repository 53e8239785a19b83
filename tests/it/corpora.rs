//! The shared real-world corpora applied end to end on PostgreSQL through the real binary, with
//! format detection. A corpus that cannot apply as is must fail with its real cause, asserted
//! here with the reason written down. Each test prints the corpus' apply time.

use crate::support::*;
use serde_json::Value;

/// Applies `corpus`/`path` with format detection; `None` when the corpus is absent (the skip is
/// printed by `corpus`).
fn apply(corpus_name: &str, path: &str, format: &str) -> Option<(Option<i32>, Value)> {
    let dir = corpus(corpus_name)?.join(path);
    // Round trips and their findings are `roundtrip.rs`'s, lint findings `lint.rs`'s; here only
    // applying counts.
    let (output, report) = check_json(&dir, &["--verbose", "--round-trip", "none", "--no-lint"]);
    assert_eq!(report["chain"]["format"], format, "detected the wrong format\n{}", text(&output));
    let migrations = report["migrations"].as_array().unwrap();
    let apply_ms: f64 = migrations.iter().map(|m| m["duration_ms"].as_f64().unwrap()).sum();
    eprintln!(
        "{corpus_name}: {} migrations, {} applied, apply {apply_ms:.0} ms, whole check {} ms",
        migrations.len(),
        report["summary"]["applied"],
        report["summary"]["duration_ms"]
    );
    Some((output.status.code(), report))
}

/// Rules about what each migration changes; `roundtrip.rs` asserts those on the corpora.
const STAIRWAY: [&str; 3] = ["destructive-change", "backward-incompatible", "data-changed"];

/// Findings about applying, without those on what each migration changes.
fn apply_findings(report: &Value) -> Vec<(String, String, u64)> {
    findings(report).into_iter().filter(|f| !STAIRWAY.contains(&f.0.as_str())).collect()
}

/// Asserts that all `count` migrations apply and that the only other findings are `warnings`
/// (rule, count), none of them an error.
fn assert_pass(result: Option<(Option<i32>, Value)>, count: usize, warnings: &[(&str, usize)]) {
    let Some((_, report)) = result else { return };
    let mut found = std::collections::BTreeMap::<String, usize>::new();
    for f in report["findings"].as_array().unwrap() {
        if STAIRWAY.contains(&f["rule"].as_str().unwrap()) {
            continue;
        }
        assert_ne!(f["severity"], "error", "{f:#}");
        *found.entry(f["rule"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let expected: std::collections::BTreeMap<String, usize> =
        warnings.iter().map(|(r, n)| (r.to_string(), *n)).collect();
    assert_eq!(found, expected, "{:#}", report["findings"]);
    assert_eq!(report["summary"]["migrations"], count);
    assert_eq!(report["summary"]["applied"], count);
}

/// The failed migration of a report: (id, file, line, SQLSTATE, message).
fn failure(report: &Value) -> (String, String, u64, String, String) {
    let failed = report["migrations"].as_array().unwrap().iter().find(|m| m["status"] == "failed").expect("a failure");
    let e = &failed["error"];
    (
        failed["id"].as_str().unwrap().to_string(),
        e["file"].as_str().unwrap().to_string(),
        e["line"].as_u64().unwrap(),
        e["sqlstate"].as_str().unwrap().to_string(),
        e["message"].as_str().unwrap().to_string(),
    )
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn lemmy_diesel() {
    let Some((code, report)) = apply("lemmy", "migrations", "diesel") else { return };
    assert_eq!(report["summary"]["migrations"], 342);
    // Cannot apply as is on PostgreSQL 15: this migration selects from a subquery without an
    // alias (`FROM (SELECT ...) GROUP BY ...`), which PostgreSQL accepts only from version 16.
    // Every migration before it applies.
    assert_eq!(code, Some(1));
    let (id, file, line, sqlstate, message) = failure(&report);
    assert_eq!(id, "20250801000016");
    assert!(file.ends_with("migrations/2025-08-01-000016_smoosh-tables-together/up.sql"), "{file}");
    assert_eq!((line, sqlstate.as_str(), message.as_str()), (13, "42601", "subquery in FROM must have an alias"));
    assert_eq!(report["summary"]["applied"], 247);
    assert_eq!(apply_findings(&report), vec![("migration-failed".into(), "up.sql".into(), 13)]);
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn atuin_sqlx() {
    assert_pass(apply("atuin", "crates/atuin-server-postgres/migrations", "sqlx"), 20, &[]);
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn svix_sqlx() {
    assert_pass(apply("svix", "server/svix-server/migrations", "sqlx"), 16, &[]);
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn river_golang_migrate() {
    let Some((code, report)) = apply("river", "riverdriver/riverpgxv5/migration/main", "golang-migrate") else {
        return;
    };
    assert_eq!(report["summary"]["migrations"], 7);
    // Cannot apply as is: River's own runner replaces `/* TEMPLATE: schema */` with the target
    // schema before running. In 005 the marker sits inside a string literal,
    // `to_regclass('/* TEMPLATE: schema */river_migration')`, so unsubstituted it is not a valid
    // name. The error is raised inside a DO block and located on the offending line.
    assert_eq!(code, Some(1));
    let (id, file, line, sqlstate, message) = failure(&report);
    assert_eq!(id, "005");
    assert!(file.ends_with("005_migration_unique_client.up.sql"), "{file}");
    assert_eq!((line, sqlstate.as_str(), message.as_str()), (11, "42602", "invalid name syntax"));
    assert_eq!(report["summary"]["applied"], 4);
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn ente_golang_migrate() {
    let result = apply("ente", "server/migrations", "golang-migrate");
    if let Some((_, report)) = &result {
        // Files with their own BEGIN/COMMIT, and the CONCURRENTLY ones, run without our transaction.
        let unwrapped = report["migrations"].as_array().unwrap().iter().filter(|m| m["transaction"]["mode"] == "none");
        assert_eq!(unwrapped.count(), 13);
    }
    // 13 of the 124 down files hold no statement (the corpus has 111 real downs).
    assert_pass(result, 124, &[("empty-downgrade", 13)]);
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn goalert_sql_migrate() {
    let result = apply("goalert", "migrate/migrations", "sql-migrate");
    if let Some((_, report)) = &result {
        let migrations = report["migrations"].as_array().unwrap();
        assert_eq!(migrations[0]["id"], "20170426134008-init.sql");
        let unwrapped = migrations.iter().filter(|m| m["transaction"]["mode"] == "none").count();
        assert_eq!(unwrapped, 40, "the `notransaction` ups");
    }
    // 31 of the 280 `-- +migrate Down` sections are empty (the corpus has 249 real downs).
    assert_pass(result, 280, &[("empty-downgrade", 31)]);
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn peerdb_flyway() {
    // refinery names (`V1__x.sql`) are Flyway's.
    assert_pass(apply("peerdb", "nexus/catalog/migrations", "flyway"), 55, &[]);
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn cowprotocol_flyway() {
    // `database/sql` is the Flyway location; sql-pool-indexer/ and sql-solana/ are other chains.
    let result = apply("cowprotocol-services", "database/sql", "flyway");
    if let Some((_, report)) = &result {
        let unwrapped = report["migrations"].as_array().unwrap().iter().filter(|m| m["transaction"]["mode"] == "none");
        assert_eq!(unwrapped.count(), 10, "the CONCURRENTLY files run outside a transaction");
    }
    // V010__skipped and V097..V099__no_op_placeholder hold only comments, kept for numbering.
    assert_pass(result, 121, &[("empty-upgrade", 4)]);
}
