//! The DDL log of a scratch database: event triggers (`sql/ddl_log.sql`) write down every object
//! a DDL command creates, alters or drops (the drain finds their owners), so that
//! [`super::introspect::Snapshots`] learns what changed from what the migrations did, not by
//! scanning whole catalogs. Only a superuser can install it; elsewhere snapshots scan.

use sqlx::postgres::PgConnection;
use sqlx::postgres::types::Oid;
use sqlx::{Executor, Row};

/// The log's schema (a reserved `pg_` name, which introspection leaves out).
pub const SCHEMA: &str = "pg_migration_guard";

/// What one logged change names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// An owner (see `sql/versions.sql`) whose objects changed: `oid` 0 for what may change how
    /// anything prints; `kind` its relkind, `F` or `y` (as logged when it was dropped);
    /// `present` whether it exists now. Tables related by inheritance to a changed table come
    /// along.
    Owner { oid: u32, kind: String, present: bool },
    /// A dropped index, by qualified name: its table is not in the log.
    DroppedIndex(String),
}

/// Installs the log on the database `conn` is connected to; false where it cannot be (not a
/// superuser, PostgreSQL before 12, or a log is there already: two readers must not drain one
/// log).
pub async fn install(conn: &mut PgConnection) -> bool {
    let script = format!("BEGIN;\n{}\nCOMMIT;", include_str!("sql/ddl_log.sql"));
    if conn.execute(sqlx::AssertSqlSafe(script)).await.is_ok() {
        return true;
    }
    conn.execute("ROLLBACK").await.ok();
    false
}

/// Takes the entries logged since the previous drain, and empties the log.
pub async fn drain(conn: &mut PgConnection) -> Result<Vec<Entry>, super::IntrospectError> {
    let rows = sqlx::query(include_str!("sql/ddl_log_drain.sql"))
        .fetch_all(conn)
        .await
        .map_err(|source| super::IntrospectError::Query { what: "the DDL log", source })?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let read = |source| super::IntrospectError::Query { what: "the DDL log", source };
        let index: Option<String> = row.try_get(3).map_err(read)?;
        entries.push(match index {
            Some(name) => Entry::DroppedIndex(name),
            None => Entry::Owner {
                oid: row.try_get::<Oid, _>(0).map_err(read)?.0,
                kind: row.try_get(1).map_err(read)?,
                present: row.try_get(2).map_err(read)?,
            },
        });
    }
    Ok(entries)
}
