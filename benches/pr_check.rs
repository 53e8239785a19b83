//! A pull request check that adds one migration to a long history, whole process (the release
//! binary, `check --base-ref base`), against the psql floor of applying the same chain once
//! (creating the database included) on the same server. Target: ≤ 1.5× the floor.
//!
//! `cargo bench --bench pr_check [-- CORPUS/PATH...]` (default lemmy's and goalert's chains,
//! under `MIGRATION_GUARD_CORPUS` or `../shared/corpus`). Both sides apply the prefix of the chain
//! this server accepts (lemmy's later migrations need PostgreSQL 16). Prints the median of
//! several runs of each, side by side, plus ours with the embedded server (start-up included)
//! and ours with `--scope all` (the whole history judged) for scale.

mod support;

use migration_guard::migrations::{self, Chain, LoadOptions, Migration};
use migration_guard::postgres::{ProvisionOptions, Server};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{applicable, corpus_dir, include, median, psql};

const RUNS: usize = 5;

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let names: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let names = if names.is_empty() {
        vec!["lemmy/migrations".to_string(), "goalert/migrate/migrations".to_string()]
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
        let (mut ours, mut floor, mut embedded) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            ours.push(check(&["--database-url", &url]));
            let t = Instant::now();
            let db = server.create_database().await.unwrap();
            let (_, status) = psql(&server, &db, &script);
            floor.push(t.elapsed());
            assert!(status.success(), "psql failed on {name}");
            server.drop_database(&db).await.unwrap();
            embedded.push(check(&[]));
        }
        let whole = median((0..3).map(|_| check(&["--database-url", &url, "--scope", "all"])).collect());
        let (ours, floor, embedded) = (median(ours), median(floor), median(embedded));
        let ratio = |d: Duration| d.as_secs_f64() / floor.as_secs_f64();
        println!(
            "{name}: PR adding 1 of {} migrations: migration-guard {:.0} ms, psql floor {:.0} ms, ratio {:.2} (target ≤ 1.5); \
             embedded server {:.0} ms ({:.2}); whole history judged (--scope all) {:.0} ms ({:.2})",
            chain.migrations.len(),
            ms(ours),
            ms(floor),
            ratio(ours),
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

/// The psql script applying every up of `chain` as our runner does; each up's SQL is written to
/// a file of its own under `dir` (section formats keep the down in the same file).
fn floor_script(chain: &Chain, dir: &Path) -> String {
    let ups = dir.join("ups");
    std::fs::create_dir_all(&ups).unwrap();
    let mut script = String::from("\\set ON_ERROR_STOP 1\n");
    for (i, m) in chain.migrations.iter().enumerate() {
        let mut up = m.up.clone();
        up.path = ups.join(format!("{i:05}.sql"));
        std::fs::write(&up.path, &up.sql).unwrap();
        script.push_str(&include(&up));
    }
    script
}

/// The files (or, for diesel, the directory) of a migration.
fn entries(m: &Migration) -> Vec<PathBuf> {
    let up = &m.up.path;
    if up.file_name().is_some_and(|n| n == "up.sql") {
        return vec![up.parent().unwrap().to_path_buf()];
    }
    std::iter::once(up.clone()).chain(m.down.as_ref().map(|d| d.path.clone())).collect::<Vec<_>>()
}

/// A git repository whose `m/` holds `chain`: the commit tagged `base` without its last
/// migration, the work tree with it.
fn pull_request(chain: &Chain) -> tempfile::TempDir {
    let repo = tempfile::tempdir().unwrap();
    let m = repo.path().join("m");
    std::fs::create_dir(&m).unwrap();
    let (last, rest) = chain.migrations.split_last().unwrap();
    for migration in rest {
        for entry in entries(migration) {
            copy(&entry, &m);
        }
    }
    git(repo.path(), &["init", "-q"]);
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-qm", "base"]);
    git(repo.path(), &["tag", "base"]);
    for entry in entries(last) {
        copy(&entry, &m);
    }
    repo
}

fn copy(entry: &Path, into: &Path) {
    let target = into.join(entry.file_name().unwrap());
    if entry.is_dir() {
        std::fs::create_dir_all(&target).unwrap();
        for file in std::fs::read_dir(entry).unwrap().flatten() {
            std::fs::copy(file.path(), target.join(file.file_name())).unwrap();
        }
    } else if !target.exists() {
        std::fs::copy(entry, target).unwrap();
    }
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=bench", "-c", "user.email=bench@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}
