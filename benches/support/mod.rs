//! Helpers shared by the benchmarks: medians, the shared corpora, and the psql floor.
// Each benchmark uses a subset.
#![allow(dead_code)]

use migration_guard::migrations::{Chain, Migration, Script};
use migration_guard::postgres::{ScratchDatabase, Server};
use migration_guard::runner::{self, NoObserver};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The median of `samples`.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// `name` under the shared corpora (`MIGRATION_GUARD_CORPUS`, default `../shared/corpus` next to
/// the repository), when it exists.
pub fn corpus_dir(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("MIGRATION_GUARD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    Some(base.join(name)).filter(|d| d.is_dir())
}

/// `\\i` lines running `script` as our runner does (inside BEGIN/COMMIT when wrapped).
pub fn include(script: &Script) -> String {
    let path = std::fs::canonicalize(&script.path).unwrap();
    if script.transaction.is_wrapped() {
        format!("BEGIN;\n\\i {}\nCOMMIT;\n", path.display())
    } else {
        format!("\\i {}\n", path.display())
    }
}

/// The floor: `psql` running `script` over one connection to `db`; its time and exit status.
pub fn psql(server: &Server, db: &ScratchDatabase, script: &str) -> (Duration, ExitStatus) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), script).unwrap();
    let socket = server.admin_options().get_socket().unwrap().display().to_string();
    let t = Instant::now();
    let status = Command::new("psql")
        .args(["-X", "-q", "-h", &socket, "-p", "5432", "-U", "postgres", "-d", &db.name, "-f"])
        .arg(file.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run psql");
    (t.elapsed(), status)
}

/// How many of the chain's first migrations this server applies.
pub async fn applicable(server: &Server, chain: &Chain) -> usize {
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
    server.drop_database(&db).await.unwrap();
    applied
}

/// The psql script applying every up of `chain` as our runner does; each up's SQL is written to
/// a file of its own under `dir` (section formats keep the down in the same file).
pub fn floor_script(chain: &Chain, dir: &Path) -> String {
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
pub fn entries(m: &Migration) -> Vec<PathBuf> {
    let up = &m.up.path;
    if up.file_name().is_some_and(|n| n == "up.sql") {
        return vec![up.parent().unwrap().to_path_buf()];
    }
    std::iter::once(up.clone()).chain(m.down.as_ref().map(|d| d.path.clone())).collect::<Vec<_>>()
}

/// A git repository whose `m/` holds `chain`: the commit tagged `base` without its last
/// migration, the work tree with it.
pub fn pull_request(chain: &Chain) -> tempfile::TempDir {
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

pub fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        // No background gc: it would remove loose objects while the repository is copied.
        .args([
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@example.com",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "gc.auto=0",
        ])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}
