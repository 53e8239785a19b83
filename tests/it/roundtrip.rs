//! The stairway end to end: round trips (`irreversible`, `reapply-failed`), per-migration
//! changes (`destructive-change`, `backward-incompatible`), seed data and `data-changed`,
//! failure safety, `--round-trip new`, and the shared corpora's real findings.

use crate::support::*;
use serde_json::Value;
use std::path::Path;

fn roundtrip(name: &str) -> std::path::PathBuf {
    fixture("roundtrip").join(name)
}

/// Findings as (rule, file name, line), with the report, for a fixture.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, Vec<(String, String, u64)>, Value) {
    let (output, report) = check_json(dir, args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{}", text(&output));
    (output.status.code(), findings(&report), report)
}

fn f(rule: &str, file: &str, line: u64) -> (String, String, u64) {
    (rule.to_string(), file.to_string(), line)
}

fn round_trip_statuses(report: &Value) -> Vec<String> {
    report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["round_trip"]["status"].as_str().unwrap_or("-").to_string())
        .collect()
}

#[test]
fn reversible_chain_passes_and_records_changes() {
    let (code, findings, report) = run(&roundtrip("ok"), &[]);
    assert_eq!((code, findings), (Some(0), vec![]));
    assert_eq!(round_trip_statuses(&report), ["passed", "passed"]);
    let changes = report["migrations"][1]["changes"].as_array().unwrap();
    let text: Vec<String> = changes.iter().map(|c| format!("{} {} {}", c["action"], c["kind"], c["name"])).collect();
    assert_eq!(text, [r#""added" "column" "public.users.email""#, r#""added" "index" "public.users_email_idx""#]);
}

#[test]
fn broken_down_points_at_its_failing_line() {
    let (code, findings, report) = run(&roundtrip("broken_down"), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(findings, [f("irreversible", "2_users_email.down.sql", 2)]);
    assert_eq!(round_trip_statuses(&report), ["passed", "irreversible"]);
    assert!(report["findings"][0]["message"].as_str().unwrap().contains("column \"emial\""));
}

#[test]
fn down_that_forgets_an_index_is_irreversible_once() {
    let (code, findings, report) = run(&roundtrip("forgotten_index"), &[]);
    assert_eq!(code, Some(1));
    // The up then fails again (the index exists): the same cause, so no second finding.
    assert_eq!(findings, [f("irreversible", "2_users_email.down.sql", 2)]);
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("adds index users_name_idx"), "{message}");
    let note = report["migrations"][1]["round_trip"]["note"].as_str().unwrap();
    assert!(note.contains("running the up again then fails: relation \"users_name_idx\" already exists"), "{note}");
}

#[test]
fn up_that_fails_after_its_own_down_is_reapply_failed() {
    let (code, findings, report) = run(&roundtrip("reapply"), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(findings, [f("reapply-failed", "2_default_setting.up.sql", 1)]);
    assert!(report["findings"][0]["message"].as_str().unwrap().contains("SQLSTATE 23505"));
}

#[test]
fn destructive_changes_to_existing_objects_only() {
    let (code, findings, _) = run(&roundtrip("destructive"), &["--round-trip", "none"]);
    assert_eq!(code, Some(1));
    // 4_scratch drops a column and narrows a type of a table it creates itself: not counted.
    assert_eq!(
        findings,
        [
            f("destructive-change", "2_drop_bio.up.sql", 1),
            f("destructive-change", "3_short_names.up.sql", 1),
            f("destructive-change", "3_short_names.up.sql", 2),
        ]
    );
}

#[test]
fn backward_incompatible_changes_are_warnings() {
    let (code, findings, report) = run(&roundtrip("incompatible"), &[]);
    assert_eq!(code, Some(0), "warnings only");
    let file = "2_expand.up.sql";
    assert_eq!(
        findings,
        [
            f("backward-incompatible", file, 1),
            f("backward-incompatible", file, 2),
            f("backward-incompatible", file, 3),
            f("backward-incompatible", file, 4),
        ]
    );
    let messages: Vec<&str> = report["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert!(messages[0].contains("renames column users.name to users.full_name"), "{messages:?}");
    assert!(messages[1].contains("adds column users.email NOT NULL without a default"), "{messages:?}");
    assert_eq!(round_trip_statuses(&report), ["passed", "passed"]);
    let (code, _, _) = run(&roundtrip("incompatible"), &["--fail-on", "warning"]);
    assert_eq!(code, Some(1));
}

#[test]
fn failed_transactional_migration_is_verified_rolled_back() {
    let (code, findings, report) = run(&roundtrip("rolled_back"), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(findings, [f("migration-failed", "1_tables.sql", 4)]);
    assert_eq!(report["migrations"][0]["after_failure"], serde_json::json!({"state": "rolled-back", "verified": true}));
}

#[test]
fn failed_migration_without_transaction_is_partially_applied() {
    let (code, findings, report) = run(&roundtrip("partial"), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(findings, [f("migration-failed", "1_tables.sql", 4)]);
    let after = &report["migrations"][0]["after_failure"];
    assert_eq!(after["state"], "partially-applied");
    let statements: Vec<(u64, &str)> = after["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["line"].as_u64().unwrap(), s["text"].as_str().unwrap()))
        .collect();
    assert_eq!(statements, [(2, "CREATE TABLE a (id integer)"), (3, "CREATE TABLE b (id integer)")]);
}

#[test]
fn seed_data_makes_a_not_null_migration_fail() {
    let seed = roundtrip("seeds/users.sql");
    let seed = seed.to_str().unwrap();
    let (code, findings, report) = run(&roundtrip("seed"), &["--seed", seed, "--seed-at", "1"]);
    assert_eq!(code, Some(1));
    assert_eq!(findings, [f("migration-failed", "2_email_required.up.sql", 1)]);
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("column \"email\" of relation \"users\" contains null values (SQLSTATE 23502)"), "{message}");
    assert!(message.contains("seed data of"), "{message}");
    // Without the seed the same chain applies; making a column NOT NULL is only a warning.
    let (code, findings, _) = run(&roundtrip("seed"), &[]);
    assert_eq!((code, findings), (Some(0), vec![f("backward-incompatible", "2_email_required.up.sql", 1)]));
}

#[test]
fn bad_seed_settings_exit_2_naming_them() {
    let broken = roundtrip("seeds/broken.sql");
    let output = check(&roundtrip("seed"), &["--seed", broken.to_str().unwrap(), "--seed-at", "1"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.sql:2: the seed data fails: relation \"nope\" does not exist"), "{stderr}");

    let users = roundtrip("seeds/users.sql");
    let output = check(&roundtrip("seed"), &["--seed", users.to_str().unwrap(), "--seed-at", "7"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--seed-at 7: no migration has this id"));

    let output = check(&roundtrip("seed"), &["--round-trip", "new"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--round-trip new needs --base-ref"));
}

#[test]
fn rows_changed_in_a_table_the_migration_does_not_name() {
    let (code, findings, report) = run(&roundtrip("data_changed"), &[]);
    assert_eq!(code, Some(0), "a warning");
    assert_eq!(findings, [f("data-changed", "2_admin.up.sql", 1)]);
    assert!(report["findings"][0]["message"].as_str().unwrap().contains("table audit but it went from 0 to 1 rows"));
}

#[test]
fn migrations_without_a_down_are_not_round_tripped() {
    let (code, findings, report) = run(&roundtrip("no_down"), &[]);
    assert_eq!((code, findings), (Some(0), vec![]));
    assert_eq!(round_trip_statuses(&report), ["passed", "no-down"]);
    let (_, _, report) = run(&roundtrip("no_down"), &["--round-trip", "none"]);
    assert_eq!(round_trip_statuses(&report), ["not-selected", "not-selected"]);
}

#[test]
fn round_trip_new_only_touches_migrations_missing_at_the_base_ref() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(repo.path())
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    };
    git(&["init", "-q"]);
    for name in ["1_users.up.sql", "1_users.down.sql"] {
        std::fs::copy(roundtrip("broken_down").join(name), dir.join(name)).unwrap();
    }
    git(&["add", "."]);
    git(&["commit", "-qm", "base"]);
    for name in ["2_users_email.up.sql", "2_users_email.down.sql"] {
        std::fs::copy(roundtrip("broken_down").join(name), dir.join(name)).unwrap();
    }
    let (code, findings, report) = run(&dir, &["--round-trip", "new", "--base-ref", "HEAD"]);
    assert_eq!(round_trip_statuses(&report), ["not-selected", "irreversible"]);
    assert_eq!((code, findings), (Some(1), vec![f("irreversible", "2_users_email.down.sql", 2)]));
    let output = check(&dir, &["--round-trip", "new", "--base-ref", "no-such-ref"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--base-ref no-such-ref: git does not know this ref"));
}

/// The full stairway over a corpus' chain; `None` when the corpus is absent.
fn stairway(corpus_name: &str, path: &str) -> Option<Value> {
    let dir = corpus(corpus_name)?.join(path);
    let (output, report) = check_json(&dir, &[]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"), "{}", text(&output));
    eprintln!(
        "{corpus_name}: {} migrations, {} applied, full round trip in {} ms",
        report["summary"]["migrations"], report["summary"]["applied"], report["summary"]["duration_ms"]
    );
    Some(report)
}

/// Findings of `rules` as (rule, file, line), the file named by its last `parts` path components.
fn corpus_findings(report: &Value, rules: &[&str], parts: usize) -> Vec<(String, String, u64)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| rules.contains(&f["rule"].as_str().unwrap()))
        .map(|f| {
            let file = f["file"].as_str().unwrap();
            let tail: Vec<&str> = file.rsplit('/').take(parts).collect();
            let name = tail.into_iter().rev().collect::<Vec<_>>().join("/");
            (f["rule"].as_str().unwrap().to_string(), name, f["line"].as_u64().unwrap())
        })
        .collect()
}

/// How many findings of `rule` a report has.
fn count(report: &Value, rule: &str) -> usize {
    report["findings"].as_array().unwrap().iter().filter(|f| f["rule"] == rule).count()
}

/// The message of the finding of `rule` at `file` (path suffix) and `line`.
fn message<'a>(report: &'a Value, rule: &str, file: &str, line: u64) -> &'a str {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == rule && f["file"].as_str().unwrap().ends_with(file) && f["line"] == line)
        .unwrap_or_else(|| panic!("no {rule} at {file}:{line}"))["message"]
        .as_str()
        .unwrap()
}

const ROUND_TRIP: &[&str] = &["irreversible", "reapply-failed"];
