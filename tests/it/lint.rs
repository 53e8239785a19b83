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
fn suppression_comments_move_findings_to_the_report_note() {
    let (code, rules, report) = rules_of(&fixture("lint/suppressed"), &[]);
    assert_eq!(code, Some(0), "{report:#}");
    assert!(!rules.iter().any(|r| r == "drop-table"), "{rules:?}");
    let suppressed: Vec<(String, u64)> = report["suppressed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule"].as_str().unwrap().to_string(), f["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(suppressed, vec![("drop-table".to_string(), 3), ("drop-table".to_string(), 4)]);
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
fn river_corpus_only_reports_changes_to_existing_tables() {
    let Some(corpus) = corpus("river") else { return };
    let dir = corpus.join("riverdriver/riverpgxv5/migration/main");
    let (_, _, report) = rules_of(&dir, &["--format", "sqlx", "--fail-on", "never"]);
    let found = findings(&report);
    assert!(!found.iter().any(|(_, file, _)| file.starts_with("001_") || file.starts_with("002_")), "{found:?}");
    assert!(found.contains(&("set-not-null-scan".into(), "003_river_job_tags_non_null.up.sql".into(), 3)), "{found:?}");
    assert!(found.contains(&("constraint-validation".into(), "004_pending_and_more.up.sql".into(), 18)), "{found:?}");
}
