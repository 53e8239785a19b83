//! Benchmark of the Alembic stairway: a generated project of 24 revisions (tables, columns,
//! indexes, each with its downgrade) applied through the project's Alembic with the round trip,
//! with and without the lint trace of the captured SQL, against applying only
//! (upgrade per revision, as before the stairway). Needs Python with alembic, sqlalchemy and a
//! PostgreSQL driver.
//!
//! `cargo bench --bench alembic_stairway`. Target: the trace adds ≤ 25% to the stairway.

mod support;

use migration_guard::alembic::run::preflight;
use migration_guard::alembic::steps::AlembicSteps;
use migration_guard::lint::Tracer;
use migration_guard::migrations::{self, LoadOptions};
use migration_guard::postgres::{ProvisionOptions, Server};
use migration_guard::roundtrip::{self, Plan, RoundTrip};
use migration_guard::scope::Scope;
use std::path::Path;
use std::time::Instant;
use support::median;

const RUNS: usize = 3;
const REVISIONS: usize = 24;

const ENV: &str = r#"import os
from alembic import context
from sqlalchemy import create_engine, pool

engine = create_engine(os.environ["DATABASE_URL"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
"#;

/// Writes the project: every third revision creates a table, the next adds a column to it and
/// the next indexes that column.
fn project(dir: &Path) {
    let versions = dir.join("versions");
    std::fs::create_dir_all(&versions).unwrap();
    std::fs::write(dir.join("env.py"), ENV).unwrap();
    std::fs::write(
        dir.join("alembic.ini"),
        "[alembic]\nscript_location = %(here)s\nversion_locations = %(here)s/versions\n",
    )
    .unwrap();
    for i in 0..REVISIONS {
        let table = format!("t{}", i / 3);
        let (up, down) = match i % 3 {
            0 => (
                format!("op.create_table(\"{table}\", sa.Column(\"id\", sa.BigInteger, primary_key=True))"),
                format!("op.drop_table(\"{table}\")"),
            ),
            1 => (
                format!("op.add_column(\"{table}\", sa.Column(\"name\", sa.Text))"),
                format!("op.drop_column(\"{table}\", \"name\")"),
            ),
            _ => (
                format!("op.create_index(\"{table}_name\", \"{table}\", [\"name\"])"),
                format!("op.drop_index(\"{table}_name\", table_name=\"{table}\")"),
            ),
        };
        let parent = if i == 0 { "None".to_string() } else { format!("\"r{:02}\"", i - 1) };
        let text = format!(
            "from alembic import op\nimport sqlalchemy as sa\n\nrevision = \"r{i:02}\"\ndown_revision = {parent}\n\n\ndef upgrade():\n    {up}\n\n\ndef downgrade():\n    {down}\n"
        );
        std::fs::write(versions.join(format!("r{i:02}.py")), text).unwrap();
    }
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    project(dir.path());
    let chain = migrations::load(dir.path(), &LoadOptions::default()).expect("load the generated project");
    let python = Path::new("python3");
    let scheme = preflight(python).await.expect("python3 with alembic, sqlalchemy and a PostgreSQL driver");
    let server = Server::start(&ProvisionOptions::default()).await.expect("start ephemeral PostgreSQL");
    let cases = [
        ("apply only (no round trip, no lint)", RoundTrip::None, false),
        ("stairway with round trip, no lint", RoundTrip::All, false),
        ("stairway with round trip and lint trace", RoundTrip::All, true),
    ];
    let mut medians = Vec::new();
    for (label, mode, lint) in cases {
        let plan = Plan::new(&chain, mode, &Scope::everything(&chain, "bench"), &[], None);
        let mut times = Vec::new();
        let mut traced = Vec::new();
        for _ in 0..RUNS {
            let tracer = Tracer::new(lint, server.version_num());
            let mut steps = AlembicSteps::new(&chain, python, &scheme, None, tracer, false).unwrap();
            let t = Instant::now();
            let applied = roundtrip::apply_chain(&server, &chain, &mut steps, &plan).await.expect("stairway");
            times.push(t.elapsed());
            traced.push(steps.trace_time());
            server.drop_database(&applied.database).await.unwrap();
        }
        let (time, traced) = (median(times), median(traced));
        println!("{label}: {REVISIONS} revisions, median of {RUNS}: {time:?} (rendering and tracing: {traced:?})");
        medians.push(time);
    }
    let extra = medians[2].as_secs_f64() / medians[1].as_secs_f64() - 1.0;
    println!("the lint trace adds {:.0}% to the stairway (target ≤ 25%)", extra * 100.0);
    server.shutdown().await;
}
