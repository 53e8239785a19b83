//! Alembic projects end to end: revision files parsed, graph findings located by file and
//! line, chains applied to PostgreSQL through the project's own Alembic (needs
//! `pip install alembic sqlalchemy psycopg2-binary`).

use crate::support::*;
use std::path::{Path, PathBuf};

crate::isolate!(NO_LINT, NO_STAIRWAY);

fn project(case: &str) -> PathBuf {
    fixture("alembic").join(case)
}

/// (id, status) of each migration line, in apply order.
fn statuses(report: &serde_json::Value) -> Vec<(String, String)> {
    report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap().to_string(), m["status"].as_str().unwrap().to_string()))
        .collect()
}

fn all(ids: &[&str], status: &str) -> Vec<(String, String)> {
    ids.iter().map(|id| (id.to_string(), status.to_string())).collect()
}

fn strings(value: &serde_json::Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// `migration-guard graph <dir> --json`.
fn graph_json(dir: &Path) -> serde_json::Value {
    let output = bin().arg("graph").arg(dir).arg("--json").output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Exit 1 exactly when the history has an error, as `check` would fail on it.
    let broken = report["findings"].as_array().unwrap().iter().any(|f| f["severity"] == "error");
    assert_eq!(output.status.code(), Some(i32::from(broken)), "{}", text(&output));
    report
}

fn triple(rule: &str, file: &str, line: u64) -> (String, String, u64) {
    (rule.to_string(), file.to_string(), line)
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn linear_chain_is_applied_in_order() {
    let (output, report) = check_json(&project("linear"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(report["chain"]["format"], "alembic");
    assert_eq!(statuses(&report), all(&["a1", "b2", "c3"], "applied"));
    assert!(findings(&report).is_empty(), "{}", text(&output));
    assert_eq!(strings(&report["graph"]["heads"]), ["c3"]);
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn merge_revision_joins_the_branches() {
    let out = tempfile::tempdir().unwrap();
    let output = check(&project("merge"), &["--report-dir", out.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(statuses(&report), all(&["a1", "b1", "c1", "d1", "e1"], "applied"));
    assert_eq!(strings(&report["graph"]["merges"]), ["d1"]);
    let markdown = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(markdown.contains("```mermaid\nflowchart BT\n"), "{markdown}");
    assert!(markdown.contains("Heads: `e1`"), "{markdown}");
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn two_heads_are_reported_and_both_applied() {
    let (output, report) = check_json(&project("two_heads"), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(findings(&report), [triple("multiple-heads", "b1_orders.py", 7)]);
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("a1") && message.contains("b1"), "{message}");
    assert!(report["findings"][0]["help"].as_str().unwrap().contains("alembic merge -m"));
    assert_eq!(statuses(&report), all(&["a1", "b1"], "applied"));
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn branch_point_without_merge() {
    let (output, report) = check_json(&project("branch_point"), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        findings(&report),
        [triple("multiple-heads", "c1_theirs.py", 7), triple("branch-point", "c1_theirs.py", 8)]
    );
    assert_eq!(strings(&report["graph"]["branch_points"]), ["a1"]);
    assert_eq!(statuses(&report), all(&["a1", "b1", "c1"], "applied"));
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn missing_parent_is_reported_before_running() {
    let (output, report) = check_json(&project("missing_parent"), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(findings(&report), [triple("missing-parent", "b1_orphan.py", 8)]);
    assert_eq!(statuses(&report), all(&["a1", "b1"], "skipped"));
    assert!(report["database"].is_null());
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn cycle_is_reported_before_running() {
    let (output, report) = check_json(&project("cycle"), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(findings(&report), [triple("cycle", "b1_one.py", 8)]);
    assert!(report["findings"][0]["message"].as_str().unwrap().contains("b1, c1"));
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn empty_upgrade_is_a_warning_and_rules_regrade_it() {
    let (output, report) = check_json(&project("empty_upgrade"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        findings(&report),
        [triple("empty-upgrade", "b1_nothing.py", 13), triple("empty-downgrade", "b1_nothing.py", 19)]
    );
    assert_eq!(statuses(&report), all(&["a1", "b1"], "applied"));
    let (output, report) =
        check_json(&project("empty_upgrade"), &["--rule", "empty-upgrade=error", "--rule", "empty-downgrade=off"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(findings(&report), [triple("empty-upgrade", "b1_nothing.py", 13)]);
    assert_eq!(report["findings"][0]["severity"], "error");
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn broken_downgrades_are_warnings() {
    let (output, report) = check_json(&project("broken_downgrade"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(
        findings(&report),
        [triple("empty-downgrade", "a1_base.py", 17), triple("missing-downgrade", "b1_one_way.py", 7)]
    );
    assert_eq!(statuses(&report), all(&["a1", "b1"], "applied"));
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn failing_revision_is_located_by_its_traceback() {
    let (output, report) = check_json(&project("failing"), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(findings(&report), [triple("migration-failed", "b1_typo.py", 16)]);
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("relation \"nope\" does not exist"), "{message}");
    assert_eq!(
        statuses(&report),
        [("a1".into(), "applied".into()), ("b1".into(), "failed".into()), ("c1".into(), "skipped".into())]
    );
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn versions_folder_given_directly() {
    let dir = project("linear").join("migrations/versions");
    let graph = graph_json(&dir);
    assert_eq!(graph["order"], serde_json::json!(["a1", "b2", "c3"]));
    let (output, report) = check_json(&dir, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(statuses(&report), all(&["a1", "b2", "c3"], "applied"));
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn missing_python_is_a_usage_error() {
    let output = check(&project("linear"), &["--python", "/nonexistent/python3"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot run /nonexistent/python3") && stderr.contains("--python"), "{stderr}");
}

#[test]
fn graph_history_and_mermaid() {
    let output = bin().arg("graph").arg(project("merge")).output().unwrap();
    let history = String::from_utf8_lossy(&output.stdout);
    assert!(history.starts_with("Rev: e1 (head)\nParent: d1\n"), "{history}");
    assert!(history.contains("Rev: d1 (mergepoint)\nMerges: b1, c1\n"), "{history}");
    assert!(history.contains("Rev: a1 (branchpoint)\nParent: <base>\nBranches into: b1, c1\n"), "{history}");
    let output = bin().arg("graph").arg(project("merge")).arg("--mermaid").output().unwrap();
    let mermaid = String::from_utf8_lossy(&output.stdout);
    assert!(mermaid.starts_with("flowchart BT\n") && mermaid.contains("class n3 merge"), "{mermaid}");
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn warehouse_corpus_parses_exactly() {
    let Some(corpus) = corpus("warehouse") else { return };
    let graph = graph_json(&corpus.join("warehouse/migrations"));
    assert_eq!(graph["format"], "alembic");
    assert_eq!(graph["migrations"], 288);
    assert_eq!(strings(&graph["graph"]["heads"]), ["964076d0c4ad"]);
    assert_eq!(strings(&graph["graph"]["roots"]), ["283c68f2ab2"]);
    assert_eq!(strings(&graph["graph"]["merges"]).len(), 2);
    assert!(strings(&graph["graph"]["branch_points"]).is_empty());
    assert_eq!(graph["order"][0], "283c68f2ab2");
    assert_eq!(graph["order"][287], "964076d0c4ad");
    // Only the no-op downgrades are worth a warning; merges are empty by design.
    let rules: Vec<&str> = graph["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, vec!["empty-downgrade"; 9]);
}

#[test]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
fn ckan_corpus_is_linear() {
    let Some(corpus) = corpus("ckan") else { return };
    let graph = graph_json(&corpus.join("ckan/migration"));
    assert_eq!(graph["migrations"], 109);
    assert_eq!(strings(&graph["graph"]["heads"]), ["9445ce34fc23"]);
    assert_eq!(strings(&graph["graph"]["roots"]), ["103676e0a497"]);
    assert!(strings(&graph["graph"]["merges"]).is_empty());
    assert!(strings(&graph["graph"]["branch_points"]).is_empty());
    let plugin = graph_json(&corpus.join("ckanext/activity/migration/activity"));
    assert_eq!(plugin["migrations"], 2);
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn python_without_alembic_is_a_usage_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let python = dir.path().join("python3");
    std::fs::write(&python, "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'alembic'\" >&2\nexit 1\n")
        .unwrap();
    std::fs::set_permissions(&python, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = check(&project("linear"), &["--python", python.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("No module named 'alembic'") && stderr.contains("pip install alembic"), "{stderr}");
}

/// The single-revision steps the round trip builds on, on a real database: upgrade to each
/// revision, and revert exactly one revision, also beside another branch and at a merge, where
/// `alembic downgrade <parent>` or `<rev>-1` would undo more (or refuse).
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn upgrade_and_revert_one_revision_at_a_time() {
    use migration_guard::alembic::run::{Alembic, preflight};
    use migration_guard::migrations::{self, LoadOptions};
    use migration_guard::postgres::{ProvisionOptions, Server};
    use sqlx::Connection;

    let dir = project("merge");
    let chain = migrations::load(&dir, &LoadOptions::default()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = Server::start(&ProvisionOptions::default()).await.unwrap();
        let result = async {
            let driver = preflight(Path::new("python3")).await.unwrap();
            let database = server.create_database().await.unwrap();
            let url = database.url(None, &driver, true);
            let project = migration_guard::alembic::config::locate(&dir).unwrap();
            let mut alembic = Alembic::start(&project, Path::new("python3"), url, None).await.unwrap();
            let file = |id: &str| chain.migrations.iter().find(|m| m.id == id).unwrap().up.path.clone();
            let mut conn = database.connect().await.unwrap();
            let mut heads = async || -> Vec<String> {
                sqlx::query_scalar("SELECT version_num FROM alembic_version ORDER BY 1")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap()
            };
            for id in ["a1", "b1", "c1"] {
                let step = alembic.upgrade(id, &file(id)).await.unwrap();
                assert!(step.error.is_none(), "{}", step.output);
            }
            assert_eq!(heads().await, ["b1", "c1"]);
            let step = alembic.revert("c1", &file("c1")).await.unwrap();
            assert!(step.error.is_none(), "{}", step.output);
            assert_eq!(heads().await, ["b1"]);
            for id in ["c1", "d1"] {
                let step = alembic.upgrade(id, &file(id)).await.unwrap();
                assert!(step.error.is_none(), "{}", step.output);
            }
            assert_eq!(heads().await, ["d1"]);
            let step = alembic.revert("d1", &file("d1")).await.unwrap();
            assert!(step.error.is_none(), "{}", step.output);
            assert_eq!(heads().await, ["b1", "c1"]);
            conn.close().await.ok();
        };
        result.await;
        server.shutdown().await;
    });
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn labelled_branches_with_a_dependency_run_without_findings() {
    let (output, report) = check_json(&project("labels"), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(findings(&report).is_empty(), "{}", text(&output));
    assert_eq!(statuses(&report), all(&["a1", "b1", "p1"], "applied"));
    assert_eq!(strings(&report["graph"]["heads"]), ["b1", "p1"]);
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn environment_failure_points_at_env_py() {
    // The environment is broken, not the first revision: the check cannot run (exit 2), and
    // says where env.py failed and what to install.
    let output = check(&project("broken_env"), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("{}", text(&output)));
    assert!(error.contains("broken_env/env.py:5: env.py failed while running revision a1"), "{error}");
    assert!(error.contains("No module named 'app_that_is_not_installed'"), "{error}");
    assert!(error.contains("--python-requirements") && error.contains("PYTHONPATH"), "{error}");
}

/// Round trip statuses of each migration line, in apply order.
fn round_trips(report: &serde_json::Value) -> Vec<String> {
    let migrations = report["migrations"].as_array().unwrap();
    migrations.iter().map(|m| m["round_trip"]["status"].as_str().unwrap_or("").to_string()).collect()
}

/// The stairway on Alembic: a downgrade that forgets an index is irreversible, at the
/// downgrade's line; one that raises is one-way by design (reported once, at its `def`, and not
/// round-tripped); dropping a column is destructive, at the `op.drop_column` line.
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn stairway_round_trips_alembic_revisions() {
    let (output, report) = crate::support::check_json(&project("roundtrip"), NO_LINT);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        findings(&report),
        [
            triple("irreversible", "b1_forgets_index.py", 19),
            triple("irreversible-by-design", "c1_one_way.py", 18),
            triple("destructive-change", "d1_drop_name.py", 15),
        ]
    );
    let messages: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert!(messages[0].contains("adds index users_email"), "{}", messages[0]);
    assert!(messages[1].contains("c1 is not reversible by design (its downgrade() raises)"), "{}", messages[1]);
    assert_eq!(report["findings"][1]["severity"], "info");
    assert_eq!(statuses(&report), all(&["a1", "b1", "c1", "d1"], "applied"));
    assert_eq!(round_trips(&report), ["passed", "irreversible", "one-way", "passed"]);
    // Per-migration changes come from the snapshots around Alembic's upgrade.
    let changes: Vec<&str> =
        report["migrations"][1]["changes"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(changes, ["public.users.nick", "public.users_email"]);
    assert_eq!(report["migrations"][1]["path"], report["migrations"][1]["down_path"]);
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn alembic_round_trip_none_skips_it() {
    let (output, report) = crate::support::check_json(&project("roundtrip"), &["--no-lint", "--round-trip", "none"]);
    assert_eq!(output.status.code(), Some(0), "a one-way note and a destructive warning: {}", text(&output));
    assert_eq!(
        findings(&report),
        [triple("irreversible-by-design", "c1_one_way.py", 18), triple("destructive-change", "d1_drop_name.py", 15)]
    );
    assert_eq!(round_trips(&report), vec!["not-selected"; 4]);
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn alembic_seed_is_loaded_at_a_revision() {
    let dir = project("roundtrip");
    let seed = dir.join("seed.sql");
    let args = ["--no-lint", "--seed", seed.to_str().unwrap(), "--seed-at", "a1"];
    let (output, report) = crate::support::check_json(&dir, &args);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    // The same findings as without data: the rows do not stop any step, and nothing else moves them.
    let rules: Vec<String> = findings(&report).into_iter().map(|(rule, _, _)| rule).collect();
    assert_eq!(rules, ["irreversible", "irreversible-by-design", "destructive-change"]);
    // Loaded before the first revision, the rows have no table yet: proof that the seed runs.
    let output = crate::support::check(&dir, &["--no-lint", "--seed", seed.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("seed.sql:1: the seed data fails: relation \"users\" does not exist"), "{stderr}");
    let output = crate::support::check(&dir, &["--no-lint", "--seed", seed.to_str().unwrap(), "--seed-at", "zz"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--seed-at zz"), "{}", text(&output));
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn clean_chain_with_a_merge_round_trips_fully() {
    let (output, report) = crate::support::check_json(&project("merge"), NO_LINT);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(findings(&report).is_empty(), "{}", text(&output));
    assert_eq!(round_trips(&report), vec!["passed"; 5]);
}

/// One check of the `lint` project, shared by the tests on its revisions.
fn lint_report() -> &'static serde_json::Value {
    static REPORT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    REPORT.get_or_init(|| {
        let (output, report) = crate::support::check_json(&project("lint"), &[]);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        report
    })
}

/// Findings of the lint report in one revision file.
fn lint_findings_in(file: &str) -> Vec<(String, String, u64)> {
    findings(lint_report()).into_iter().filter(|(_, f, _)| f == file).collect()
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn index_on_an_existing_table_is_flagged_at_the_op_line() {
    let hits: Vec<_> =
        lint_findings_in("b1_index_existing.py").into_iter().filter(|(r, _, _)| r == "index-not-concurrent").collect();
    assert_eq!(hits, [triple("index-not-concurrent", "b1_index_existing.py", 15)]);
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn index_on_a_table_of_the_same_revision_is_not_flagged() {
    assert!(lint_findings_in("c1_new_table.py").is_empty(), "{:?}", lint_report()["findings"]);
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn concurrent_index_in_an_autocommit_block_is_not_flagged() {
    assert!(lint_findings_in("d1_concurrently.py").is_empty(), "{:?}", lint_report()["findings"]);
    let note = lint_report()["migrations"][3]["trace_note"].as_str().unwrap();
    assert!(note.contains("autocommit_block()") && note.contains("line 15"), "{note}");
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn python_waiver_comment_silences_the_rule() {
    let rules: Vec<_> = lint_findings_in("e1_suppressed.py").into_iter().map(|(r, _, _)| r).collect();
    assert!(!rules.contains(&"index-not-concurrent".to_string()), "{rules:?}");
    let waivers = lint_report()["waivers"].as_array().unwrap().clone();
    let waived: Vec<_> = waivers
        .iter()
        .filter(|w| w["file"].as_str().unwrap().ends_with("e1_suppressed.py"))
        .flat_map(|w| w["waived"].as_array().unwrap().clone())
        .collect();
    assert_eq!(
        findings(&serde_json::json!({ "findings": waived })),
        [triple("index-not-concurrent", "e1_suppressed.py", 16)]
    );
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn revision_reading_data_is_traced_through_its_online_upgrade() {
    // Offline (`--sql`) it cannot run: `op.get_bind()` has no database to read from.
    let report = lint_report();
    assert_eq!(lint_findings_in("f1_reads_data.py"), [triple("lock-timeout-missing", "f1_reads_data.py", 16)]);
    let f1 = &report["migrations"][5];
    assert_eq!((f1["id"].as_str(), f1["status"].as_str()), (Some("f1"), Some("applied")));
    assert_eq!(f1["round_trip"]["status"], "passed");
    assert!(f1["trace_note"].is_null(), "{f1}");
    assert_eq!(round_trips(report), vec!["passed"; 7]);
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn statements_with_bound_parameters_and_the_projects_config_are_traced() {
    let hits = lint_findings_in("g1_bound_parameters.py");
    assert!(hits.contains(&triple("index-not-concurrent", "g1_bound_parameters.py", 19)), "{hits:?}");
    // Traced whole: an UPDATE whose parameters were not bound would fail when traced again.
    let g1 = &lint_report()["migrations"][6];
    assert_eq!(g1["id"], "g1");
    assert!(g1["trace_note"].is_null(), "{g1}");
}

/// The trace runs a revision's upgrade twice before the real one (captured, then traced), both
/// rolled back. A rollback does not move sequences back: without restoring them the trace and
/// the real upgrade got other ids than Alembic gives, and `b1` (which knows its row as id 2)
/// failed only under the check. A statement on a connection of the revision's own commits
/// whatever we do: the capture stops before it, or `c1`'s row would be there twice.
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn the_traces_rolled_back_runs_leave_nothing_behind() {
    let (output, report) = crate::support::check_json(&project("side_effects"), &["--round-trip", "none"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let notes: Vec<(&str, Option<&str>)> = report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), m["trace_note"].as_str()))
        .collect();
    assert_eq!(notes[..2], [("a1", None), ("b1", None)], "{notes:?}");
    let c1 = notes[2].1.unwrap_or_default();
    assert!(
        c1.starts_with("traced up to line 18 only: it runs statements on a database connection of its own"),
        "{c1}"
    );
}

/// The Alembic corpora cannot be applied here: their env.py imports the application's models
/// (`warehouse.db`, `ckan.model`), which the corpora do not include (and warehouse's also the
/// `alembic_postgresql_enum` plugin). The check cannot run (exit 2) and says so in one line at
/// the env.py import, with what to install, instead of a crash or a finding per revision.
#[test]
// One `ignore` for both needs: two would be a duplicate attribute where both are missing.
#[cfg_attr(
    not(all(mg_alembic, mg_corpora)),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once) and the shared migration corpora (MIGRATION_GUARD_CORPUS), then rebuild the tests"
)]
fn alembic_corpora_without_their_application_stop_at_env_py() {
    for (name, dir, line) in [("warehouse", "warehouse/migrations", 3), ("ckan", "ckan/migration", 7)] {
        let Some(corpus) = corpus(name) else { continue };
        let output = crate::support::check(&corpus.join(dir), &[]);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
        assert_eq!(errors.len(), 1, "{name}: {}", text(&output));
        assert!(errors[0].contains(&format!("/env.py:{line}: env.py failed while running revision")), "{}", errors[0]);
        assert!(errors[0].contains("ModuleNotFoundError: No module named"), "{}", errors[0]);
        assert!(errors[0].contains("--python-requirements"), "{}", errors[0]);
    }
}

/// A revision that reads standard input gets end of file at once (the driver talks over a
/// socket of its own), one that sleeps is stopped by `migration-timeout`, and neither hangs.
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn revisions_cannot_hang_the_check() {
    for (behaviour, expected) in [("stdin", "EOFError"), ("sleep", "did not finish within 2 s")] {
        let started = std::time::Instant::now();
        let output = crate::support::bin()
            .args([
                "check",
                project("hostile").to_str().unwrap(),
                "--no-lint",
                "--migration-timeout",
                "2",
                "--report-dir",
            ])
            .arg(tempfile::tempdir().unwrap().path())
            .env("MG_BEHAVIOUR", behaviour)
            .output()
            .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{behaviour}: {:?}", started.elapsed());
        assert_eq!(output.status.code(), Some(1), "{behaviour}: {}", text(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains(expected), "{behaviour}: {}", text(&output));
    }
}

/// The project's Python sees neither the database password in its command line nor the
/// runner's secrets in its environment.
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn the_projects_python_gets_no_secrets() {
    let probe = tempfile::NamedTempFile::new().unwrap();
    let output = crate::support::bin()
        .args(["check", project("hostile").to_str().unwrap(), "--no-lint"])
        .env("MG_BEHAVIOUR", "probe")
        .env("MG_PROBE", probe.path())
        .env("GITHUB_TOKEN", "ghs_secret")
        .env("ACTIONS_RUNTIME_TOKEN", "runtime_secret")
        .env("INPUT_SLACK_WEBHOOK", "https://hooks.example/secret")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let seen = std::fs::read_to_string(probe.path()).unwrap();
    let (cmdline, environment) = seen.split_once('\n').unwrap();
    assert!(!cmdline.contains("postgresql://") && !cmdline.contains("url="), "{cmdline}");
    for secret in ["GITHUB_TOKEN", "ACTIONS_RUNTIME_TOKEN", "INPUT_SLACK_WEBHOOK"] {
        assert!(!environment.lines().any(|l| l == secret), "{secret} reached the project:\n{environment}");
    }
    assert!(environment.lines().any(|l| l == "DATABASE_URL"), "the scratch database's URL is given");
}

/// An env.py that sets `lock_timeout` on the connection Alembic migrates through (as warehouse's
/// does) gets no `lock-timeout-missing`; the same revisions under the shared env.py do.
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn a_lock_timeout_set_by_env_py_counts() {
    let (_, report) = crate::support::check_json(&project("env_lock_timeout"), &[]);
    let rules: Vec<String> = findings(&report).into_iter().map(|(rule, _, _)| rule).collect();
    assert_eq!(rules, ["index-not-concurrent"], "{report:#}");
    assert!(
        lint_findings_in("b1_index_existing.py").iter().any(|(rule, _, _)| rule == "lock-timeout-missing"),
        "{:?}",
        lint_report()["findings"]
    );
}

/// An env.py that ignores the URL it is given migrates some other database and Alembic reports
/// success: the check stops (exit 2) at the first revision, saying that the scratch database
/// does not record it and how env.py must connect, instead of judging a database nothing ran on.
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn an_env_py_that_ignores_the_url_stops_the_check() {
    let output = crate::support::check(&project("ignores_url"), &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("a1_items.py: alembic upgrade a1 reported success, but alembic_version in the scratch database does not exist")
            && stderr.contains("DATABASE_URL"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{stderr}");
}

/// A project as `alembic init alembic` lays it out (alembic.ini at the root, the stock env.py,
/// `prepend_sys_path = .`), with an application package `app` whose models declare `note`
/// only when `with_note`, and one revision creating `customer` without it. env.py imports the
/// models, as autogenerate projects do: that works only when alembic.ini's settings apply.
fn alembic_init_project(with_note: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let init = std::process::Command::new("python3")
        .args(["-m", "alembic", "init", "alembic"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let env = dir.path().join("alembic/env.py");
    let stock = std::fs::read_to_string(&env).unwrap();
    assert!(stock.contains("target_metadata = None"), "{stock}");
    std::fs::write(
        &env,
        stock.replace("target_metadata = None", "from app.models import Base\ntarget_metadata = Base.metadata"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("app")).unwrap();
    std::fs::write(dir.path().join("app/__init__.py"), "").unwrap();
    let note = if with_note { "    note = sa.Column(sa.Text)\n" } else { "" };
    std::fs::write(
        dir.path().join("app/models.py"),
        format!(
            "import sqlalchemy as sa\nfrom sqlalchemy.orm import declarative_base\n\nBase = declarative_base()\n\n\n\
             class Customer(Base):\n    __tablename__ = \"customer\"\n    id = sa.Column(sa.Integer, primary_key=True)\n\
             {note}"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("alembic/versions/a1_customer.py"),
        "\"\"\"customer\n\nRevision ID: a1\nRevises:\n\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\n\
         revision = \"a1\"\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n\n\n\
         def upgrade():\n    op.create_table(\"customer\", sa.Column(\"id\", sa.Integer, primary_key=True))\n\n\n\
         def downgrade():\n    op.drop_table(\"customer\")\n",
    )
    .unwrap();
    dir
}

/// `check` run from `cwd` with `args` (no DIR unless given), report.json read back.
fn check_from(cwd: &Path, args: &[&str]) -> (std::process::Output, serde_json::Value) {
    let out = tempfile::tempdir().unwrap();
    let output = bin()
        .arg("check")
        .args(args)
        .args(["--report-dir", out.path().to_str().unwrap()])
        .args(NO_STAIRWAY)
        .current_dir(cwd)
        .output()
        .unwrap();
    let json = std::fs::read_to_string(out.path().join("report.json"))
        .unwrap_or_else(|_| panic!("no report.json\n{}", text(&output)));
    (output, serde_json::from_str(&json).unwrap())
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn an_alembic_init_project_is_checked_from_its_root_with_its_models_named_by_module() {
    let project = alembic_init_project(true);
    let (output, report) = check_from(project.path(), &["--models", "app.models:Base"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(report["chain"]["format"], "alembic");
    assert_eq!(statuses(&report), all(&["a1"], "applied"));
    assert_eq!(findings(&report), [triple("drift", "models.py", 0)], "{}", text(&output));
    let message = report["findings"][0]["message"].as_str().unwrap();
    assert!(message.contains("customer.note"), "{message}");
    assert_eq!(report["findings"][0]["file"], "app/models.py");

    // The near twin: models that match the chain are no drift.
    let matching = alembic_init_project(false);
    let (output, report) = check_from(matching.path(), &["--models", "app.models:Base"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(findings(&report).is_empty(), "{}", text(&output));
    assert_eq!(report["drift"].as_array().map(Vec::len), Some(0), "{}", text(&output));

    // A module that does not import stops the check, naming the setting.
    let output = bin()
        .args(["check", "--models", "app.nothing:Base"])
        .args(NO_STAIRWAY)
        .current_dir(matching.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("models app.nothing:Base"), "{}", text(&output));
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn the_environment_folder_of_an_alembic_init_project_runs_with_the_root_ini() {
    // env.py imports `app`, which only `prepend_sys_path = .` of the root's alembic.ini finds.
    let project = alembic_init_project(false);
    let (output, report) = check_from(project.path(), &["alembic"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(statuses(&report), all(&["a1"], "applied"));
    let (output, report) = check_from(project.path(), &["alembic/versions"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(statuses(&report), all(&["a1"], "applied"));

    // Without alembic.ini, the stock env.py (which configures logging from the ini) still runs
    // with the ini generated for it; only its own import of `app` is then the project's to fix.
    std::fs::remove_file(project.path().join("alembic.ini")).unwrap();
    let env = project.path().join("alembic/env.py");
    let text_of_env = std::fs::read_to_string(&env).unwrap();
    std::fs::write(
        &env,
        text_of_env.replace("from app.models import Base\ntarget_metadata = Base.metadata", "target_metadata = None"),
    )
    .unwrap();
    let (output, report) = check_from(project.path(), &["alembic"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(statuses(&report), all(&["a1"], "applied"));
}

#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn python_requirements_are_installed_before_the_check_or_stop_it() {
    let project = alembic_init_project(false);
    // Nothing to install (no network needed): pip runs and the check goes on.
    std::fs::write(project.path().join("requirements.txt"), "# the application's pins\n").unwrap();
    let (output, report) = check_from(project.path(), &["--python-requirements", "requirements.txt"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(statuses(&report), all(&["a1"], "applied"));

    // A requirement pip cannot install stops the check with pip's reason, before any migration.
    std::fs::write(project.path().join("broken.txt"), "./no-such-package\n").unwrap();
    let output =
        bin().args(["check", "--python-requirements", "broken.txt"]).current_dir(project.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("python-requirements broken.txt: pip failed"), "{}", text(&output));
    assert!(!stderr.contains("a1"), "{}", text(&output));
    let output =
        bin().args(["check", "--python-requirements", "missing.txt"]).current_dir(project.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("python-requirements missing.txt: no such file"),
        "{}",
        text(&output)
    );
}

/// Alembic runs as its own command would: a project module named like a standard one does not
/// shadow it (the project is on sys.path only as alembic.ini says), and a relative `--python`
/// is meant from where the check runs, not from the project's folder.
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn the_project_folder_does_not_shadow_python_and_a_relative_python_is_found() {
    let project = alembic_init_project(false);
    let root = project.path();
    std::fs::write(root.join("logging.py"), "raise RuntimeError('the project shadowed the standard logging')\n")
        .unwrap();
    let python = String::from_utf8(
        std::process::Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::create_dir_all(root.join("venv/bin")).unwrap();
    std::os::unix::fs::symlink(python.trim(), root.join("venv/bin/python")).unwrap();
    let (output, report) = check_from(&root.join("app"), &["../alembic", "--python", "../venv/bin/python"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(statuses(&report), all(&["a1"], "applied"));
}

/// `diff` applies an Alembic project through its own Alembic, as `check` does (it used to read
/// one as an empty schema).
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn diff_applies_an_alembic_project_through_alembic() {
    let project = alembic_init_project(false);
    let same = project.path().join("same.sql");
    std::fs::write(&same, "CREATE TABLE customer (id serial PRIMARY KEY);\n").unwrap();
    let output = bin().arg("diff").arg(&same).arg(project.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let other = project.path().join("other.sql");
    std::fs::write(&other, "CREATE TABLE customer (id serial PRIMARY KEY, note text);\n").unwrap();
    let output = bin().arg("diff").arg(&other).arg(project.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("customer.note"), "{}", text(&output));
}

/// An alembic.ini kept in a subfolder whose relative script_location is meant from the root,
/// where the project runs `alembic -c conf/alembic.ini`: Alembic resolves it from the working
/// directory, and so does the check.
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn a_relative_script_location_is_read_from_the_working_directory_as_alembic_does() {
    let project = alembic_init_project(false);
    let root = project.path();
    let ini = std::fs::read_to_string(root.join("alembic.ini")).unwrap();
    assert!(ini.contains("script_location = %(here)s/alembic"), "{ini}");
    std::fs::create_dir(root.join("conf")).unwrap();
    std::fs::write(
        root.join("conf/alembic.ini"),
        ini.replace("script_location = %(here)s/alembic", "script_location = alembic"),
    )
    .unwrap();
    std::fs::remove_file(root.join("alembic.ini")).unwrap();
    let (output, report) = check_from(root, &["conf"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(statuses(&report), all(&["a1"], "applied"));
}

/// A project with one versions folder per database dialect, whose env.py picks the folder at
/// run time (Alembic alone finds no revision in `versions/`): the PostgreSQL chain is read,
/// applied, traced and round-tripped; the SQLite one is not.
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn per_dialect_version_folders_run_the_postgresql_chain() {
    let (output, report) = crate::support::check_json(&project("per_dialect"), &[]);
    let migrations: Vec<(&str, &str)> = report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["id"].as_str().unwrap(), m["status"].as_str().unwrap()))
        .collect();
    assert_eq!(migrations, [("p1", "applied"), ("p2", "applied")], "{}", text(&output));
    assert_eq!(round_trips(&report), vec!["passed"; 2]);
    assert!(
        findings(&report).contains(&triple("index-not-concurrent", "p2_email_index.py", 12)),
        "the capture found the revision: {:?}",
        report["findings"]
    );
}
