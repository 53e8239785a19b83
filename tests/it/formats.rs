//! Every migration format end to end: fixtures under `tests/fixtures/<format>/` applied by the
//! real binary. `ok/` mixes transactional and non-transactional migrations, needs numeric
//! version order (`10` after `9`; diesel orders as text, as it does) and must be detected
//! without `--format`; `failing/` must be
//! located by file, line and SQLSTATE; `duplicate/` must report `duplicate-version`.

use crate::support::*;
use serde_json::Value;

crate::isolate!(NO_LINT, NO_STAIRWAY);

/// Migration ids in apply order.
fn ids(report: &Value) -> Vec<String> {
    report["migrations"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
}

/// The report line of migration `id`.
fn migration<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["migrations"].as_array().unwrap().iter().find(|m| m["id"] == id).unwrap_or_else(|| panic!("no {id}"))
}

/// Transaction mode of migration `id`: "wrapped" or "none".
fn mode(report: &Value, id: &str) -> String {
    migration(report, id)["transaction"]["mode"].as_str().unwrap().to_string()
}

/// Runs the `ok` fixture of `format` with detection and checks it passes as that format.
fn ok(format: &str, args: &[&str]) -> Value {
    let (output, report) = check_json(&fixture(&format!("{format}/ok")), args);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(report["status"], "pass");
    assert_eq!(report["chain"]["format"], format, "detected the wrong format\n{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&format!("format {format}: ")),
        "--verbose explains the detection\n{}",
        text(&output)
    );
    report
}

/// Runs the `failing` fixture of `format` and returns its single `migration-failed` finding's
/// (file name, line) and the failed migration's SQLSTATE.
fn failing(format: &str) -> ((String, u64), String) {
    let (output, report) = check_json(&fixture(&format!("{format}/failing")), &["--format", format]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    // Graph warnings (a fixture without downs) are not what this test is about.
    let found: Vec<_> = findings(&report).into_iter().filter(|f| f.0 != "missing-downgrade").collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "migration-failed");
    let failed: Vec<&Value> =
        report["migrations"].as_array().unwrap().iter().filter(|m| m["status"] == "failed").collect();
    assert_eq!(failed.len(), 1);
    let error = &failed[0]["error"];
    assert_eq!(Some(found[0].2), error["line"].as_u64());
    assert!(error["file"].as_str().unwrap().ends_with(&found[0].1));
    ((found[0].1.clone(), found[0].2), error["sqlstate"].as_str().unwrap().to_string())
}

/// Runs the `duplicate` fixture of `format` and returns its findings.
fn duplicate(format: &str) -> Vec<(String, String, u64)> {
    let (output, report) = check_json(&fixture(&format!("{format}/duplicate")), &["--format", format]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    findings(&report)
}

fn dup(file: &str) -> Vec<(String, String, u64)> {
    vec![("duplicate-version".to_string(), file.to_string(), 1)]
}

#[test]
fn golang_migrate_ok() {
    let report = ok("golang-migrate", &["--verbose"]);
    assert_eq!(ids(&report), ["1", "2", "3", "9", "10"]);
    assert_eq!(mode(&report, "1"), "wrapped");
    assert_eq!(mode(&report, "2"), "none", "CONCURRENTLY alone in its file runs outside a transaction");
    assert_eq!(mode(&report, "3"), "none", "a file with its own BEGIN/COMMIT runs as written");
    // Up and down pair by version even when their names differ.
    assert!(migration(&report, "3")["down_path"].as_str().unwrap().ends_with("3_drop_users_name.down.sql"));
    assert!(migration(&report, "9").get("down_path").is_none());
}

#[test]
fn golang_migrate_failing() {
    assert_eq!(failing("golang-migrate"), (("2_backfill.up.sql".into(), 5), "42703".into()));
}

#[test]
fn golang_migrate_duplicate() {
    assert_eq!(duplicate("golang-migrate"), dup("2_teams.up.sql"));
}

#[test]
fn goose_ok() {
    let report = ok("goose", &["--verbose"]);
    assert_eq!(ids(&report), ["00001", "00002", "00003", "9", "10"]);
    assert_eq!(mode(&report, "00001"), "wrapped");
    assert_eq!(mode(&report, "00002"), "none");
    // The StatementBegin/End block is one statement: two INSERTs sent together.
    assert_eq!(migration(&report, "00001")["statements"], 2);
    assert!(migration(&report, "00003").get("down_path").is_none(), "an absent Down stays absent");
    assert!(migration(&report, "10").get("down_path").is_some(), "an empty Down is still a Down");
}

#[test]
fn goose_failing() {
    assert_eq!(failing("goose"), (("00002_backfill.sql".into(), 6), "42703".into()));
}

#[test]
fn goose_duplicate() {
    assert_eq!(duplicate("goose"), dup("2_projects.sql"));
}

/// A Go migration takes its place in goose's order as a migration that runs nothing, with a
/// warning at its file; the SQL ones around it are applied and judged, so the chain is not
/// refused. Go files that are not migrations (tests, the registry) are not.
#[test]
fn goose_go_migrations_are_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("00001_users.sql"), "-- +goose Up\nCREATE TABLE users (id int);\n").unwrap();
    std::fs::write(dir.path().join("00002_backfill.go"), "package migrations\n").unwrap();
    std::fs::write(dir.path().join("00003_email.sql"), "-- +goose Up\nALTER TABLE users ADD COLUMN email text;\n")
        .unwrap();
    std::fs::write(dir.path().join("main_test.go"), "package migrations\n").unwrap();
    std::fs::write(dir.path().join("migrations.go"), "package migrations\n").unwrap();
    let (output, report) = check_json(dir.path(), &["--format", "goose"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let ids: Vec<_> = report["migrations"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["00001", "00002", "00003"]);
    let rules: Vec<_> = findings(&report).into_iter().filter(|f| f.0 != "lock-timeout-missing").collect();
    assert_eq!(rules, [("migration-not-run".into(), "00002_backfill.go".into(), 1)], "{}", text(&output));
    let message =
        report["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "migration-not-run").unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string();
    assert!(message.contains("goose Go migration 00002: the check cannot run Go code"), "{message}");
}

#[test]
fn sql_migrate_ok() {
    let report = ok("sql-migrate", &["--verbose"]);
    assert_eq!(
        ids(&report),
        [
            "1-users.sql",
            "2-users-email.sql",
            "9-teams.sql",
            "10-a-team-members.sql",
            "10-b-team-members-index.sql",
            "seed-teams.sql"
        ]
    );
    assert_eq!(mode(&report, "1-users.sql"), "wrapped");
    assert_eq!(mode(&report, "2-users-email.sql"), "none");
    assert_eq!(migration(&report, "1-users.sql")["statements"], 2);
    // sql-migrate keys by file name: a shared leading number is not a duplicate. The two
    // files without a Down section are the only findings.
    assert_eq!(
        findings(&report),
        vec![
            ("missing-downgrade".into(), "10-a-team-members.sql".into(), 2),
            ("missing-downgrade".into(), "10-b-team-members-index.sql".into(), 2)
        ]
    );
}

#[test]
fn sql_migrate_failing() {
    assert_eq!(failing("sql-migrate"), (("2-backfill.sql".into(), 6), "42703".into()));
}

#[test]
fn dbmate_ok() {
    let report = ok("dbmate", &["--verbose"]);
    assert_eq!(ids(&report), ["01", "02", "03", "09", "10"]);
    assert_eq!(mode(&report, "01"), "wrapped");
    assert_eq!(mode(&report, "02"), "none");
    assert!(migration(&report, "03").get("down_path").is_some(), "an empty down block is still a down");
    assert!(migration(&report, "09").get("down_path").is_none());
    // dbmate 2 refuses files without a down block.
    let warned: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "missing-downgrade")
        .map(|f| (f["migration"].as_str().unwrap(), f["severity"].as_str().unwrap()))
        .collect();
    assert_eq!(warned, [("09", "warning"), ("10", "warning")]);
}

/// dbmate applies files in file-name order: `10_` before `9_`, so a chain that needs 9 first
/// fails at 10 as its deploy would (numeric order would have said it passes).
#[test]
fn dbmate_applies_files_in_file_name_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("9_teams.sql"),
        "-- migrate:up\nCREATE TABLE teams (id bigint PRIMARY KEY);\n-- migrate:down\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("10_members.sql"),
        "-- migrate:up\nCREATE TABLE members (team_id bigint REFERENCES teams (id));\n-- migrate:down\n",
    )
    .unwrap();
    let (output, report) = check_json(dir.path(), &["--format", "dbmate"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(ids(&report), ["10", "9"]);
    assert_eq!(findings(&report)[0], ("migration-failed".into(), "10_members.sql".into(), 2));
}

#[test]
fn dbmate_failing() {
    assert_eq!(failing("dbmate"), (("2_backfill.sql".into(), 5), "42703".into()));
}

#[test]
fn dbmate_duplicate() {
    assert_eq!(duplicate("dbmate"), dup("20240101000000_users.sql"));
}

#[test]
fn diesel_ok() {
    let report = ok("diesel", &["--verbose"]);
    assert_eq!(ids(&report), ["00000000000000", "09", "10", "20240101000001", "20240101000002"]);
    assert_eq!(mode(&report, "20240101000001"), "wrapped");
    assert_eq!(mode(&report, "20240101000002"), "none", "metadata.toml run_in_transaction = false");
}

#[test]
fn diesel_failing() {
    let ((file, line), sqlstate) = failing("diesel");
    assert_eq!((file.as_str(), line, sqlstate.as_str()), ("up.sql", 4, "42703"));
    let (_, report) = check_json(&fixture("diesel/failing"), &[]);
    let failed = report["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "migration-failed").unwrap();
    assert!(failed["file"].as_str().unwrap().ends_with("2024-01-01-000002_backfill/up.sql"));
}

#[test]
fn diesel_duplicate() {
    let (_, report) = check_json(&fixture("diesel/duplicate"), &[]);
    assert_eq!(duplicate("diesel"), dup("up.sql"));
    assert!(report["findings"][0]["file"].as_str().unwrap().ends_with("20240101000001_teams/up.sql"));
}

#[test]
fn flyway_ok() {
    let report = ok("flyway", &["--verbose", "--placeholder", "table=accounts"]);
    assert_eq!(ids(&report), ["1", "1.1", "1_12_3", "9", "10", "R__team_view"]);
    assert_eq!(mode(&report, "1"), "wrapped");
    assert_eq!(mode(&report, "1.1"), "none", "CONCURRENTLY is detected as Flyway does");
    assert!(migration(&report, "1")["down_path"].as_str().unwrap().ends_with("U1__users.sql"));
}

#[test]
fn flyway_missing_placeholder_names_file_line_and_fix() {
    let output = check(&fixture("flyway/ok"), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("V1_12_3__accounts.sql:1: placeholder ${table} has no value; pass --placeholder table=VALUE"),
        "{stderr}"
    );
}

/// On an empty database Flyway runs the latest baseline migration instead of the versioned ones
/// up to its version; without it, the later migrations would fail.
#[test]
fn flyway_baseline_stands_for_the_versions_it_covers() {
    let (output, report) = check_json(&fixture("flyway/baseline"), &["--verbose"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(ids(&report), ["2", "3"]);
    assert!(migration(&report, "2")["path"].as_str().unwrap().ends_with("B2__baseline.sql"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("B2__baseline.sql stands for 2 versioned migration(s) up to version 2"), "{stderr}");
}

/// Flyway scans a location's subfolders: migrations split over `schema/` and `data/` apply in
/// version order, found without `--format`.
#[test]
fn flyway_migrations_in_subfolders_count() {
    let (output, report) = check_json(&fixture("flyway/nested"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(report["chain"]["format"], "flyway");
    let ids: Vec<&str> = report["migrations"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "3"], "{report:#}");
    assert!(report["migrations"][1]["path"].as_str().unwrap().ends_with("data/V2__seed_teams.sql"));
}

/// Migrations kept in two unrelated folders are one Flyway chain: given with `--location`, or
/// read from the `locations` of a flyway.conf / flyway.toml above the folder that names it.
/// Without them, the data location's table is missing and the chain fails.
#[test]
fn flyway_locations_from_flags_or_the_projects_flyway_config() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let schema = root.join("db/migration");
    let data = root.join("seed/migration_data");
    std::fs::create_dir_all(&schema).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(schema.join("V1__users.sql"), "CREATE TABLE users (id int PRIMARY KEY);\n").unwrap();
    std::fs::write(data.join("V2__audit.sql"), "CREATE TABLE audit (id int PRIMARY KEY);\n").unwrap();
    std::fs::write(schema.join("V3__audit_user.sql"), "ALTER TABLE audit ADD COLUMN user_id int REFERENCES users;\n")
        .unwrap();
    let ids = |report: &serde_json::Value| -> Vec<String> {
        report["migrations"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
    };

    let (output, report) = check_json(&schema, &[]);
    assert_eq!(output.status.code(), Some(1), "without its other location the chain fails\n{}", text(&output));

    let location = data.to_str().unwrap();
    let (output, report_flag) = check_json(&schema, &["--location", location]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(ids(&report_flag), ["1", "2", "3"]);
    drop(report);

    for (file, config) in [
        (
            "flyway.conf",
            "flyway.url=jdbc:postgresql://db/app\nflyway.locations=filesystem:db/migration,filesystem:seed/migration_data\n",
        ),
        (
            "flyway.toml",
            "[environments.default]\nurl = \"jdbc:postgresql://db/app\"\n\n[flyway]\nlocations = [\n  \"filesystem:db/migration\",\n  \"filesystem:seed/migration_data\",\n]\n",
        ),
    ] {
        std::fs::write(root.join(file), config).unwrap();
        let (output, report) = check_json(&schema, &["--verbose"]);
        assert_eq!(output.status.code(), Some(0), "{file}\n{}", text(&output));
        assert_eq!(ids(&report), ["1", "2", "3"], "{file}");
        assert!(String::from_utf8_lossy(&output.stderr).contains(&format!("{file}: locations ")), "{}", text(&output));
        std::fs::remove_file(root.join(file)).unwrap();
    }

    // A config that names other folders only is another chain's: not followed.
    std::fs::write(root.join("flyway.conf"), "flyway.locations=filesystem:other,filesystem:seed/migration_data\n")
        .unwrap();
    let (output, _) = check_json(&schema, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));

    let output = check(&schema, &["--location", "no/such/folder"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("location no/such/folder: no such directory"),
        "{}",
        text(&output)
    );
}

#[test]
fn flyway_failing() {
    assert_eq!(failing("flyway"), (("V002__backfill.sql".into(), 4), "42703".into()));
}

#[test]
fn flyway_duplicate() {
    assert_eq!(duplicate("flyway"), dup("V1__users.sql"));
}

/// diesel orders versions as the text it records: `2020-12-7-...` (13 digits) comes after
/// 2018's 14-digit versions, not before them as numbers would have it.
#[test]
fn diesel_versions_order_as_text() {
    let dir = tempfile::tempdir().unwrap();
    for (name, up) in [
        ("2018-10-23-172530_create", "CREATE TABLE posts (id int);\n"),
        ("2020-12-7-190800_extend", "ALTER TABLE posts ADD COLUMN title text;\n"),
    ] {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("up.sql"), up).unwrap();
    }
    let (output, report) = check_json(dir.path(), &["--format", "diesel"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(ids(&report), ["20181023172530", "2020127190800"]);
}

/// A down that cannot even be split (an unterminated dollar quote) does not stop the chain:
/// the tools never read downs while migrating. Its round trip reports it, on its line.
#[test]
fn an_unsplittable_down_is_irreversible_not_a_stop() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_users.up.sql"), "CREATE TABLE users (id int);\n").unwrap();
    std::fs::write(dir.path().join("1_users.down.sql"), "DROP TABLE users;\nSELECT $$ never closed;\n").unwrap();
    std::fs::write(dir.path().join("2_posts.up.sql"), "CREATE TABLE posts (id int);\n").unwrap();
    std::fs::write(dir.path().join("2_posts.down.sql"), "DROP TABLE posts;\n").unwrap();
    let (output, report) = crate::support::check_json(dir.path(), &["--format", "golang-migrate", "--no-lint"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(report["summary"]["applied"], 2, "the ups still run");
    assert_eq!(findings(&report), [("irreversible".to_string(), "1_users.down.sql".to_string(), 2)]);
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("unterminated dollar-quoted string"), "{message}");
}
