//! Differential tests against the migration tools themselves, where they install from the
//! registries: a shared corpus applied by the real tool and by Migration Guard gives the same
//! schema (the tool's database read back and compared by `migration-guard diff`, which leaves
//! the bookkeeping tables out).

use crate::support::*;
use std::process::Command;

/// The sqlx corpora: their migrations folders, relative to the corpus folder.
const SQLX_CORPORA: &[(&str, &str)] = &[
    ("atuin", "crates/atuin-server-postgres/migrations"),
    ("quickwit", "quickwit/quickwit-metastore/migrations/postgresql"),
    ("svix", "server/svix-server/migrations"),
];

#[tokio::test]
#[cfg_attr(
    not(mg_sqlx_cli),
    ignore = "needs sqlx-cli on PATH (cargo install sqlx-cli --no-default-features --features postgres,rustls), then rebuild the tests"
)]
#[cfg_attr(
    not(mg_corpora),
    ignore = "needs the shared migration corpora (set MIGRATION_GUARD_CORPUS, then rebuild the tests)"
)]
async fn sqlx_cli_and_the_check_build_the_same_schema() {
    let server = shared_server();
    let mut differences = Vec::new();
    for (name, path) in SQLX_CORPORA {
        let Some(corpus) = corpus(name) else { continue };
        let dir = corpus.join(path);
        let database = server.create_database().await.unwrap();
        // sqlx-cli 0.8 wants a host before `?host=` names the socket.
        let url = database.url(None, "postgres", true).replacen("@/", "@localhost/", 1);
        let applied = Command::new("sqlx")
            .args(["migrate", "run", "--source"])
            .arg(&dir)
            .args(["--database-url", &url])
            .output()
            .unwrap();
        assert!(applied.status.success(), "sqlx migrate run on {name}\n{}", text(&applied));
        let output = bin().arg("diff").arg(&dir).arg(&url).output().unwrap();
        match output.status.code() {
            Some(0) => {}
            Some(1) => differences.push(format!("{name}:\n{}", String::from_utf8_lossy(&output.stdout))),
            _ => panic!("diff on {name}\n{}", text(&output)),
        }
        server.drop_database(&database).await.unwrap();
    }
    assert!(differences.is_empty(), "schemas differ from sqlx-cli's:\n{}", differences.join("\n"));
}
