//! Helpers shared by the integration tests: running the binary, fixtures, the shared corpora.
// Not every test module uses every helper.
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

/// Temp directories our ephemeral clusters use, to assert none is left behind.
pub fn leftover_clusters(since: &[PathBuf]) -> Vec<PathBuf> {
    clusters().into_iter().filter(|p| !since.contains(p)).collect()
}

/// The ephemeral cluster directories that exist now.
pub fn clusters() -> Vec<PathBuf> {
    std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("migration-guard-")))
        .collect()
}
