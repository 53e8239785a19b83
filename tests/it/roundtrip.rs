//! The stairway end to end: round trips (`irreversible`, `reapply-failed`), per-migration
//! changes (`destructive-change`, `backward-incompatible`), seed data and `data-changed`,
//! failure safety, `--round-trip new`, and the shared corpora's real findings.

use crate::support::*;
use serde_json::Value;
use std::path::Path;

crate::isolate!(NO_LINT, &["--rule", "missing-downgrade=off"]);

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
    // Warnings: dropping what the application no longer uses is the normal end of a cleanup.
    assert_eq!(code, Some(0));
    let (code, _, _) = run(&roundtrip("destructive"), &["--round-trip", "none", "--rule", "destructive-change=error"]);
    assert_eq!(code, Some(1), "a team can make it a stop");
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
    let messages: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert!(messages[0].contains("renames column users.name to users.full_name"), "{messages:?}");
    assert!(messages[1].contains("adds column users.email NOT NULL without a default"), "{messages:?}");
    assert_eq!(round_trip_statuses(&report), ["passed", "passed"]);
    let (code, _, _) = run(&roundtrip("incompatible"), &["--fail-on", "warning"]);
    assert_eq!(code, Some(1));
}

/// Contract steps that break the application version still running: a required column loses its
/// default, a unique key that `ON CONFLICT` needs is dropped, a column is swapped for one of
/// another type. Their near twins in the same file do not fire: a nullable column's default, a
/// unique constraint replaced by a unique index first, a CHECK constraint.
#[test]
fn contract_steps_that_break_running_code_are_incompatible() {
    let (code, findings, report) = run(&roundtrip("contract"), &["--round-trip", "none"]);
    assert_eq!(code, Some(0), "warnings only");
    let file = "2_contract.up.sql";
    let incompatible = |line| f("backward-incompatible", file, line);
    assert_eq!(findings, [incompatible(1), incompatible(3), incompatible(7), incompatible(11)]);
    assert!(
        message(&report, "backward-incompatible", file, 1)
            .contains("drops the default of NOT NULL column accounts.plan")
    );
    assert!(message(&report, "backward-incompatible", file, 3).contains("ON CONFLICT (email)"));
    assert!(
        message(&report, "backward-incompatible", file, 11)
            .contains("from text to integer (by swapping in a new column")
    );
}

#[test]
fn failed_transactional_migration_is_verified_rolled_back() {
    let (code, findings, report) = run(&roundtrip("rolled_back"), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(findings, [f("migration-failed", "1_tables.sql", 4)]);
    assert_eq!(report["migrations"][0]["after_failure"], serde_json::json!({"state": "rolled-back", "verified": true}));
}

/// With the rules on what a migration changes off and no round trip, nothing needs a snapshot:
/// judged migrations apply as fast as merged ones and their changes are not recorded. One of
/// those rules on (the near twin) brings the snapshots back.
#[test]
fn migrations_apply_without_snapshots_when_nothing_needs_them() {
    let changes = |report: &Value| -> Vec<usize> {
        let migrations = report["migrations"].as_array().unwrap();
        migrations.iter().map(|m| m["changes"].as_array().map_or(0, Vec::len)).collect()
    };
    let (code, findings, report) = run(&roundtrip("destructive"), NO_STAIRWAY);
    assert_eq!((code, findings), (Some(0), vec![]));
    assert_eq!(report["summary"]["applied"], 4, "{report:#}");
    assert_eq!(changes(&report), [0, 0, 0, 0]);
    assert_eq!(round_trip_statuses(&report), ["not-selected"; 4]);
    assert_eq!(report["lint"], false, "the trace is off too, and the report says so");

    // data-changed on: the snapshots are taken again.
    let (_, _, report) = run(&roundtrip("destructive"), &NO_STAIRWAY[..6]);
    assert_ne!(changes(&report), [0, 0, 0, 0], "{report:#}");

    // A failure is located as ever; PostgreSQL's rollback is not compared with a snapshot.
    let (code, findings, report) = run(&roundtrip("rolled_back"), NO_STAIRWAY);
    assert_eq!((code, findings), (Some(1), vec![f("migration-failed", "1_tables.sql", 4)]));
    assert_eq!(
        report["migrations"][0]["after_failure"],
        serde_json::json!({"state": "rolled-back", "verified": false})
    );
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
    assert!(
        message.contains("column \"email\" of relation \"users\" contains null values (SQLSTATE 23502)"),
        "{message}"
    );
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
}

#[test]
fn rows_changed_in_a_table_the_migration_does_not_name() {
    let (code, findings, report) = run(&roundtrip("data_changed"), &[]);
    assert_eq!(code, Some(0), "a warning");
    // 3 runs with the contents read around 2 kept: the trigger's write is still seen (the
    // round trip of 2 ran the trigger once more).
    assert_eq!(findings, [f("data-changed", "2_admin.up.sql", 1), f("data-changed", "3_second.up.sql", 1)]);
    assert!(report["findings"][0]["message"].as_str().unwrap().contains("table audit but it went from 0 to 1 rows"));
    assert!(report["findings"][1]["message"].as_str().unwrap().contains("table audit but it went from 2 to 3 rows"));
}

#[test]
fn rows_rewritten_by_ddl_are_not_blamed_on_the_next_migration() {
    // 2 adds a column with a default (every row of users changes), 3 inserts into settings:
    // users did change, but before 3, not during it. 4 rewrites the names without changing
    // the schema, 5 inserts into settings again.
    let (code, findings, _) = run(&roundtrip("data_after_ddl"), &[]);
    assert_eq!((code, findings), (Some(0), vec![]));
}

#[test]
fn rows_written_by_an_event_trigger_during_ddl_are_seen() {
    // After 1, DDL logs its commands into ddl_log (CREATE TABLE and its primary key index: two
    // rows), which 2 does not name.
    // Event triggers need a superuser: without allow-superuser the migration fails and says so.
    let (code, findings, report) = run(&roundtrip("data_event_trigger"), &[]);
    assert_eq!((code, findings), (Some(1), vec![f("migration-failed", "1_ddl_log.up.sql", 7)]));
    let help = report["findings"][0]["help"].as_str().unwrap();
    assert!(help.contains("allow-superuser"), "{help}");
    let (code, findings, report) = run(&roundtrip("data_event_trigger"), &["--allow-superuser"]);
    assert_eq!((code, findings), (Some(0), vec![f("data-changed", "2_items.up.sql", 1)]));
    assert!(report["findings"][0]["message"].as_str().unwrap().contains("table ddl_log but it went from 0 to 2 rows"));
}

/// A down that raises before doing anything, or a migration listed under `irreversible`, is
/// one-way by design: one note, no round trip. A down that raises only behind a guard is run.
#[test]
fn one_way_migrations_are_a_choice_not_an_error() {
    let dir = roundtrip("one_way");
    let (code, findings, report) = run(&dir, &[]);
    assert_eq!(
        (code, findings),
        (
            Some(1),
            vec![
                f("irreversible-by-design", "2_drop_name.down.sql", 2),
                f("destructive-change", "2_drop_name.up.sql", 1),
                f("irreversible", "4_email.down.sql", 1),
            ]
        )
    );
    assert_eq!(round_trip_statuses(&report), ["passed", "one-way", "passed", "irreversible"]);
    let note = report["findings"].as_array().unwrap().iter().find(|f| f["rule"] == "irreversible-by-design").unwrap();
    assert_eq!(note["severity"], "info");
    assert!(note["message"].as_str().unwrap().contains("its down raises an exception"), "{note}");

    let (_, findings, report) = run(&dir, &["--irreversible", "4"]);
    assert!(findings.contains(&f("irreversible-by-design", "4_email.down.sql", 1)), "{findings:?}");
    assert!(!findings.iter().any(|(rule, _, _)| rule == "irreversible"), "{findings:?}");
    assert_eq!(round_trip_statuses(&report), ["passed", "one-way", "passed", "one-way"]);
    let output = check(&dir, &["--irreversible", "9"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("irreversible: no migration has the id \"9\""));
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
fn merged_migrations_are_not_round_tripped_and_new_skips_edited_ones() {
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
    let (code, findings, report) = run(&dir, &["--base-ref", "HEAD"]);
    assert_eq!(round_trip_statuses(&report), ["-", "irreversible"], "the merged migration is only replayed");
    assert_eq!((code, findings), (Some(1), vec![f("irreversible", "2_users_email.down.sql", 2)]));
    // An edited merged migration is judged again, but `--round-trip new` takes only added ones.
    let up = dir.join("1_users.up.sql");
    let merged = std::fs::read_to_string(&up).unwrap();
    std::fs::write(&up, format!("{merged}-- reviewed\n")).unwrap();
    let lines = merged.lines().count() as u64 + 1;
    let (code, findings, report) = run(&dir, &["--round-trip", "new", "--base-ref", "HEAD"]);
    assert_eq!(round_trip_statuses(&report), ["not-selected", "irreversible"]);
    assert_eq!(
        (code, findings),
        (Some(1), vec![f("edited-migration", "1_users.up.sql", lines), f("irreversible", "2_users_email.down.sql", 2)])
    );
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

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn svix_round_trip() {
    let Some(report) = stairway("svix", "server/svix-server/migrations") else { return };
    assert_eq!(report["summary"]["applied"], 16);
    assert_eq!(
        corpus_findings(&report, &["irreversible", "reapply-failed", "destructive-change", "backward-incompatible"], 1),
        [
            // The down drops column `expiration` first, which drops the index on it with it;
            // its `DROP INDEX message_payload_not_null_pidx` then fails.
            f("irreversible", "20220428190104_message_expiration.down.sql", 3),
            // The down re-adds `updated_at` with `DEFAULT now()`, which the columns never had
            // (its comment says the rollback is knowingly inexact).
            f("irreversible", "20220506181355_remove_updated_at_from_static_entities.down.sql", 2),
            // Drops message.updated_at and messageattempt.updated_at, created by the initial
            // migration: their values are lost.
            f("destructive-change", "20220506181355_remove_updated_at_from_static_entities.up.sql", 1),
            f("destructive-change", "20220506181355_remove_updated_at_from_static_entities.up.sql", 2),
        ]
    );
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn quickwit_round_trip() {
    let Some(report) = stairway("quickwit", "quickwit/quickwit-metastore/migrations/postgresql") else { return };
    assert_eq!(report["summary"]["applied"], 28);
    assert_eq!(
        corpus_findings(&report, ROUND_TRIP, 1),
        [
            // `ALTER COLUMN shard_id TYPE BIGSERIAL`: serial types exist only in CREATE/ADD.
            f("irreversible", "14_update-shard-id.down.sql", 1),
            // The up only drops the index if it exists (it does not); the down creates it.
            f("irreversible", "18_create-index-shard-index-uid.down.sql", 1),
            // `DROP IF EXISTS COLUMN` is not PostgreSQL syntax (`DROP COLUMN IF EXISTS` is).
            f("irreversible", "19_add-split-node-id-field.down.sql", 4),
            // The up creates set_index_update_timestamp_for_split(); the down leaves it...
            f("irreversible", "1_create-indexes.down.sql", 1),
            f("irreversible", "20_add-shard-doc-mapping-uid-field.down.sql", 2),
            // ...and the down of 2 drops it although 2 did not create it.
            f("irreversible", "2_create-splits.down.sql", 3),
            // The down adds splits.incarnation_id, which the up never removed, and re-creates
            // the foreign keys with other names and actions.
            f("irreversible", "9_add-split-incarnation-id.down.sql", 8),
        ]
    );
    let rename = message(&report, "backward-incompatible", "9_add-split-incarnation-id.up.sql", 1);
    assert!(rename.contains("renames column indexes.index_id to indexes.index_uid"), "{rename}");
    let drop = message(&report, "destructive-change", "8_delete-update-timestamp-on-indexes-table.up.sql", 1);
    assert!(drop.contains("drops column indexes.update_timestamp"), "{drop}");
    // 23 replaces the unique constraint on indexes.index_id by a unique index with another
    // operator class: still a key on that column, no finding.
    assert_eq!((count(&report, "backward-incompatible"), count(&report, "destructive-change")), (6, 1));
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn ente_round_trip() {
    let Some(report) = stairway("ente", "server/migrations") else { return };
    assert_eq!(report["summary"]["applied"], 124);
    assert_eq!(round_trip_statuses(&report).iter().filter(|s| *s == "no-down").count(), 13);
    assert_eq!(
        corpus_findings(&report, ROUND_TRIP, 1),
        [
            // Drops the table holding the index first, then the (gone) index.
            f("irreversible", "19_add_encrypted_email_columns.down.sql", 6),
            // Drops `files` before the tables whose foreign keys reference it.
            f("irreversible", "1_create_tables.down.sql", 1),
            // The downs of 22, 37, 52 and 62 leave the functions their ups create.
            f("irreversible", "22_add_location_tag_table.down.sql", 1),
            // Re-adds users.email but not the index users_email_index the up dropped with it.
            f("irreversible", "29_drop_unencrypted_email.down.sql", 1),
            // Drops `subscriptions` (and so its index), then the index.
            f("irreversible", "2_create_subscriptions.down.sql", 5),
            f("irreversible", "37_public_collection.down.sql", 1),
            // `DROP COLUMN a DROP COLUMN b`: the commas are missing.
            f("irreversible", "3_add_encypted_collection_name.down.sql", 3),
            // `DROP INDEX IF NOT EXISTS` is not PostgreSQL syntax.
            f("irreversible", "44_trash_add_index.down.sql", 1),
            f("irreversible", "52_authenticator.down.sql", 1),
            // The ups of 57, 81, 86, 89 and 94 add enum values (`ALTER TYPE ... ADD VALUE`);
            // PostgreSQL cannot drop an enum value, and the downs leave them.
            f("irreversible", "57_object_copies.down.sql", 1),
            f("irreversible", "62_entity_store.down.sql", 1),
            // Leaves the enum value `locker`, the column collections.app and the index change.
            f("irreversible", "68_add_locker_changes.down.sql", 7),
            // The index backs a constraint: DROP INDEX is refused (drop the constraint).
            f("irreversible", "7_add_unique_usage_user_id.down.sql", 1),
            f("irreversible", "81_embeddings_type_and_size.down.sql", 1),
            f("irreversible", "86_add_dc_embedding.down.sql", 2),
            f("irreversible", "89_file_data_table.down.sql", 2),
            // Re-adds otts.user_id without its foreign key and index.
            f("irreversible", "8_update_otts_schema_link_with_email.down.sql", 1),
            // Drops a trigger function that other tables' triggers still use.
            f("irreversible", "93_emergency_contact.down.sql", 12),
            f("irreversible", "94_file_data_preview.down.sql", 1),
            // Drops type s3region while columns still use it.
            f("irreversible", "9_create_datacenter.down.sql", 1),
        ]
    );
    // Each drops a column or table an earlier migration created.
    assert_eq!(
        corpus_findings(&report, &["destructive-change"], 1),
        [
            f("destructive-change", "29_drop_unencrypted_email.up.sql", 1),
            f("destructive-change", "38_add_abuse_report_detail_json.up.sql", 1),
            f("destructive-change", "39_drop_file_and_thumbnail_object_keys.up.sql", 1),
            f("destructive-change", "39_drop_file_and_thumbnail_object_keys.up.sql", 3),
            f("destructive-change", "73_remove_kex_user_id_fk.up.sql", 3),
            f("destructive-change", "82_drop_location_tag_table.up.sql", 1),
            f("destructive-change", "8_update_otts_schema_link_with_email.up.sql", 9),
        ]
    );
    // 22 integer → bigint type changes (18, 23, 25, 99), 6 NOT NULL columns without a default
    // added to existing tables (4, 8, 15, 84), 1 table and 1 column rename (10, 5), 2 unique
    // constraints dropped for narrower or other keys (58, 83), 1 column swapped for a text one
    // (90). 25 drops the defaults of its serial keys but makes them identity columns: no finding.
    assert_eq!(count(&report, "backward-incompatible"), 22 + 6 + 2 + 2 + 1);
    let swap = message(&report, "backward-incompatible", "90_use_string_id_entity.up.sql", 7);
    assert!(swap.contains("entity_data.id from uuid to text (by swapping in a new column"), "{swap}");
    let line = message(&report, "backward-incompatible", "25_alter_ids_to_bigint.up.sql", 32);
    assert!(line.contains("users.user_id from integer to bigint"), "{line}");
    let rename = message(&report, "backward-incompatible", "10_update_temp_object_keys.up.sql", 1);
    assert!(rename.contains("renames table temp_object_keys to temp_objects"), "{rename}");
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn lemmy_round_trip() {
    let Some(report) = stairway("lemmy", "migrations") else { return };
    // 2025-08-01-000016 needs PostgreSQL 16 (`corpora.rs`); the 247 before it round-trip.
    assert_eq!(report["summary"]["applied"], 247);
    assert_eq!(
        corpus_findings(&report, ROUND_TRIP, 2),
        [
            // The down re-creates comment_aggregates_view (and the views built on it) with
            // `ap_id` and `local`, which the views did not have before the up.
            f("irreversible", "2020-04-14-163701_update_views_for_activitypub/down.sql", 507),
            // The down re-creates the user and community views with joins where the views
            // before the up used sub-selects: another definition.
            f("irreversible", "2020-06-30-135809_remove_mat_views/down.sql", 2),
            // The down restores older bodies of refresh_comment() and refresh_post().
            f("irreversible", "2020-10-07-234221_fix_fast_triggers/down.sql", 1),
            // "There is no restore for this": the down only selects from user_.
            f("irreversible", "2020-12-17-031053_remove_fast_tables_and_views/down.sql", 3),
            // user_alias_1/2 come back with other columns than before the up.
            f("irreversible", "2021-03-09-171136_split_user_table_2/down.sql", 269),
            // comment_alias_1 comes back with other columns than before the up.
            f("irreversible", "2022-07-07-182650_comment_ltrees/down.sql", 38),
            // `ADD CONSTRAINT name NOT NULL column` is PostgreSQL 18 syntax.
            f("irreversible", "2024-03-06-104706_local_image_user_opt/down.sql", 2),
            // Renames constraint person_shared_inbox_url_not_null, which only PostgreSQL 18
            // creates (named NOT NULL constraints).
            f("irreversible", "2025-08-01-000012_no-individual-inboxes/down.sql", 4),
        ]
    );
    let narrowed = message(&report, "destructive-change", "2023-06-06-104440_index_post_url/up.sql", 13);
    assert!(narrowed.contains("post.url from text to character varying(512)"), "{narrowed}");
    let renamed =
        message(&report, "backward-incompatible", "2023-04-14-175955_add_listingtype_sorttype_enums/up.sql", 48);
    assert!(renamed.contains("renames enum value registration_mode_enum.closed"), "{renamed}");
    // Counted by kind and checked by sampling: lemmy drops many columns and views over its
    // history, moved every timestamp to timestamptz and renamed columns freely.
    // Of the incompatible ones, 7 drop unique keys (their replacement primary keys of 2023-10-24
    // count as keys: no finding there) and 3 drop the defaults of NOT NULL ap_id columns
    // (2024-06-24), which the application's triggers fill only once it is deployed.
    assert_eq!((count(&report, "destructive-change"), count(&report, "backward-incompatible")), (128, 160 + 7 + 3));
    assert_eq!(count(&report, "data-changed"), 0);
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn goalert_round_trip() {
    let Some(report) = stairway("goalert", "migrate/migrations") else { return };
    assert_eq!(report["summary"]["applied"], 280);
    assert_eq!(round_trip_statuses(&report).iter().filter(|s| *s == "no-down").count(), 31);
    assert_eq!(
        corpus_findings(&report, ROUND_TRIP, 1),
        [
            // The down re-creates goalert_user with defaults and a NOT NULL email it did not have.
            f("irreversible", "20170428154209-users-table.sql", 58),
            // The up creates extension pgcrypto; the down leaves it.
            f("irreversible", "20170502172843-user-settings.sql", 52),
            // The down drops view alert_steps, which does not exist at that point.
            f("irreversible", "20170509154250-alerts.sql", 124),
            // Drops view active_contact_methods while needs_notification_sent depends on it.
            f("irreversible", "20170515162554-user-notifications.sql", 143),
            // `shift_length_unit,`: a column without a type in the down.
            f("irreversible", "20170530135027-schedule-rotation.sql", 317),
            // Drops a function a trigger still uses.
            f("irreversible", "20170612101232-escalation-tweaks.sql", 51),
            // `DROP CONSTRAINT ... UNIQUE (...)`: not PostgreSQL syntax.
            f("irreversible", "20170619123628-add-constraints.sql", 8),
            // The down does not re-create the tables the up drops.
            f("irreversible", "20170619164449-bobby-tables.sql", 7),
            f("irreversible", "20170620104459-contact-constraints.sql", 10),
            // The downs of these re-create views with other definitions than before the up.
            f("irreversible", "20170621141923-notification-query-fixes.sql", 99),
            f("irreversible", "20170623151348-on-call-alert-distinct.sql", 31),
            // The up creates enum_integration_keys_type... which the down leaves.
            f("irreversible", "20170630095448-integration-to-integration-keys.sql", 26),
            // Re-creates on_call with date_part() where it had EXTRACT() (numeric vs double).
            f("irreversible", "20170725105905-fix-shift-calculation.sql", 83),
            // These ups add enum values (`ALTER TYPE ... ADD VALUE`), which no down can remove.
            f("irreversible", "20190129110250-add-cleanup-module.sql", 6),
            f("irreversible", "20190201104727-alert-logs-channel.sql", 11),
            f("irreversible", "20230227095449-slack-cm-compat.sql", 9),
            f("irreversible", "20240709134305-signal-module.sql", 11),
            f("irreversible", "20241108160105-import-river-migration-4.sql", 45),
        ]
    );
    // 14 of the incompatible ones drop unique keys (goalert relaxed its uniqueness rules often).
    assert_eq!((count(&report, "destructive-change"), count(&report, "backward-incompatible")), (69, 36 + 14));
    let dropped = message(&report, "backward-incompatible", "20170808110638-user-email-nullable-allowed.sql", 3);
    assert!(dropped.contains("drops unique constraint goalert_user_email_key on users (email)"), "{dropped}");
}

/// Replays send a transactional script as one batch; a failing batch is rolled back and run
/// again statement by statement, so the error still names its line.
#[tokio::test]
async fn a_replay_is_one_batch_that_still_names_the_failing_line() {
    use migration_guard::migrations::Script;
    use migration_guard::runner;
    use sqlx::Executor;
    let shared = shared_server();
    let db = shared.create_database().await.unwrap();
    let mut conn = db.connect().await.unwrap();
    let path = std::path::Path::new("1_tables.sql");
    let good =
        Script::new(path, 1, "CREATE TABLE a (id int); -- a comment\nCREATE TABLE b (id int);\n".into()).unwrap();
    let outcome = runner::run_replay(&mut conn, &good).await.unwrap();
    assert!(outcome.error.is_none(), "{:?}", outcome.error);
    assert_eq!(outcome.statements_run, 2);
    let bad = Script::new(
        path,
        1,
        "CREATE TABLE c (id int);\nCREATE TABLE d (id int);\nINSERT INTO missing VALUES (1);\n".into(),
    )
    .unwrap();
    let outcome = runner::run_replay(&mut conn, &bad).await.unwrap();
    let error = outcome.error.expect("the insert fails");
    assert_eq!((error.file.as_str(), error.line), ("1_tables.sql", 3), "{}", error.message);
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT relname::text FROM pg_class WHERE relname IN ('a', 'b', 'c', 'd') ORDER BY 1")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(tables, ["a", "b"], "the failed script left nothing");
    conn.execute("SELECT 1").await.expect("the connection is usable");
    drop(conn);
    shared.drop_database(&db).await.unwrap();
}
