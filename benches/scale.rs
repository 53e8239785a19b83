//! How the check's cost grows with the length of the history: synthetic golang-migrate chains of
//! 100, 1,000 and 5,000 migrations (tables with keys and foreign keys, columns, indexes,
//! comments, functions, views, type changes, rows, constraints, enums), whole process (the
//! release binary against the bench's server), side by side with the psql floors in one run.
//!
//! `cargo bench --bench scale [-- SIZE...]` (default `100 1000 5000`; `MG_SCALE_RUNS`, default 3;
//! `MG_SCALE_MODES`, default `pr,cached,effects,apply,lint,all`; `MG_SCALE_KEEP=DIR` keeps each size's
//! repository as `DIR/SIZE` for profiling a mode by hand).
//! Prints, per size and mode, the median time, the time per migration, the ratio to its floor
//! and the peak memory (RSS), then the growth from the smallest to the largest size.
//! Apply only and the lint trace run in turns, and their ratio is also given pair by pair.
//! Targets: apply only (no lint, round trip or effect rules: nothing snapshotted) ≤ 1.3× the apply
//! floor; the lint trace (apply + lint against apply only) ≤ 1.3×; the whole history judged ≤ 2×
//! the up/down/up floor; growth from 1,000 to 5,000 within 6×.

mod support;

use migration_guard::migrations::{self, LoadOptions};
use migration_guard::postgres::{ProvisionOptions, Server};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{floor_script, include, median, psql, pull_request};

/// A mode of our check, and which floor it is compared with.
struct Mode {
    /// For `MG_SCALE_MODES` (e.g. `pr,apply`; default all).
    key: &'static str,
    name: &'static str,
    args: &'static [&'static str],
    round_trip_floor: bool,
    /// Run once before the timed runs (which then find the prefix cache written).
    warm: bool,
}

/// The whole history applied with nothing snapshotted: no round trip, no effect rules, no lint
/// (the last flag, which the lint mode leaves out).
const APPLY_ONLY: &[&str] = &[
    "--scope",
    "all",
    "--round-trip",
    "none",
    "--rule",
    "destructive-change=off",
    "--rule",
    "backward-incompatible=off",
    "--rule",
    "data-changed=off",
    "--no-lint",
];
/// [`APPLY_ONLY`] with the lint trace.
const APPLY_AND_LINT: &[&str] = match APPLY_ONLY.split_last() {
    Some((_, rest)) => rest,
    None => &[],
};

const MODES: &[Mode] = &[
    Mode {
        key: "pr",
        name: "PR check (1 changed)",
        args: &["--base-ref", "base"],
        round_trip_floor: false,
        warm: false,
    },
    Mode {
        key: "cached",
        name: "PR check, prefix cached",
        args: &["--base-ref", "base", "--prefix-cache", ".prefix-cache"],
        round_trip_floor: false,
        warm: true,
    },
    Mode {
        key: "effects",
        name: "apply + effect rules",
        args: &["--scope", "all", "--round-trip", "none", "--no-lint"],
        round_trip_floor: false,
        warm: false,
    },
    Mode { key: "apply", name: "apply only", args: APPLY_ONLY, round_trip_floor: false, warm: false },
    Mode { key: "lint", name: "apply + lint trace", args: APPLY_AND_LINT, round_trip_floor: false, warm: false },
    Mode { key: "all", name: "whole history judged", args: &["--scope", "all"], round_trip_floor: true, warm: false },
];

/// A mode whose run at a larger size would take longer than this (guessed from the smaller
/// size, as if its cost grew with the square of the length) is not run there: its growth is
/// already plain.
const TOO_SLOW: Duration = Duration::from_secs(300);

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![100, 1000, 5000] } else { sizes };
    let runs: usize = std::env::var("MG_SCALE_RUNS").ok().and_then(|r| r.parse().ok()).unwrap_or(3);
    let selected: Vec<String> = std::env::var("MG_SCALE_MODES")
        .unwrap_or_else(|_| "pr,cached,effects,apply,lint,all".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let server = Server::start(&ProvisionOptions::default()).await.expect("start ephemeral PostgreSQL");
    let socket = server.admin_options().get_socket().unwrap().display().to_string();
    let url = format!("postgres://postgres@localhost/postgres?host={socket}&port=5432");
    // Per mode, the last size run and its median: a run that would take longer than TOO_SLOW
    // (if its cost grew with the square of the length) is skipped.
    let mut last: Vec<Option<(usize, Duration)>> = vec![None; MODES.len()];
    let mut per_migration: Vec<Vec<(usize, f64)>> = vec![Vec::new(); MODES.len()];
    for &n in &sizes {
        let source = tempfile::tempdir().unwrap();
        synthesize(source.path(), n);
        let chain = migrations::load(source.path(), &LoadOptions::default()).expect("load synthetic chain");
        assert_eq!(chain.migrations.len(), n);
        let repo = pull_request(&chain);
        if let Ok(keep) = std::env::var("MG_SCALE_KEEP") {
            // For profiling one mode by hand: the pull request's repository, kept.
            let kept = Path::new(&keep).join(n.to_string());
            let status = Command::new("cp").arg("-r").arg(repo.path()).arg(&kept).status().expect("cp");
            assert!(status.success(), "copy the repository to {}", kept.display());
        }
        let apply = floor_script(&chain, repo.path());
        let mut round_trip = String::from("\\set ON_ERROR_STOP 1\n");
        for m in &chain.migrations {
            let down = m.down.as_ref().unwrap();
            round_trip.push_str(&format!("{}{}{}", include(&m.up), include(down), include(&m.up)));
        }
        let floor = |script: &str| {
            median(
                (0..runs)
                    .map(|_| {
                        let db = futures_block(server.create_database()).unwrap();
                        let (took, status) = psql(&server, &db, script);
                        assert!(status.success(), "psql failed on the synthetic chain of {n}: {script:.200}");
                        futures_block(server.drop_database(&db)).unwrap();
                        took
                    })
                    .collect(),
            )
        };
        let (apply_floor, round_trip_floor) = (floor(&apply), floor(&round_trip));
        println!(
            "{n} migrations: psql apply floor {:.0} ms ({:.2} ms/migration), up/down/up floor {:.0} ms",
            ms(apply_floor),
            ms(apply_floor) / n as f64,
            ms(round_trip_floor)
        );
        let mut medians: Vec<Option<Duration>> = vec![None; MODES.len()];
        // Apply only and the lint trace run in turns, so that the lint trace's ratio is taken
        // pair by pair, each pair at the same load of the machine.
        let paired = ["apply", "lint"].iter().all(|key| selected.iter().any(|s| s == key));
        let position = |key: &str| MODES.iter().position(|m| m.key == key).expect("a mode of MODES");
        // The lint trace's samples, taken in turns with apply only's.
        let mut lint_samples: Option<Vec<(Duration, u64)>> = None;
        let mut pair_ratios = Vec::new();
        for (i, mode) in MODES.iter().enumerate() {
            if !selected.iter().any(|s| s == mode.key) {
                continue;
            }
            if let Some((m, took)) = last[i] {
                let guess = took.as_secs_f64() * (n as f64 / m as f64).powi(2);
                if guess > TOO_SLOW.as_secs_f64() {
                    println!(
                        "  {:<22} skipped: {:.0} s at {m} would be about {guess:.0} s per run here if it grew quadratically (limit {} s)",
                        mode.name,
                        took.as_secs_f64(),
                        TOO_SLOW.as_secs()
                    );
                    continue;
                }
            }
            if mode.warm {
                check(repo.path(), &url, mode.args);
            }
            let samples: Vec<(Duration, u64)> = match mode.key {
                "apply" if paired => {
                    let (mut apply, mut lint) = (Vec::new(), Vec::new());
                    for _ in 0..runs {
                        let a = check(repo.path(), &url, mode.args);
                        let l = check(repo.path(), &url, MODES[position("lint")].args);
                        pair_ratios.push(l.0.as_secs_f64() / a.0.as_secs_f64());
                        apply.push(a);
                        lint.push(l);
                    }
                    lint_samples = Some(lint);
                    apply
                }
                "lint" if lint_samples.is_some() => lint_samples.take().unwrap_or_default(),
                _ => (0..runs).map(|_| check(repo.path(), &url, mode.args)).collect(),
            };
            let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
            let took = median(samples.iter().map(|s| s.0).collect());
            last[i] = Some((n, took));
            medians[i] = Some(took);
            let floor = if mode.round_trip_floor { round_trip_floor } else { apply_floor };
            per_migration[i].push((n, ms(took) / n as f64));
            println!(
                "  {:<22} {:>9.0} ms  {:>6.2} ms/migration  {:>5.2}× its floor ({})  peak RSS {} MiB",
                mode.name,
                ms(took),
                ms(took) / n as f64,
                took.as_secs_f64() / floor.as_secs_f64(),
                if mode.round_trip_floor { "up/down/up" } else { "apply" },
                peak / 1024
            );
        }
        // The lint trace's own cost: the same run with and without it (the issue's ≤ 1.3×).
        let of = |key: &str| medians[position(key)];
        pair_ratios.sort_by(f64::total_cmp);
        if let (Some(apply), Some(lint), Some(pair)) = (of("apply"), of("lint"), pair_ratios.get(pair_ratios.len() / 2))
        {
            println!(
                "  lint trace / apply only: {:.2}× (medians); by pair, run in turns: median {:.2}×, {}",
                lint.as_secs_f64() / apply.as_secs_f64(),
                pair,
                pair_ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>().join(" ")
            );
        }
    }
    for (mode, points) in MODES.iter().zip(&per_migration) {
        if let (Some(first), Some(last)) = (points.first(), points.last())
            && first.0 != last.0
        {
            println!(
                "{}: {} → {} migrations: total time grew {:.1}× for {:.0}× the migrations",
                mode.name,
                first.0,
                last.0,
                last.1 * last.0 as f64 / (first.1 * first.0 as f64),
                last.0 as f64 / first.0 as f64
            );
        }
    }
    server.shutdown().await;
}

/// Runs a future to completion from synchronous code inside the runtime.
fn futures_block<F: Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

/// One run of our check in `repo` (the chain under `m/`): its time and peak RSS in KiB.
fn check(repo: &Path, url: &str, extra: &[&str]) -> (Duration, u64) {
    let rss = tempfile::NamedTempFile::new().unwrap();
    let t = Instant::now();
    let status = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(rss.path())
        .arg(env!("CARGO_BIN_EXE_migration-guard"))
        .current_dir(repo)
        .args(["check", "m", "--database-url", url, "--fail-on", "never"])
        .args(extra)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run migration-guard under /usr/bin/time");
    let took = t.elapsed();
    assert!(status.success(), "check {extra:?} exited {status}");
    let peak = std::fs::read_to_string(rss.path()).unwrap_or_default();
    (took, peak.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Writes a golang-migrate chain of `n` migrations into `dir`, in groups of ten: a table (key,
/// foreign key to the previous group's table, index), then a column, an index, a comment, a
/// function, a view, a type change, rows, a constraint and an enum.
fn synthesize(dir: &Path, n: usize) {
    for i in 0..n {
        let (g, step) = (i / 10, i % 10);
        let t = format!("t{g}");
        let (up, down) = match step {
            0 => {
                let fk = if g > 0 { format!(", parent_id bigint REFERENCES t{}(id)", g - 1) } else { String::new() };
                (
                    format!(
                        "CREATE TABLE {t} (id bigserial PRIMARY KEY, name text NOT NULL, \
                         created_at timestamptz NOT NULL DEFAULT now(){fk});\n\
                         CREATE INDEX {t}_created ON {t} (created_at);\n"
                    ),
                    format!("DROP TABLE {t};\n"),
                )
            }
            1 => {
                (format!("ALTER TABLE {t} ADD COLUMN c{g} integer;\n"), format!("ALTER TABLE {t} DROP COLUMN c{g};\n"))
            }
            2 => (format!("CREATE INDEX {t}_name ON {t} (name);\n"), format!("DROP INDEX {t}_name;\n")),
            3 => (format!("COMMENT ON TABLE {t} IS 'group {g}';\n"), format!("COMMENT ON TABLE {t} IS NULL;\n")),
            4 => (
                format!(
                    "CREATE FUNCTION f{g}(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x + {g} $$;\n"
                ),
                format!("DROP FUNCTION f{g}(integer);\n"),
            ),
            5 => (format!("CREATE VIEW v{g} AS SELECT id, created_at, c{g} FROM {t};\n"), format!("DROP VIEW v{g};\n")),
            6 => (
                format!("ALTER TABLE {t} ALTER COLUMN name TYPE varchar(200);\n"),
                format!("ALTER TABLE {t} ALTER COLUMN name TYPE text;\n"),
            ),
            7 => (
                format!("INSERT INTO {t} (name) SELECT 'row ' || g FROM generate_series(1, 20) g;\n"),
                format!("DELETE FROM {t};\n"),
            ),
            8 => (
                format!("ALTER TABLE {t} ADD CONSTRAINT {t}_name_length CHECK (length(name) < 200) NOT VALID;\n"),
                format!("ALTER TABLE {t} DROP CONSTRAINT {t}_name_length;\n"),
            ),
            _ => (format!("CREATE TYPE e{g} AS ENUM ('new', 'done');\n"), format!("DROP TYPE e{g};\n")),
        };
        std::fs::write(dir.join(format!("{:06}_m{i}.up.sql", i + 1)), up).unwrap();
        std::fs::write(dir.join(format!("{:06}_m{i}.down.sql", i + 1)), down).unwrap();
    }
}
