//! The pull request check on real histories: a git repository whose base commit holds a corpus'
//! chain without its last migrations and whose head holds all of it, checked with
//! `--base-ref base`. The verdict, every error and warning concern only the migrations the
//! change adds; an edit to a merged migration and a migration slipped in before merged ones
//! still count; the report stays small whatever the history's length.

use crate::support::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The leading version of a migration file name (`V121__x.sql` → 121, `20240101_x` → 20240101).
fn version(name: &str) -> Option<u128> {
    let digits: String = name.trim_start_matches(['V', 'v']).chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The corpus folder's migration files grouped by version, in version order.
fn by_version(dir: &Path) -> Vec<Vec<PathBuf>> {
    let mut groups: BTreeMap<u128, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if let Some(v) = version(&entry.file_name().to_string_lossy()) {
            groups.entry(v).or_default().push(entry.path());
        }
    }
    groups.into_values().collect()
}

/// A repository `r` with `m/` holding the corpus folder: the base commit (tagged `base`) lacks
/// the files of `held_back` versions (indexes into [`by_version`]), the work tree has them all.
fn pull_request(source: &Path, held_back: &[usize]) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let m = repo.path().join("m");
    std::fs::create_dir(&m).unwrap();
    let groups = by_version(source);
    let held: Vec<&PathBuf> = held_back.iter().flat_map(|&i| &groups[i]).collect();
    for entry in std::fs::read_dir(source).unwrap().flatten() {
        if entry.path().is_file() && !held.contains(&&entry.path()) {
            std::fs::copy(entry.path(), m.join(entry.file_name())).unwrap();
        }
    }
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "base"]);
    git(repo.path(), &["tag", "base"]);
    for file in held {
        std::fs::copy(file, m.join(file.file_name().unwrap())).unwrap();
    }
    repo
}

/// Runs the check in `repo` and returns its output, report.json and the size of report.md.
fn check_pr(repo: &Path, args: &[&str]) -> (Option<i32>, Value, usize) {
    let out = repo.join("out");
    let output = bin()
        .current_dir(repo)
        .args(["check", "m", "--base-ref", "base", "--report-dir", "out"])
        .args(args)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"), "{}", text(&output));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("report.json")).unwrap_or_else(|_| panic!("{}", text(&output))),
    )
    .unwrap();
    let md = std::fs::metadata(out.join("report.md")).unwrap().len() as usize;
    (output.status.code(), report, md)
}

/// Errors and warnings of a report: (rule, migration).
fn loud(report: &Value) -> Vec<(String, String)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .map(|f| (f["rule"].as_str().unwrap().to_string(), f["migration"].as_str().unwrap_or("").to_string()))
        .collect()
}

/// Ids of the migrations the report judged.
fn changed(report: &Value) -> Vec<String> {
    report["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["scope"] == "changed")
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// The last 1, 2 and 3 migrations of a corpus as pull requests: only they are judged.
fn replay(corpus_name: &str, path: &str) {
    let Some(dir) = corpus(corpus_name) else { return };
    let source = dir.join(path);
    let n = by_version(&source).len();
    for k in 1..=3 {
        let repo = pull_request(&source, &(n - k..n).collect::<Vec<_>>());
        let (code, report, md) = check_pr(repo.path(), &[]);
        let judged = changed(&report);
        assert_eq!(judged.len(), k, "{corpus_name} k={k}: {judged:?}");
        assert_eq!(report["scope"]["merged"], report["summary"]["migrations"].as_u64().unwrap() - k as u64);
        for (rule, migration) in loud(&report) {
            assert!(judged.contains(&migration), "{corpus_name} k={k}: {rule} on merged {migration}");
        }
        assert_eq!(code == Some(0), report["status"] == "pass", "{corpus_name} k={k}");
        assert!(md < 30_000, "{corpus_name} k={k}: report.md is {md} bytes");
        eprintln!("{corpus_name} k={k}: exit {code:?}, {} loud findings, report.md {md} bytes", loud(&report).len());
    }
}

#[test]
fn svix_pull_requests() {
    replay("svix", "server/svix-server/migrations");
}

#[test]
fn ente_pull_requests() {
    replay("ente", "server/migrations");
}

#[test]
fn goalert_pull_requests() {
    replay("goalert", "migrate/migrations");
}

#[test]
fn cowprotocol_pull_requests() {
    replay("cowprotocol-services", "database/sql");
}

/// Editing a merged migration makes it changed and counts as `edited-migration`; a new
/// migration that sorts before merged ones counts as `out-of-order`.
#[test]
fn edits_and_out_of_order_migrations_count() {
    let Some(dir) = corpus("ente") else { return };
    let source = dir.join("server/migrations");
    let n = by_version(&source).len();

    // Head edits version 100's up, which is on the base.
    let repo = pull_request(&source, &[]);
    let edited = by_version(&source)[99].iter().find(|p| p.to_string_lossy().ends_with(".up.sql")).unwrap().clone();
    let target = repo.path().join("m").join(edited.file_name().unwrap());
    let text = std::fs::read_to_string(&target).unwrap();
    std::fs::write(&target, format!("{text}\nCREATE TABLE edited_later (id bigint);\n")).unwrap();
    let (code, report, _) = check_pr(repo.path(), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(changed(&report), ["100"]);
    let rules: Vec<(String, String)> = loud(&report);
    assert!(rules.contains(&("edited-migration".into(), "100".into())), "{rules:?}");
    assert!(rules.iter().all(|(_, m)| m == "100"), "{rules:?}");

    // Version n-3 is new but the base already has the three after it.
    let repo = pull_request(&source, &[n - 4]);
    let (code, report, _) = check_pr(repo.path(), &[]);
    assert_eq!(code, Some(1));
    let slipped = version(&by_version(&source)[n - 4][0].file_name().unwrap().to_string_lossy()).unwrap().to_string();
    assert_eq!(changed(&report), std::slice::from_ref(&slipped));
    assert!(loud(&report).contains(&("out-of-order".into(), slipped)), "{:?}", loud(&report));
}

/// A base that changes no migration (e.g. a PR that only touches application code): every
/// migration is replayed, none judged, and the check passes quickly.
#[test]
fn a_change_without_migrations_is_replayed_only() {
    let Some(dir) = corpus("goalert") else { return };
    let repo = pull_request(&dir.join("migrate/migrations"), &[]);
    let (code, report, md) = check_pr(repo.path(), &[]);
    assert_eq!(code, Some(0), "{:#}", report["findings"]);
    assert!(changed(&report).is_empty());
    assert_eq!(report["scope"]["merged"], 280);
    assert!(md < 5_000, "{md}");
}

/// An Alembic project as a pull request adding revision d1: only d1 is traced and
/// round-tripped; b1's broken downgrade and c1's one-way one are merged history.
#[test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
fn alembic_pull_request_judges_the_new_revision() {
    let repo = tempfile::tempdir().unwrap();
    let copy_dir = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    };
    let alembic = fixture("alembic");
    copy_dir(&alembic.join("env"), &repo.path().join("env"));
    let project = repo.path().join("roundtrip");
    copy_dir(&alembic.join("roundtrip"), &project);
    copy_dir(&alembic.join("roundtrip/versions"), &project.join("versions"));
    let added = project.join("versions/d1_drop_name.py");
    let held = std::fs::read(&added).unwrap();
    std::fs::remove_file(&added).unwrap();
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "base"]);
    git(repo.path(), &["tag", "base"]);
    std::fs::write(&added, held).unwrap();
    let output = bin()
        .current_dir(repo.path())
        .args(["check", "roundtrip", "--base-ref", "base", "--report-dir", "out"])
        .output()
        .unwrap();
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path().join("out/report.json")).unwrap_or_else(|_| {
            panic!("{}", text(&output));
        }))
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(changed(&report), ["d1"]);
    let at_15 = |rule: &str| (rule.to_string(), "d1_drop_name.py".to_string(), 15);
    assert_eq!(findings(&report), [at_15("destructive-change"), at_15("lock-timeout-missing")]);
    let d1 = &report["migrations"][3];
    assert_eq!((d1["id"].as_str(), d1["round_trip"]["status"].as_str()), (Some("d1"), Some("passed")));
    assert!(report["migrations"][1]["round_trip"].is_null(), "merged b1 is not round-tripped");
}

/// What one migration of the change creates is new in production, so a later migration of the
/// same change indexing or altering it is no risk; a table of the base is.
#[test]
fn objects_created_earlier_in_the_change_count_as_new() {
    let repo = tempfile::tempdir().unwrap();
    let m = repo.path().join("m");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("1_accounts.sql"), "CREATE TABLE accounts (id bigint PRIMARY KEY, email text);\n").unwrap();
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "base"]);
    git(repo.path(), &["tag", "base"]);
    std::fs::write(
        m.join("2_orders.sql"),
        "CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint, note text);\n",
    )
    .unwrap();
    std::fs::write(
        m.join("3_indexes.sql"),
        "SET LOCAL lock_timeout = '2s';\nCREATE INDEX orders_account ON orders (account_id);\nALTER TABLE orders DROP COLUMN note;\nCREATE INDEX accounts_email ON accounts (email);\n",
    )
    .unwrap();
    let (code, report, _) = check_pr(repo.path(), &[]);
    assert_eq!(code, Some(1));
    assert_eq!(findings(&report), [("index-not-concurrent".to_string(), "3_indexes.sql".to_string(), 4)]);
    // Judged on its own (no base), each migration's tables count as existing.
    let (_, alone) = check_json(&m, &["--scope", "all"]);
    let rules: Vec<String> = findings(&alone).into_iter().map(|(rule, _, line)| format!("{rule}:{line}")).collect();
    assert_eq!(
        rules,
        [
            "index-not-concurrent:2",
            "destructive-change:3",
            "index-not-concurrent:4",
            "statements-after-access-exclusive:4"
        ]
    );
}
