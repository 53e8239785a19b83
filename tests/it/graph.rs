//! Revision-graph rules on SQL formats, and `--base-ref` comparisons in a git repository made
//! by the test.

use crate::support::*;
use std::path::Path;

crate::isolate!(NO_LINT, NO_STAIRWAY);

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

fn triple(rule: &str, file: &str, line: u64) -> (String, String, u64) {
    (rule.to_string(), file.to_string(), line)
}

#[test]
fn empty_and_missing_downs_in_sql_chains() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "1_users.up.sql", "CREATE TABLE users (id bigint);\n");
    write(dir.path(), "1_users.down.sql", "DROP TABLE users;\n");
    write(dir.path(), "2_nothing.up.sql", "-- to do\n");
    write(dir.path(), "2_nothing.down.sql", "\n");
    write(dir.path(), "3_email.up.sql", "ALTER TABLE users ADD COLUMN email text;\n");
    let (output, report) = check_json(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        findings(&report),
        [
            triple("empty-downgrade", "2_nothing.down.sql", 1),
            triple("empty-upgrade", "2_nothing.up.sql", 1),
            triple("missing-downgrade", "3_email.up.sql", 1),
        ]
    );
    assert_eq!(report["graph"]["heads"], serde_json::json!(["3"]));
}

#[test]
fn edited_and_out_of_order_against_the_base_ref() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    write(&dir, "1_users.sql", "CREATE TABLE users (id bigint);\n");
    write(&dir, "3_orders.sql", "CREATE TABLE orders (id bigint);\n");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "base"]);
    git(repo.path(), &["checkout", "-q", "-b", "feature"]);
    write(&dir, "1_users.sql", "CREATE TABLE users (id bigint);\nCREATE INDEX ON users (id);\n");
    write(&dir, "2_late.sql", "ALTER TABLE users ADD COLUMN name text;\n");
    write(&dir, "4_new.sql", "ALTER TABLE orders ADD COLUMN total int;\n");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "change"]);

    let (output, report) = check_json(&dir, &["--base-ref", "main"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        findings(&report),
        [triple("edited-migration", "1_users.sql", 2), triple("out-of-order", "2_late.sql", 1)]
    );
    let message = report["findings"][1]["message"].as_str().unwrap();
    assert!(message.contains("before 3"), "{message}");

    // Without the comparison both pass; an unknown ref is a usage error naming the flag.
    let (output, _) = check_json(&dir, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let output = check(&dir, &["--base-ref", "no-such-branch"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--base-ref no-such-branch"), "{}", text(&output));
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn alembic_revision_slipped_under_a_merged_one_is_out_of_order() {
    let repo = tempfile::tempdir().unwrap();
    let versions = repo.path().join("versions");
    std::fs::create_dir(&versions).unwrap();
    std::fs::copy(fixture("alembic/env/env.py"), repo.path().join("env.py")).unwrap();
    let revision = |id: &str, down: &str| {
        format!(
            "from alembic import op\nrevision = \"{id}\"\ndown_revision = {down}\n\n\ndef upgrade():\n    op.execute(\"SELECT 1\")\n\n\ndef downgrade():\n    op.execute(\"SELECT 1\")\n"
        )
    };
    git(repo.path(), &["init", "-q", "-b", "main"]);
    write(&versions, "a1.py", &revision("a1", "None"));
    write(&versions, "b1.py", &revision("b1", "\"a1\""));
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "base"]);
    // Uncommitted changes count too: the comparison is with the work tree.
    write(&versions, "n1.py", &revision("n1", "\"a1\""));
    write(&versions, "b1.py", &revision("b1", "\"n1\""));
    let (output, report) = check_json(repo.path(), &["--base-ref", "main"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(findings(&report), [triple("edited-migration", "b1.py", 3), triple("out-of-order", "n1.py", 3)]);
    let statuses: Vec<&str> =
        report["migrations"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["a1", "n1", "b1"]);
}
