//! Helpers shared by the integration tests: running the binary, fixtures, the shared corpora.
// Not every function here is used by every set of test modules.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// A directory of the shared migration corpora (`MIGRATION_GUARD_CORPUS`, default
/// `../shared/corpus` next to the repository), or `None` after printing a visible skip notice.
pub fn corpus(name: &str) -> Option<PathBuf> {
    let base = std::env::var_os("MIGRATION_GUARD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    let dir = base.join(name);
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: corpus {name} not found under {} (set MIGRATION_GUARD_CORPUS)", base.display());
        None
    }
}

/// The binary under test, with a clean environment for the variables it reads.
pub fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_migration-guard"));
    for (key, _) in std::env::vars() {
        if key.starts_with("INPUT_") || key.starts_with("GITHUB_") || key == "DATABASE_URL" {
            command.env_remove(key);
        }
    }
    command.env("NO_COLOR", "1");
    command
}

/// Runs `migration-guard check <dir> <args>` and returns its output.
pub fn check(dir: &Path, args: &[&str]) -> Output {
    bin().arg("check").arg(dir).args(args).output().expect("run migration-guard")
}

/// Standard output and error as text, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs check with `--report-dir` into a temp dir and returns (output, report.json).
pub fn check_json(dir: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let out = tempfile::tempdir().unwrap();
    let report_dir = out.path().to_str().unwrap().to_string();
    let mut all = vec!["--report-dir", report_dir.as_str()];
    all.extend_from_slice(args);
    let output = check(dir, &all);
    let json = std::fs::read_to_string(out.path().join("report.json"))
        .unwrap_or_else(|_| panic!("no report.json\n{}", text(&output)));
    (output, serde_json::from_str(&json).unwrap())
}

/// Findings of a report as (rule, file name, line) triples.
pub fn findings(report: &serde_json::Value) -> Vec<(String, String, u64)> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let file = f["file"].as_str().unwrap_or("");
            let name = Path::new(file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            (f["rule"].as_str().unwrap().to_string(), name, f["line"].as_u64().unwrap_or(0))
        })
        .collect()
}

/// A PostgreSQL server shared by the tests running at the same time, started by the library's
/// own ephemeral provider and stopped when the last of them drops its handle.
pub struct SharedServer {
    server: Option<migration_guard::postgres::Server>,
    // Dropped after the server: ends the thread that started it. PostgreSQL is bound to the
    // life of the thread that forked it, which must outlive every test using it.
    _keeper: std::sync::mpsc::Sender<()>,
}

impl std::ops::Deref for SharedServer {
    type Target = migration_guard::postgres::Server;
    fn deref(&self) -> &Self::Target {
        self.server.as_ref().expect("server present until drop")
    }
}

impl Drop for SharedServer {
    fn drop(&mut self) {
        // Dropping an ephemeral server stops it and removes its directory.
        drop(self.server.take());
    }
}

/// The shared server, started on first use.
pub fn shared_server() -> std::sync::Arc<SharedServer> {
    use std::sync::{Arc, Mutex, Weak};
    static SHARED: Mutex<Weak<SharedServer>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(server) = slot.upgrade() {
        return server;
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (keep_tx, keep_rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // Every test's checks share it, several at a time.
        let options = migration_guard::postgres::ProvisionOptions { max_connections: Some(200), ..Default::default() };
        let server = runtime.block_on(migration_guard::postgres::Server::start(&options));
        let _ = ready_tx.send(server);
        let _ = keep_rx.recv();
    });
    let server = ready_rx.recv().unwrap().expect("start the ephemeral PostgreSQL");
    let shared = Arc::new(SharedServer { server: Some(server), _keeper: keep_tx });
    *slot = Arc::downgrade(&shared);
    shared
}

/// Applies every `*.up.sql` (or `up.sql` in sub-directories) under `dir` in version order, each
/// file as one simple-protocol batch, as golang-migrate and diesel do.
pub async fn apply_dir(conn: &mut sqlx::PgConnection, dir: &Path) {
    if let Err(e) = try_apply_dir(conn, dir).await {
        panic!("{e}");
    }
}

/// Like [`apply_dir`], stopping at the first failing file: `Err` names it, the files before it
/// stay applied.
pub async fn try_apply_dir(conn: &mut sqlx::PgConnection, dir: &Path) -> Result<usize, String> {
    use sqlx::Executor;
    let files = up_files(dir);
    for (applied, file) in files.iter().enumerate() {
        let sql = std::fs::read_to_string(file).unwrap();
        if let Err(e) = conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(sql))).await {
            // A failed file may leave its own transaction open.
            let _ = conn.execute("ROLLBACK").await;
            return Err(format!("{}: {e} ({applied} applied before it)", file.display()));
        }
    }
    Ok(files.len())
}

/// The up scripts of a golang-migrate or diesel directory, in numeric version order.
pub fn up_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u128, String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let file = if path.is_dir() { path.join("up.sql") } else { path.clone() };
        if (path.is_dir() && file.is_file()) || name.ends_with(".up.sql") {
            // Numeric versions sort as numbers (ente's 1..124), dated ones (diesel) as text.
            let version = name.split('_').next().unwrap_or("").to_string();
            let key = version.parse::<u128>().unwrap_or(0);
            files.push((key, name, file));
        }
    }
    files.sort();
    files.into_iter().map(|(_, _, f)| f).collect()
}

/// Flags that turn off the lint trace.
pub const NO_LINT: &[&str] = &["--no-lint"];

/// Flags that leave out the round trip and the rules on what each migration changes.
pub const NO_STAIRWAY: &[&str] = &[
    "--round-trip",
    "none",
    "--rule",
    "destructive-change=off",
    "--rule",
    "backward-incompatible=off",
    "--rule",
    "data-changed=off",
];

/// Defines `check` and `check_json` for a test module that checks its own feature alone: the
/// given flag sets turn the other features off (their findings are asserted in their modules).
#[macro_export]
macro_rules! isolate {
    ($($flags:expr),+) => {
        /// `support::check_json` with the other features off.
        #[allow(dead_code)]
        fn check_json(dir: &std::path::Path, args: &[&str]) -> (std::process::Output, serde_json::Value) {
            $crate::support::check_json(dir, &[$($flags,)+ args].concat())
        }

        /// `support::check` with the other features off.
        #[allow(dead_code)]
        fn check(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
            $crate::support::check(dir, &[$($flags,)+ args].concat())
        }
    };
}

/// Runs git in `dir` as a test user; panics with git's message when it fails.
pub fn git(dir: &Path, args: &[&str]) {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .expect("run git");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}
