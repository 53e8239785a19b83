//! Benchmarks for the walking skeleton: ephemeral PostgreSQL start-up, and applying a real
//! migration chain against the floor of `psql` running the same files over one connection.
//!
//! `cargo bench --bench apply [-- CORPUS/PATH...]` (default `lemmy/migrations`, under
//! `MIGRATION_GUARD_CORPUS` or `../shared/corpus`). Targets: start-up ≤ 1 s; apply ≤ 1.5× psql.
//! Both sides apply the prefix of the chain that this server accepts (lemmy's later migrations
//! need PostgreSQL 16).

mod support;

use migration_guard::migrations::{self, LoadOptions};
use migration_guard::postgres::{ProvisionOptions, Server};
use migration_guard::runner::{self, NoObserver};
use sqlx::Connection;
use std::time::Instant;
use support::{applicable, corpus_dir, include, median, psql};

const RUNS: usize = 5;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut startup = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let server = Server::start(&ProvisionOptions::default()).await.expect("start ephemeral PostgreSQL");
        let ready = t.elapsed();
        server.shutdown().await;
        startup.push(ready);
    }
    println!("ephemeral start-up (initdb + postgres ready), median of {RUNS}: {:?} (target ≤ 1 s)", median(startup));

    let names: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let names = if names.is_empty() { vec!["lemmy/migrations".to_string()] } else { names };
    let server = Server::start(&ProvisionOptions::default()).await.expect("start ephemeral PostgreSQL");
    for name in names {
        let Some(dir) = corpus_dir(&name) else {
            println!("{name}: corpus not found or not loadable, skipped");
            continue;
        };
        let mut chain = migrations::load(&dir, &LoadOptions::default()).expect("load chain");
        // The prefix this server accepts.
        chain.migrations.truncate(applicable(&server, &chain).await);
        let mut ours = Vec::new();
        let mut floor = Vec::new();
        for _ in 0..RUNS {
            let db = server.create_database().await.unwrap();
            let mut conn = db.connect().await.unwrap();
            let t = Instant::now();
            for m in &chain.migrations {
                let outcome = runner::run_script(&mut conn, &m.up, &mut NoObserver).await.unwrap();
                assert!(outcome.succeeded(), "{} failed: {:?}", m.id, outcome.error);
            }
            ours.push(t.elapsed());
            conn.close().await.ok();
            server.drop_database(&db).await.unwrap();

            let db = server.create_database().await.unwrap();
            let mut script = String::from("\\set ON_ERROR_STOP 1\n");
            script.extend(chain.migrations.iter().map(|m| include(&m.up)));
            let (elapsed, status) = psql(&server, &db, &script);
            floor.push(elapsed);
            assert!(status.success(), "psql failed on {name}");
            server.drop_database(&db).await.unwrap();
        }
        let (ours, floor) = (median(ours), median(floor));
        println!(
            "{name}: apply {} migrations: migration-guard {:?}, psql floor {:?}, ratio {:.2} (target ≤ 1.5)",
            chain.migrations.len(),
            ours,
            floor,
            ours.as_secs_f64() / floor.as_secs_f64()
        );
    }
    server.shutdown().await;
}
