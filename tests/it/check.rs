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
