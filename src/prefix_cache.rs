//! The merged prefix cache (`prefix-cache: DIR`): the scratch database as the merged migrations
//! at the head of the chain left it, kept as a `pg_dump` archive in a directory CI keeps between
//! runs (e.g. with `actions/cache`), and restored instead of replaying those migrations when
//! they are the same. The key hashes what makes that state: each migration's id, SQL and how it
//! runs, the format, the declared roles, a seed loaded among them, the server's major version
//! and ours. The archive restores as the role migrations run as, so a tampered file can do no
//! more than a migration could.

use crate::migrations::{Chain, Format, Transaction};
use crate::postgres::{Isolation, ScratchDatabase, Server, last_line};
use crate::roundtrip::Plan;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How the cache served a run, for the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CacheReport {
    /// The directory, as configured.
    pub dir: String,
    /// The key the merged prefix hashes to (hex).
    pub key: String,
    /// How many merged migrations lead the chain (what the archive stands for).
    pub migrations: usize,
    pub outcome: CacheOutcome,
    /// Why the cache was not used, or what went wrong with it (the run replayed instead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Time spent restoring or saving the archive.
    pub duration_ms: f64,
}

impl CacheReport {
    /// How many merged migrations were restored rather than replayed.
    pub fn restored(&self) -> usize {
        if self.outcome == CacheOutcome::Restored { self.migrations } else { 0 }
    }

    /// One plain sentence for the report (the note may hold text from the pull request:
    /// renderers escape it).
    pub fn describe(&self) -> String {
        let seconds = self.duration_ms / 1000.0;
        let (dir, n) = (&self.dir, self.migrations);
        let (first, were, them) = if n == 1 {
            ("the first merged migration".to_string(), "was", "it")
        } else {
            (format!("the first {n} merged migrations"), "were", "them")
        };
        match self.outcome {
            CacheOutcome::Restored => {
                format!("prefix cache ({dir}): {first} {were} restored in {seconds:.2} s instead of replayed")
            }
            CacheOutcome::Saved => format!(
                "prefix cache ({dir}): the database after {first} was saved in {seconds:.2} s; the next run with {them} unchanged restores it instead of replaying {them}"
            ),
            CacheOutcome::Unused => {
                format!("prefix cache not used: {}", self.note.as_deref().unwrap_or("no archive was written"))
            }
        }
    }
}

/// What the cache did.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CacheOutcome {
    /// The archive was there: the merged prefix was restored, not replayed.
    Restored,
    /// There was none: the prefix was replayed and its archive written for the next run.
    Saved,
    /// Neither (see the note).
    Unused,
}

/// The cache directory, and the key and length of this chain's merged prefix.
#[derive(Debug, Clone)]
pub struct PrefixCache {
    dir: PathBuf,
    key: String,
    migrations: usize,
    /// The server URL the user gave, whose host and options the tools connect with.
    given_url: Option<String>,
    /// This run's prefix of declared role names on a shared server.
    role_prefix: Option<String>,
    /// Longest pg_dump or pg_restore may take.
    timeout: Duration,
    /// Why this run cannot use the cache, known before anything runs.
    unusable: Option<String>,
}

/// What the archive's sidecar records: the names the dumped database's roles had, which its
/// grants mention and which differ in every run.
#[derive(Debug, Serialize, Deserialize)]
struct Sidecar {
    role: String,
    role_prefix: Option<String>,
}

impl PrefixCache {
    /// The cache in `dir` for `chain` as `plan` runs it (the merged migrations before the first
    /// judged one make the prefix) on `server`, with the declared `roles` (as configured).
    pub fn new(
        dir: &Path,
        chain: &Chain,
        plan: &Plan,
        server: &Server,
        roles: &[String],
        given_url: Option<&str>,
        role_prefix: Option<&str>,
    ) -> PrefixCache {
        let migrations = plan.judged.iter().take_while(|judged| !**judged).count();
        let unusable = if chain.format == Format::Alembic {
            Some("Alembic revisions run Python that may import any module of the project, so their files alone cannot tell that the state they build is the same".to_string())
        } else if let Isolation::Admin(reason) = server.isolation() {
            Some(format!(
                "migrations run as the server's administrator ({reason}), and an archive keeps no change they make to the server itself (roles, settings)"
            ))
        } else if migrations == 0 {
            Some("no merged migration leads the chain (it is judged from its first migration)".to_string())
        } else {
            None
        };
        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(bytes);
        };
        field(concat!("migration-guard prefix cache 1 ", env!("CARGO_PKG_VERSION")).as_bytes());
        field(&(server.version_num() / 10000).to_le_bytes());
        field(chain.format.to_string().as_bytes());
        // As written: the names a shared server gives declared roles are not part of it.
        for role in roles {
            field(role.as_bytes());
        }
        for migration in &chain.migrations[..migrations] {
            field(migration.id.as_bytes());
            field(migration.up.sql.as_bytes());
            field(match &migration.up.transaction {
                Transaction::Wrapped => b"wrapped",
                Transaction::None(_) => b"none",
            });
        }
        if let Some(seed) = plan.seed.as_ref().filter(|s| s.after.is_none_or(|after| after < migrations)) {
            field(seed.script.sql.as_bytes());
            field(&seed.after.map_or(0, |a| a as u64 + 1).to_le_bytes());
        }
        let key: String = hash.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect();
        PrefixCache {
            dir: dir.to_path_buf(),
            key,
            migrations,
            given_url: given_url.map(str::to_string),
            role_prefix: role_prefix.map(str::to_string),
            timeout: plan.timeout,
            unusable,
        }
    }

    /// How many merged migrations the archive stands for.
    pub fn migrations(&self) -> usize {
        self.migrations
    }

    /// Whether this run may restore or save the archive.
    pub fn usable(&self) -> bool {
        self.unusable.is_none()
    }

    /// Whether the archive of this key is there to restore.
    pub fn available(&self) -> bool {
        self.usable() && self.archive().is_file() && self.sidecar().is_file()
    }

    /// The report of a run that neither restored nor saved: why not (`note`, else the reason
    /// known up front).
    pub fn unused(&self, note: Option<String>) -> CacheReport {
        self.report(CacheOutcome::Unused, note.or_else(|| self.unusable.clone()), Duration::ZERO)
    }

    /// The report of what the cache did.
    pub fn report(&self, outcome: CacheOutcome, note: Option<String>, duration: Duration) -> CacheReport {
        CacheReport {
            dir: crate::migrations::display_path(&self.dir),
            key: self.key.clone(),
            migrations: self.migrations,
            outcome,
            note,
            duration_ms: crate::report::millis(duration),
        }
    }

    fn archive(&self) -> PathBuf {
        self.dir.join(format!("{FILE_PREFIX}{}.dump", self.key))
    }

    fn sidecar(&self) -> PathBuf {
        self.dir.join(format!("{FILE_PREFIX}{}.json", self.key))
    }

    /// Restores the archive into `database` (new and empty) as the role migrations run as. On
    /// an error the database may hold part of it: drop it.
    pub async fn restore(&self, server: &Server, database: &ScratchDatabase) -> Result<Duration, String> {
        let started = Instant::now();
        let role = database.role.as_deref().ok_or("migrations run as the administrator")?;
        let sidecar: Sidecar = serde_json::from_slice(&std::fs::read(self.sidecar()).map_err(|e| e.to_string())?)
            .map_err(|e| format!("{}: {e}", self.sidecar().display()))?;
        // Only names this tool makes are replaced: the sidecar is a file anyone may have written.
        if !is_run_role(&sidecar.role) || sidecar.role_prefix.as_deref().is_some_and(|p| !is_role_prefix(p)) {
            return Err(format!("{}: not a sidecar this tool wrote", self.sidecar().display()));
        }
        let pg_restore = server.client_tool("pg_restore")?;
        let archive = self.archive();
        let listing = self.tool(&pg_restore, database, |c| c.arg("--list").arg(&archive)).await?;
        let (mut main, mut grants) = (String::new(), String::new());
        for line in String::from_utf8_lossy(&listing).lines() {
            let entry = line.split_once("; ").map(|(_, rest)| rest.splitn(3, ' ').nth(2).unwrap_or_default());
            match entry {
                // The DDL log's event triggers: the stairway installs its own log.
                Some(e) if e.starts_with(&format!("EVENT TRIGGER - {}_", crate::schema::ddl_log::SCHEMA)) => {}
                Some(e) if e.starts_with("ACL ") || e.starts_with("DEFAULT ACL ") => {
                    grants.push_str(&format!("{line}\n"))
                }
                _ => main.push_str(&format!("{line}\n")),
            }
        }
        let lists = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (main_list, grants_list) = (lists.path().join("main"), lists.path().join("grants"));
        std::fs::write(&main_list, main)
            .and_then(|()| std::fs::write(&grants_list, &grants))
            .map_err(|e| e.to_string())?;
        let url = database.url(self.given_url.as_deref(), "postgresql", false);
        self.tool(&pg_restore, database, |c| {
            c.args(["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", "--dbname"])
                .arg(&url)
                .arg("--use-list")
                .arg(&main_list)
                .arg(&archive)
        })
        .await?;
        if !grants.is_empty() {
            // Grants name the roles of the run that dumped: they get this run's names.
            let sql = self
                .tool(&pg_restore, database, |c| {
                    c.args(["--no-owner", "--file", "-", "--use-list"]).arg(&grants_list).arg(&archive)
                })
                .await?;
            let mut sql: String = String::from_utf8_lossy(&sql)
                .lines()
                .filter(|l| !l.starts_with('\\'))
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                .replace(&sidecar.role, role);
            if let (Some(old), Some(new)) = (&sidecar.role_prefix, &self.role_prefix) {
                sql = sql.replace(old.as_str(), new);
            }
            let mut conn = database.connect().await.map_err(|e| e.to_string())?;
            let mut tx = conn.begin().await.map_err(|e| e.to_string())?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await.map_err(|e| format!("grants: {e}"))?;
            tx.commit().await.map_err(|e| e.to_string())?;
            conn.close().await.ok();
        }
        Ok(started.elapsed())
    }

    /// Writes the archive of `database` (the merged prefix applied, nothing else yet), and
    /// removes the archives of other keys.
    pub async fn save(&self, server: &Server, database: &ScratchDatabase) -> Result<Duration, String> {
        let started = Instant::now();
        let role = database.role.clone().ok_or("migrations run as the administrator")?;
        let pg_dump = server.client_tool("pg_dump")?;
        let mut conn = database.connect().await.map_err(|e| e.to_string())?;
        let settings: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_catalog.pg_db_role_setting s \
             WHERE s.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) \
                OR s.setrole = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
        conn.close().await.ok();
        if settings > 0 {
            return Err("the merged migrations set defaults of the database or its role (ALTER DATABASE / ALTER ROLE ... SET), which an archive does not keep".into());
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let partial = self.dir.join(format!("{FILE_PREFIX}{}.partial", self.key));
        let url = database.url(self.given_url.as_deref(), "postgresql", false);
        let written = self
            .tool(&pg_dump, database, |c| {
                c.args(["--format=custom", "--no-owner", "--exclude-schema", crate::schema::ddl_log::SCHEMA, "--file"])
                    .arg(&partial)
                    .arg("--dbname")
                    .arg(&url)
            })
            .await;
        if let Err(e) = written {
            std::fs::remove_file(&partial).ok();
            return Err(e);
        }
        let sidecar =
            serde_json::to_vec(&Sidecar { role, role_prefix: self.role_prefix.clone() }).map_err(|e| e.to_string())?;
        let stored = std::fs::write(self.sidecar(), sidecar).and_then(|()| std::fs::rename(&partial, self.archive()));
        if let Err(e) = stored {
            std::fs::remove_file(&partial).ok();
            return Err(format!("{}: {e}", self.dir.display()));
        }
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with(FILE_PREFIX) && !name.contains(&self.key) {
                std::fs::remove_file(entry.path()).ok();
            }
        }
        Ok(started.elapsed())
    }

    /// Runs a PostgreSQL client tool set up by `args` (the password in its environment, not on
    /// its command line), for at most the timeout: its standard output, or the last line of
    /// what it said.
    async fn tool(
        &self,
        program: &Path,
        database: &ScratchDatabase,
        args: impl FnOnce(&mut tokio::process::Command) -> &mut tokio::process::Command,
    ) -> Result<Vec<u8>, String> {
        let mut command = tokio::process::Command::new(program);
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        command.env_remove("PGSERVICE").env_remove("PGOPTIONS").env("PGCONNECT_TIMEOUT", "15");
        match &database.password {
            Some(password) => command.env("PGPASSWORD", password),
            None => command.env_remove("PGPASSWORD"),
        };
        args(&mut command);
        let name = program.file_name().map_or_else(String::new, |n| n.to_string_lossy().to_string());
        let child = command.spawn().map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(output) => output.map_err(|e| format!("{name}: {e}"))?,
            Err(_) => return Err(format!("{name} did not finish in {} s", self.timeout.as_secs())),
        };
        if !output.status.success() {
            return Err(format!("{name} failed: {}", last_line(&String::from_utf8_lossy(&output.stderr))));
        }
        Ok(output.stdout)
    }
}

/// What the names of the cache's files start with (and only they are ever removed).
const FILE_PREFIX: &str = "migration-guard-prefix-";

/// A name of the shape this tool makes: `mg_<seconds>_<hex_digits hex digits>`.
fn is_generated(name: &str, hex_digits: usize) -> bool {
    let mut parts = name.split('_');
    parts.next() == Some("mg")
        && parts.next().is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        && parts.next().is_some_and(|h| h.len() == hex_digits && h.bytes().all(|b| b.is_ascii_hexdigit()))
        && parts.next().is_none()
}

/// A role name [`Server::create_database`] makes: `mg_<seconds>_<16 hex digits>`.
fn is_run_role(name: &str) -> bool {
    is_generated(name, 16)
}

/// A role prefix of a run on a shared server: `mg_<seconds>_<8 hex digits>_`.
fn is_role_prefix(prefix: &str) -> bool {
    prefix.strip_suffix('_').is_some_and(|name| is_generated(name, 8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_this_tool_makes_are_replaced() {
        assert!(is_run_role("mg_1733000000_0123456789abcdef"));
        assert!(!is_run_role("mg_1733000000_0123456789abcde"));
        assert!(!is_run_role("postgres"));
        assert!(!is_run_role(""));
        assert!(!is_run_role("mg_1_0123456789abcdef_x"));
        assert!(is_role_prefix("mg_1733000000_01234567_"));
        assert!(!is_role_prefix("mg_1733000000_01234567"));
        assert!(!is_role_prefix("app_"));
    }
}
