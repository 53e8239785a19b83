//! Schema introspection and diff on the schema lemmy's migrations build, against
//! `pg_dump --schema-only` of the same database.
//!
//! `cargo bench --bench schema [-- CORPUS/PATH]` (default `lemmy/migrations`, under
//! `MIGRATION_GUARD_CORPUS` or `../shared/corpus`). Targets: introspection ≤ 30 ms and ≤ 0.5×
//! pg_dump; diff ≤ 5 ms. Also times the stairway's incremental snapshot (nothing changed, one table
//! changed). The chain is applied up to the first migration this server rejects
//! (lemmy's later migrations need PostgreSQL 16).

mod support;

use migration_guard::migrations::{self, LoadOptions};
use migration_guard::postgres::{ProvisionOptions, Server};
use migration_guard::runner::{self, NoObserver};
use migration_guard::schema::{self, introspect::Snapshots};
use sqlx::Connection;
use sqlx::Executor;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;
use support::median;

const RUNS: usize = 15;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let name = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_else(|| "lemmy/migrations".into());
    let base = std::env::var_os("MIGRATION_GUARD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let dir = base.join(&name);
    if !dir.is_dir() {
        println!("{name}: corpus not found, skipped");
        return;
    }
    let chain = migrations::load(&dir, &LoadOptions::default()).expect("load chain");
    let server = Server::start(&ProvisionOptions::default()).await.expect("start ephemeral PostgreSQL");
    let db = server.create_database().await.unwrap();
    let mut conn = db.connect().await.unwrap();
    let mut applied = 0;
    for m in &chain.migrations {
        if !runner::run_script(&mut conn, &m.up, &mut NoObserver).await.unwrap().succeeded() {
            break;
        }
        applied += 1;
    }
    conn.close().await.ok();
    println!("{name}: {applied} of {} migrations applied", chain.migrations.len());

    // A fresh connection, as the first introspection of a check would see it.
    let mut conn = db.connect().await.unwrap();
    let t = Instant::now();
    let first = schema::introspect(&mut conn).await.unwrap();
    let cold = t.elapsed();
    let mut samples = Vec::new();
    let mut last = first.clone();
    for _ in 0..RUNS {
        let t = Instant::now();
        last = schema::introspect(&mut conn).await.unwrap();
        samples.push(t.elapsed());
    }
    let introspection = median(samples);

    // The stairway's incremental snapshots: nothing changed, and one table changed (a column
    // added, then dropped again, between snapshots).
    let mut snapshots = Snapshots::open(db.connect().await.unwrap(), db.connect().await.unwrap()).await.unwrap();
    snapshots.take().await.unwrap();
    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        snapshots.take().await.unwrap();
        samples.push(t.elapsed());
    }
    let unchanged = median(samples);
    let table = first.tables.keys().next().cloned().unwrap_or_default();
    let mut samples = Vec::new();
    for i in 0..RUNS {
        let ddl = if i % 2 == 0 { "ADD COLUMN bench_probe int" } else { "DROP COLUMN bench_probe" };
        conn.execute(sqlx::AssertSqlSafe(format!("ALTER TABLE {table} {ddl}"))).await.unwrap();
        let t = Instant::now();
        snapshots.take().await.unwrap();
        samples.push(t.elapsed());
    }
    let one_table = median(samples);
    snapshots.close().await;
    conn.close().await.ok();

    let mut samples = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let changes = schema::diff(&first, &last);
        samples.push(t.elapsed());
        assert!(changes.is_empty());
    }
    let diff_equal = median(samples);
    // A diff with work to do: every object removed.
    let empty = schema::Schema::default();
    let mut samples = Vec::new();
    let mut changes = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        changes = schema::diff(&first, &empty).len();
        samples.push(t.elapsed());
    }
    let diff_all = median(samples);

    let host = db.options.get_socket().map(|s| s.display().to_string()).unwrap_or_else(|| db.options.get_host().into());
    let mut samples = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let output = Command::new("pg_dump")
            .args(["--schema-only", "-h", &host, "-p", &db.options.get_port().to_string()])
            .args(["-U", db.options.get_username(), &db.name])
            .output()
            .expect("run pg_dump");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        samples.push(t.elapsed());
    }
    let dump = median(samples);

    println!("objects: {}", first.len());
    println!("introspection, first on a new connection: {cold:?}");
    println!(
        "introspection, median of {RUNS}: {introspection:?} (target ≤ 30 ms), {:.2}× pg_dump (target ≤ 0.5×)",
        introspection.as_secs_f64() / dump.as_secs_f64()
    );
    println!("pg_dump --schema-only, median of 5: {dump:?}");
    println!("incremental snapshot, nothing changed, median of {RUNS}: {unchanged:?}");
    println!("incremental snapshot, one table changed, median of {RUNS}: {one_table:?}");
    println!("diff of two equal schemas, median of {RUNS}: {diff_equal:?} (target ≤ 5 ms)");
    println!("diff against an empty schema ({changes} changes), median of {RUNS}: {diff_all:?}");
    server.shutdown().await;
}
