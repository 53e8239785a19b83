//! Benchmark of the stairway: the full round trip (up, snapshot, down, snapshot, up, snapshot,
//! data checks) of a real chain against the floor of `psql` running the same up, down, up files
//! over one connection.
//!
//! `cargo bench --bench roundtrip [-- CORPUS...]` (default: lemmy, from `MIGRATION_GUARD_CORPUS`
//! or `../shared/corpus`). Only the migrations that apply on this server are timed. Target: the
//! round trip ≤ 3× the psql floor.

mod support;

use migration_guard::migrations::{self, LoadOptions};
use migration_guard::postgres::{ProvisionOptions, Server};
use migration_guard::report::MigrationStatus;
use migration_guard::roundtrip::{self, Plan, RoundTrip, SqlSteps};
use migration_guard::runner::NoObserver;
use migration_guard::scope::Scope;
use std::path::PathBuf;
use std::time::Instant;
use support::{include, median, psql};

const RUNS: usize = 3;

fn corpus_dir(name: &str) -> Option<PathBuf> {
    let root = support::corpus_dir(name)?;
    ["migrations", "server/migrations", "migrate/migrations", "server/svix-server/migrations", "."]
        .iter()
        .map(|d| root.join(d))
        .find(|d| d.is_dir() && migrations::load(d, &LoadOptions::default()).is_ok_and(|c| !c.migrations.is_empty()))
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let names: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let names = if names.is_empty() { vec!["lemmy".to_string()] } else { names };
    let server = Server::start(&ProvisionOptions::default()).await.expect("start ephemeral PostgreSQL");
    for name in names {
        let Some(dir) = corpus_dir(&name) else {
            println!("{name}: corpus not found or not loadable, skipped");
            continue;
        };
        let mut chain = migrations::load(&dir, &LoadOptions::default()).expect("load chain");
        // Keep the migrations that apply here (lemmy stops at one needing PostgreSQL 16).
        let plan = Plan::new(&chain, RoundTrip::None, &Scope::everything(&chain, "bench"), &[], None);
        let applied =
            roundtrip::apply_chain(&server, &chain, &mut SqlSteps::new(&chain, NoObserver, plan.effects), &plan)
                .await
                .expect("apply");
        let ok = applied.migrations.iter().take_while(|m| m.status == MigrationStatus::Applied).count();
        server.drop_database(&applied.database).await.unwrap();
        chain.migrations.truncate(ok);

        let plan = Plan::new(&chain, RoundTrip::All, &Scope::everything(&chain, "bench"), &[], None);
        let mut ours = Vec::new();
        let mut floor = Vec::new();
        let mut round_tripped = 0;
        for _ in 0..RUNS {
            let t = Instant::now();
            let applied =
                roundtrip::apply_chain(&server, &chain, &mut SqlSteps::new(&chain, NoObserver, plan.effects), &plan)
                    .await
                    .expect("round trip");
            ours.push(t.elapsed());
            round_tripped = applied
                .migrations
                .iter()
                .filter(|m| m.round_trip.as_ref().is_some_and(|r| r.status != roundtrip::RoundTripStatus::NoDown))
                .count();
            server.drop_database(&applied.database).await.unwrap();

            let db = server.create_database().await.unwrap();
            let mut script = String::new();
            for m in &chain.migrations {
                script.push_str(&include(&m.up));
                if let Some(down) = m.down.as_ref().filter(|d| !d.is_empty()) {
                    script.push_str(&include(down));
                    script.push_str(&include(&m.up));
                }
            }
            // No ON_ERROR_STOP: the chain's broken downs fail here too, and psql goes on.
            floor.push(psql(&server, &db, &script).0);
            server.drop_database(&db).await.unwrap();
        }
        let (ours, floor) = (median(ours), median(floor));
        println!(
            "{name}: round trip of {} migrations ({round_tripped} with a down), median of {RUNS}: migration-guard {:?}, psql up/down/up floor {:?}, ratio {:.2} (target ≤ 3)",
            chain.migrations.len(),
            ours,
            floor,
            ours.as_secs_f64() / floor.as_secs_f64()
        );
    }
    server.shutdown().await;
}
