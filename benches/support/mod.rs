//! Helpers shared by the benchmarks: medians, the shared corpora, and the psql floor.
// Each benchmark uses a subset.
#![allow(dead_code)]

use migration_guard::migrations::{Chain, Script};
use migration_guard::postgres::{ScratchDatabase, Server};
use migration_guard::runner::{self, NoObserver};
use sqlx::Connection;
use std::path::PathBuf;
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
