//! Each migration tool's own record of what it applied to a database (`alembic_version`,
//! `_sqlx_migrations`, `schema_migrations`, `goose_db_version`, `gorp_migrations`,
//! `__diesel_schema_migrations`, `flyway_schema_history`), read (never written) and compared
//! with the chain: what is applied, pending, unknown to the chain, edited or left dirty.

use crate::migrations::{Apply, Chain, Format};
use serde::Serialize;
use sha2::{Digest, Sha384};
use sqlx::Row;
use sqlx::postgres::PgConnection;
use std::collections::{HashMap, HashSet};

/// A target database's state relative to the chain.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// The tool's bookkeeping table, and whether the target has it.
    pub table: String,
    pub table_exists: bool,
    /// Chain migrations the target records as applied, in chain order.
    pub applied: Vec<String>,
    /// Chain migrations not applied yet, in the order they would run.
    pub pending: Vec<String>,
    /// Versions the target records that the chain does not have.
    pub unknown: Vec<String>,
    /// Applied migrations whose file changed since (the tool's checksum differs).
    pub edited: Vec<String>,
    /// Why the target is in a half-applied state, if it is (golang-migrate `dirty`, a failed
    /// sqlx or Flyway row).
    pub dirty: Option<String>,
}

impl Status {
    /// Whether the target needs a person before the next deploy: unknown, edited or dirty.
    pub fn needs_attention(&self) -> bool {
        !self.unknown.is_empty() || !self.edited.is_empty() || self.dirty.is_some()
    }
}

/// The bookkeeping table `format` keeps.
pub fn table(format: Format) -> &'static str {
    match format {
        Format::Alembic => "alembic_version",
        Format::Sqlx => "_sqlx_migrations",
        Format::GolangMigrate | Format::Dbmate => "schema_migrations",
        Format::Goose => "goose_db_version",
        Format::SqlMigrate => "gorp_migrations",
        Format::Diesel => "__diesel_schema_migrations",
        Format::Flyway => "flyway_schema_history",
    }
}

/// One row the tool keeps: the migration key as the tool writes it, and what else it records.
struct Recorded {
    key: String,
    ok: bool,
    checksum: Option<Vec<u8>>,
}

/// Reads the target's bookkeeping table and compares it with `chain`.
pub async fn status(conn: &mut PgConnection, chain: &Chain) -> Result<Status, sqlx::Error> {
    let table = table(chain.format);
    let mut status = Status { table: table.to_string(), ..Status::default() };
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("\"{table}\""))
        .fetch_one(&mut *conn)
        .await?;
    status.table_exists = exists;
    let rows = if exists { rows(conn, chain.format).await? } else { Vec::new() };
    let key_of = |m: &crate::migrations::Migration| key(chain.format, m);
    let keys: HashMap<String, usize> = chain.migrations.iter().enumerate().map(|(i, m)| (key_of(m), i)).collect();
    let mut applied: HashSet<usize> = HashSet::new();
    match chain.format {
        Format::GolangMigrate => {
            // One row: the version the database is at; everything up to it is applied.
            if let Some(row) = rows.first() {
                let at: Option<u128> = row.key.parse().ok();
                for (i, m) in chain.migrations.iter().enumerate() {
                    if at.is_some_and(|at| key_of(m).parse::<u128>().is_ok_and(|v| v <= at)) {
                        applied.insert(i);
                    }
                }
                if !keys.contains_key(&row.key) {
                    status.unknown.push(row.key.clone());
                }
                if !row.ok {
                    status.dirty = Some(format!(
                        "version {} is dirty: it failed part way; fix the database, then force the version",
                        row.key
                    ));
                }
            }
        }
        Format::Alembic => {
            // The heads; a head's ancestors are applied with it.
            let parents: HashMap<&str, &[String]> =
                chain.migrations.iter().map(|m| (m.id.as_str(), m.parents.as_slice())).collect();
            let mut stack: Vec<String> = Vec::new();
            for row in &rows {
                if keys.contains_key(&row.key) {
                    stack.push(row.key.clone());
                } else {
                    status.unknown.push(row.key.clone());
                }
            }
            while let Some(id) = stack.pop() {
                if let Some(&i) = keys.get(&id)
                    && applied.insert(i)
                {
                    stack.extend(parents.get(id.as_str()).into_iter().flat_map(|p| p.iter().cloned()));
                }
            }
        }
        _ => {
            for row in &rows {
                match keys.get(&row.key) {
                    Some(&i) if row.ok => {
                        applied.insert(i);
                        if let (Some(recorded), Some(current)) =
                            (&row.checksum, checksum(chain.format, &chain.migrations[i]))
                            && *recorded != current
                        {
                            status.edited.push(chain.migrations[i].id.clone());
                        }
                    }
                    Some(_) => {
                        status.dirty = Some(format!("{} is recorded as failed; fix the database and its row", row.key))
                    }
                    None => status.unknown.push(row.key.clone()),
                }
            }
        }
    }
    for (i, m) in chain.migrations.iter().enumerate() {
        if applied.contains(&i) {
            status.applied.push(m.id.clone());
        } else {
            status.pending.push(m.id.clone());
        }
    }
    Ok(status)
}

/// The key the tool records for `m`.
pub(crate) fn key(format: Format, m: &crate::migrations::Migration) -> String {
    let version = || m.version.as_ref().map_or_else(|| m.id.clone(), |v| v.as_str().to_string());
    match format {
        // Integer columns: written without leading zeros.
        Format::Sqlx | Format::GolangMigrate | Format::Goose => {
            let v = version();
            let trimmed = v.trim_start_matches('0');
            if trimmed.is_empty() { "0".to_string() } else { trimmed.to_string() }
        }
        Format::SqlMigrate => m.up.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        // Flyway keys repeatables by description, and writes `1_1` as `1.1`.
        Format::Flyway if m.version.is_none() => m.name.clone(),
        Format::Flyway => version().replace('_', "."),
        _ => version(),
    }
}

/// The tool's rows: (key, recorded as successful, checksum).
async fn rows(conn: &mut PgConnection, format: Format) -> Result<Vec<Recorded>, sqlx::Error> {
    let sql = match format {
        Format::Alembic => "SELECT version_num::text, true, NULL::bytea FROM alembic_version",
        Format::Sqlx => "SELECT version::text, success, checksum FROM _sqlx_migrations ORDER BY version",
        Format::GolangMigrate => "SELECT version::text, NOT dirty, NULL::bytea FROM schema_migrations",
        Format::Dbmate => "SELECT version::text, true, NULL::bytea FROM schema_migrations ORDER BY version",
        // goose appends a row per up and per down: the newest row of a version says where it is.
        Format::Goose => {
            "SELECT DISTINCT ON (version_id) version_id::text, is_applied, NULL::bytea FROM goose_db_version \
             WHERE version_id > 0 ORDER BY version_id, id DESC"
        }
        Format::SqlMigrate => "SELECT id::text, true, NULL::bytea FROM gorp_migrations ORDER BY id",
        Format::Diesel => "SELECT version::text, true, NULL::bytea FROM __diesel_schema_migrations ORDER BY version",
        // A version's newest row says where it is: Flyway Teams' undo (`UNDO_SQL`, ...) took it
        // back when it succeeded; a repeatable's newest run is its row.
        Format::Flyway => {
            "SELECT key, success, NULL::bytea FROM (\
               SELECT DISTINCT ON (coalesce(version::text, description::text)) \
                 coalesce(version::text, description::text) AS key, success, type, installed_rank \
               FROM flyway_schema_history WHERE type NOT IN ('SCHEMA', 'BASELINE') \
               ORDER BY coalesce(version::text, description::text), installed_rank DESC) newest \
             WHERE NOT (type LIKE 'UNDO%' AND success) ORDER BY installed_rank"
        }
    };
    let rows = sqlx::query(sql).fetch_all(&mut *conn).await?;
    let mut out: Vec<Recorded> = Vec::new();
    for row in rows {
        let (key, ok, checksum): (String, bool, Option<Vec<u8>>) = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        // goose's newest row for a version may be its down: then it is not applied.
        if format == Format::Goose && !ok {
            continue;
        }
        out.push(Recorded { key, ok, checksum });
    }
    Ok(out)
}

/// The checksum the tool records for `m`, where it records one we can compute: sqlx's SHA-384
/// of the up file's bytes.
pub(crate) fn checksum(format: Format, m: &crate::migrations::Migration) -> Option<Vec<u8>> {
    match (format, &m.apply) {
        (Format::Sqlx, Apply::Sql) => std::fs::read(&m.up.path).ok().map(|bytes| Sha384::digest(bytes).to_vec()),
        _ => None,
    }
}

/// Flyway's checksum of a migration file, as Flyway computes it: CRC-32 of its lines' UTF-8
/// bytes without their line breaks (so line endings do not count) and without a leading byte
/// order mark, as a signed 32-bit integer.
pub(crate) fn flyway_checksum(path: &std::path::Path) -> Option<i32> {
    let bytes = std::fs::read(path).ok()?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let text = String::from_utf8_lossy(bytes);
    let mut digest = FLYWAY_CRC.digest();
    for line in text.split(['\r', '\n']) {
        digest.update(line.as_bytes());
    }
    Some(digest.finalize() as i32)
}

const FLYWAY_CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The status as lines for the terminal.
pub fn to_text(status: &Status, chain: &Chain) -> String {
    let mut out = String::new();
    let list = |ids: &[String]| ids.join(", ");
    if !status.table_exists {
        out.push_str(&format!("{}: no {} table: nothing applied yet\n", chain.format, status.table));
    }
    match status.applied.last() {
        Some(last) => {
            out.push_str(&format!("current: {last} ({} of {} applied)\n", status.applied.len(), chain.migrations.len()))
        }
        None => out.push_str(&format!("current: none (0 of {} applied)\n", chain.migrations.len())),
    }
    if status.pending.is_empty() {
        out.push_str("pending: none (up to date)\n");
    } else {
        out.push_str(&format!("pending: {} ({})\n", status.pending.len(), list(&status.pending)));
    }
    if !status.unknown.is_empty() {
        out.push_str(&format!(
            "unknown: {} applied on the target but not in the chain (a branch deployed, or a migration deleted)\n",
            list(&status.unknown)
        ));
    }
    if !status.edited.is_empty() {
        out.push_str(&format!(
            "edited: {} changed since they were applied (the target never runs them again)\n",
            list(&status.edited)
        ));
    }
    if let Some(dirty) = &status.dirty {
        out.push_str(&format!("dirty: {dirty}\n"));
    }
    out
}

/// Connects to the target named by `url` (no statement is logged: it may hold secrets).
pub async fn connect(url: &str) -> Result<PgConnection, sqlx::Error> {
    use sqlx::ConnectOptions;
    let options: sqlx::postgres::PgConnectOptions = url.parse()?;
    options.log_statements(log::LevelFilter::Off).connect().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flyway_checksums_ignore_line_endings_and_the_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            flyway_checksum(&path).unwrap()
        };
        // zlib.crc32(b"CREATE TABLE a (id int);INSERT INTO a VALUES (1);"), as a signed int.
        assert_eq!(write("a.sql", b"CREATE TABLE a (id int);\r\nINSERT INTO a VALUES (1);\n"), -279898995);
        assert_eq!(write("b.sql", b"\xef\xbb\xbfCREATE TABLE a (id int);\rINSERT INTO a VALUES (1);"), -279898995);
        assert_eq!(write("c.sql", b"CREATE TABLE b (id int);\n"), 1128195672);
    }

    #[test]
    fn every_format_has_its_table() {
        assert_eq!(table(Format::Sqlx), "_sqlx_migrations");
        assert_eq!(table(Format::Dbmate), table(Format::GolangMigrate));
    }
}
