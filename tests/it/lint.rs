//! Lock and rewrite lint through the real binary: every rule has a fixture under
//! `tests/fixtures/lint/<rule>/fires` that must report it and a near twin under `quiet` (the same
//! change on an object created in the same migration, or done the safe way) that must not.

use crate::support::*;

crate::isolate!(NO_STAIRWAY);

/// Rule ids reported for the chain in `dir`, with the exit code.
fn rules_of(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, Vec<String>, serde_json::Value) {
    let (output, report) = check_json(dir, args);
    let rules = findings(&report).into_iter().map(|(rule, _, _)| rule).collect();
    (output.status.code(), rules, report)
}

fn fires_and_quiet(rule: &str) {
    let dir = fixture("lint").join(rule);
    let (_, fired, report) = rules_of(&dir.join("fires"), &[]);
    assert!(fired.iter().any(|r| r == rule), "{rule} did not fire: {fired:?}\n{report:#}");
    let located = report["findings"].as_array().unwrap().iter().find(|f| f["rule"] == rule).unwrap();
    assert!(located["file"].as_str().unwrap().ends_with(".sql") && located["line"].as_u64().unwrap() >= 1);
    assert!(located["help"].is_string(), "{located}");
    let (_, quiet, report) = rules_of(&dir.join("quiet"), &[]);
    assert!(!quiet.iter().any(|r| r == rule), "{rule} fired on its quiet twin: {quiet:?}\n{report:#}");
}

macro_rules! rule_tests {
    ($($name:ident => $id:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                fires_and_quiet($id);
            }
        )*
    };
}

rule_tests! {
    lock_timeout_missing => "lock-timeout-missing",
    statements_after_access_exclusive => "statements-after-access-exclusive",
    table_rewrite => "table-rewrite",
    index_not_concurrent => "index-not-concurrent",
    constraint_validation => "constraint-validation",
    set_not_null_scan => "set-not-null-scan",
    type_change_rewrite => "type-change-rewrite",
    unique_constraint_build => "unique-constraint-build",
    exclusion_constraint => "exclusion-constraint",
    enum_add_value_in_transaction => "enum-add-value-in-transaction",
    drop_column => "drop-column",
    drop_table => "drop-table",
    drop_index_not_concurrent => "drop-index-not-concurrent",
    rename => "rename",
    volatile_default_rewrite => "volatile-default-rewrite",
    concurrently_in_transaction => "concurrently-in-transaction",
    foreign_key_not_indexed => "foreign-key-not-indexed",
    json_column => "json-column",
    not_null_column_without_default => "not-null-column-without-default",
}

/// A chain of two migrations written to a temporary directory: `setup`, then `change`.
fn two_migrations(setup: &str, change: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_setup.sql"), setup).unwrap();
    std::fs::write(dir.path().join("2_change.sql"), change).unwrap();
    dir
}

/// Lines of `2_change.sql` where `rule` fired.
fn lines_of(rule: &str, setup: &str, change: &str) -> Vec<u64> {
    let dir = two_migrations(setup, change);
    let (_, _, report) = rules_of(dir.path(), &[]);
    findings(&report).into_iter().filter(|(r, file, _)| r == rule && file == "2_change.sql").map(|f| f.2).collect()
}

/// Asserts the findings (rule, file, line) of a check of `dir`, those of `1_setup.sql` left out.
fn assert_findings_after_setup(dir: &std::path::Path, expected: &[(&str, &str, u64)]) {
    let (_, _, report) = rules_of(dir, &[]);
    let mut found: Vec<(String, String, u64)> =
        findings(&report).into_iter().filter(|(_, file, _)| file != "1_setup.sql").collect();
    found.sort();
    let mut expected: Vec<(String, String, u64)> =
        expected.iter().map(|(r, f, l)| (r.to_string(), f.to_string(), *l)).collect();
    expected.sort();
    assert_eq!(found, expected);
}

const TABLES: &str = "CREATE TABLE accounts (id bigint PRIMARY KEY, region int);\n\
    CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint, region int, total int);\n";

/// eugene's E15 semantics: keys touching an existing table, decided at the end of the migration.
#[test]
fn foreign_key_not_indexed_follows_the_tables_and_indexes_at_the_end_of_the_migration() {
    let rule = "foreign-key-not-indexed";
    // A new table referencing an existing one: reported at the CREATE TABLE.
    let new_table = "CREATE TABLE payments (id bigint PRIMARY KEY,\n  account_id bigint REFERENCES accounts (id));\n";
    assert_eq!(lines_of(rule, TABLES, new_table), vec![1]);
    // Indexed right after: quiet.
    let indexed = format!("{new_table}CREATE INDEX ON payments (account_id);\n");
    assert_eq!(lines_of(rule, TABLES, &indexed), Vec::<u64>::new());
    // Both tables new: not reported (eugene agrees).
    let both_new = "CREATE TABLE a (id int PRIMARY KEY);\nCREATE TABLE b (a_id int REFERENCES a (id));\n";
    assert_eq!(lines_of(rule, TABLES, both_new), Vec::<u64>::new());
    // A column added with REFERENCES to an existing table.
    let column = "SELECT 1;\nALTER TABLE orders ADD COLUMN parent_id bigint REFERENCES orders (id);\n";
    assert_eq!(lines_of(rule, TABLES, column), vec![2]);
    // A partial index does not serve the referential-integrity query.
    let partial = "ALTER TABLE orders ADD FOREIGN KEY (account_id) REFERENCES accounts (id);\n\
        CREATE INDEX ON orders (account_id) WHERE total > 0;\n";
    assert_eq!(lines_of(rule, TABLES, partial), vec![1]);
    // A composite key is covered by an index starting with its columns in another order, not by
    // one where they come second.
    let setup = format!("{TABLES}ALTER TABLE accounts ADD UNIQUE (id, region);\n");
    let composite = "ALTER TABLE orders ADD FOREIGN KEY (account_id, region) REFERENCES accounts (id, region);\n";
    let leading = format!("{composite}CREATE INDEX ON orders (region, account_id, total);\n");
    assert_eq!(lines_of(rule, &setup, &leading), Vec::<u64>::new());
    let trailing = format!("{composite}CREATE INDEX ON orders (total, account_id, region);\n");
    assert_eq!(lines_of(rule, &setup, &trailing), vec![1]);
    // A key that existed before the migration is not this migration's doing.
    let old_key = format!("{TABLES}ALTER TABLE orders ADD FOREIGN KEY (account_id) REFERENCES accounts (id);\n");
    assert_eq!(lines_of(rule, &old_key, "ALTER TABLE orders ADD COLUMN note text;\n"), Vec::<u64>::new());
    // Beside it, a key the migration adds to the same table is.
    let beside = "ALTER TABLE orders ADD COLUMN parent_id bigint REFERENCES orders (id);\n";
    assert_eq!(lines_of(rule, &old_key, beside), vec![1]);
    // The keys are read in the migration's own message after its last statement, whatever that
    // statement is; or, when that cannot be (a key no statement spells out, a script that commits
    // itself), asked after it.
    let key = "ALTER TABLE orders ADD FOREIGN KEY (account_id) REFERENCES accounts (id);\n";
    assert_eq!(lines_of(rule, TABLES, &format!("{key}INSERT INTO accounts VALUES (1, 1);\n")), vec![1]);
    assert_eq!(lines_of(rule, TABLES, &format!("BEGIN;\n{key}COMMIT;\n")), vec![2]);
    let dynamic =
        "DO $$ BEGIN\n  EXECUTE 'ALTER TABLE orders ADD FOREIGN KEY (account_id) REFERENCES accounts (id)';\nEND $$;\n";
    assert_eq!(lines_of(rule, TABLES, dynamic), vec![1]);
    assert_eq!(lines_of(rule, TABLES, &format!("{dynamic}CREATE INDEX ON orders (account_id);\n")), Vec::<u64>::new());
}

/// eugene's E3 semantics: only a column added to an existing table.
#[test]
fn json_column_in_a_new_table_is_not_reported() {
    let change = "CREATE TABLE events (id bigint, payload json);\nALTER TABLE events ADD COLUMN extra json;\n";
    assert_eq!(lines_of("json-column", TABLES, change), Vec::<u64>::new());
    let change = "ALTER TABLE orders ADD COLUMN a jsonb, ADD COLUMN b pg_catalog.json;\n";
    assert_eq!(lines_of("json-column", TABLES, change), vec![1]);
}

/// A comment or grant after the locking statement writes one catalog row and adds no outage.
#[test]
fn comments_and_grants_do_not_count_as_statements_after_access_exclusive() {
    let rule = "statements-after-access-exclusive";
    let quiet = "ALTER TABLE orders ADD COLUMN shipped boolean;\n\
        COMMENT ON COLUMN orders.shipped IS 'set by the warehouse';\n\
        GRANT SELECT ON orders TO PUBLIC;\n";
    assert_eq!(lines_of(rule, TABLES, quiet), Vec::<u64>::new());
    let fires = format!("{quiet}UPDATE accounts SET region = 1;\n");
    assert_eq!(lines_of(rule, TABLES, &fires), vec![4]);
}

#[test]
fn every_rule_has_fixtures() {
    for rule in migration_guard::lint::rules::ALL {
        for kind in ["fires", "quiet"] {
            assert!(fixture("lint").join(rule.id).join(kind).is_dir(), "no {kind} fixture for {}", rule.id);
        }
    }
}

#[test]
fn waiver_comments_move_findings_to_their_waivers() {
    let (code, rules, report) = rules_of(&fixture("lint/suppressed"), &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(!rules.iter().any(|r| r == "drop-table"), "{rules:?}");
    let waived: Vec<(u64, String, u64)> = report["waivers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|w| {
            let line = w["line"].as_u64().unwrap();
            w["waived"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| (line, f["rule"].as_str().unwrap().to_string(), f["line"].as_u64().unwrap()))
        })
        .collect();
    assert_eq!(waived, vec![(2, "drop-table".to_string(), 3), (4, "drop-table".to_string(), 4)]);
}

#[test]
fn statements_outside_a_transaction_are_traced_too() {
    let (_, rules, report) = rules_of(&fixture("lint/outside-transaction"), &[]);
    let at: Vec<_> = findings(&report).into_iter().filter(|(r, _, _)| r == "index-not-concurrent").collect();
    assert_eq!(at, vec![("index-not-concurrent".to_string(), "2_change.sql".to_string(), 2)], "{rules:?}");
    assert_eq!(report["summary"]["applied"], 2, "{report:#}");
}

#[test]
fn no_lint_turns_the_trace_off() {
    let (code, rules, _) = rules_of(&fixture("lint/drop-table/fires"), &["--no-lint"]);
    assert_eq!(code, Some(0));
    assert!(rules.is_empty(), "{rules:?}");
}

/// river's golang-migrate files are also valid sqlx `.up.sql` files: its initial schema creates
/// everything it indexes and constrains (no finding), and its later NOT NULL changes scan.
#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn river_corpus_only_reports_changes_to_existing_tables() {
    let Some(corpus) = corpus("river") else { return };
    let dir = corpus.join("riverdriver/riverpgxv5/migration/main");
    let (_, _, report) = rules_of(&dir, &["--format", "sqlx", "--fail-on", "never"]);
    let found = findings(&report);
    assert!(!found.iter().any(|(_, file, _)| file.starts_with("001_") || file.starts_with("002_")), "{found:?}");
    assert!(found.contains(&("set-not-null-scan".into(), "003_river_job_tags_non_null.up.sql".into(), 3)), "{found:?}");
    assert!(found.contains(&("constraint-validation".into(), "004_pending_and_more.up.sql".into(), 18)), "{found:?}");
}

/// A required column is only a hazard on a table that may have rows: one that existed before and
/// that the migration did not empty first.
#[test]
fn not_null_column_on_a_new_table_is_not_reported() {
    let rule = "not-null-column-without-default";
    let change = "CREATE TABLE events (id bigint);\nALTER TABLE events ADD COLUMN kind text NOT NULL;\n";
    assert_eq!(lines_of(rule, TABLES, change), Vec::<u64>::new());
    let change = "ALTER TABLE orders ADD COLUMN kind text,\n  ADD COLUMN code int UNIQUE NOT NULL;\n";
    assert_eq!(lines_of(rule, TABLES, change), vec![1]);
    // Emptied first in the same transaction: no row to fill.
    let add = "ALTER TABLE orders ADD COLUMN kind text NOT NULL;\n";
    assert_eq!(lines_of(rule, TABLES, &format!("DELETE FROM orders;\n{add}")), Vec::<u64>::new());
    assert_eq!(lines_of(rule, TABLES, &format!("TRUNCATE accounts, public.orders;\n{add}")), Vec::<u64>::new());
    assert_eq!(lines_of(rule, TABLES, &format!("DELETE FROM orders WHERE total > 0;\n{add}")), vec![2]);
    assert_eq!(lines_of(rule, TABLES, &format!("DELETE FROM accounts;\n{add}")), vec![2]);
    // Refilled from a table that is empty here but not in production.
    let refilled = format!("DELETE FROM orders;\nINSERT INTO orders (id) SELECT id FROM accounts;\n{add}");
    assert_eq!(lines_of(rule, TABLES, &refilled), vec![3]);
}

/// A `lock_timeout` the deploy's runner sets for its sessions (`session-settings`) is one the
/// migrations run with: `lock-timeout-missing` does not fire. A setting PostgreSQL refuses stops
/// the check naming the setting, and a malformed one is refused before anything runs.
#[test]
fn session_settings_reach_the_migrations_and_the_lint() {
    let dir = fixture("lint/lock-timeout-missing/fires");
    let (_, fired, _) = rules_of(&dir, &[]);
    assert!(fired.iter().any(|r| r == "lock-timeout-missing"), "{fired:?}");
    let (code, quiet, report) = rules_of(&dir, &["--session-setting", "lock_timeout=5s"]);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(!quiet.iter().any(|r| r == "lock-timeout-missing"), "{quiet:?}");
    let (_, zero, _) = rules_of(&dir, &["--session-setting", "lock_timeout=0"]);
    assert!(zero.iter().any(|r| r == "lock-timeout-missing"), "0 turns the timeout off: {zero:?}");

    let output = check(&dir, &["--session-setting", "lock_timeout=banana"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("session-settings: PostgreSQL refuses them") && stderr.contains("lock_timeout"),
        "{stderr}"
    );
    let output = check(&dir, &["--session-setting", "lock_timeout; DROP TABLE x=1"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--session-setting"), "{}", text(&output));
}

/// The trace keeps each migration's snapshot of the relations for the next one and reads again
/// only those it saw locked; a migration that changed relations out of its sight (CREATE INDEX
/// CONCURRENTLY outside a transaction) makes the next one read everything, so the index a type
/// change re-creates under its old name is known as the old one, not taken for a new index.
#[test]
fn what_the_trace_did_not_see_is_read_again() {
    let (code, rules, report) = rules_of(&fixture("lint/kept-snapshot"), &[]);
    assert_eq!((code, rules), (Some(0), Vec::<String>::new()), "{report:#}");
}

/// A migration may drop the session's prepared statements (`DEALLOCATE ALL`, `DISCARD ALL` in a
/// format that runs it outside a transaction): the check's own prepared queries are made again,
/// so no query of ours fails as if it were the migration's, and the next migrations are still
/// traced. Round trips run too: the up is applied again after its down on the same connection.
#[test]
fn migrations_that_drop_prepared_statements_are_traced_after_it() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [
        ("000001_a.up.sql", "CREATE TABLE a (id int PRIMARY KEY, name text);\n"),
        ("000001_a.down.sql", "DROP TABLE a;\n"),
        ("000002_b.up.sql", "ALTER TABLE a ADD COLUMN b int;\nDEALLOCATE ALL;\nALTER TABLE a ADD COLUMN c int;\n"),
        ("000002_b.down.sql", "ALTER TABLE a DROP COLUMN b, DROP COLUMN c;\n"),
        ("000003_c.up.sql", "CREATE INDEX a_name ON a (name);\n"),
        ("000003_c.down.sql", "DROP INDEX a_name;\n"),
    ] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let (output, report) = crate::support::check_json(dir.path(), &[]);
    let found = findings(&report);
    assert!(
        found.iter().all(|(rule, _, _)| rule != "reapply-failed" && rule != "migration-failed"),
        "{:?}\n{report:#}",
        output.status.code()
    );
    assert!(found.contains(&("index-not-concurrent".into(), "000003_c.up.sql".into(), 1)), "{report:#}");
}

/// The trace's own queries travel in the statement's message, before it, and a migration in a
/// transaction goes to the server as one message: the line of a failing statement's error
/// position still counts from the statement, whichever statement of the message failed, in a
/// transaction the runner opened and in one the trace opened around an autocommit statement, with
/// the trace and without it.
#[test]
fn error_lines_count_from_the_statement_sent_with_the_trace() {
    let failing = "ALTER TABLE a\n  ADD COLUMN c no_such_type,\n  ADD COLUMN b int,\n  ADD COLUMN d int,\n  ADD COLUMN e int,\n  ADD COLUMN f int;\n";
    let after_others =
        format!("ALTER TABLE a ADD COLUMN x int;\nCREATE INDEX a_x ON a (x);\nCOMMENT ON TABLE a IS 'a';\n{failing}");
    for (setup, change) in [
        ("CREATE TABLE a (id int PRIMARY KEY);\n", failing.to_string()),
        ("CREATE TABLE a (id int PRIMARY KEY);\n", after_others.clone()),
        ("-- +migrate Up\nCREATE TABLE a (id int PRIMARY KEY);\n", format!("-- +migrate Up notransaction\n{failing}")),
    ] {
        for args in [&[][..], &["--no-lint"][..]] {
            let dir = two_migrations(setup, &change);
            let (_, _, report) = rules_of(dir.path(), args);
            let failed: Vec<_> =
                findings(&report).into_iter().filter(|(rule, _, _)| rule == "migration-failed").collect();
            let line = change.lines().position(|l| l.contains("no_such_type")).unwrap() as u64 + 1;
            assert_eq!(failed, vec![("migration-failed".into(), "2_change.sql".into(), line)], "{args:?} {report:#}");
        }
    }
}

/// A constraint checked at COMMIT fails the migration at its last statement, reported as the
/// COMMIT, and nothing of it stays applied.
#[test]
fn a_deferred_constraint_fails_at_commit() {
    let dir = two_migrations(
        "CREATE TABLE p (id int PRIMARY KEY);\nCREATE TABLE c (p int REFERENCES p DEFERRABLE INITIALLY DEFERRED);\n",
        "INSERT INTO c VALUES (1);\nCOMMENT ON TABLE c IS 'children';\n",
    );
    for args in [&[][..], &["--no-lint"][..]] {
        let (_, _, report) = rules_of(dir.path(), args);
        let failed: Vec<_> = findings(&report).into_iter().filter(|(rule, _, _)| rule == "migration-failed").collect();
        assert_eq!(failed, vec![("migration-failed".into(), "2_change.sql".into(), 2)], "{args:?} {report:#}");
        let text = report.to_string();
        assert!(text.contains("COMMIT") && text.contains("foreign key"), "{report:#}");
    }
}

/// The next migration starts from what the trace saw the last one leave (a renamed table, a
/// dropped and a new constraint), and a block of several statements sent as one (its statements
/// after the first unseen) makes it read the relations again: a table such a block created is
/// an existing table for the migrations after it.
/// A round trip's down and up again run unseen by the trace: the next migration must still know
/// a table whose file the down replaced, and a table the round trip made again, as they are.
#[test]
fn the_next_migration_sees_what_a_round_trip_left() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [
        (
            "1_t.sql",
            "-- +migrate Up\nCREATE TABLE t (id int PRIMARY KEY, n int);\nINSERT INTO t SELECT g, g FROM generate_series(1, 10) g;\n-- +migrate Down\nDROP TABLE t;\n",
        ),
        // The down gives t a new file; the up again does not touch it.
        ("2_clean.sql", "-- +migrate Up\nDELETE FROM t WHERE id < 0;\n-- +migrate Down\nTRUNCATE t;\n"),
        ("3_u.sql", "-- +migrate Up\nCREATE TABLE u (id int PRIMARY KEY, n int);\n-- +migrate Down\nDROP TABLE u;\n"),
        (
            "4_alter.sql",
            "-- +migrate Up\nALTER TABLE t SET (fillfactor = 70);\nALTER TABLE u ALTER COLUMN n TYPE bigint;\n-- +migrate Down\nALTER TABLE u ALTER COLUMN n TYPE int;\nALTER TABLE t RESET (fillfactor);\n",
        ),
    ] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    // The whole check: the round trips are the point.
    let (_, report) = crate::support::check_json(dir.path(), &[]);
    let trips: Vec<&str> =
        report["migrations"].as_array().unwrap().iter().map(|m| m["round_trip"]["status"].as_str().unwrap()).collect();
    assert_eq!(trips, ["passed"; 4], "{report:#}");
    let on_alter: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["file"].as_str().unwrap().ends_with("4_alter.sql"))
        .filter(|f| ["table-rewrite", "type-change-rewrite"].contains(&f["rule"].as_str().unwrap()))
        .map(|f| (f["rule"].as_str().unwrap(), f["message"].as_str().unwrap()))
        .collect();
    assert_eq!(
        on_alter,
        [(
            "type-change-rewrite",
            "changing the type of n rewrites u under an ACCESS EXCLUSIVE lock that blocks reads and writes"
        )],
        "{report:#}"
    );
}

/// A migration that drops the session's prepared statements: the next one is traced as usual
/// (the tracer asks whether its queries are still there, and prepares them again).
#[test]
fn a_migration_that_deallocates_leaves_the_trace_working() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("1_t.sql"),
        "-- +migrate Up\nCREATE TABLE t (id int PRIMARY KEY);\nDEALLOCATE ALL;\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("2_n.sql"), "-- +migrate Up\nALTER TABLE t ALTER COLUMN id TYPE bigint;\n").unwrap();
    let (code, rules, report) = rules_of(dir.path(), &[]);
    assert_eq!(code, Some(1), "{report:#}");
    assert!(rules.iter().any(|r| r == "type-change-rewrite"), "{rules:?}");
}

#[test]
fn the_next_migration_sees_what_the_last_one_left() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [
        ("1_first.sql", "-- +migrate Up\nCREATE TABLE first (id int PRIMARY KEY);\n"),
        (
            "2_block.sql",
            "-- +migrate Up notransaction\n-- +migrate StatementBegin\nBEGIN;\nCREATE TABLE made (id int PRIMARY KEY, n int);\nCOMMIT;\n-- +migrate StatementEnd\n",
        ),
        (
            "3_rename.sql",
            "-- +migrate Up\nCREATE TABLE a (id int PRIMARY KEY, n int UNIQUE);\nALTER TABLE a RENAME TO b;\n",
        ),
        (
            "4_alter.sql",
            "-- +migrate Up\nALTER TABLE b ALTER COLUMN n TYPE bigint;\nALTER TABLE made ALTER COLUMN n TYPE bigint;\n",
        ),
    ] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let (_, _, report) = rules_of(dir.path(), &[]);
    let rewrites: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "type-change-rewrite" && f["file"].as_str().unwrap().ends_with("4_alter.sql"))
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        rewrites,
        [
            "changing the type of n rewrites b under an ACCESS EXCLUSIVE lock that blocks reads and writes",
            "changing the type of n rewrites made under an ACCESS EXCLUSIVE lock that blocks reads and writes"
        ],
        "{report:#}"
    );
}

/// Statements confined to tables their transaction created (a new table referencing another new
/// one, an index on a new table) share one statement query with the statement before them, and
/// the queries before a script's last statement leave out what the script made. What each
/// statement does to existing tables still lands on its own line, and the next migration sees the
/// new tables as existing ones, even when the script ends with a statement the trace does not
/// query.
#[test]
fn statements_on_new_tables_share_a_query_and_findings_keep_their_lines() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_setup.sql"), TABLES).unwrap();
    let change = "ALTER TABLE orders ADD COLUMN note text;\n\
        CREATE TABLE payments (id bigint PRIMARY KEY, account_id bigint REFERENCES accounts (id));\n\
        CREATE TABLE refunds (id bigint PRIMARY KEY, payment_id bigint REFERENCES payments (id));\n\
        CREATE INDEX refunds_payment ON refunds (payment_id);\n\
        CREATE INDEX orders_total ON orders (total);\n\
        INSERT INTO refunds VALUES (1, NULL);\n";
    std::fs::write(dir.path().join("2_change.sql"), change).unwrap();
    let later = "CREATE INDEX refunds_id ON refunds (id);\nALTER TABLE payments DROP COLUMN account_id;\n";
    std::fs::write(dir.path().join("3_later.sql"), later).unwrap();
    let expected = [
        ("foreign-key-not-indexed", "2_change.sql", 2),
        ("index-not-concurrent", "2_change.sql", 5),
        ("index-not-concurrent", "3_later.sql", 1),
        ("lock-timeout-missing", "2_change.sql", 1),
        ("lock-timeout-missing", "3_later.sql", 1),
        ("statements-after-access-exclusive", "2_change.sql", 2),
        ("drop-column", "3_later.sql", 2),
    ];
    assert_findings_after_setup(dir.path(), &expected);
}

/// The statement query lists constraints only after statements that may change them: a table's
/// constraints stay known across a statement that left them out (a CREATE INDEX), so that the
/// next statement that lists them does not take the old ones for new; and scans are counted
/// only where a baseline was read.
#[test]
fn constraints_left_out_after_an_index_stay_known() {
    let dir = tempfile::tempdir().unwrap();
    let setup = format!("{TABLES}ALTER TABLE orders ADD CONSTRAINT orders_total CHECK (total >= 0);\n");
    std::fs::write(dir.path().join("1_setup.sql"), setup).unwrap();
    std::fs::write(dir.path().join("2_index.sql"), "CREATE INDEX orders_region ON orders (region);\n").unwrap();
    let check = "ALTER TABLE orders ADD CONSTRAINT orders_region CHECK (region > 0) NOT VALID;\n";
    std::fs::write(dir.path().join("3_check.sql"), check).unwrap();
    let not_null = "CREATE INDEX orders_account ON orders (account_id);\n\
        ALTER TABLE orders ALTER COLUMN total SET NOT NULL;\n";
    std::fs::write(dir.path().join("4_not_null.sql"), not_null).unwrap();
    let expected = [
        ("index-not-concurrent", "2_index.sql", 1),
        ("index-not-concurrent", "4_not_null.sql", 1),
        ("lock-timeout-missing", "2_index.sql", 1),
        ("lock-timeout-missing", "3_check.sql", 1),
        ("lock-timeout-missing", "4_not_null.sql", 1),
        ("set-not-null-scan", "4_not_null.sql", 2),
    ];
    assert_findings_after_setup(dir.path(), &expected);
}
