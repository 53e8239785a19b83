//! `migration-guard apply`: a chain's pending migrations run on a target database and recorded
//! in the tool's own bookkeeping table, so that the tool itself (where it installs here) and
//! `status` see the target up to date; timeouts, retries, the deploy lock and dry runs.

use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// A database of the shared server and its URL (with a host before `?host=`, as libpq tools
/// want it).
async fn target() -> (std::sync::Arc<SharedServer>, migration_guard::postgres::ScratchDatabase, String) {
    let server = shared_server();
    let database = server.create_database().await.unwrap();
    let url = database.url(None, "postgres", true).replacen("@/", "@localhost/", 1);
    (server, database, url)
}

fn apply(dir: &Path, url: &str, args: &[&str]) -> Output {
    bin().args(["apply", "--database-url", url]).args(args).arg(dir).output().unwrap()
}

/// `status --json` of `dir` on `url`: (exit code, pending ids).
fn pending(dir: &Path, url: &str) -> (Option<i32>, Vec<String>) {
    let output = bin().args(["status", "--json", "--database-url", url]).arg(dir).output().unwrap();
    let status: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", text(&output)));
    let ids = status["pending"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    (output.status.code(), ids)
}

/// A sqlx chain: a migration in a transaction, one without (`-- no-transaction`), one more.
fn sqlx_chain() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [
        ("20240101000000_users.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"),
        (
            "20240102000000_users_email.sql",
            "-- no-transaction\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n",
        ),
        ("20240103000000_teams.sql", "CREATE TABLE teams (id bigint PRIMARY KEY);\n"),
    ] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    dir
}

async fn connect(url: &str) -> sqlx::PgConnection {
    migration_guard::bookkeeping::connect(url).await.unwrap()
}

async fn scalar(url: &str, sql: &str) -> Option<String> {
    let mut conn = connect(url).await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string())).fetch_optional(&mut conn).await.unwrap()
}

/// Every SQL format's `ok` fixture (transactional and non-transactional migrations, versions
/// out of numeric order) applied to an empty target: `status` reads it as up to date, and a
/// second apply finds nothing to do.
#[tokio::test]
async fn every_sql_format_is_applied_and_recorded() {
    let sqlx = sqlx_chain();
    for format in ["sqlx", "golang-migrate", "goose", "sql-migrate", "dbmate", "diesel"] {
        let dir = if format == "sqlx" { sqlx.path().to_path_buf() } else { fixture(&format!("{format}/ok")) };
        let (server, database, url) = target().await;
        let output = apply(&dir, &url, &[]);
        assert_eq!(output.status.code(), Some(0), "{format}\n{}", text(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("done: "), "{format}\n{}", text(&output));
        assert_eq!(pending(&dir, &url), (Some(0), Vec::new()), "{format}");
        let again = apply(&dir, &url, &[]);
        assert_eq!(again.status.code(), Some(0), "{format}\n{}", text(&again));
        assert!(String::from_utf8_lossy(&again.stdout).starts_with("up to date"), "{format}\n{}", text(&again));
        server.drop_database(&database).await.unwrap();
    }
}

/// A dry run says what would run and writes nothing, not even the bookkeeping table.
#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let dir = sqlx_chain();
    let (server, database, url) = target().await;
    let output = apply(dir.path(), &url, &["--dry-run"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("would apply "), "{}", text(&output));
    let tables = scalar(&url, "SELECT count(*)::text FROM pg_class WHERE relnamespace = 'public'::regnamespace").await;
    assert_eq!(tables.as_deref(), Some("0"));
    server.drop_database(&database).await.unwrap();
}

/// `--to` stops at a version; the rest stays pending.
#[tokio::test]
async fn apply_to_a_version_leaves_the_rest_pending() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [("1_a.up.sql", "CREATE TABLE a (id int);"), ("2_b.up.sql", "CREATE TABLE b (id int);")] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let (server, database, url) = target().await;
    let output = apply(dir.path(), &url, &["--to", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(pending(dir.path(), &url), (Some(0), vec!["2".to_string()]));
    let output = apply(dir.path(), &url, &["--to", "7"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--to 7: no such migration"), "{}", text(&output));
    server.drop_database(&database).await.unwrap();
}

/// A table another session holds locked: the migration waits `lock_timeout`, is tried again
/// with backoff, then fails cleanly: nothing of it applied, nothing recorded, nothing after it
/// run. Once the lock is gone, the same apply goes through. Meanwhile a second apply on the
/// same target refuses to start.
#[tokio::test]
async fn a_held_lock_is_retried_then_fails_cleanly_and_a_second_apply_refuses() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_t.up.sql"), "CREATE TABLE t (id int);").unwrap();
    std::fs::write(dir.path().join("2_t_x.up.sql"), "ALTER TABLE t ADD COLUMN x int;").unwrap();
    std::fs::write(dir.path().join("3_u.up.sql"), "CREATE TABLE u (id int);").unwrap();
    let (server, database, url) = target().await;
    let output = apply(dir.path(), &url, &["--to", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let mut holder = connect(&url).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE t IN ACCESS SHARE MODE").execute(&mut holder).await.unwrap();
    let blocked = {
        let (dir, url) = (dir.path().to_path_buf(), url.clone());
        std::thread::spawn(move || apply(&dir, &url, &["--lock-timeout", "200ms", "--retries", "2"]))
    };
    std::thread::sleep(Duration::from_millis(400));
    let second = apply(dir.path(), &url, &[]);
    assert_eq!(second.status.code(), Some(2), "{}", text(&second));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another apply holds"), "{}", text(&second));
    let output = blocked.join().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("2_t_x.up.sql:1: 2 failed after 3 attempt(s)") && stdout.contains("55P03"), "{stdout}");
    let column =
        scalar(&url, "SELECT attname::text FROM pg_attribute WHERE attrelid = 't'::regclass AND attname = 'x'");
    assert_eq!(column.await, None, "nothing of it applied");
    // Its transaction rolled back: golang-migrate's row is back at 1, not dirty.
    let row = scalar(&url, "SELECT version || ' ' || dirty FROM schema_migrations").await;
    assert_eq!(row.as_deref(), Some("1 false"));
    assert_eq!(pending(dir.path(), &url), (Some(0), vec!["2".to_string(), "3".to_string()]));
    sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
    let output = apply(dir.path(), &url, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(pending(dir.path(), &url), (Some(0), Vec::new()));
    server.drop_database(&database).await.unwrap();
}

/// A migration outside a transaction that fails part way leaves golang-migrate's row dirty, as
/// golang-migrate does: the target needs a person, and the next apply refuses to start.
#[tokio::test]
async fn a_dirty_target_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_a.up.sql"), "CREATE TABLE a (id int);").unwrap();
    let partial = "CREATE TABLE b (id int);\nCREATE INDEX CONCURRENTLY b_id ON b (id);\nSELECT 1/0;";
    std::fs::write(dir.path().join("2_b.up.sql"), partial).unwrap();
    let (server, database, url) = target().await;
    let output = apply(dir.path(), &url, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    // golang-migrate's own semantics: the failed version is recorded, dirty.
    let row = scalar(&url, "SELECT version || ' ' || dirty FROM schema_migrations").await;
    assert_eq!(row.as_deref(), Some("2 true"));
    let output = apply(dir.path(), &url, &[]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("needs a person before a deploy"), "{}", text(&output));
    server.drop_database(&database).await.unwrap();
}

/// After apply, sqlx-cli sees every migration installed with its checksum, and has nothing to run.
#[tokio::test]
#[cfg_attr(
    not(mg_sqlx_cli),
    ignore = "needs sqlx-cli on PATH (cargo install sqlx-cli --no-default-features --features postgres,rustls), then rebuild the tests"
)]
async fn after_apply_sqlx_cli_sees_the_target_up_to_date() {
    let chain = sqlx_chain();
    let dir = chain.path();
    let (server, database, url) = target().await;
    assert_eq!(apply(dir, &url, &[]).status.code(), Some(0));
    let info =
        Command::new("sqlx").args(["migrate", "info", "--source"]).arg(dir).args(["--database-url", &url]).output();
    let info = info.unwrap();
    let listing = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success() && !listing.contains("pending") && !listing.contains("checksum"), "{listing}");
    let run =
        Command::new("sqlx").args(["migrate", "run", "--source"]).arg(dir).args(["--database-url", &url]).output();
    assert!(run.unwrap().status.success());
    server.drop_database(&database).await.unwrap();
}

/// After apply, dbmate's status has nothing pending.
#[tokio::test]
#[cfg_attr(not(mg_dbmate), ignore = "needs dbmate on PATH (npm install -g dbmate), then rebuild the tests")]
async fn after_apply_dbmate_sees_the_target_up_to_date() {
    let dir = fixture("dbmate/ok");
    let (server, database, url) = target().await;
    let url = url + "&sslmode=disable";
    assert_eq!(apply(&dir, &url, &[]).status.code(), Some(0));
    let status = Command::new("dbmate")
        .args(["--no-dump-schema", "--migrations-dir"])
        .arg(&dir)
        .args(["--url", &url, "status", "--exit-code"])
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", text(&status));
    assert!(String::from_utf8_lossy(&status.stdout).contains("Pending: 0"), "{}", text(&status));
    server.drop_database(&database).await.unwrap();
}

/// After apply, diesel_cli has no pending migration.
#[tokio::test]
#[cfg_attr(
    not(mg_diesel_cli),
    ignore = "needs diesel_cli on PATH (cargo install diesel_cli --no-default-features --features postgres), then rebuild the tests"
)]
async fn after_apply_diesel_cli_sees_the_target_up_to_date() {
    let dir = fixture("diesel/ok");
    let (server, database, url) = target().await;
    assert_eq!(apply(&dir, &url, &[]).status.code(), Some(0));
    let pending = Command::new("diesel")
        .args(["migration", "pending", "--migration-dir"])
        .arg(&dir)
        .args(["--database-url", &url])
        .output()
        .unwrap();
    assert!(pending.status.success(), "{}", text(&pending));
    assert_eq!(String::from_utf8_lossy(&pending.stdout).trim(), "false", "{}", text(&pending));
    server.drop_database(&database).await.unwrap();
}

/// An Alembic chain is applied by the project's own Alembic, one revision at a time: Alembic's
/// `current` is at the head afterwards, and a second apply has nothing to do.
#[tokio::test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
async fn an_alembic_chain_is_applied_through_its_alembic() {
    let dir = fixture("alembic/linear");
    let (server, database, url) = target().await;
    let output = apply(&dir, &url, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(pending(&dir, &url), (Some(0), Vec::new()));
    let current = Command::new("python3")
        .args(["-m", "alembic", "-c"])
        .arg(dir.join("alembic.ini"))
        .arg("current")
        .env("DATABASE_URL", database.url(None, "postgresql+psycopg2", true))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&current.stdout).contains("(head)"), "{}", text(&current));
    let again = apply(&dir, &url, &[]);
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("up to date"), "{}", text(&again));
    server.drop_database(&database).await.unwrap();
}

/// An Alembic chain rolled back by its own Alembic: each revision's downgrade, newest first,
/// leaves `alembic_version` at the target revision and the schema as it was there; `apply`
/// then brings it to the head again. A revision whose downgrade() raises is refused before
/// anything runs.
#[tokio::test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
async fn an_alembic_chain_is_rolled_back_through_its_alembic() {
    let dir = fixture("alembic/linear");
    let (server, database, url) = target().await;
    let output = apply(&dir, &url, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let columns = "SELECT string_agg(attname, ',' ORDER BY attnum)::text FROM pg_attribute \
                   WHERE attrelid = 'users'::regclass AND attnum > 0 AND NOT attisdropped";
    assert_eq!(scalar(&url, columns).await.as_deref(), Some("id,email"));

    let rollback = |args: &[&str]| {
        bin().args(["rollback", "--database-url", &url, "--to", "a1"]).args(args).arg(&dir).output().unwrap()
    };
    let dry = rollback(&["--force", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert_eq!(String::from_utf8_lossy(&dry.stdout).lines().filter(|l| l.starts_with("would roll back")).count(), 2);
    let output = rollback(&["--force"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let out = String::from_utf8_lossy(&output.stdout);
    let order: Vec<&str> = out.lines().filter_map(|l| l.strip_prefix("rolled back ")).collect();
    assert!(order.len() == 2 && order[0].starts_with("c3 ") && order[1].starts_with("b2 "), "{out}");
    assert_eq!(scalar(&url, "SELECT version_num::text FROM alembic_version").await.as_deref(), Some("a1"));
    assert_eq!(scalar(&url, columns).await.as_deref(), Some("id"));
    assert_eq!(pending(&dir, &url), (Some(0), vec!["b2".to_string(), "c3".to_string()]));

    let again = apply(&dir, &url, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(scalar(&url, columns).await.as_deref(), Some("id,email"));
    server.drop_database(&database).await.unwrap();

    // A one-way revision: refused, forced or not, and nothing ran.
    let one_way = tempfile::tempdir().unwrap();
    let copied = Command::new("cp").arg("-r").arg(dir.join(".")).arg(one_way.path()).status().unwrap();
    assert!(copied.success());
    let c3 = one_way.path().join("migrations/versions/c3_index_email.py");
    let source = std::fs::read_to_string(&c3).unwrap();
    let (head, _) = source.split_once("def downgrade").unwrap();
    std::fs::write(&c3, format!("{head}def downgrade():\n    raise NotImplementedError(\"one way\")\n")).unwrap();
    let (server, database, url) = target().await;
    assert_eq!(apply(one_way.path(), &url, &[]).status.code(), Some(0));
    let refused =
        bin().args(["rollback", "--database-url", &url, "--to", "a1", "--force"]).arg(one_way.path()).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("c3"), "{}", text(&refused));
    assert_eq!(scalar(&url, "SELECT version_num::text FROM alembic_version").await.as_deref(), Some("c3"));
    server.drop_database(&database).await.unwrap();
}

/// A golang-migrate chain with downs.
fn reversible_chain() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [
        ("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY);"),
        ("1_users.down.sql", "DROP TABLE users;"),
        ("2_teams.up.sql", "CREATE TABLE teams (id bigint PRIMARY KEY, owner bigint REFERENCES users);"),
        ("2_teams.down.sql", "DROP TABLE teams;"),
        ("3_users_email.up.sql", "ALTER TABLE users ADD COLUMN email text;"),
        ("3_users_email.down.sql", "ALTER TABLE users DROP COLUMN email;"),
    ] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    dir
}

/// The pull request check's report of `dir`, as `--evidence` takes it.
fn evidence(dir: &Path) -> (tempfile::TempDir, std::path::PathBuf) {
    let out = tempfile::tempdir().unwrap();
    let output = crate::support::check(dir, &["--report-dir", out.path().to_str().unwrap(), "--no-lint"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report = out.path().join("report.json");
    (out, report)
}

/// `rollback --to 1` runs the downs of 3 and 2 (newest first) that the check's round trip
/// proved, and moves golang-migrate's row back to 1; applying again gives the same schema.
/// Without evidence it refuses, unless forced.
#[tokio::test]
async fn rollback_runs_the_proved_downs_newest_first() {
    let dir = reversible_chain();
    let (_out, report) = evidence(dir.path());
    let (server, database, url) = target().await;
    assert_eq!(apply(dir.path(), &url, &[]).status.code(), Some(0));
    let rollback = |args: &[&str]| {
        bin().args(["rollback", "--database-url", &url, "--to", "1"]).args(args).arg(dir.path()).output().unwrap()
    };
    let refused = rollback(&[]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no round trip proved the downs of 2, 3"),
        "{}",
        text(&refused)
    );
    let dry = rollback(&["--evidence", report.to_str().unwrap(), "--dry-run"]);
    assert_eq!(
        String::from_utf8_lossy(&dry.stdout).lines().collect::<Vec<_>>()[..2],
        [
            format!("would roll back 3 {}", dir.path().join("3_users_email.down.sql").display()),
            format!("would roll back 2 {}", dir.path().join("2_teams.down.sql").display()),
        ]
    );
    let output = rollback(&["--evidence", report.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.ends_with("done: 2 migration(s) rolled back and recorded in schema_migrations\n"), "{stdout}");
    assert_eq!(pending(dir.path(), &url), (Some(0), vec!["2".to_string(), "3".to_string()]));
    let row = scalar(&url, "SELECT version || ' ' || dirty FROM schema_migrations").await;
    assert_eq!(row.as_deref(), Some("1 false"));
    assert_eq!(scalar(&url, "SELECT (to_regclass('teams') IS NULL)::text").await.as_deref(), Some("true"));
    assert_eq!(apply(dir.path(), &url, &[]).status.code(), Some(0));
    assert_eq!(pending(dir.path(), &url), (Some(0), Vec::new()));
    // Forced without evidence, down to nothing applied after 1 again.
    let output = rollback(&["--force"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(pending(dir.path(), &url), (Some(0), vec!["2".to_string(), "3".to_string()]));
    server.drop_database(&database).await.unwrap();
}

/// A migration without a down cannot be rolled back, forced or not: nothing runs.
#[tokio::test]
async fn rollback_past_a_one_way_migration_is_refused() {
    let dir = reversible_chain();
    std::fs::remove_file(dir.path().join("2_teams.down.sql")).unwrap();
    let (server, database, url) = target().await;
    assert_eq!(apply(dir.path(), &url, &[]).status.code(), Some(0));
    let output =
        bin().args(["rollback", "--database-url", &url, "--to", "1", "--force"]).arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("2 has no down to run"), "{}", text(&output));
    assert_eq!(pending(dir.path(), &url), (Some(0), Vec::new()), "nothing rolled back");
    server.drop_database(&database).await.unwrap();
}

/// After a rollback, dbmate sees the rolled-back migration pending again, and its own `up`
/// applies it.
#[tokio::test]
#[cfg_attr(not(mg_dbmate), ignore = "needs dbmate on PATH (npm install -g dbmate), then rebuild the tests")]
async fn after_rollback_dbmate_sees_the_migration_pending() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [
        (
            "20240101000000_users.sql",
            "-- migrate:up\nCREATE TABLE users (id bigint);\n-- migrate:down\nDROP TABLE users;\n",
        ),
        (
            "20240102000000_teams.sql",
            "-- migrate:up\nCREATE TABLE teams (id bigint);\n-- migrate:down\nDROP TABLE teams;\n",
        ),
    ] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let (server, database, url) = target().await;
    let url = url + "&sslmode=disable";
    assert_eq!(apply(dir.path(), &url, &[]).status.code(), Some(0));
    let output = bin()
        .args(["rollback", "--database-url", &url, "--to", "20240101000000", "--force"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let dbmate = |command: &str| {
        Command::new("dbmate")
            .args(["--no-dump-schema", "--migrations-dir"])
            .arg(dir.path())
            .args(["--url", &url, command])
            .output()
            .unwrap()
    };
    let status = dbmate("status");
    assert!(String::from_utf8_lossy(&status.stdout).contains("Pending: 1"), "{}", text(&status));
    assert!(dbmate("up").status.success());
    assert_eq!(pending(dir.path(), &url), (Some(0), Vec::new()));
    server.drop_database(&database).await.unwrap();
}

/// An apply killed in the middle of a migration leaves it not applied and not recorded (its
/// transaction dies with the session): `status` shows it pending, and the next apply, once the
/// killed session is gone, runs it and the rest.
#[tokio::test]
async fn an_apply_killed_mid_migration_is_resumed_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("20240101000000_a.sql"), "CREATE TABLE a (id int);\n").unwrap();
    let slow = "CREATE TABLE b (id int);\nSELECT pg_sleep(3);\n";
    std::fs::write(dir.path().join("20240102000000_b.sql"), slow).unwrap();
    std::fs::write(dir.path().join("20240103000000_c.sql"), "CREATE TABLE c (id int);\n").unwrap();
    let (server, database, url) = target().await;
    let mut child = bin()
        .args(["apply", "--database-url", &url])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Until the slow migration is running.
    let mut waited = 0;
    while scalar(
        &url,
        "SELECT query FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND pid <> pg_backend_pid()",
    )
    .await
    .is_none()
    {
        assert!(waited < 100, "the slow migration never started");
        std::thread::sleep(Duration::from_millis(50));
        waited += 1;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        pending(dir.path(), &url),
        (Some(0), vec!["20240102000000".to_string(), "20240103000000".to_string()]),
        "the killed migration is not recorded"
    );
    // The killed session ends when its statement does; until then it holds the deploy lock.
    let mut tries = 0;
    let output = loop {
        let output = apply(dir.path(), &url, &[]);
        if output.status.code() != Some(2) || tries == 100 {
            break output;
        }
        std::thread::sleep(Duration::from_millis(100));
        tries += 1;
    };
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(pending(dir.path(), &url), (Some(0), Vec::new()));
    server.drop_database(&database).await.unwrap();
}

/// A target with the first of two golang-migrate migrations (`files`, written to a new
/// directory) applied and `rows` run on it: the directory, the server, the target and its URL.
async fn at_first_of(
    files: [(&str, &str); 2],
    rows: &str,
) -> (tempfile::TempDir, std::sync::Arc<SharedServer>, migration_guard::postgres::ScratchDatabase, String) {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let (server, database, url) = target().await;
    assert_eq!(apply(dir.path(), &url, &["--to", "1"]).status.code(), Some(0));
    sqlx::raw_sql(sqlx::AssertSqlSafe(rows.to_string())).execute(&mut connect(&url).await).await.unwrap();
    (dir, server, database, url)
}

/// `plan` reads the target (writing nothing): each pending statement with the rows and size of
/// the tables it touches, the NULLs a SET NOT NULL and the duplicates a unique index will meet
/// there. `apply --plan` refuses a target that changed since, and applies one that did not.
#[tokio::test]
async fn plan_reads_the_target_and_apply_holds_it_to_the_plan() {
    let tighten =
        "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;\nCREATE UNIQUE INDEX orders_code ON orders (code);\n";
    let rows = "INSERT INTO orders SELECT g, 'c' || (g % 50), CASE WHEN g % 100 = 0 THEN NULL ELSE 'n' END \
                FROM generate_series(1, 1000) g; ANALYZE orders";
    let (dir, server, database, url) = at_first_of(
        [
            ("1_orders.up.sql", "CREATE TABLE orders (id bigint PRIMARY KEY, code text, note text);"),
            ("2_tighten.up.sql", tighten),
        ],
        rows,
    )
    .await;
    let mut conn = connect(&url).await;
    let out = tempfile::tempdir().unwrap();
    let output = bin()
        .args(["plan", "--database-url", &url, "--output", out.path().to_str().unwrap()])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("plan.json")).unwrap()).unwrap();
    let statements = plan["pending"][0]["statements"].as_array().unwrap();
    assert_eq!(statements[0]["tables"][0]["rows"], 1000, "{plan:#}");
    assert_eq!(
        statements[0]["checks"][0],
        "10 row(s) of \"orders\" have note NULL: the statement fails on this target"
    );
    assert_eq!(
        statements[1]["checks"][0],
        "50 value(s) of (code) repeat in \"orders\": the unique key cannot be built on this target"
    );
    let markdown = std::fs::read_to_string(out.path().join("plan.md")).unwrap();
    assert!(markdown.contains("```sql\nALTER TABLE orders ALTER COLUMN note SET NOT NULL\n```"), "{markdown}");
    assert_eq!(pending(dir.path(), &url), (Some(0), vec!["2".to_string()]), "plan wrote nothing");
    let plan_file = out.path().join("plan.json");
    let with_plan = || apply(dir.path(), &url, &["--plan", plan_file.to_str().unwrap()]);
    sqlx::raw_sql("CREATE TABLE other (id int)").execute(&mut conn).await.unwrap();
    let refused = with_plan();
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("the target changed since the plan"),
        "{}",
        text(&refused)
    );
    sqlx::raw_sql("DROP TABLE other; UPDATE orders SET note = 'n' WHERE note IS NULL")
        .execute(&mut conn)
        .await
        .unwrap();
    // Rows are not the schema: the plan still holds, and its NULLs are gone.
    let output = with_plan();
    assert_eq!(output.status.code(), Some(1), "the duplicates remain: {}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("2_tighten.up.sql:2: 2 failed"), "{}", text(&output));
    server.drop_database(&database).await.unwrap();
}

/// A deploy command as a workflow step runs it: its step outputs, job summary and Slack
/// message say what it did (applied, failed at file:line, or could not start), and the webhook
/// never shows in what it prints.
#[tokio::test]
async fn in_actions_deploys_write_outputs_summary_and_slack() {
    use crate::fake_github::{Behaviour, FakeGitHub};
    let github = FakeGitHub::start(Behaviour::default());
    let webhook = format!("{}/slack/hook", github.url);
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("1_a.up.sql", "CREATE TABLE a (id int);\n"),
        ("2_b.up.sql", "CREATE TABLE b (id int);\n"),
        ("3_c.up.sql", "CREATE TABLE c (id int);\nSELECT 1/0;\n"),
    ];
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let (server, database, url) = target().await;
    let runner = tempfile::tempdir().unwrap();
    let step = |args: &[&str]| {
        let (output_file, summary_file) = (runner.path().join("output"), runner.path().join("summary"));
        let _ = (std::fs::remove_file(&output_file), std::fs::remove_file(&summary_file));
        let output = bin()
            .args(args)
            .args(["--database-url", &url])
            .arg(dir.path())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", "77")
            .env("GITHUB_OUTPUT", &output_file)
            .env("GITHUB_STEP_SUMMARY", &summary_file)
            .env("MIGRATION_GUARD_SLACK_WEBHOOK", &webhook)
            .env("MIGRATION_GUARD_RETRY_BASE_MS", "10")
            .output()
            .unwrap();
        assert!(!text(&output).contains(&webhook), "{}", text(&output));
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        (output, read(&output_file), read(&summary_file))
    };

    let (output, outputs, summary) = step(&["apply", "--to", "2"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    for line in ["command=apply", "status=pass", "migrations=1 2", "count=2", "failed=", "dry-run=false"] {
        assert!(outputs.lines().any(|l| l == line), "{line} in\n{outputs}");
    }
    assert!(summary.starts_with("## ✅ Migration Guard apply on `schema_migrations`"), "{summary}");
    assert!(summary.contains("applied 2 migrations"), "{summary}");

    let (output, outputs, summary) = step(&["apply"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    for line in ["status=fail", "migrations=", "failed=3"] {
        assert!(outputs.lines().any(|l| l == line), "{line} in\n{outputs}");
    }
    assert!(summary.contains("3 failed at "), "{summary}");
    assert!(summary.contains("3_c.up.sql:2"), "{summary}");

    let (output, outputs, _) = step(&["status"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    for line in ["command=status", "status=pass", "migrations=3", "current=2", "dry-run=true"] {
        assert!(outputs.lines().any(|l| l == line), "{line} in\n{outputs}");
    }

    // Could not start: the workflow is told so.
    let (output, outputs, summary) = step(&["apply", "--to", "9"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(outputs.lines().any(|l| l == "status=error"), "{outputs}");
    assert!(summary.contains("could not run") && summary.contains("--to 9"), "{summary}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("::error"), "{}", text(&output));

    let slack: Vec<String> = github
        .matching("POST", "/slack/hook")
        .iter()
        .map(|r| r.json["text"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(slack.len(), 3, "{slack:?}");
    assert!(
        slack[0].starts_with(":white_check_mark: Migration Guard apply on acme/shop (schema_migrations): applied 2"),
        "{slack:?}"
    );
    assert!(slack[0].ends_with("(<https://github.com/acme/shop/actions/runs/77|run>)"), "{slack:?}");
    assert!(slack[1].starts_with(":x: Migration Guard apply") && slack[1].contains("3 failed at"), "{slack:?}");
    assert!(slack[2].contains("status on acme/shop (schema_migrations): at 2, 1 pending"), "{slack:?}");
    server.drop_database(&database).await.unwrap();
}

/// A Flyway chain is applied and recorded in `flyway_schema_history` as Flyway writes it (the
/// rows Flyway's source documents: rank, version, description, `SQL`, the script under its
/// location, Flyway's CRC-32 checksum, the user, success), repeatables after the versioned
/// ones; `status` then finds nothing pending. A migration without a transaction that fails
/// leaves a failed row, which `status` reports as needing a person, as Flyway's `validate`
/// does. Undo files roll back as Flyway Teams' `undo` records them.
#[tokio::test]
async fn a_flyway_chain_is_recorded_as_flyway_records_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let files: [(&str, &[u8]); 4] = [
        ("V1__create_a.sql", b"CREATE TABLE a (id int);\n"),
        ("V1_1__add_b.sql", b"ALTER TABLE a ADD COLUMN b text;\r\n"),
        ("sub/V2__c.sql", b"CREATE TABLE c (id int);\n"),
        ("R__view.sql", b"CREATE OR REPLACE VIEW v AS SELECT id FROM a;\n"),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).unwrap();
    }
    let (server, database, url) = target().await;
    let output = apply(dir.path(), &url, &["--format", "flyway"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let rows = "SELECT string_agg(concat_ws('|', installed_rank, coalesce(version, '-'), description, type, script, \
                checksum, installed_by = current_user, execution_time >= 0, success), E'\\n' ORDER BY installed_rank) \
                FROM flyway_schema_history";
    // The checksums: zlib.crc32 of each file without its line breaks, as signed integers.
    assert_eq!(
        scalar(&url, rows).await.as_deref(),
        Some(
            "1|1|create a|SQL|V1__create_a.sql|-623083431|t|t|t\n\
             2|1.1|add b|SQL|V1_1__add_b.sql|-1156926998|t|t|t\n\
             3|2|c|SQL|sub/V2__c.sql|-2102380136|t|t|t\n\
             4|-|view|SQL|R__view.sql|-883864728|t|t|t"
        )
    );
    let status =
        bin().args(["status", "--json", "--format", "flyway", "--database-url", &url]).arg(dir.path()).output();
    let status: Value = serde_json::from_slice(&status.unwrap().stdout).unwrap();
    assert_eq!(status["pending"], serde_json::json!([]), "{status}");
    let again = apply(dir.path(), &url, &["--format", "flyway"]);
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("up to date"), "{}", text(&again));

    // Undo files (Flyway Teams) roll back newest first, each recorded as an UNDO_SQL row; the
    // repeatable stays as it ran; status has them pending again, and apply runs them again.
    std::fs::write(dir.path().join("U1_1__drop_b.sql"), "ALTER TABLE a DROP COLUMN b;\n").unwrap();
    std::fs::write(dir.path().join("sub/U2__drop_c.sql"), "DROP TABLE c;\n").unwrap();
    let rollback = bin()
        .args(["rollback", "--format", "flyway", "--database-url", &url, "--to", "1", "--force"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(rollback.status.code(), Some(0), "{}", text(&rollback));
    let undone = "SELECT string_agg(concat_ws('|', installed_rank, version, description, type, script, success), \
                  E'\\n' ORDER BY installed_rank) FROM flyway_schema_history WHERE installed_rank > 4";
    assert_eq!(
        scalar(&url, undone).await.as_deref(),
        Some("5|2|drop c|UNDO_SQL|sub/U2__drop_c.sql|t\n6|1.1|drop b|UNDO_SQL|U1_1__drop_b.sql|t")
    );
    assert_eq!(pending(dir.path(), &url), (Some(0), vec!["1_1".to_string(), "2".to_string()]));
    assert_eq!(scalar(&url, "SELECT count(*)::text FROM pg_class WHERE relname = 'c'").await.as_deref(), Some("0"));
    let reapplied = apply(dir.path(), &url, &["--format", "flyway"]);
    assert_eq!(reapplied.status.code(), Some(0), "{}", text(&reapplied));
    assert_eq!(pending(dir.path(), &url), (Some(0), Vec::new()));

    // Without a transaction, a failure keeps what ran and a failed row.
    std::fs::write(dir.path().join("V3__d.sql"), "CREATE TABLE d (id int);\nSELECT 1/0;\n").unwrap();
    std::fs::write(dir.path().join("V3__d.sql.conf"), "executeInTransaction=false\n").unwrap();
    let failed = apply(dir.path(), &url, &["--format", "flyway"]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    let last =
        "SELECT concat_ws('|', version, success) FROM flyway_schema_history ORDER BY installed_rank DESC LIMIT 1";
    assert_eq!(scalar(&url, last).await.as_deref(), Some("3|f"));
    let (code, _) = pending(dir.path(), &url);
    assert_eq!(code, Some(1), "a failed row needs a person");
    server.drop_database(&database).await.unwrap();
}

/// `plan` says which column type changes the target's values cannot take (never showing the
/// values): integers out of the new range, text that is not a number, strings longer than a
/// new varchar(n); a USING expression that calls a function is not run on the target.
#[tokio::test]
async fn plan_finds_values_a_column_type_change_cannot_convert() {
    let change = "ALTER TABLE items ALTER COLUMN qty TYPE integer;\n\
                  ALTER TABLE items ALTER COLUMN code TYPE integer USING code::integer;\n\
                  ALTER TABLE items ALTER COLUMN label TYPE varchar(20);\n\
                  ALTER TABLE items ALTER COLUMN code TYPE bigint USING abs(code::bigint);\n\
                  ALTER TABLE items ALTER COLUMN fine TYPE integer;\n";
    let (dir, server, database, url) = at_first_of(
        [
            (
                "1_items.up.sql",
                "CREATE TABLE items (id int PRIMARY KEY, qty bigint, code text, label varchar(40), fine bigint);",
            ),
            ("2_narrow.up.sql", change),
        ],
        "INSERT INTO items VALUES (1, 3000000000, '12', repeat('x', 35), 5), (2, 7, 'secret-value', 'short', 6)",
    )
    .await;
    let output = bin().args(["plan", "--json", "--database-url", &url]).arg(dir.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    let checks: Vec<Value> =
        plan["pending"][0]["statements"].as_array().unwrap().iter().map(|s| s["checks"].clone()).collect();
    assert_eq!(
        checks,
        [
            serde_json::json!([
                "values of \"items\".qty do not convert to int (SQLSTATE 22003): the statement fails on this target"
            ]),
            serde_json::json!([
                "values of \"items\".code do not convert to int (SQLSTATE 22P02): the statement fails on this target"
            ]),
            serde_json::json!([
                "1 value(s) of \"items\".label are longer than 20 characters: the statement fails on this target"
            ]),
            serde_json::json!([]),
            serde_json::json!([]),
        ],
        "{plan:#}"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains("secret-value"));
    server.drop_database(&database).await.unwrap();
}

/// `plan --drift` builds the schema the chain makes at the target's version on a temporary
/// PostgreSQL and says how the target differs from it: nothing on a target only the chain
/// migrated, then the index and the column someone added by hand.
#[tokio::test]
async fn plan_drift_names_what_was_changed_by_hand_on_the_target() {
    let dir = reversible_chain();
    let (server, database, url) = target().await;
    assert_eq!(apply(dir.path(), &url, &["--to", "2"]).status.code(), Some(0));
    let plan = |extra: &[&str]| {
        let output = bin().args(["plan", "--database-url", &url]).args(extra).arg(dir.path()).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert!(!plan(&[]).contains("drift"), "no drift without --drift");
    let clean = plan(&["--drift"]);
    assert!(clean.contains("drift: none"), "{clean}");
    let mut conn = connect(&url).await;
    sqlx::raw_sql("CREATE INDEX teams_owner ON teams (owner); ALTER TABLE users ADD COLUMN nickname text")
        .execute(&mut conn)
        .await
        .unwrap();
    let drifted = plan(&["--drift"]);
    let lines: Vec<&str> = drifted.lines().filter(|l| l.starts_with("drift: ")).collect();
    assert_eq!(lines.len(), 2, "{drifted}");
    assert!(lines.iter().any(|l| l.contains("teams_owner")), "{drifted}");
    assert!(lines.iter().any(|l| l.contains("nickname")), "{drifted}");
    server.drop_database(&database).await.unwrap();
}

/// `plan` on an Alembic chain lists each pending revision's statements from Alembic's offline
/// mode (its env.py given a URL that connects nowhere), without Alembic's own, and checks them
/// against the target as SQL migrations' statements are checked.
#[tokio::test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
async fn plan_lists_an_alembic_revision_s_offline_sql() {
    let dir = fixture("alembic/offline");
    let (server, database, url) = target().await;
    assert_eq!(apply(&dir, &url, &["--to", "a1"]).status.code(), Some(0));
    let mut conn = connect(&url).await;
    sqlx::raw_sql("INSERT INTO users VALUES (1, NULL), (2, 'a'), (3, 'a')").execute(&mut conn).await.unwrap();
    let output = bin().args(["plan", "--json", "--database-url", &url]).arg(&dir).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    let statements = plan["pending"][0]["statements"].as_array().unwrap();
    let sql: Vec<&str> = statements.iter().map(|s| s["sql"].as_str().unwrap().trim()).collect();
    assert_eq!(
        sql,
        ["ALTER TABLE users ALTER COLUMN email SET NOT NULL", "CREATE UNIQUE INDEX users_email ON users (email)"],
        "{plan:#}"
    );
    assert_eq!(statements[0]["line"], 14, "the line of upgrade()");
    assert_eq!(statements[0]["checks"][0], "1 row(s) of \"users\" have email NULL: the statement fails on this target");
    assert_eq!(
        statements[1]["checks"][0],
        "1 value(s) of (email) repeat in \"users\": the unique key cannot be built on this target"
    );
    assert_eq!(pending(&dir, &url), (Some(0), vec!["b2".to_string()]), "plan wrote nothing");
    server.drop_database(&database).await.unwrap();
}

/// The action with `command: apply` / `rollback` / `plan`: the container's command line is the
/// command alone, and the inputs fill its options (path, target, to, dry-run, force,
/// report-dir); a bad input is an error naming it.
#[tokio::test]
async fn the_action_deploys_with_its_inputs() {
    let dir = reversible_chain();
    let (server, database, url) = target().await;
    let runner = tempfile::tempdir().unwrap();
    let action = |command: &str, inputs: &[(&str, &str)]| {
        let mut run = bin();
        run.arg(command)
            .current_dir(runner.path())
            .env_remove("DATABASE_URL")
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_OUTPUT", runner.path().join("output"))
            .env("INPUT_PATH", dir.path())
            .env("INPUT_DATABASE_URL", &url)
            .env("INPUT_FORMAT", "")
            .env("INPUT_SLACK_WEBHOOK", "");
        for (key, value) in inputs {
            run.env(key, value);
        }
        run.output().unwrap()
    };
    let dry = action("apply", &[("INPUT_TO", "2"), ("INPUT_DRY_RUN", "true")]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    assert_eq!(pending(dir.path(), &url).1.len(), 3, "a dry run writes nothing");
    let applied = action("apply", &[("INPUT_TO", "2"), ("INPUT_DRY_RUN", "false")]);
    assert_eq!(applied.status.code(), Some(0), "{}", text(&applied));
    assert_eq!(pending(dir.path(), &url).1, ["3"]);
    let rolled = action("rollback", &[("INPUT_TO", "1"), ("INPUT_FORCE", "true")]);
    assert_eq!(rolled.status.code(), Some(0), "{}", text(&rolled));
    assert_eq!(pending(dir.path(), &url).1, ["2", "3"]);
    let planned = action("plan", &[("INPUT_REPORT_DIR", "plan-out")]);
    assert_eq!(planned.status.code(), Some(0), "{}", text(&planned));
    assert!(runner.path().join("plan-out/plan.json").is_file());
    let outputs = std::fs::read_to_string(runner.path().join("output")).unwrap();
    assert!(outputs.lines().any(|l| l == "migrations=2 3"), "{outputs}");

    let missing = action("rollback", &[]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("the action's to input"), "{}", text(&missing));
    let bad = action("apply", &[("INPUT_RETRIES", "lots")]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("the retries input"), "{}", text(&bad));
    server.drop_database(&database).await.unwrap();
}

/// `plan --evidence` puts what the pull request check found on each pending migration (its
/// lint trace's table rewrite here) beside the statements, in the text, JSON and plan.md.
#[tokio::test]
async fn plan_shows_the_pull_request_check_s_findings_on_pending_migrations() {
    let dir = crate::support::root().join("examples/shop/migrations");
    let report = tempfile::tempdir().unwrap();
    let checked = crate::support::check(&dir, &["--report-dir", report.path().to_str().unwrap()]);
    assert_eq!(checked.status.code(), Some(1), "the sample fails its check: {}", text(&checked));
    let (server, database, url) = target().await;
    assert_eq!(apply(&dir, &url, &["--to", "20240302101500"]).status.code(), Some(0));
    let out = tempfile::tempdir().unwrap();
    let evidence = report.path().join("report.json");
    let args = ["--evidence", evidence.to_str().unwrap(), "--output", out.path().to_str().unwrap()];
    let output = bin().args(["plan", "--database-url", &url]).args(args).arg(&dir).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("line 4: error type-change-rewrite: "),
        "{}",
        text(&output)
    );
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(out.path().join("plan.json")).unwrap()).unwrap();
    let rules: Vec<&str> =
        plan["pending"][0]["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert_eq!(rules, ["backward-incompatible", "type-change-rewrite"], "{plan:#}");
    let markdown = std::fs::read_to_string(out.path().join("plan.md")).unwrap();
    assert!(markdown.contains("- error `type-change-rewrite` line 4: "), "{markdown}");
    server.drop_database(&database).await.unwrap();
}
