//! The merged prefix cache (`--prefix-cache DIR`): the first run saves the database after the
//! merged migrations, the next restores it instead of replaying them, and the report is the same
//! as without the cache; a changed prefix, a damaged archive or a forged sidecar never changes
//! the verdict.

use crate::support::*;
use serde_json::Value;
use std::path::Path;

/// A golang-migrate chain whose merged part leaves what a restore must keep: rows and a
/// sequence's position, an enum, a view, a function, a comment, grants to a declared role and
/// default privileges of the role migrations run as. The last migration (the change) needs
/// them all: it fails if any is missing. (On a shared server the declared role `app` has a
/// name of the run's own, which the SQL looks up.) Returned with an empty cache directory.
fn chain() -> (tempfile::TempDir, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "1_tables.up.sql",
            "CREATE TYPE mood AS ENUM ('ok', 'sad');\n\
             CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, mood mood);\n\
             CREATE TABLE orders (id bigserial PRIMARY KEY, user_id int REFERENCES users(id));\n\
             COMMENT ON TABLE users IS 'people';\n",
        ),
        ("1_tables.down.sql", "DROP TABLE orders;\nDROP TABLE users;\nDROP TYPE mood;\n"),
        (
            "2_rows.up.sql",
            "INSERT INTO users (name, mood) VALUES ('a', 'ok'), ('b', 'sad');\n\
             INSERT INTO orders (user_id) VALUES (1), (2), (2);\n",
        ),
        ("2_rows.down.sql", "DELETE FROM orders;\nDELETE FROM users;\n"),
        (
            "3_grants.up.sql",
            "CREATE VIEW sad_users AS SELECT id, name FROM users WHERE mood = 'sad';\n\
             CREATE FUNCTION order_count(u int) RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM orders WHERE user_id = u $$;\n\
             GRANT SELECT ON users, sad_users TO app;\n\
             ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO app;\n",
        ),
        (
            "3_grants.down.sql",
            "ALTER DEFAULT PRIVILEGES REVOKE SELECT ON TABLES FROM app;\n\
             REVOKE SELECT ON users, sad_users FROM app;\nDROP FUNCTION order_count(int);\nDROP VIEW sad_users;\n",
        ),
        (
            "4_change.up.sql",
            "CREATE TABLE audit (id int PRIMARY KEY DEFAULT nextval('orders_id_seq'), n bigint);\n\
             INSERT INTO audit (n) SELECT order_count(id) FROM users WHERE name = 'b';\n\
             DO $$ DECLARE app text := (SELECT rolname FROM pg_roles WHERE rolname = 'app' OR rolname LIKE 'mg\\_%\\_app' ORDER BY oid DESC LIMIT 1);\n\
             BEGIN\n\
               IF (SELECT n FROM audit) <> 2 OR (SELECT id FROM audit) < 4 THEN RAISE 'rows or sequence lost'; END IF;\n\
               IF obj_description('users'::regclass, 'pg_class') IS DISTINCT FROM 'people' THEN RAISE 'comment lost'; END IF;\n\
               IF NOT has_table_privilege(app, 'sad_users', 'SELECT') THEN RAISE 'grant lost'; END IF;\n\
               IF NOT has_table_privilege(app, 'audit', 'SELECT') THEN RAISE 'default privileges lost'; END IF;\n\
             END $$;\n\
             ALTER TABLE users ADD COLUMN email text;\n",
        ),
        ("4_change.down.sql", "ALTER TABLE users DROP COLUMN email;\nDROP TABLE audit;\n"),
    ];
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    (dir, tempfile::tempdir().unwrap())
}

/// The report without what differs between any two runs (times, the cache's own entry).
fn comparable(report: &Value) -> Value {
    fn strip(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, _)| !k.contains("duration") && *k != "prefix_cache")
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    strip(report)
}

/// Runs the check with the first three migrations merged, with the cache in `cache` if given.
fn run(dir: &Path, cache: Option<&Path>, extra: &[&str]) -> Value {
    let cache_arg = cache.map(|c| c.display().to_string());
    let mut args = vec!["--start-after", "3", "--role", "app"];
    if let Some(c) = &cache_arg {
        args.extend(["--prefix-cache", c.as_str()]);
    }
    args.extend_from_slice(extra);
    let (output, report) = check_json(dir, &args);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    report
}

fn archives(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn the_second_run_restores_the_prefix_and_reports_the_same() {
    let (dir, cache) = chain();
    let plain = run(dir.path(), None, &[]);
    assert!(plain.get("prefix_cache").is_none(), "no cache configured: {}", plain["prefix_cache"]);

    let first = run(dir.path(), Some(cache.path()), &[]);
    assert_eq!(first["prefix_cache"]["outcome"], "saved", "{}", first["prefix_cache"]);
    assert_eq!(first["prefix_cache"]["migrations"], 3);
    let key = first["prefix_cache"]["key"].as_str().unwrap().to_string();
    assert_eq!(
        archives(cache.path()),
        [format!("migration-guard-prefix-{key}.dump"), format!("migration-guard-prefix-{key}.json")]
    );

    let second = run(dir.path(), Some(cache.path()), &[]);
    assert_eq!(second["prefix_cache"]["outcome"], "restored", "{}", second["prefix_cache"]);
    assert_eq!(second["prefix_cache"]["key"], key.as_str());
    // The change ran on the restored database exactly as on the replayed one (its own checks
    // of rows, sequence, comment and grants passed), and was judged the same.
    assert_eq!(comparable(&second), comparable(&plain));
    assert_eq!(comparable(&first), comparable(&plain));
    assert_eq!(second["migrations"][3]["status"], "applied");
    assert_eq!(second["migrations"][3]["round_trip"]["status"], "passed", "{}", second["migrations"][3]);
}

#[test]
fn a_changed_prefix_is_replayed_and_replaces_the_old_archive() {
    let (dir, cache) = chain();
    let first = run(dir.path(), Some(cache.path()), &[]);
    let old = first["prefix_cache"]["key"].as_str().unwrap().to_string();
    // The merged part changes (a new base): its archive no longer stands for it.
    std::fs::write(dir.path().join("2_rows.up.sql"), "INSERT INTO users (name, mood) VALUES ('a', 'ok'), ('b', 'sad');\nINSERT INTO orders (user_id) VALUES (1), (2), (2);\nSELECT 1;\n").unwrap();
    let second = run(dir.path(), Some(cache.path()), &[]);
    assert_eq!(second["prefix_cache"]["outcome"], "saved", "{}", second["prefix_cache"]);
    let new = second["prefix_cache"]["key"].as_str().unwrap();
    assert_ne!(new, old);
    assert!(archives(cache.path()).iter().all(|name| name.contains(new)), "{:?}", archives(cache.path()));
    // Files that are not the cache's own stay.
    std::fs::write(cache.path().join("keep.txt"), "x").unwrap();
    std::fs::write(dir.path().join("2_rows.up.sql"), "INSERT INTO users (name, mood) VALUES ('a', 'ok'), ('b', 'sad');\nINSERT INTO orders (user_id) VALUES (1), (2), (2);\n").unwrap();
    run(dir.path(), Some(cache.path()), &[]);
    assert!(cache.path().join("keep.txt").is_file());
}

#[test]
fn a_damaged_archive_or_forged_sidecar_is_replayed_instead() {
    let (dir, cache) = chain();
    let plain = run(dir.path(), None, &[]);
    let first = run(dir.path(), Some(cache.path()), &[]);
    let key = first["prefix_cache"]["key"].as_str().unwrap().to_string();
    let archive = cache.path().join(format!("migration-guard-prefix-{key}.dump"));
    let sidecar = cache.path().join(format!("migration-guard-prefix-{key}.json"));

    let good = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &good[..good.len() / 2]).unwrap();
    let damaged = run(dir.path(), Some(cache.path()), &[]);
    assert_eq!(damaged["prefix_cache"]["outcome"], "unused", "{}", damaged["prefix_cache"]);
    let note = damaged["prefix_cache"]["note"].as_str().unwrap();
    assert!(note.starts_with("restoring the archive failed (pg_restore failed: "), "{note}");
    assert_eq!(comparable(&damaged), comparable(&plain));

    // Only role names this tool makes are put back into the grants.
    std::fs::write(&archive, &good).unwrap();
    std::fs::write(&sidecar, r#"{"role":"postgres","role_prefix":null}"#).unwrap();
    let forged = run(dir.path(), Some(cache.path()), &[]);
    assert_eq!(forged["prefix_cache"]["outcome"], "unused", "{}", forged["prefix_cache"]);
    assert!(forged["prefix_cache"]["note"].as_str().unwrap().contains("not a sidecar this tool wrote"));
    assert_eq!(comparable(&forged), comparable(&plain));
}

#[test]
fn nothing_to_cache_says_why() {
    let (dir, cache) = chain();
    let c = cache.path().display().to_string();
    let (output, report) =
        check_json(dir.path(), &["--scope", "all", "--role", "app", "--fail-on", "never", "--prefix-cache", &c]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(report["prefix_cache"]["outcome"], "unused");
    assert!(report["prefix_cache"]["note"].as_str().unwrap().starts_with("no merged migration leads the chain"));
    assert!(archives(cache.path()).is_empty());
    // Settings of the role (or database) live outside the database's objects: not saved.
    let rows = std::fs::read_to_string(dir.path().join("2_rows.up.sql")).unwrap();
    std::fs::write(dir.path().join("2_rows.up.sql"), format!("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = ''8MB''', current_database()); END $$;\n{rows}"))
        .unwrap();
    let (_, report) = check_json(dir.path(), &["--start-after", "3", "--role", "app", "--prefix-cache", &c]);
    assert_eq!(report["prefix_cache"]["outcome"], "unused");
    let note = report["prefix_cache"]["note"].as_str().unwrap();
    assert!(note.contains("ALTER DATABASE / ALTER ROLE ... SET"), "{note}");
    assert!(archives(cache.path()).is_empty());
    // A merged migration that fails leaves nothing to save.
    std::fs::write(dir.path().join("2_rows.up.sql"), "INSERT INTO nowhere VALUES (1);\n").unwrap();
    let (_, report) = check_json(dir.path(), &["--start-after", "3", "--role", "app", "--prefix-cache", &c]);
    assert_eq!(report["prefix_cache"]["outcome"], "unused");
    assert!(report["prefix_cache"]["note"].as_str().unwrap().contains("a merged migration failed"));
    assert!(archives(cache.path()).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_server_gets_this_runs_role_names() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = migration_guard::postgres::Server::start(&Default::default()).await.unwrap();
    let socket = server.admin_options().get_socket().unwrap().display().to_string();
    let url = format!("postgres://postgres@localhost/postgres?host={socket}&port=5432");
    let (dir, cache) = chain();
    let (path, cache_path) = (dir.path().to_path_buf(), cache.path().to_path_buf());
    let reports = tokio::task::spawn_blocking(move || {
        let first = run(&path, Some(&cache_path), &["--database-url", &url]);
        let second = run(&path, Some(&cache_path), &["--database-url", &url]);
        (first, second)
    })
    .await
    .unwrap();
    assert_eq!(reports.0["prefix_cache"]["outcome"], "saved", "{}", reports.0["prefix_cache"]);
    // Each run's declared role has a name of its own on a shared server: the restored grants
    // name this run's (the change checks them).
    assert_eq!(reports.1["prefix_cache"]["outcome"], "restored", "{}", reports.1["prefix_cache"]);
    assert_eq!(comparable(&reports.1), comparable(&reports.0));
    server.shutdown().await;
}

#[test]
fn a_rebuild_after_a_failed_round_trip_starts_from_the_archive() {
    let (dir, cache) = chain();
    // Its down leaves the table, so the up fails when run again: the stairway rebuilds the
    // database up to it (from the archive when there is one) before going on.
    std::fs::write(dir.path().join("5_reup.up.sql"), "CREATE TABLE t5 (id int);\n").unwrap();
    std::fs::write(dir.path().join("5_reup.down.sql"), "SELECT 1;\n").unwrap();
    std::fs::write(
        dir.path().join("6_after.up.sql"),
        "DO $$ BEGIN IF (SELECT count(*) FROM users) <> 2 THEN RAISE 'rebuilt wrong'; END IF; END $$;\nCREATE TABLE t6 (id int REFERENCES audit(id));\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("6_after.down.sql"), "DROP TABLE t6;\n").unwrap();
    let c = cache.path().display().to_string();
    let args = |cached: bool| {
        let mut a = vec!["--start-after", "3", "--role", "app", "--fail-on", "never"];
        if cached {
            a.extend(["--prefix-cache", c.as_str()]);
        }
        a
    };
    let (_, plain) = check_json(dir.path(), &args(false));
    assert_eq!(plain["migrations"][4]["round_trip"]["status"], "irreversible", "{}", plain["migrations"][4]);
    assert_eq!(plain["migrations"][5]["status"], "applied", "{}", plain["migrations"][5]);
    let (_, first) = check_json(dir.path(), &args(true));
    let (_, second) = check_json(dir.path(), &args(true));
    assert_eq!(first["prefix_cache"]["outcome"], "saved");
    assert_eq!(second["prefix_cache"]["outcome"], "restored");
    assert_eq!(comparable(&first), comparable(&plain));
    assert_eq!(comparable(&second), comparable(&plain));
}
