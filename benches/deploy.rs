//! Deploy commands on a real history: the shared corpora's goalert chain (sql-migrate, 280
//! migrations; lemmy, the example, needs PostgreSQL 16) applied to a target up to
//! head-10, then `plan`, `status` and the `apply` of the last 10, whole process (release binary),
//! medians of 5; the first apply of head-10 is timed once.
//!
//! `cargo bench --bench deploy` (needs the corpora: `MIGRATION_GUARD_CORPUS`, default
//! `../shared/corpus`). Target: `plan` at head-10 ≤ 2 s.

mod support;

use migration_guard::migrations::{self, LoadOptions};
use migration_guard::postgres::{ProvisionOptions, Server};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};
use support::median;

const RUNS: usize = 5;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let corpus = std::env::var_os("MIGRATION_GUARD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    let dir = corpus.join("goalert/migrate/migrations");
    if !dir.is_dir() {
        println!("skipped: no goalert corpus at {}", dir.display());
        return;
    }
    let chain = migrations::load(&dir, &LoadOptions::default()).expect("load goalert");
    let head_10 = chain.migrations[chain.migrations.len() - 11].id.clone();
    let server = Server::start(&ProvisionOptions::default()).await.expect("start ephemeral PostgreSQL");
    let run = |args: &[&str], url: &str| {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_migration-guard"))
            .args(args)
            .args(["--database-url", url])
            .arg(&dir)
            .output()
            .expect("run migration-guard");
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        started.elapsed()
    };
    let mut plans = Vec::new();
    let mut statuses = Vec::new();
    let mut applies = Vec::new();
    let mut first = Duration::ZERO;
    for i in 0..RUNS {
        let db = server.create_database().await.unwrap();
        let url = db.url(None, "postgres", true).replacen("@/", "@localhost/", 1);
        let took = run(&["apply", "--to", &head_10], &url);
        if i == 0 {
            first = took;
        }
        plans.push(run(&["plan"], &url));
        statuses.push(run(&["status"], &url));
        applies.push(run(&["apply"], &url));
        server.drop_database(&db).await.unwrap();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("goalert, {} migrations, target at head-10 ({head_10}), medians of {RUNS}:", chain.migrations.len());
    println!("  apply of the first {} (once): {:.0} ms", chain.migrations.len() - 10, ms(first));
    println!("  plan of the last 10:   {:.0} ms (target ≤ 2000 ms)", ms(median(plans)));
    println!("  status:                {:.0} ms", ms(median(statuses)));
    println!("  apply of the last 10:  {:.0} ms", ms(median(applies)));
}
