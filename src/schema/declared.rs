//! Where a schema comes from besides the migrated database: a server URL, a `.sql` file (a
//! `pg_dump --schema-only` or hand-written DDL), a YAML model file, a command printing DDL, or a
//! migrations directory. DDL is applied to a scratch database on the same server and then
//! introspected, so that PostgreSQL itself normalizes types, defaults and expressions.

use super::introspect::{IntrospectError, introspect};
use super::model::Schema;
use super::yaml;
use crate::migrations::{self, LoadError, LoadOptions, Script, display_path};
use crate::postgres::{ProvisionError, ScratchDatabase, Server};
use crate::runner::{self, RunError};
use pg_query::NodeEnum;
use pg_query::protobuf::AlterTableType;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A schema source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An existing database, read as it is.
    Url(String),
    /// DDL in a file.
    Sql(PathBuf),
    /// A YAML model file.
    Yaml(PathBuf),
    /// A shell command whose standard output is DDL.
    Command(String),
    /// SQLAlchemy models (`module:attribute`), printed as DDL by the helper built into the
    /// binary, run by `python` from the working directory.
    SqlAlchemy { target: String, python: PathBuf },
    /// A migrations directory, applied in order (an Alembic one through its own Alembic, run by
    /// `python`).
    Migrations { dir: PathBuf, python: PathBuf },
}

impl Source {
    /// Reads a `diff` argument: a `postgres://` URL, a `.sql`/`.yaml`/`.yml` file or a directory
    /// (an Alembic project's run by `python`).
    pub fn parse(arg: &str, python: &Path) -> Result<Source, DeclaredError> {
        if arg.starts_with("postgres://") || arg.starts_with("postgresql://") {
            return Ok(Source::Url(arg.to_string()));
        }
        let path = PathBuf::from(arg);
        if path.is_dir() {
            return Ok(Source::Migrations { dir: path, python: python.to_path_buf() });
        }
        Source::file(&path)
    }

    /// A `--models` file, by extension.
    pub fn file(path: &Path) -> Result<Source, DeclaredError> {
        if !path.exists() {
            return Err(DeclaredError::NotFound { path: display_path(path) });
        }
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("sql") => Ok(Source::Sql(path.to_path_buf())),
            Some("yaml" | "yml") => Ok(Source::Yaml(path.to_path_buf())),
            _ => Err(DeclaredError::UnknownFile { path: display_path(path) }),
        }
    }
}

/// Why a declared schema could not be built; every message names the file, line or setting.
#[derive(Debug, thiserror::Error)]
pub enum DeclaredError {
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    #[error("{path}: cannot tell what this is (expected a .sql, .yaml or .yml file, a directory or a postgres:// URL)")]
    UnknownFile { path: String },
    #[error("{path}: cannot read")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid { path: String, line: u32, message: String },
    /// PostgreSQL refused the models' DDL: a defect of the models, reported as drift.
    #[error("{path}:{line}: {message}")]
    Refused { path: String, line: u32, message: String },
    #[error("{what} failed ({status}){stderr}")]
    Command { what: String, status: String, stderr: String },
    #[error("{url}: not a valid PostgreSQL URL")]
    Url {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{path}: migration {id} failed at {file}:{line}: {message}")]
    Migration { path: String, id: String, file: String, line: u32, message: String },
    #[error("a server is needed to apply DDL (internal error)")]
    NoServer,
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error(transparent)]
    Introspect(#[from] IntrospectError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Alembic(#[from] crate::alembic::run::RunError),
}

/// Reads the schema `source` describes; `server` (needed for everything but a URL) hosts the
/// scratch databases DDL is applied to.
pub async fn read(server: Option<&Server>, source: &Source, options: &LoadOptions) -> Result<Schema, DeclaredError> {
    match (source, server) {
        (Source::Url(url), _) => read_url(url).await,
        (_, Some(server)) => build(server, source, options).await,
        (_, None) => Err(DeclaredError::NoServer),
    }
}

/// Introspects the database at `url`.
pub async fn read_url(url: &str) -> Result<Schema, DeclaredError> {
    let connect = PgConnectOptions::from_str(url)
        .map_err(|source| DeclaredError::Url { url: redact(url), source })?
        .log_statements(log::LevelFilter::Off);
    let mut conn = connect.connect().await.map_err(|source| DeclaredError::Connect { url: redact(url), source })?;
    let schema = introspect(&mut conn).await?;
    conn.close().await.ok();
    Ok(schema)
}

/// Builds the schema `source` describes, using a scratch database on `server` for DDL.
pub async fn build(server: &Server, source: &Source, options: &LoadOptions) -> Result<Schema, DeclaredError> {
    match source {
        Source::Url(url) => read_url(url).await,
        Source::Sql(path) => {
            let text = migrations::read_sql_file(path)?;
            let script = ddl_script(path, text)?;
            in_scratch(server, |db| async move { apply_script(&db, &script).await }).await
        }
        Source::Yaml(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| DeclaredError::Io { path: display_path(path), source })?;
            let statements = yaml::compile(&text).map_err(|e| DeclaredError::Invalid {
                path: display_path(path),
                line: e.line,
                message: e.message,
            })?;
            let shown = display_path(path);
            in_scratch(server, |db| async move { apply_statements(&db, &shown, &statements).await }).await
        }
        Source::Command(command) => {
            let mut child = crate::scrub::command("sh");
            child.arg("-c").arg(command);
            let text = printed_ddl(child, format!("--models-command {command:?}")).await?;
            let script = ddl_script(Path::new("--models-command output"), text)?;
            in_scratch(server, |db| async move { apply_script(&db, &script).await }).await
        }
        Source::SqlAlchemy { target, python } => {
            let mut child = crate::scrub::command(python);
            child.arg("-c").arg(SQLALCHEMY_HELPER).arg(target);
            let text = printed_ddl(child, format!("models {target} (through {})", python.display())).await?;
            let script = ddl_script(Path::new(&format!("models {target}")), text)?;
            in_scratch(server, |db| async move { apply_script(&db, &script).await }).await
        }
        Source::Migrations { dir, python } => chain_schema(server, migrations::load(dir, options)?, python).await,
    }
}

/// The schema `chain`'s migrations make, applied in order on a scratch database of `server`
/// (an Alembic chain through its own Alembic, run by `python`).
pub async fn chain_schema(server: &Server, chain: migrations::Chain, python: &Path) -> Result<Schema, DeclaredError> {
    let shown = display_path(&chain.dir);
    if chain.format == migrations::Format::Alembic {
        return in_scratch(server, |db| alembic_upgrades(db, chain, python, shown)).await;
    }
    in_scratch(server, |db| async move {
        let mut conn = db.connect().await?;
        for migration in &chain.migrations {
            let outcome = runner::run_replay(&mut conn, &migration.up).await?;
            if let Some(e) = outcome.error {
                return Err(DeclaredError::Migration {
                    path: shown,
                    id: migration.id.clone(),
                    file: e.file,
                    line: e.line,
                    message: e.message,
                });
            }
        }
        conn.close().await.ok();
        Ok(())
    })
    .await
}

/// Upgrades `db` through each revision of an Alembic chain, in order, with the project's own
/// Alembic (as `check` applies it); the first failure is the error.
async fn alembic_upgrades(
    db: ScratchDatabase,
    chain: migrations::Chain,
    python: &Path,
    shown: String,
) -> Result<(), DeclaredError> {
    let project = crate::alembic::config::locate(&chain.dir)?;
    let scheme = crate::alembic::run::preflight(python).await?;
    let url = db.url(None, &scheme, true);
    let mut alembic = crate::alembic::run::Alembic::start(&project, python, url, db.pgoptions()).await?;
    for migration in &chain.migrations {
        let file = crate::alembic::steps::revision_file(migration);
        let step = alembic.upgrade(&migration.id, &file).await?;
        if let Some(error) = step.error {
            let (file, line) =
                error.location.map_or((display_path(&file), 1), |(path, line)| (display_path(&path), line));
            return Err(DeclaredError::Migration {
                path: shown,
                id: migration.id.clone(),
                file,
                line,
                message: error.message,
            });
        }
    }
    Ok(())
}

/// Creates a scratch database, fills it with `fill`, introspects it and drops it again.
async fn in_scratch<F, Fut>(server: &Server, fill: F) -> Result<Schema, DeclaredError>
where
    F: FnOnce(ScratchDatabase) -> Fut,
    Fut: Future<Output = Result<(), DeclaredError>>,
{
    let db = server.create_database().await?;
    let result = async {
        fill(db.clone()).await?;
        let mut conn = db.connect().await?;
        let schema = introspect(&mut conn).await?;
        conn.close().await.ok();
        Ok(schema)
    }
    .await;
    server.drop_database(&db).await.ok();
    result
}

/// Splits DDL into a script, dropping psql meta-commands (`\restrict`, `\connect`, ...) and the
/// statements about owners and privileges, which name roles this server need not have and are
/// not part of the compared schema.
pub fn ddl_script(path: &Path, text: String) -> Result<Script, DeclaredError> {
    let text = blank_meta_commands(&text);
    let mut script = Script::new(path, 1, text)?;
    let keep: Vec<bool> = script.split.statements.iter().map(|s| !is_privilege_statement(script.text(s))).collect();
    let mut keep = keep.into_iter();
    script.split.statements.retain(|_| keep.next().unwrap_or(true));
    Ok(script)
}

/// Replaces lines starting with a backslash by empty lines, keeping line numbers.
fn blank_meta_commands(text: &str) -> String {
    if !text.lines().any(|l| l.starts_with('\\')) {
        return text.to_string();
    }
    text.split_inclusive('\n')
        .map(|line| if line.starts_with('\\') { if line.ends_with('\n') { "\n" } else { "" } } else { line })
        .collect()
}

/// True for GRANT/REVOKE, default privileges and ownership changes.
fn is_privilege_statement(sql: &str) -> bool {
    let Ok(parsed) = pg_query::parse(sql, 0) else { return false };
    parsed.protobuf.stmts.iter().all(|raw| match raw.stmt.as_ref().and_then(|s| s.node.as_ref()) {
        Some(NodeEnum::GrantStmt(_) | NodeEnum::GrantRoleStmt(_) | NodeEnum::AlterDefaultPrivilegesStmt(_)) => true,
        Some(NodeEnum::AlterOwnerStmt(_)) => true,
        Some(NodeEnum::AlterTableStmt(alter)) => {
            !alter.cmds.is_empty()
                && alter.cmds.iter().all(|cmd| match &cmd.node {
                    Some(NodeEnum::AlterTableCmd(c)) => c.subtype == AlterTableType::AtChangeOwner as i32,
                    _ => false,
                })
        }
        _ => false,
    })
}

async fn apply_script(db: &ScratchDatabase, script: &Script) -> Result<(), DeclaredError> {
    let mut conn = db.connect().await?;
    let outcome = runner::run_replay(&mut conn, script).await?;
    conn.close().await.ok();
    match outcome.error {
        None => Ok(()),
        Some(e) => Err(DeclaredError::Refused {
            path: e.file,
            line: e.line,
            message: format!("{} (SQLSTATE {})", e.message, e.sqlstate),
        }),
    }
}

async fn apply_statements(
    db: &ScratchDatabase,
    path: &str,
    statements: &[yaml::Statement],
) -> Result<(), DeclaredError> {
    let mut conn = db.connect().await?;
    for statement in statements {
        if let Err(error) = conn.execute(sqlx::AssertSqlSafe(statement.sql.as_str())).await {
            let message = match &error {
                sqlx::Error::Database(db) => format!("{} (in `{}`)", db.message(), statement.sql),
                other => other.to_string(),
            };
            return Err(DeclaredError::Refused { path: path.to_string(), line: statement.line, message });
        }
    }
    conn.close().await.ok();
    Ok(())
}

/// The SQLAlchemy models helper (also shipped as a file for `--models-command`).
const SQLALCHEMY_HELPER: &str = include_str!("../../python/migration_guard_sqlalchemy.py");

/// Runs a command that prints DDL (`what` names it in errors; made by [`crate::scrub::command`])
/// and returns its standard output.
async fn printed_ddl(mut child: tokio::process::Command, what: String) -> Result<String, DeclaredError> {
    let output = child
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| DeclaredError::Command { what: what.clone(), status: e.to_string(), stderr: String::new() })?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last =
        stderr.lines().rev().find(|l| !l.trim().is_empty()).map(|l| format!(": {}", l.trim())).unwrap_or_default();
    if !output.status.success() {
        return Err(DeclaredError::Command { what, status: output.status.to_string(), stderr: last });
    }
    String::from_utf8(output.stdout).map_err(|_| DeclaredError::Command {
        what,
        status: "its output is not UTF-8".into(),
        stderr: String::new(),
    })
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privilege_statements_and_meta_commands_are_dropped() {
        let text = "\\restrict abc\nCREATE TABLE t (id int);\nALTER TABLE t OWNER TO bob;\nGRANT SELECT ON t TO PUBLIC;\n\
                    ALTER TABLE t ADD COLUMN x int;\nALTER FUNCTION f() OWNER TO bob;\n\\unrestrict abc\n";
        let script = ddl_script(Path::new("dump.sql"), text.to_string()).unwrap();
        let kept: Vec<&str> = script.split.statements.iter().map(|s| script.text(s)).collect();
        assert_eq!(kept, vec!["CREATE TABLE t (id int)", "ALTER TABLE t ADD COLUMN x int"]);
        assert_eq!(script.split.statements[1].line, 5);
    }

    #[test]
    fn sources_by_argument() {
        assert_eq!(
            Source::parse("postgres://u@h/db", Path::new("python3")).unwrap(),
            Source::Url("postgres://u@h/db".into())
        );
        assert!(matches!(Source::parse("nope.sql", Path::new("python3")), Err(DeclaredError::NotFound { .. })));
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u@h/db");
    }
}
