//! Differential tests against the migration tools themselves, where they install from the
//! registries: a shared corpus applied by the real tool and by Migration Guard gives the same
//! schema (the tool's database read back and compared by `migration-guard diff`, which leaves
//! the bookkeeping tables out).

use crate::support::*;
use std::process::Command;

/// The sqlx corpora: their migrations folders, relative to the corpus folder.
const SQLX_CORPORA: &[(&str, &str)] = &[
    ("atuin", "crates/atuin-server-postgres/migrations"),
    ("quickwit", "quickwit/quickwit-metastore/migrations/postgresql"),
    ("svix", "server/svix-server/migrations"),
];

#[tokio::test]
// One `ignore` for both needs: two would be a duplicate attribute where both are missing.
#[cfg_attr(
    not(all(mg_sqlx_cli, mg_corpora)),
    ignore = "needs sqlx-cli on PATH (cargo install sqlx-cli --no-default-features --features postgres,rustls) and the shared migration corpora (MIGRATION_GUARD_CORPUS), then rebuild the tests"
)]
async fn sqlx_cli_and_the_check_build_the_same_schema() {
    let server = shared_server();
    let mut differences = Vec::new();
    for (name, path) in SQLX_CORPORA {
        let Some(corpus) = corpus(name) else { continue };
        let dir = corpus.join(path);
        let database = server.create_database().await.unwrap();
        // sqlx-cli 0.8 wants a host before `?host=` names the socket.
        let url = database.url(None, "postgres", true).replacen("@/", "@localhost/", 1);
        let applied = Command::new("sqlx")
            .args(["migrate", "run", "--source"])
            .arg(&dir)
            .args(["--database-url", &url])
            .output()
            .unwrap();
        assert!(applied.status.success(), "sqlx migrate run on {name}\n{}", text(&applied));
        let output = bin().arg("diff").arg(&dir).arg(&url).output().unwrap();
        match output.status.code() {
            Some(0) => {}
            Some(1) => differences.push(format!("{name}:\n{}", String::from_utf8_lossy(&output.stdout))),
            _ => panic!("diff on {name}\n{}", text(&output)),
        }
        server.drop_database(&database).await.unwrap();
    }
    assert!(differences.is_empty(), "schemas differ from sqlx-cli's:\n{}", differences.join("\n"));
}

/// A dbmate chain (no shared corpus uses dbmate) with what its runner treats specially: a block
/// outside a transaction, file-name order across version widths, an empty down block, enums,
/// functions and comments. dbmate's own `up` and Migration Guard must give the same schema, and
/// `status` reads dbmate's bookkeeping as up to date.
#[tokio::test]
#[cfg_attr(not(mg_dbmate), ignore = "needs dbmate on PATH (npm install -g dbmate), then rebuild the tests")]
async fn dbmate_and_the_check_build_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "20240101000000_users.sql",
            "-- migrate:up\nCREATE TYPE mood AS ENUM ('ok', 'sad');\nCREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, mood mood);\n\n-- migrate:down\nDROP TABLE users;\nDROP TYPE mood;\n",
        ),
        (
            "20240102000000_email_index.sql",
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY users_email ON users (email);\n\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY users_email;\n",
        ),
        (
            "20240103000000_touch.sql",
            "-- migrate:up\nCREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.email := lower(NEW.email);\n  RETURN NEW;\nEND;\n$$;\nCREATE TRIGGER users_touch BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION touch();\nCOMMENT ON TABLE users IS 'people';\n\n-- migrate:down\n",
        ),
        (
            "3_teams.sql",
            "-- migrate:up\nCREATE TABLE teams (id bigint PRIMARY KEY, owner bigint REFERENCES users);\n\n-- migrate:down\nDROP TABLE teams;\n",
        ),
    ];
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let server = shared_server();
    let database = server.create_database().await.unwrap();
    let url = database.url(None, "postgres", true).replacen("@/", "@localhost/", 1) + "&sslmode=disable";
    let applied = Command::new("dbmate")
        .args(["--no-dump-schema", "--migrations-dir"])
        .arg(dir.path())
        .args(["--url", &url, "up"])
        .output()
        .unwrap();
    assert!(applied.status.success(), "dbmate up\n{}", text(&applied));
    let output = bin().arg("diff").arg(dir.path()).arg(&url).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "schemas differ from dbmate's\n{}", text(&output));
    assert_up_to_date(dir.path(), &url, files.len());
    server.drop_database(&database).await.unwrap();
}

/// `status` reads the bookkeeping the tool wrote on `url` as `applied` migrations of `dir`, all
/// of them, with none pending or unknown.
fn assert_up_to_date(dir: &std::path::Path, url: &str, applied: usize) {
    let output = bin().args(["status", "--json", "--database-url", url]).arg(dir).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "status after the tool\n{}", text(&output));
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["applied"].as_array().map(Vec::len), Some(applied), "{status}");
    assert!(status["pending"].as_array().is_some_and(Vec::is_empty), "{status}");
    assert!(status["unknown"].as_array().is_some_and(Vec::is_empty), "{status}");
}

/// The Alembic test projects that Alembic itself applies: linear, branched, merged, labelled,
/// with empty upgrades, a lock_timeout in env.py, rows whose ids later revisions rely on, and
/// versions folders per dialect that env.py picks from.
const ALEMBIC_PROJECTS: &[&str] = &[
    "linear",
    "branch_point",
    "two_heads",
    "merge",
    "labels",
    "empty_upgrade",
    "roundtrip",
    "broken_downgrade",
    "env_lock_timeout",
    "lint",
    "side_effects",
    "per_dialect",
];

/// Alembic's own `upgrade heads` and Migration Guard give the same schema: `diff` (the chain
/// applied through the project's Alembic one revision at a time) finds none, and neither does
/// `check` with Alembic's database dumped as its models (each first upgrade captured and traced
/// in rolled-back runs before the real one, so those runs must leave nothing behind, sequences
/// included). Bookkeeping: the version table is written by Alembic itself in both.
#[tokio::test]
#[cfg_attr(
    not(mg_alembic),
    ignore = "needs python3 with alembic, sqlalchemy and psycopg2 (run .ci/run once, then rebuild the tests)"
)]
async fn alembic_and_the_check_build_the_same_schema() {
    let server = shared_server();
    let mut differences = Vec::new();
    for name in ALEMBIC_PROJECTS {
        let dir = fixture("alembic").join(name);
        let database = server.create_database().await.unwrap();
        let applied = Command::new("python3")
            .args(["-m", "alembic", "-c"])
            .arg(dir.join("alembic.ini"))
            .args(["upgrade", "heads"])
            .env("DATABASE_URL", database.url(None, "postgresql+psycopg2", true))
            .output()
            .unwrap();
        assert!(applied.status.success(), "alembic upgrade heads on {name}\n{}", text(&applied));
        // sqlx wants a host before `?host=` names the socket.
        let url = database.url(None, "postgres", true).replacen("@/", "@localhost/", 1);
        let output = bin().arg("diff").arg(&dir).arg(&url).output().unwrap();
        match output.status.code() {
            Some(0) => {}
            Some(1) => differences.push(format!("{name} (diff):\n{}", String::from_utf8_lossy(&output.stdout))),
            _ => panic!("diff on {name}\n{}", text(&output)),
        }
        let dump = tempfile::NamedTempFile::with_suffix(".sql").unwrap();
        let dumped = Command::new("pg_dump")
            .args(["--schema-only", "--no-owner", "--no-privileges", "--file"])
            .arg(dump.path())
            .arg(&url)
            .output()
            .unwrap();
        assert!(dumped.status.success(), "pg_dump of {name}\n{}", text(&dumped));
        let models = dump.path().to_str().unwrap();
        let (output, report) = check_json(&dir, &["--models", models, "--round-trip", "none"]);
        let migrations = report["migrations"].as_array().unwrap();
        assert!(migrations.iter().all(|m| m["status"] == "applied"), "check on {name}\n{}", text(&output));
        let drift: Vec<&serde_json::Value> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == "drift" || f["rule"] == "migration-failed")
            .collect();
        if !drift.is_empty() {
            differences.push(format!("{name} (check):\n{drift:#?}"));
        }
        server.drop_database(&database).await.unwrap();
    }
    assert!(differences.is_empty(), "schemas differ from Alembic's:\n{}", differences.join("\n"));
}

/// A diesel chain (the shared diesel corpus, lemmy, needs PostgreSQL 16) with what diesel
/// treats specially: its initial setup, versions ordered as text (`2020-12-7-...`, one digit
/// short, runs after 2018's, not before), `run_in_transaction = false`, a down diesel never
/// reads while migrating (it cannot be split). diesel_cli's own `migration run` and Migration
/// Guard give the same schema, and `status` reads diesel's bookkeeping as up to date.
#[tokio::test]
#[cfg_attr(
    not(mg_diesel_cli),
    ignore = "needs diesel_cli on PATH (cargo install diesel_cli --no-default-features --features postgres), then rebuild the tests"
)]
async fn diesel_cli_and_the_check_build_the_same_schema() {
    let dir = tempfile::tempdir().unwrap();
    let migrations = [
        (
            "00000000000000_diesel_initial_setup",
            "CREATE FUNCTION diesel_set_updated_at() RETURNS trigger AS $$\nBEGIN\n    NEW.updated_at := current_timestamp;\n    RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n",
            Some("DROP FUNCTION diesel_set_updated_at();\n"),
            None,
        ),
        (
            "2018-10-23-172530_users",
            "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, updated_at timestamptz);\n",
            Some("DROP TABLE users;\n"),
            None,
        ),
        (
            "2020-12-7-190800_roles",
            "CREATE SCHEMA auth;\nCREATE TABLE auth.roles (user_id bigint REFERENCES users, name text NOT NULL);\n",
            Some("DROP SCHEMA auth CASCADE;\n"),
            None,
        ),
        (
            "2021-01-01-000000_users_email",
            "CREATE INDEX CONCURRENTLY users_email ON users (email);\n",
            Some("DROP INDEX CONCURRENTLY users_email;\n"),
            Some("run_in_transaction = false\n"),
        ),
        (
            "2021-02-01-000000_notes",
            "CREATE TABLE notes (id bigint PRIMARY KEY, body text);\n",
            Some("DROP FUNCTION f() $$ unterminated;\n"),
            None,
        ),
    ];
    for (name, up, down, metadata) in migrations {
        let folder = dir.path().join(name);
        std::fs::create_dir(&folder).unwrap();
        std::fs::write(folder.join("up.sql"), up).unwrap();
        if let Some(down) = down {
            std::fs::write(folder.join("down.sql"), down).unwrap();
        }
        if let Some(metadata) = metadata {
            std::fs::write(folder.join("metadata.toml"), metadata).unwrap();
        }
    }
    let server = shared_server();
    let database = server.create_database().await.unwrap();
    let url = database.url(None, "postgres", true).replacen("@/", "@localhost/", 1);
    let applied = Command::new("diesel")
        .args(["migration", "run", "--migration-dir"])
        .arg(dir.path())
        .args(["--database-url", &url])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(applied.status.success(), "diesel migration run\n{}", text(&applied));
    let output = bin().arg("diff").arg(dir.path()).arg(&url).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "schemas differ from diesel's\n{}", text(&output));
    assert_up_to_date(dir.path(), &url, migrations.len());
    server.drop_database(&database).await.unwrap();
}
