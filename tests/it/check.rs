//! `check` end to end: applying chains, failures located in files, exit codes, cleanup.

use crate::support::*;

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn failing_statement_is_located_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY);\n");
    write(dir.path(), "2_bad.sql", "-- comment\nALTER TABLE users\n  ADD COLUMN name text;\nSELECT *\n  FROM nope;\n");
    write(dir.path(), "3_never.sql", "SELECT 1;\n");
    let (output, report) = check_json(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(findings(&report), vec![("migration-failed".into(), "2_bad.sql".into(), 5)]);
    let migrations = report["migrations"].as_array().unwrap();
    assert_eq!(migrations[1]["error"]["sqlstate"], "42P01");
    assert_eq!(migrations[2]["status"], "skipped");
    assert_eq!(report["database"]["provider"], "ephemeral");
}

/// Runs `check` expecting exit 2 and returns standard error.
fn usage_error(dir: &std::path::Path, args: &[&str]) -> String {
    let output = check(dir, args);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn bad_input_exits_2_with_the_setting_or_file_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    assert!(usage_error(&missing, &[]).contains("nope: no such directory"));

    let empty = tempfile::tempdir().unwrap();
    assert!(usage_error(empty.path(), &[]).contains("no migrations found"));

    write(dir.path(), "1_a.sql", "SELECT 1;\n");
    let stderr = usage_error(dir.path(), &["--format", "liquibase"]);
    assert!(stderr.contains("--format: unknown format \"liquibase\""), "{stderr}");

    let latin1 = tempfile::tempdir().unwrap();
    std::fs::write(latin1.path().join("1_a.sql"), b"SELECT 1;\n-- caf\xe9\n").unwrap();
    let stderr = usage_error(latin1.path(), &[]);
    assert!(stderr.contains("1_a.sql:2: not valid UTF-8"), "{stderr}");

    let unterminated = tempfile::tempdir().unwrap();
    write(unterminated.path(), "1_a.sql", "SELECT 1;\n\nSELECT $$ never closed;\n");
    let stderr = usage_error(unterminated.path(), &[]);
    assert!(stderr.contains("1_a.sql:3: unterminated dollar-quoted string"), "{stderr}");

    let no_bin = tempfile::tempdir().unwrap();
    let stderr = usage_error(dir.path(), &["--pg-bin", no_bin.path().to_str().unwrap()]);
    assert!(stderr.contains("no initdb and postgres there"), "{stderr}");

    let stderr = usage_error(dir.path(), &["--database-url", "postgres://someone@127.0.0.1:1/app"]);
    assert!(stderr.contains("cannot connect to PostgreSQL at 127.0.0.1:1/app (check --database-url"), "{stderr}");
    assert!(!stderr.contains("someone"), "the user name stays out of messages: {stderr}");

    let stderr = usage_error(dir.path(), &["--database-url", "mysql://x"]);
    assert!(stderr.contains("must start with postgres://"), "{stderr}");
}

#[test]
fn syntax_errors_are_failed_migrations_not_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1_a.sql", "CREATE TABLE t (id int);\n\nCREAT INDEX ON t (id);\n");
    let (output, report) = check_json(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(findings(&report), vec![("migration-failed".into(), "1_a.sql".into(), 3)]);
    assert_eq!(report["migrations"][0]["error"]["sqlstate"], "42601");
}

#[test]
fn non_transactional_failure_is_partially_applied() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "1_a.sql",
        "-- no-transaction\nCREATE TABLE t (id int);\nCREATE INDEX CONCURRENTLY t_id ON t (id);\nCREATE INDEX CONCURRENTLY t_x ON t (x);\n",
    );
    let (output, report) = check_json(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let migration = &report["migrations"][0];
    assert_eq!(migration["partially_applied"], true);
    assert_eq!(migration["error"]["line"], 4);
    assert!(report["findings"][0]["message"].as_str().unwrap().contains("stay applied"));
}

#[test]
fn versions_sort_numerically() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "9_create.sql", "CREATE TABLE t (id int);\n");
    write(dir.path(), "10_alter.sql", "ALTER TABLE t ADD COLUMN x int;\n");
    let (output, report) = check_json(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let ids: Vec<_> = report["migrations"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["9", "10"]);
}

/// The README's first command, run as the README shows it: the sample's findings (one change
/// that fails, a waiver, a drift, five round trips) are the lines the README prints.
#[test]
fn the_readme_shows_what_its_sample_prints() {
    let output = bin()
        .args(["check", "examples/shop/migrations", "--models", "examples/shop/models.yaml", "--scope", "all"])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let assert_shown =
        |line: &str| assert!(readme.contains(line), "the README does not show {line:?}\n{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut shown = 0;
    for line in stdout.lines() {
        // Timings vary; everything else is shown as printed.
        let stable = line.split(" (").next().unwrap_or(line);
        let stable = stable.split(" in ").next().unwrap_or(stable);
        if !stable.is_empty() && !stable.starts_with("note:") {
            assert_shown(stable);
            shown += 1;
        }
    }
    assert!(shown >= 12, "{}", text(&output));
    for expected in
        ["error [type-change-rewrite]", "error [drift]", "5 reversible", "1 finding(s) waived by 1 waiver(s)"]
    {
        assert!(stdout.contains(expected), "{expected}\n{}", text(&output));
    }
    let (_, report) = check_json(&root().join("examples/shop/migrations"), &["--scope", "all"]);
    assert_eq!(report["summary"]["applied"], 5);
    assert_eq!(report["migrations"][2]["transaction"]["mode"], "none");
    // The COMMENT ON after the ALTER TABLE adds no time under its lock.
    let rules: Vec<_> = findings(&report).into_iter().map(|f| f.0).collect();
    assert!(!rules.iter().any(|r| r == "statements-after-access-exclusive"), "{rules:?}");
}

#[test]
fn a_script_with_its_own_transaction_is_rolled_back_not_partial() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "1_a.up.sql",
        "CREATE TABLE kept (id int);\nBEGIN;\nCREATE TABLE undone (id int);\nSELECT 1/0;\nCOMMIT;\n",
    );
    write(dir.path(), "1_a.down.sql", "DROP TABLE kept;\n");
    let (output, report) = check_json(dir.path(), &["--format", "golang-migrate"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("so 1 statement(s) before it stay applied"), "{message}");
    assert_eq!(report["migrations"][0]["error"]["line"], 4);
}

#[test]
fn a_begin_without_commit_fails_at_the_begin() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1_a.up.sql", "CREATE TABLE kept (id int);\nBEGIN;\nCREATE TABLE lost (id int);\n");
    write(dir.path(), "2_b.up.sql", "CREATE TABLE later (id int);\n");
    let (output, report) = check_json(dir.path(), &["--format", "golang-migrate"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(findings(&report), vec![("migration-failed".into(), "1_a.up.sql".into(), 2)]);
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("this BEGIN is never committed"), "{message}");
    assert!(message.contains("1 statement(s) before it stay applied"), "{message}");
}

#[test]
fn a_dropped_table_is_reported_once() {
    // The lint's drop-table and the schema change's destructive-change describe one statement.
    let (_, report) = check_json(&fixture("lint/drop-table/fires"), &["--round-trip", "none"]);
    let rules: Vec<_> = findings(&report).into_iter().map(|f| f.0).collect();
    assert!(rules.contains(&"destructive-change".to_string()), "{rules:?}");
    assert!(!rules.contains(&"drop-table".to_string()), "{rules:?}");
    let (_, report) =
        check_json(&fixture("lint/drop-table/fires"), &["--round-trip", "none", "--rule", "destructive-change=off"]);
    assert!(findings(&report).iter().any(|f| f.0 == "drop-table"), "the lint speaks when the other rule is off");
}

/// A chain whose first migration needs tables created before it (an application's create_all,
/// a dump) fails with the hint to load them with --seed; a later migration that reads a missing
/// table is an ordinary failure, and so is the first one once the seed is loaded before it.
#[test]
fn a_first_migration_needing_tables_from_before_the_chain_suggests_the_seed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1_orders_note.sql", "ALTER TABLE orders ADD COLUMN note text;\n");
    write(dir.path(), "2_items.sql", "CREATE TABLE items (id int);\n");
    let help = |report: &serde_json::Value| report["findings"][0]["help"].as_str().unwrap_or("").to_string();
    let (output, report) = check_json(dir.path(), &["--no-lint"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(help(&report).contains("--seed FILE.sql"), "{}", text(&output));

    let elsewhere = tempfile::tempdir().unwrap();
    let seed = elsewhere.path().join("seed.sql");
    std::fs::write(&seed, "CREATE TABLE orders (id int);\n").unwrap();
    let later = tempfile::tempdir().unwrap();
    write(later.path(), "1_items.sql", "CREATE TABLE items (id int);\n");
    write(later.path(), "2_orders_note.sql", "ALTER TABLE orders ADD COLUMN note text;\n");
    let (output, report) = check_json(later.path(), &["--no-lint"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(!help(&report).contains("--seed"), "{}", text(&output));

    let (output, _) = check_json(dir.path(), &["--no-lint", "--seed", seed.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}
