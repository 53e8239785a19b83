//! Tells the integration tests which optional tools and data this machine has (Alembic with
//! SQLAlchemy and psycopg2; sqlx-cli, dbmate and diesel_cli; the shared migration corpora), so that tests
//! needing them are ignored with the reason instead of failing, or passing without having run.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mg_alembic)");
    println!("cargo::rustc-check-cfg=cfg(mg_corpora)");
    println!("cargo::rustc-check-cfg=cfg(mg_sqlx_cli)");
    println!("cargo::rustc-check-cfg=cfg(mg_dbmate)");
    println!("cargo::rustc-check-cfg=cfg(mg_diesel_cli)");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=MIGRATION_GUARD_CORPUS");
    if succeeds("python3", &["-c", "import alembic, sqlalchemy, psycopg2"]) {
        println!("cargo::rustc-cfg=mg_alembic");
    }
    // sqlx-cli, for the differential test against the real tool.
    if succeeds("sqlx", &["migrate", "--help"]) {
        println!("cargo::rustc-cfg=mg_sqlx_cli");
    }
    if succeeds("dbmate", &["--version"]) {
        println!("cargo::rustc-cfg=mg_dbmate");
    }
    if succeeds("diesel", &["--version"]) {
        println!("cargo::rustc-cfg=mg_diesel_cli");
    }
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let corpus = std::env::var_os("MIGRATION_GUARD_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../shared/corpus"));
    if corpus.is_dir() {
        println!("cargo::rerun-if-changed={}", corpus.display());
        println!("cargo::rustc-cfg=mg_corpora");
    }
}

/// Whether `program args` runs and exits 0.
fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}
