//! The three PostgreSQL providers: ephemeral cleanup on every exit path, `--database-url`
//! (CREATEDB required, the given database untouched), and containers (skipped without Docker).

use crate::support::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn slow_chain() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_slow.sql"), "SELECT pg_sleep(60);\n").unwrap();
    dir
}

/// Starts a check on a migration that sleeps, waits until its cluster is up, sends `signal`, and
/// checks the exit code and that the cluster directory and server are gone.
fn interrupted_by(signal: nix::sys::signal::Signal, expected: i32) {
    let dir = slow_chain();
    let mut child = bin()
        .args(["check", "--verbose"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut cluster = None;
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        // "PostgreSQL 15.x (Ephemeral, /tmp/migration-guard-XXXX:5432/postgres)"
        if let Some(at) = line.find("migration-guard-") {
            let start = line[..at].rfind([' ', '(']).map_or(0, |i| i + 1);
            let end = line[at..].find(':').map_or(line.len(), |i| at + i);
            cluster = Some(std::path::PathBuf::from(&line[start..end]));
            break;
        }
        line.clear();
    }
    let cluster = cluster.expect("verbose output names the cluster directory");
    assert!(cluster.is_dir());
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not exit after {signal}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(expected));
    assert!(!cluster.exists(), "{} left behind", cluster.display());
}

#[test]
fn sigterm_stops_and_removes_the_cluster() {
    interrupted_by(nix::sys::signal::Signal::SIGTERM, 143);
}

#[test]
fn ctrl_c_stops_and_removes_the_cluster() {
    interrupted_by(nix::sys::signal::Signal::SIGINT, 130);
}

/// A server of our own, reached by URL over its socket as a user would pass it.
async fn url_server() -> (migration_guard::postgres::Server, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = migration_guard::postgres::Server::start(&Default::default()).await.unwrap();
    let socket = server.admin_options().get_socket().unwrap().display().to_string();
    let url = format!("postgres://postgres@localhost/postgres?host={socket}&port=5432");
    (server, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn database_url_uses_scratch_databases_and_leaves_the_target_alone() {
    use sqlx::{Connection, Row};
    let (server, url) = url_server().await;
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    // A server for one check: PostgreSQL's default, whose lock tables the lint trace walks.
    let connections: String = sqlx::query("SHOW max_connections").fetch_one(&mut conn).await.unwrap().get(0);
    assert_eq!(connections, "100");
    sqlx::query("CREATE TABLE precious (id int)").execute(&mut conn).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_t.sql"), "CREATE TABLE precious (id int);\nDROP TABLE precious;\n").unwrap();
    let path = dir.path().to_path_buf();
    let run_url = url.clone();
    let (output, report) =
        tokio::task::spawn_blocking(move || check_json(&path, &["--database-url", &run_url])).await.unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert_eq!(report["database"]["provider"], "url");
    let left: i64 = sqlx::query("SELECT count(*) FROM pg_database WHERE datname LIKE 'mg\\_%'")
        .fetch_one(&mut conn)
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "scratch databases are dropped");
    sqlx::query("SELECT * FROM precious").execute(&mut conn).await.expect("the given database is untouched");

    sqlx::query("CREATE ROLE app_user LOGIN").execute(&mut conn).await.unwrap();
    let limited = url.replace("postgres://postgres@", "postgres://app_user@");
    let path = dir.path().to_path_buf();
    let output = tokio::task::spawn_blocking(move || check(&path, &["--database-url", &limited])).await.unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ALTER ROLE app_user CREATEDB"), "{stderr}");

    // Not a superuser: no DDL log, the snapshots scan the catalogs and see the same changes.
    sqlx::query("ALTER ROLE app_user CREATEDB CREATEROLE").execute(&mut conn).await.unwrap();
    let chain = tempfile::tempdir().unwrap();
    for (name, sql) in [
        ("1_users.up.sql", "CREATE TABLE users (id int PRIMARY KEY);\n"),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        ("2_email.up.sql", "ALTER TABLE users ADD COLUMN email text;\nCOMMENT ON COLUMN users.email IS 'login';\n"),
        ("2_email.down.sql", "ALTER TABLE users DROP COLUMN email;\n"),
    ] {
        std::fs::write(chain.path().join(name), sql).unwrap();
    }
    let limited = url.replace("postgres://postgres@", "postgres://app_user@");
    let path = chain.path().to_path_buf();
    let (output, report) =
        tokio::task::spawn_blocking(move || check_json(&path, &["--database-url", &limited, "--scope", "all"]))
            .await
            .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let changes = report["migrations"][1]["changes"].to_string();
    assert!(changes.contains("users.email"), "{changes}");
    assert_eq!(report["migrations"][1]["round_trip"]["status"], "passed", "{report:#}");
    conn.close().await.ok();
    server.shutdown().await;
}

#[test]
fn container_without_docker_engine_is_a_clear_error() {
    if std::path::Path::new("/var/run/docker.sock").exists() || std::env::var_os("DOCKER_HOST").is_some() {
        eprintln!("SKIPPED: a Docker engine is configured; see container_provider_applies_a_chain");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("1_t.sql"), "SELECT 1;\n").unwrap();
    let output = check(dir.path(), &["--postgres-image", "postgres:16"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("needs a Docker engine"));
}

/// Needs a Docker engine; run with `cargo test -- --ignored` where one exists.
#[test]
#[ignore = "needs a Docker engine (none on the CI machines)"]
fn container_provider_applies_a_chain() {
    let (output, report) = check_json(&root().join("examples/shop/migrations"), &["--postgres-image", "postgres:16"]);
    // The sample's last migration fails the check by design; all five apply.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(report["summary"]["applied"], 5, "{}", text(&output));
    assert_eq!(report["database"]["provider"], "container");
    assert!(report["database"]["server_version"].as_str().unwrap().starts_with("16"));
}

/// The majors with server binaries in Debian's layout, oldest first.
fn installed_majors() -> Vec<u32> {
    let mut majors: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join("bin/initdb").is_file())
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    majors.sort();
    majors
}

/// The newest of [`installed_majors`]; .ci/run installs one.
fn newest_major() -> u32 {
    *installed_majors().last().expect("no PostgreSQL server binaries in /usr/lib/postgresql: .ci/run installs them")
}

/// A repository (it has `.git`) with a one-migration chain under `migrations/`.
fn repository() -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir(repo.path().join(".git")).unwrap();
    std::fs::create_dir(repo.path().join("migrations")).unwrap();
    std::fs::write(repo.path().join("migrations/1_t.sql"), "CREATE TABLE t (id int);\n").unwrap();
    repo
}

#[test]
fn postgres_version_picks_an_installed_major_or_lists_them() {
    let newest = newest_major();
    let repo = repository();
    let migrations = repo.path().join("migrations");
    let (output, report) = check_json(&migrations, &["--postgres-version", &newest.to_string()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let version = report["database"]["server_version"].as_str().unwrap();
    assert!(version.starts_with(&format!("{newest}.")), "{version}");
    assert!(report["database"].get("version_note").is_none(), "{report:#}");

    let output = check(&migrations, &["--postgres-version", "99"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr
            .starts_with("error: --postgres-version asks for PostgreSQL 99, which is not installed here (installed: "),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("{newest} (")), "the installed majors are listed: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let output = check(&migrations, &["--postgres-version", "latest"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--postgres-version: \"latest\" is not a PostgreSQL major version"), "{stderr}");
}

#[test]
fn a_declared_major_is_followed_where_installed_and_noted_where_not() {
    let newest = newest_major();
    let repo = repository();
    let migrations = repo.path().join("migrations");
    std::fs::write(repo.path().join("diesel-guard.toml"), format!("postgres_version = {newest}\n")).unwrap();
    let (output, report) = check_json(&migrations, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(report["database"]["server_version"].as_str().unwrap().starts_with(&format!("{newest}.")));
    assert!(report["database"].get("version_note").is_none(), "{report:#}");

    // Not installed: the check still runs (on the default major) and says so.
    std::fs::write(repo.path().join("diesel-guard.toml"), "postgres_version = 98\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = check(&migrations, &["--report-dir", out.path().to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap()).unwrap();
    let note = report["database"]["version_note"].as_str().unwrap_or_default();
    assert!(note.contains("diesel-guard.toml asks for PostgreSQL 98, which is not installed here"), "{report:#}");
    assert!(note.ends_with(" instead (set postgres-version to choose)"), "{note}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("warning: "), "{}", text(&output));
    let markdown = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(markdown.contains("asks for PostgreSQL 98"), "{markdown}");

    // The setting wins over the hint.
    let output = check(&migrations, &["--postgres-version", &newest.to_string()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("asks for"), "{}", text(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_version_with_a_given_server_is_a_note_not_a_stop() {
    let (server, url) = url_server().await;
    let repo = repository();
    let migrations = repo.path().join("migrations");
    let (output, report) = tokio::task::spawn_blocking(move || {
        check_json(&migrations, &["--database-url", &url, "--postgres-version", "97"])
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let note = report["database"]["version_note"].as_str().unwrap_or_default();
    assert!(note.contains("--postgres-version asks for PostgreSQL 97, but the server given is"), "{report:#}");
    server.shutdown().await;
}
