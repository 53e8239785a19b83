//! `migration-guard status`: a target database's bookkeeping table, as each tool writes it
//! (by the tool itself where it installs here, else rows as its source documents them),
//! compared with the chain, read only.

use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `status DIR --database-url URL --json` → (exit code, status).
fn status(dir: &Path, url: &str, format: &str) -> (Option<i32>, Value) {
    let output = bin().args(["status", "--json", "--format", format, "--database-url", url]).arg(dir).output().unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("{}", text(&output)));
    (output.status.code(), json)
}

fn ids(value: &Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// A database of the shared server, its URL, and a connection to write bookkeeping rows.
async fn target() -> (std::sync::Arc<SharedServer>, migration_guard::postgres::ScratchDatabase, String) {
    let server = shared_server();
    let database = server.create_database().await.unwrap();
    // Tools that read URLs as libpq does want a host before `?host=` names the socket.
    let url = database.url(None, "postgres", true).replacen("@/", "@localhost/", 1);
    (server, database, url)
}

async fn execute(url: &str, sql: &str) {
    let mut conn = migration_guard::bookkeeping::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut conn).await.unwrap();
}

#[tokio::test]
async fn golang_migrate_version_and_dirty_flag() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [
        ("1_a.up.sql", "CREATE TABLE a (id int);"),
        ("2_b.up.sql", "CREATE TABLE b (id int);"),
        ("3_c.up.sql", "CREATE TABLE c (id int);"),
    ] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let (server, database, url) = target().await;
    let (code, s) = status(dir.path(), &url, "golang-migrate");
    assert_eq!((code, s["table_exists"].as_bool()), (Some(0), Some(false)), "{s}");
    assert_eq!(ids(&s["pending"]), ["1", "2", "3"]);
    // As golang-migrate keeps it: one row, the version the database is at.
    execute(&url, "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL); INSERT INTO schema_migrations VALUES (2, false);").await;
    let (code, s) = status(dir.path(), &url, "golang-migrate");
    assert_eq!(code, Some(0), "{s}");
    assert_eq!((ids(&s["applied"]), ids(&s["pending"])), (vec!["1".to_string(), "2".into()], vec!["3".to_string()]));
    execute(&url, "UPDATE schema_migrations SET version = 3, dirty = true;").await;
    let (code, s) = status(dir.path(), &url, "golang-migrate");
    assert_eq!(code, Some(1), "{s}");
    assert!(s["dirty"].as_str().unwrap().starts_with("version 3 is dirty"), "{s}");
    execute(&url, "UPDATE schema_migrations SET version = 7, dirty = false;").await;
    let (code, s) = status(dir.path(), &url, "golang-migrate");
    assert_eq!((code, ids(&s["unknown"])), (Some(1), vec!["7".to_string()]), "{s}");
    server.drop_database(&database).await.unwrap();
}

#[tokio::test]
async fn goose_rows_replayed_and_alembic_heads_with_their_ancestors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [
        ("00001_a.sql", "-- +goose Up\nCREATE TABLE a (id int);\n"),
        ("00002_b.sql", "-- +goose Up\nCREATE TABLE b (id int);\n"),
    ] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let (server, database, url) = target().await;
    // goose appends a row per up and per down; 2 was applied, then rolled back.
    execute(&url, "CREATE TABLE goose_db_version (id serial PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp DEFAULT now());\
                   INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (1, true), (2, true), (2, false);").await;
    let (code, s) = status(dir.path(), &url, "goose");
    assert_eq!(code, Some(0), "{s}");
    assert_eq!((ids(&s["applied"]), ids(&s["pending"])), (vec!["00001".to_string()], vec!["00002".to_string()]));

    execute(&url, "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY); INSERT INTO alembic_version VALUES ('b2');").await;
    let (code, s) = status(&fixture("alembic/linear"), &url, "alembic");
    assert_eq!(code, Some(0), "{s}");
    assert_eq!((ids(&s["applied"]), ids(&s["pending"])), (vec!["a1".to_string(), "b2".into()], vec!["c3".to_string()]));
    server.drop_database(&database).await.unwrap();
}

#[tokio::test]
#[cfg_attr(
    not(mg_sqlx_cli),
    ignore = "needs sqlx-cli on PATH (cargo install sqlx-cli --no-default-features --features postgres,rustls), then rebuild the tests"
)]
async fn after_sqlx_cli_applies_a_chain_status_is_up_to_date_and_sees_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("20240101000000_a.sql"), "CREATE TABLE a (id int);\n").unwrap();
    std::fs::write(dir.path().join("20240102000000_b.sql"), "CREATE TABLE b (id int);\n").unwrap();
    let (server, database, url) = target().await;
    let applied = Command::new("sqlx")
        .args(["migrate", "run", "--source"])
        .arg(dir.path())
        .args(["--database-url", &url])
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", text(&applied));
    let (code, s) = status(dir.path(), &url, "sqlx");
    assert_eq!(code, Some(0), "{s}");
    assert_eq!(ids(&s["applied"]).len(), 2);
    assert!(ids(&s["pending"]).is_empty() && ids(&s["edited"]).is_empty(), "{s}");
    std::fs::write(dir.path().join("20240102000000_b.sql"), "CREATE TABLE b (id bigint);\n").unwrap();
    std::fs::write(dir.path().join("20240103000000_c.sql"), "CREATE TABLE c (id int);\n").unwrap();
    let (code, s) = status(dir.path(), &url, "sqlx");
    assert_eq!(code, Some(1), "{s}");
    assert_eq!(
        (ids(&s["edited"]), ids(&s["pending"])),
        (vec!["20240102000000".to_string()], vec!["20240103000000".to_string()])
    );
    server.drop_database(&database).await.unwrap();
}

#[tokio::test]
async fn flyway_history_rows_with_dotted_versions_and_a_failed_one() {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in [
        ("V1__a.sql", "CREATE TABLE a (id int);"),
        ("V1_1__b.sql", "CREATE TABLE b (id int);"),
        ("V2__c.sql", "CREATE TABLE c (id int);"),
    ] {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    let (server, database, url) = target().await;
    // As Flyway keeps it (the columns read here), `1_1` recorded as `1.1`.
    execute(&url, "CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL, type varchar(20) NOT NULL, success boolean NOT NULL);\
                   INSERT INTO flyway_schema_history VALUES (1, '1', 'a', 'SQL', true), (2, '1.1', 'b', 'SQL', true);").await;
    let (code, s) = status(dir.path(), &url, "flyway");
    assert_eq!(code, Some(0), "{s}");
    assert_eq!((ids(&s["applied"]), ids(&s["pending"])), (vec!["1".to_string(), "1_1".into()], vec!["2".to_string()]));
    // Flyway Teams' undo of 1.1 (its newest row) takes it back: pending again.
    execute(&url, "INSERT INTO flyway_schema_history VALUES (3, '1.1', 'b', 'UNDO_SQL', true);").await;
    let (code, s) = status(dir.path(), &url, "flyway");
    assert_eq!(code, Some(0), "{s}");
    assert_eq!((ids(&s["applied"]), ids(&s["pending"])), (vec!["1".to_string()], vec!["1_1".to_string(), "2".into()]));
    execute(&url, "INSERT INTO flyway_schema_history VALUES (4, '1.1', 'b', 'SQL', true);").await;
    execute(&url, "INSERT INTO flyway_schema_history VALUES (5, '2', 'c', 'SQL', false);").await;
    let (code, s) = status(dir.path(), &url, "flyway");
    assert_eq!(code, Some(1), "{s}");
    assert_eq!(ids(&s["applied"]), ["1", "1_1"], "{s}");
    assert!(s["dirty"].as_str().unwrap().starts_with("2 is recorded as failed"), "{s}");
    server.drop_database(&database).await.unwrap();
}
