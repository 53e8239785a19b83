//! A pull request check that adds one migration to a long history, whole process (the release
//! binary, `check --base-ref base`), against the psql floor of applying the same chain once
//! (creating the database included) on the same server. Target: ≤ 1.5× the floor.
//!
//! `cargo bench --bench pr_check [-- CORPUS/PATH...]` (default lemmy's, goalert's and ente's chains,
//! under `MIGRATION_GUARD_CORPUS` or `../shared/corpus`). Both sides apply the prefix of the chain
//! this server accepts (lemmy's later migrations need PostgreSQL 16). Prints the median of
//! several runs of each, side by side, plus ours with the merged prefix restored from
//! `--prefix-cache` (written by a run before), ours with the embedded server (start-up
//! included) and ours with `--scope all` (the whole history judged) for scale.

mod support;

use migration_guard::migrations::{self, LoadOptions};
use migration_guard::postgres::{ProvisionOptions, Server};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{applicable, corpus_dir, floor_script, median, psql, pull_request};

const RUNS: usize = 5;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let names: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let names = if names.is_empty() {
        ["lemmy/migrations", "goalert/migrate/migrations", "ente/server/migrations"].map(String::from).to_vec()
    } else {
        names
    };
    let server = Server::start(&ProvisionOptions::default()).await.expect("start ephemeral PostgreSQL");
    let socket = server.admin_options().get_socket().unwrap().display().to_string();
    let url = format!("postgres://postgres@localhost/postgres?host={socket}&port=5432");
    for name in names {
        let Some(dir) = corpus_dir(&name) else {
            println!("{name}: corpus not found, skipped");
            continue;
        };
        let mut chain = migrations::load(&dir, &LoadOptions::default()).expect("load chain");
        chain.migrations.truncate(applicable(&server, &chain).await);
        let repo = pull_request(&chain);
        let check = |extra: &[&str]| {
            let t = Instant::now();
            let status = Command::new(env!("CARGO_BIN_EXE_migration-guard"))
                .current_dir(repo.path())
                .args(["check", "m", "--base-ref", "base"])
                .args(extra)
                .env("NO_COLOR", "1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run migration-guard");
            assert!(status.code().is_some_and(|c| c < 2), "{name}: check exited {status}");
            t.elapsed()
        };
        let script = floor_script(&chain, repo.path());
        let cached_args = ["--database-url", url.as_str(), "--prefix-cache", ".prefix-cache"];
        // Writes the archive the timed cached runs restore.
        check(&cached_args);
        let (mut ours, mut floor, mut embedded, mut cached) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            ours.push(check(&["--database-url", &url]));
            cached.push(check(&cached_args));
            let t = Instant::now();
            let db = server.create_database().await.unwrap();
            let (_, status) = psql(&server, &db, &script);
            floor.push(t.elapsed());
            assert!(status.success(), "psql failed on {name}");
            server.drop_database(&db).await.unwrap();
            embedded.push(check(&[]));
        }
        let whole = median((0..3).map(|_| check(&["--database-url", &url, "--scope", "all"])).collect());
        let (ours, floor, embedded, cached) = (median(ours), median(floor), median(embedded), median(cached));
        let ratio = |d: Duration| d.as_secs_f64() / floor.as_secs_f64();
        println!(
            "{name}: PR adding 1 of {} migrations: migration-guard {:.0} ms, psql floor {:.0} ms, ratio {:.2} (target ≤ 1.5); \
             merged prefix restored from --prefix-cache {:.0} ms ({:.2}); embedded server {:.0} ms ({:.2}); \
             whole history judged (--scope all) {:.0} ms ({:.2})",
            chain.migrations.len(),
            ms(ours),
            ms(floor),
            ratio(ours),
            ms(cached),
            ratio(cached),
            ms(embedded),
            ratio(embedded),
            ms(whole),
            ratio(whole)
        );
    }
    server.shutdown().await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
