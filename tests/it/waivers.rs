//! Adopting the check on an existing history: waivers in every syntax teams already wrote (each
//! with a firing twin beside it), the baseline file and `start-after`, through the real binary.

use crate::support::*;
use serde_json::Value;
use std::path::Path;

/// (syntax, reach, line, rules of the findings it waived) per waiver of a report.
fn waivers(report: &Value) -> Vec<(String, String, String, u64, Vec<String>)> {
    report["waivers"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|w| {
                    let file = w["file"].as_str().unwrap();
                    let name = Path::new(file).file_name().unwrap().to_string_lossy().into_owned();
                    let waived =
                        w["waived"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap().to_string());
                    (
                        w["syntax"].as_str().unwrap().to_string(),
                        w["reach"].as_str().unwrap().to_string(),
                        name,
                        w["line"].as_u64().unwrap(),
                        waived.collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn w(syntax: &str, reach: &str, file: &str, line: u64, rules: &[&str]) -> (String, String, String, u64, Vec<String>) {
    (syntax.into(), reach.into(), file.into(), line, rules.iter().map(|r| r.to_string()).collect())
}

fn f(rule: &str, file: &str, line: u64) -> (String, String, u64) {
    (rule.to_string(), file.to_string(), line)
}

#[test]
fn every_waiver_syntax_waives_its_statement_and_its_twin_still_fires() {
    let (output, report) = check_json(&fixture("waivers"), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        findings(&report),
        [
            f("index-not-concurrent", "2_squawk.sql", 5),
            f("index-not-concurrent", "3_atlas.sql", 5),
            f("index-not-concurrent", "4_eugene.sql", 5),
            f("index-not-concurrent", "5_diesel_guard.sql", 5),
            f("index-not-concurrent", "6_ours.sql", 5),
        ]
    );
    assert_eq!(
        waivers(&report),
        [
            w("squawk", "statement", "2_squawk.sql", 2, &["index-not-concurrent"]),
            w("squawk", "statement", "2_squawk.sql", 4, &[]),
            w("atlas", "statement", "3_atlas.sql", 2, &["index-not-concurrent"]),
            w("atlas", "statement", "3_atlas.sql", 4, &[]),
            w("eugene", "statement", "4_eugene.sql", 2, &["index-not-concurrent"]),
            w("eugene", "statement", "4_eugene.sql", 4, &[]),
            w("diesel-guard", "block", "5_diesel_guard.sql", 2, &["index-not-concurrent"]),
            w("migration-guard", "file", "6_ours.sql", 1, &["lock-timeout-missing"]),
            w("migration-guard", "statement", "6_ours.sql", 2, &["index-not-concurrent"]),
            w("migration-guard", "statement", "6_ours.sql", 4, &[]),
            w("squawk", "file", "7_squawk_file.sql", 1, &["index-not-concurrent"]),
        ]
    );
    let reasons: Vec<&str> =
        report["waivers"].as_array().unwrap().iter().filter_map(|w| w["reason"].as_str()).collect();
    assert_eq!(
        reasons,
        ["orders has 40 rows", "the deploy job sets lock_timeout", "accounts has 40 rows", "wrong rule"]
    );
    // Rules of another tool with no counterpart here are named in the report.
    assert_eq!(
        report["waivers"][5]["note"], "eugene's W12 has no Migration Guard counterpart",
        "{:#}",
        report["waivers"]
    );
}

#[test]
fn a_migration_level_waiver_covers_its_down() {
    let (output, report) = check_json(&fixture("waivers_migration"), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    // 2's and 3's downs leave their index behind; only 2 waived it.
    assert_eq!(findings(&report), [f("irreversible", "3_index.down.sql", 1)]);
    assert_eq!(waivers(&report), [w("migration-guard", "migration", "2_index.up.sql", 1, &["irreversible"])]);
}

/// The baseline holds what a history had when the check was adopted: those findings stop
/// counting, a new one still counts, and an entry that no longer matches is reported stale.
#[test]
fn baseline_accepts_existing_findings_and_reports_stale_entries() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("m");
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(fixture("waivers")).unwrap().flatten() {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let run = |args: &[&str]| {
        let output = bin().current_dir(work.path()).args(args).output().unwrap();
        assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"), "{}", text(&output));
        output
    };
    let output = run(&["baseline", "m"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("wrote 5 finding(s) to migration-guard-baseline.json"));
    let file = work.path().join("migration-guard-baseline.json");
    let entries: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(entries["entries"].as_array().unwrap().len(), 5);

    // Nothing new: the check passes and says how many findings the baseline holds.
    let output = run(&["check", "m", "--report-dir", "out"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(work.path().join("out/report.json")).unwrap()).unwrap();
    assert_eq!(report["baseline"]["matched"].as_array().unwrap().len(), 5);
    assert!(report["baseline"]["stale"].as_array().unwrap().is_empty());

    // Lines moved (a comment added on top) do not matter; a new unsafe index counts; the
    // statement fixed in 3_atlas leaves a stale entry.
    let squawk = dir.join("2_squawk.sql");
    std::fs::write(&squawk, format!("-- reviewed\n{}", std::fs::read_to_string(&squawk).unwrap())).unwrap();
    let atlas = dir.join("3_atlas.sql");
    let fixed =
        std::fs::read_to_string(&atlas).unwrap().replace("CREATE INDEX orders_status", "CREATE INDEX orders_state");
    std::fs::write(&atlas, fixed).unwrap();
    std::fs::write(
        dir.join("8_new.sql"),
        "SET lock_timeout = '2s';\nCREATE INDEX orders_note ON orders (status, total);\n",
    )
    .unwrap();
    let output = run(&["check", "m", "--report-dir", "out"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(work.path().join("out/report.json")).unwrap()).unwrap();
    assert_eq!(
        findings(&report),
        [f("index-not-concurrent", "3_atlas.sql", 5), f("index-not-concurrent", "8_new.sql", 2)]
    );
    let stale: Vec<(&str, u64)> = report["baseline"]["stale"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["file"].as_str().unwrap(), e["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(stale, [("m/3_atlas.sql", 5)]);
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("4 finding(s) in the baseline migration-guard-baseline.json; 1 stale entries")
    );

    // A broken baseline file stops the check with its name.
    std::fs::write(&file, "{ not json").unwrap();
    let output = run(&["check", "m"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("migration-guard-baseline.json:1: not a baseline file"));
}

#[test]
fn start_after_counts_the_migrations_up_to_it_as_merged() {
    let (output, report) = check_json(&fixture("waivers"), &["--start-after", "4"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        findings(&report),
        [f("index-not-concurrent", "5_diesel_guard.sql", 5), f("index-not-concurrent", "6_ours.sql", 5)]
    );
    assert_eq!((report["scope"]["changed"].as_u64(), report["scope"]["merged"].as_u64()), (Some(3), Some(4)));
    assert!(report["scope"]["basis"].as_str().unwrap().ends_with("start-after 4"), "{}", report["scope"]);
    let output = check(&fixture("waivers"), &["--start-after", "42x"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("--start-after: no migration has the version or revision \"42x\"")
    );
}
