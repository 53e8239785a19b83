//! Pull request content is hostile: migrations that try to leave the scratch database, run
//! programs or read files on the server, change roles or settings of a shared server, or hide in
//! odd files. Each attack is run through the real binary against a real server, and what must
//! not change is checked afterwards.

use crate::support::*;
use serde_json::Value;
use sqlx::{ConnectOptions, Connection, Executor, Row};
use std::path::Path;

/// A server of the test's own, given to the binary by URL as its superuser: the usual CI set-up
/// (a `services: postgres` container).
struct Target {
    server: migration_guard::postgres::Server,
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl Target {
    fn start() -> Target {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let server = runtime.block_on(migration_guard::postgres::Server::start(&Default::default())).unwrap();
        let socket = server.admin_options().get_socket().unwrap().display().to_string();
        let url = format!("postgres://postgres@localhost/postgres?host={socket}&port=5432");
        let target = Target { server, url, runtime };
        target.sql("CREATE DATABASE sentinel");
        let sentinel = target.server.admin_options().clone().database("sentinel");
        target.runtime.block_on(async {
            let mut conn = sentinel.connect().await.unwrap();
            conn.execute("CREATE TABLE precious (id int); INSERT INTO precious SELECT generate_series(1, 100);")
                .await
                .unwrap();
            conn.close().await.ok();
        });
        target
    }

    fn sql(&self, sql: &str) {
        self.runtime.block_on(async {
            let mut conn = self.server.admin_options().connect().await.unwrap();
            conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))).await.unwrap();
            conn.close().await.ok();
        });
    }

    /// What no check may change: databases, roles and their settings, server settings changed
    /// from their defaults, and the sentinel's rows.
    fn state(&self) -> String {
        self.runtime.block_on(async {
            let mut conn = self.server.admin_options().connect().await.unwrap();
            let row = sqlx::query(
                "SELECT (SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database), \
                        (SELECT string_agg(rolname || rolsuper::text || rolcreaterole::text, ',' ORDER BY rolname) FROM pg_roles), \
                        (SELECT coalesce(string_agg(array_to_string(setconfig, ';'), ',' ORDER BY setrole), '') FROM pg_db_role_setting), \
                        (SELECT coalesce(string_agg(name || '=' || setting, ',' ORDER BY name), '') FROM pg_file_settings WHERE sourcefile LIKE '%auto.conf')",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            let parts: Vec<String> = (0..4).map(|i| row.get::<Option<String>, _>(i).unwrap_or_default()).collect();
            conn.close().await.ok();
            let sentinel = self.server.admin_options().clone().database("sentinel");
            let rows: i64 = match sentinel.connect().await {
                Ok(mut c) => sqlx::query_scalar("SELECT sum(id)::int8 FROM precious").fetch_one(&mut c).await.unwrap_or(-1),
                Err(_) => -2,
            };
            format!("{}\nrows {rows}", parts.join("\n"))
        })
    }
}

fn chain(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn rules(report: &Value) -> Vec<String> {
    findings(report).into_iter().map(|(rule, _, _)| rule).collect()
}

/// With `--database-url`, nothing outside the scratch database changes, whatever a migration
/// tries: statically (refused before it runs) or dynamically (the role it runs as may not).
#[test]
fn a_shared_server_is_left_as_it_was() {
    let target = Target::start();
    let before = target.state();
    let attacks = [
        ("-- no-transaction\nDROP DATABASE sentinel WITH (FORCE);\n", "cluster-wide-statement"),
        ("CREATE ROLE evil SUPERUSER LOGIN PASSWORD 'x';\n", "cluster-wide-statement"),
        ("ALTER ROLE postgres SET search_path = evil;\n", "cluster-wide-statement"),
        ("-- no-transaction\nALTER SYSTEM SET work_mem = '1MB';\n", "cluster-wide-statement"),
        ("ALTER DATABASE postgres SET work_mem = '1MB';\n", "cluster-wide-statement"),
        ("DO $$ BEGIN EXECUTE 'CREATE ROLE evil2 SUPERUSER'; END $$;\n", "migration-failed"),
        ("DO $$ BEGIN EXECUTE 'ALTER ROLE postgres SET work_mem = ''1MB'''; END $$;\n", "migration-failed"),
        ("CREATE TABLE precious (id int);\nDO $$ BEGIN EXECUTE 'DROP TABLE precious'; END $$;\n", ""),
        ("GRANT pg_read_server_files TO CURRENT_USER;\n", "cluster-wide-statement"),
    ];
    for (sql, expected) in attacks {
        let dir = chain(&[("1_attack.sql", sql)]);
        let (output, report) = check_json(dir.path(), &["--database-url", &target.url]);
        let code = output.status.code();
        if expected.is_empty() {
            // Runs inside the scratch database, where it may.
            assert_eq!(code, Some(0), "{sql}\n{}", text(&output));
        } else {
            assert_eq!(code, Some(1), "{sql}\n{}", text(&output));
            assert_eq!(rules(&report), [expected], "{sql}\n{:#}", report["findings"]);
        }
        assert_eq!(target.state(), before, "after {sql}");
    }
}

/// A migration refused as cluster-wide points at its file and line and says what to do.
#[test]
fn cluster_wide_statements_are_findings_with_file_and_line() {
    let dir =
        chain(&[("1_ok.sql", "CREATE TABLE t (id int);\n"), ("2_role.sql", "SELECT 1;\n\nCREATE ROLE app_reader;\n")]);
    let (output, report) = check_json(dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(findings(&report), [("cluster-wide-statement".to_string(), "2_role.sql".to_string(), 3)]);
    assert!(report["findings"][0]["help"].as_str().unwrap().contains("`roles`"));
}

/// Roles a chain needs are declared: created before the chain on the check's own server, given
/// to the migrations, and the statements that create them are skipped.
#[test]
fn declared_roles_let_a_chain_grant_to_them() {
    let dir = chain(&[
        ("1_table.sql", "CREATE TABLE t (id int);\n"),
        (
            "2_roles.sql",
            "CREATE ROLE app_reader;\nGRANT SELECT ON t TO app_reader;\nGRANT CREATE ON SCHEMA public TO app_reader;\nALTER TABLE t OWNER TO app_reader;\n",
        ),
    ]);
    let (output, report) = check_json(dir.path(), &["--role", "app_reader"]);
    assert_eq!(output.status.code(), Some(0), "{}\n{:#}", text(&output), report["findings"]);
    // On a shared server every run gets roles of its own, gone afterwards; two at once do not meet.
    let target = Target::start();
    let before = target.state();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let (path, url) = (dir.path().to_path_buf(), target.url.clone());
            std::thread::spawn(move || check(&path, &["--role", "app_reader", "--database-url", &url]))
        })
        .collect();
    for run in runs {
        let output = run.join().unwrap();
        assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    }
    assert_eq!(target.state(), before);
    assert!(!before.contains("app_reader"));
}

/// On the embedded cluster migrations do not run as a superuser: no commands, no server files,
/// even through dynamic SQL.
#[test]
fn migrations_cannot_run_programs_or_read_server_files() {
    let marker = std::env::temp_dir().join(format!("mg-pwned-{}", std::process::id()));
    let touch = format!("touch {}", marker.display());
    let attacks = [
        (format!("COPY (SELECT 1) TO PROGRAM '{touch}';\n"), "cluster-wide-statement"),
        (format!("DO $$ BEGIN EXECUTE 'COPY (SELECT 1) TO PROGRAM ''{touch}'''; END $$;\n"), "migration-failed"),
        ("DO $$ BEGIN RAISE EXCEPTION '%', pg_read_file('/etc/passwd'); END $$;\n".to_string(), "migration-failed"),
        ("CREATE TABLE leak AS SELECT pg_ls_dir('.') AS f;\n".to_string(), "migration-failed"),
        ("CREATE EXTENSION file_fdw;\n".to_string(), "migration-failed"),
        ("CREATE FUNCTION sh() RETURNS void LANGUAGE c AS '/bin/sh', 'main';\n".to_string(), "migration-failed"),
    ];
    for (sql, expected) in attacks {
        let dir = chain(&[("1_attack.sql", &sql)]);
        let (output, report) = check_json(dir.path(), &[]);
        assert_eq!(output.status.code(), Some(1), "{sql}\n{}", text(&output));
        assert_eq!(rules(&report), [expected], "{sql}\n{:#}", report["findings"]);
        assert!(!marker.exists(), "{sql} ran a command");
        let all = serde_json::to_string(&report).unwrap();
        assert!(!all.contains("root:x:0:0"), "{sql} read a server file");
        if expected == "migration-failed" {
            assert_eq!(report["migrations"][0]["error"]["sqlstate"], "42501", "{sql}: permission denied");
        }
    }
    // The same with allow-superuser is the user's explicit choice.
    let dir = chain(&[("1_read.sql", "CREATE TABLE leak AS SELECT pg_ls_dir('.') AS f;\n")]);
    let output = check(dir.path(), &["--allow-superuser"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
}

/// Twenty checks at once against one server do not interfere, and leave nothing behind.
#[test]
fn parallel_checks_on_one_server_do_not_interfere() {
    let target = Target::start();
    let before = target.state();
    let dir = chain(&[
        ("1_users.up.sql", "CREATE TABLE users (id bigint PRIMARY KEY, email text);\n"),
        ("1_users.down.sql", "DROP TABLE users;\n"),
        ("2_index.up.sql", "SET lock_timeout = '1s';\nCREATE INDEX users_email ON users (email);\n"),
        ("2_index.down.sql", "DROP INDEX users_email;\n"),
    ]);
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (path, url) = (dir.path().to_path_buf(), target.url.clone());
            std::thread::spawn(move || check_json(&path, &["--database-url", &url]))
        })
        .collect();
    type Outcome = (Option<i32>, Vec<(String, String, u64)>);
    let results: Vec<Outcome> = handles
        .into_iter()
        .map(|h| {
            let (output, report) = h.join().unwrap();
            (output.status.code(), findings(&report))
        })
        .collect();
    let first = results[0].clone();
    assert_eq!(first.0, Some(1), "{first:?}");
    assert!(results.iter().all(|r| *r == first), "{results:?}");
    assert_eq!(target.state(), before, "no scratch database or role is left");
}

/// Scratch databases and roles of a check that was killed are swept by the next one.
#[test]
fn leftovers_of_killed_checks_are_swept() {
    let target = Target::start();
    target.sql("CREATE DATABASE mg_1000_deadbeef");
    target.sql("CREATE ROLE mg_1000_deadbeef");
    let dir = chain(&[("1_a.sql", "SELECT 1;\n")]);
    let output = check(dir.path(), &["--database-url", &target.url]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("dropped mg_1000_deadbeef, left over"),
        "{}",
        text(&output)
    );
    assert!(!target.state().contains("mg_1000_deadbeef"));
}

/// A check stopped by a signal drops its scratch database on the server it was given.
#[test]
fn a_signal_drops_the_scratch_database() {
    let target = Target::start();
    let before = target.state();
    let dir = chain(&[("1_slow.sql", "SELECT pg_sleep(30);\n")]);
    let mut child = bin()
        .args(["check", dir.path().to_str().unwrap(), "--database-url", &target.url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !target.state().contains("mg_") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(target.state().contains("mg_"), "the check created its database");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert_eq!(target.state(), before);
}

/// Migration files are regular files inside the repository.
#[test]
fn odd_files_are_refused_with_their_name() {
    type Make = fn(&Path);
    let cases: [(&str, Make); 4] = [
        ("is a symbolic link to a file outside the repository", |p| {
            std::os::unix::fs::symlink("/etc/passwd", p).unwrap()
        }),
        ("leads nowhere", |p| std::os::unix::fs::symlink("/nonexistent/file.sql", p).unwrap()),
        ("is a FIFO", |p| nix::unistd::mkfifo(p, nix::sys::stat::Mode::S_IRWXU).unwrap()),
        ("is a device", |p| {
            let status = std::process::Command::new("mknod").arg(p).args(["c", "1", "5"]).status().unwrap();
            assert!(status.success());
        }),
    ];
    for (reason, make) in cases {
        let dir = chain(&[("1_a.sql", "SELECT 1;\n")]);
        make(&dir.path().join("2_b.sql"));
        let started = std::time::Instant::now();
        let output = check(dir.path(), &["--format", "sqlx"]);
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "{reason}: no hang");
        assert_eq!(output.status.code(), Some(2), "{reason}: {}", text(&output));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("2_b.sql: ") && stderr.contains(reason), "{stderr}");
        assert!(!String::from_utf8_lossy(&output.stdout).contains("root:"), "nothing of the file is shown");
    }
    // A link to another migration file of the repository is fine.
    let dir = chain(&[("1_a.sql", "SELECT 1;\n")]);
    std::os::unix::fs::symlink("1_a.sql", dir.path().join("2_b.sql")).unwrap();
    assert_eq!(check(dir.path(), &["--format", "sqlx"]).status.code(), Some(0));
}

/// Versions beyond what the tools store are refused, as the tools refuse them.
#[test]
fn versions_that_overflow_are_errors() {
    let dir = chain(&[("1_a.up.sql", "SELECT 1;\n"), ("99999999999999999999_b.up.sql", "SELECT 1;\n")]);
    let output = check(dir.path(), &["--format", "golang-migrate"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("does not fit in an unsigned 64-bit integer, so golang-migrate refuses it")
    );
}

/// A migration (or its down) that never finishes fails after `migration-timeout` and is stopped
/// on the server; a hanging down is an irreversible one and the chain goes on.
#[test]
fn hanging_migrations_fail_instead_of_holding_the_check() {
    let dir = chain(&[
        ("1_users.up.sql", "CREATE TABLE users (id int);\n"),
        ("1_users.down.sql", "SELECT pg_sleep(120);\n"),
        ("2_wait.up.sql", "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;\nSELECT pg_sleep(120);\n"),
        ("2_wait.down.sql", "SELECT 1;\n"),
    ]);
    let started = std::time::Instant::now();
    let (output, report) = check_json(dir.path(), &["--migration-timeout", "2"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(40), "{:?}", started.elapsed());
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(
        findings(&report),
        [
            ("irreversible".to_string(), "1_users.down.sql".to_string(), 1),
            ("migration-failed".to_string(), "2_wait.up.sql".to_string(), 1),
        ]
    );
    let messages: Vec<&str> =
        report["findings"].as_array().unwrap().iter().map(|f| f["message"].as_str().unwrap()).collect();
    assert!(messages.iter().all(|m| m.contains("did not finish within 2 s (migration-timeout)")), "{messages:?}");
}

/// The cluster directory of an embedded server killed with SIGKILL is removed by the next check.
#[test]
fn clusters_of_killed_checks_are_swept() {
    let tmp = tempfile::tempdir().unwrap();
    let stale = tmp.path().join("migration-guard-killed");
    std::fs::create_dir_all(stale.join("data")).unwrap();
    // A pid no process has (above the kernel's pid_max).
    std::fs::write(stale.join("data/postmaster.pid"), "99999999\n/data\n").unwrap();
    let running = tmp.path().join("migration-guard-running");
    std::fs::create_dir_all(running.join("data")).unwrap();
    std::fs::write(running.join("data/postmaster.pid"), format!("{}\n", std::process::id())).unwrap();
    let young = tmp.path().join("migration-guard-starting");
    std::fs::create_dir_all(young.join("data")).unwrap();
    // Untouched for an hour: what a killed check leaves.
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for dir in [&stale, &running] {
        for p in [dir.clone(), dir.join("data")] {
            std::fs::File::open(&p).unwrap().set_modified(hour_ago).unwrap();
        }
    }
    let dir = chain(&[("1_a.sql", "SELECT 1;\n")]);
    let output = bin().arg("check").arg(dir.path()).env("TMPDIR", tmp.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(!stale.exists(), "{}", text(&output));
    assert!(running.exists(), "a live server's directory stays");
    assert!(young.exists(), "one being set up stays");
    assert!(String::from_utf8_lossy(&output.stderr).contains("the cluster of a check that was killed"));
}
