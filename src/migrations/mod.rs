//! Loading a migration chain from disk into one format-independent model: which migrations
//! exist, their order, their up/down SQL and how each must run. Knows nothing of databases.

pub mod base;
pub mod detect;
pub mod formats;
pub mod git;
pub mod graph;
pub mod version;

use crate::findings::Finding;
use crate::sql::{self, Split, Statement, TxEffect};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
pub use version::Version;

/// A migration tool whose file layout we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// sqlx: `<version>_<name>.sql`, or `.up.sql` / `.down.sql` pairs.
    Sqlx,
    /// golang-migrate: `<version>_<name>.up.sql` / `.down.sql`.
    GolangMigrate,
    /// goose: `<version>_<name>.sql` with `-- +goose Up` / `Down` sections.
    Goose,
    /// sql-migrate: `<name>.sql` with `-- +migrate Up` / `Down` sections.
    SqlMigrate,
    /// dbmate: `<version>_<name>.sql` with `-- migrate:up` / `down` sections.
    Dbmate,
    /// diesel: `<version>_<name>/up.sql` and `down.sql` directories.
    Diesel,
    /// Flyway: `V<version>__<description>.sql`, `U...` undo and `R__` repeatable files.
    Flyway,
    /// Alembic: Python revision files linked by `down_revision`, run by the project's Alembic.
    Alembic,
}

impl Format {
    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Sqlx => "sqlx",
            Format::GolangMigrate => "golang-migrate",
            Format::Goose => "goose",
            Format::SqlMigrate => "sql-migrate",
            Format::Dbmate => "dbmate",
            Format::Diesel => "diesel",
            Format::Flyway => "flyway",
            Format::Alembic => "alembic",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a script runs inside a transaction the runner opens, and why not when it does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", content = "reason", rename_all = "kebab-case")]
pub enum Transaction {
    /// Wrapped in BEGIN ... COMMIT by the runner.
    Wrapped,
    /// Run statement by statement without a wrapping transaction, for the given reason.
    None(String),
}

impl Transaction {
    /// The mode tools without a per-file flag use: wrapped, unless the script manages its own
    /// transaction or contains a statement PostgreSQL refuses inside a transaction block.
    pub fn inferred(split: &Split) -> Transaction {
        for statement in &split.statements {
            match statement.tx {
                TxEffect::Control(kw) => {
                    return Transaction::None(format!("the script runs its own {kw} (line {})", statement.line));
                }
                TxEffect::NotInTransaction(what) => {
                    return Transaction::None(format!(
                        "{what} cannot run inside a transaction (line {})",
                        statement.line
                    ));
                }
                TxEffect::Plain => {}
            }
        }
        Transaction::Wrapped
    }

    /// Whether the runner wraps the script in a transaction.
    pub fn is_wrapped(&self) -> bool {
        matches!(self, Transaction::Wrapped)
    }
}

/// The SQL of one direction of a migration, with where it lives in its file.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file, as shown to users (relative to the working directory where possible).
    pub path: PathBuf,
    /// 1-based line of the file on which `sql` starts (section formats start mid-file).
    pub first_line: u32,
    /// The SQL to execute, placeholders already substituted.
    pub sql: String,
    /// `sql` split into statements.
    pub split: Split,
    /// How the script must run.
    pub transaction: Transaction,
    /// For SQL a tool rendered rather than read from the file: `(byte offset in sql, file
    /// line)` pairs, sorted; the SQL from each offset on came from that line. Empty for SQL
    /// read from the file, whose lines count from `first_line`.
    pub origins: Vec<(usize, u32)>,
}

/// A splitting error of a script that starts at `first_line` of `path`, on the file's line.
fn split_error(path: &Path, first_line: u32, error: sql::SqlError) -> LoadError {
    let line = match &error {
        sql::SqlError::Nul { line } | sql::SqlError::Scan { line, .. } => first_line + line - 1,
    };
    LoadError::Sql { path: display_path(path), line, error }
}

impl Script {
    /// Splits `sql` (which starts at `first_line` of `path`) into statements; the transaction
    /// mode is inferred and may be overridden by the format's loader.
    pub fn new(path: &Path, first_line: u32, sql: String) -> Result<Script, LoadError> {
        Script::with_blocks(path, first_line, sql, &[])
    }

    /// Like [`Script::new`], but each byte range of `sql` in `blocks` is kept as one statement
    /// (the tool sends it to the server unsplit).
    pub fn with_blocks(
        path: &Path,
        first_line: u32,
        sql: String,
        blocks: &[std::ops::Range<usize>],
    ) -> Result<Script, LoadError> {
        let split = sql::split_keeping(&sql, blocks).map_err(|error| split_error(path, first_line, error))?;
        Ok(Script::of_split(path, first_line, sql, split))
    }

    /// Like [`Script::with_blocks`] for a down (or undo) script, which the tools never read while
    /// migrating: text the scanner cannot split (an unterminated quote) is kept as one statement
    /// for the server to reject, so the round trip reports the down as irreversible and the ups
    /// still run.
    pub fn down(
        path: &Path,
        first_line: u32,
        sql: String,
        blocks: &[std::ops::Range<usize>],
    ) -> Result<Script, LoadError> {
        let split = match sql::split_keeping(&sql, blocks) {
            Ok(split) => split,
            Err(sql::SqlError::Scan { .. }) => {
                let lines = sql::Lines::new(&sql);
                let start = sql.len() - sql.trim_start().len();
                let end = sql.trim_end().len();
                let statements = if start < end {
                    vec![Statement {
                        start,
                        end,
                        line: lines.line(start),
                        tx: sql::TxEffect::Plain,
                        reach: sql::Reach::Database,
                        sent: None,
                        tree: None,
                    }]
                } else {
                    Vec::new()
                };
                Split { statements, lines, syntax_error: Some("the scanner cannot split it".into()), compound: false }
            }
            Err(error) => return Err(split_error(path, first_line, error)),
        };
        Ok(Script::of_split(path, first_line, sql, split))
    }

    /// The script of `sql` split as `split`, its transaction mode inferred from the statements.
    fn of_split(path: &Path, first_line: u32, sql: String, split: Split) -> Script {
        let transaction = Transaction::inferred(&split);
        Script { path: path.to_path_buf(), first_line, sql, split, transaction, origins: Vec::new() }
    }

    /// The text of one of this script's statements.
    pub fn text(&self, statement: &Statement) -> &str {
        &self.sql[statement.start..statement.end]
    }

    /// The parse tree of one of its statements (the first command's, for a block of several) and
    /// whether more commands follow.
    pub fn parsed(&self, statement: &Statement) -> (Option<pg_query::NodeEnum>, bool) {
        statement.parsed(self.text(statement))
    }

    /// The text sent to the server for one of its statements: as written, or as the check
    /// rewrote it.
    pub fn sent<'a>(&'a self, statement: &'a Statement) -> &'a str {
        statement.sent.as_deref().unwrap_or_else(|| self.text(statement))
    }

    /// The 1-based line in the file of byte offset `byte` of `sql`.
    pub fn file_line(&self, byte: usize) -> u32 {
        if !self.origins.is_empty() {
            let at = self.origins.partition_point(|(start, _)| *start <= byte);
            return self.origins.get(at.saturating_sub(1)).map_or(self.first_line, |(_, line)| *line);
        }
        self.first_line + self.split.lines.line(byte) - 1
    }

    /// The 1-based line in the file of a statement's first token.
    pub fn statement_line(&self, statement: &Statement) -> u32 {
        if !self.origins.is_empty() {
            return self.file_line(statement.start);
        }
        self.first_line + statement.line - 1
    }

    /// True when the SQL was rendered by a tool from another language's source (see `origins`).
    pub fn is_rendered(&self) -> bool {
        !self.origins.is_empty()
    }

    /// True when the script contains no statement (only comments or blank text).
    pub fn is_empty(&self) -> bool {
        self.split.statements.is_empty()
    }

    /// The path as shown in reports.
    pub fn display_path(&self) -> String {
        display_path(&self.path)
    }
}

/// One migration of a chain, in any format.
#[derive(Debug, Clone)]
pub struct Migration {
    /// The id the tool uses: the version as written (`0001`, `20240101120000`, `1.2`), or for
    /// repeatable Flyway migrations `R__<description>`.
    pub id: String,
    /// Sort key for versioned formats; `None` for repeatable migrations.
    pub version: Option<Version>,
    /// Human description from the file name.
    pub name: String,
    /// Ids of the migrations this one follows (the previous version for linear formats).
    pub parents: Vec<String>,
    pub up: Script,
    pub down: Option<Script>,
    /// How the migration is applied.
    pub apply: Apply,
}

/// How a migration is applied: its SQL scripts by our runner, or a revision by the project's
/// own tool.
#[derive(Debug, Clone)]
pub enum Apply {
    /// `up` / `down` run statement by statement by `runner`.
    Sql,
    /// An Alembic revision, run by `alembic upgrade` / `downgrade`; `up` / `down` hold no SQL
    /// and only locate `upgrade()` / `downgrade()` in the file.
    Alembic(Box<crate::alembic::Revision>),
    /// Code the check cannot run (a goose Go migration, whose reason this is): `up` is its file
    /// with no statement, so the chain goes on without it and a warning says so.
    Opaque(String),
}

/// A loaded chain: the migrations in the order they apply, plus what loading noticed.
#[derive(Debug, Clone)]
pub struct Chain {
    pub format: Format,
    /// The migrations directory as given.
    pub dir: PathBuf,
    /// In apply order.
    pub migrations: Vec<Migration>,
    /// Problems with the chain itself (duplicate versions, ...).
    pub findings: Vec<Finding>,
    /// How the format was chosen, shown with `--verbose`.
    pub notes: Vec<String>,
}

/// What the loader needs besides the directory.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `None` detects the format from the directory's contents.
    pub format: Option<Format>,
    /// Flyway `${name}` placeholder values.
    pub placeholders: BTreeMap<String, String>,
    /// Flyway locations besides the directory (none: those of a flyway.conf or flyway.toml
    /// that names the directory).
    pub locations: Vec<PathBuf>,
    /// Roles the check creates before the chain: statements that only create, alter or drop
    /// them are not run.
    pub roles: Vec<String>,
    /// On a shared server the roles are created under this run's prefix: statements naming
    /// them are sent with the prefixed names.
    pub role_prefix: Option<String>,
}

/// Why a chain cannot be loaded; every variant names the path (and line) to fix.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: no such directory (set the migrations directory with `check DIR` or the `path` input)")]
    NotFound { path: String },
    #[error("{path}: not a directory (point `check` at the folder holding the migrations)")]
    NotADirectory { path: String },
    #[error("{path}: no migrations found{hint}")]
    Empty { path: String, hint: String },
    #[error("{path}: cannot tell the migration format ({reason}); pass --format")]
    Undetected { path: String, reason: String },
    #[error("{path}: cannot read")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: not valid UTF-8 (save the file as UTF-8)")]
    NotUtf8 { path: String, line: u32 },
    /// Shown on one line: the scanner's message is the whole story.
    #[error("{path}:{line}: {error}")]
    Sql { path: String, line: u32, error: sql::SqlError },
    #[error("{path}:{line}: {message}")]
    Invalid { path: String, line: u32, message: String },
    /// A `--location` (input `locations`) that cannot be one.
    #[error("location {path}: {reason}")]
    Location { path: String, reason: String },
    /// A migration file that is not a regular file inside the repository.
    #[error("{path}: {reason}; migration files must be regular files inside the repository")]
    NotRegular { path: String, reason: String },
}

impl LoadError {
    /// A format-specific problem at `path:line`.
    pub fn invalid(path: &Path, line: u32, message: impl Into<String>) -> LoadError {
        LoadError::Invalid { path: display_path(path), line, message: message.into() }
    }
}

/// Loads the chain in `dir`: detects or uses the format, reads every migration, orders them,
/// links each to its predecessor and checks the chain.
pub fn load(dir: &Path, options: &LoadOptions) -> Result<Chain, LoadError> {
    let shown = display_path(dir);
    let meta = std::fs::metadata(dir).map_err(|_| LoadError::NotFound { path: shown.clone() })?;
    if !meta.is_dir() {
        return Err(LoadError::NotADirectory { path: shown });
    }
    let (format, notes) = match options.format {
        Some(format) => (format, vec![format!("format {format}: given with --format")]),
        None => {
            let detection = detect::detect(dir)?;
            (detection.format, detection.reasons)
        }
    };
    if format != Format::Flyway
        && let Some(location) = options.locations.first()
    {
        return Err(LoadError::Location {
            path: display_path(location),
            reason: format!("more locations are read for Flyway only, and this chain is {format}"),
        });
    }
    let loaded = formats::load(format, dir, options)?;
    let mut notes = notes;
    notes.extend(loaded.notes);
    let mut migrations = loaded.migrations;
    if !options.roles.is_empty() {
        let renamed: HashMap<String, String> = match &options.role_prefix {
            Some(prefix) => options.roles.iter().map(|r| (r.clone(), format!("{prefix}{r}"))).collect(),
            None => HashMap::new(),
        };
        for m in &mut migrations {
            for script in std::iter::once(&mut m.up).chain(m.down.as_mut()) {
                declare_roles(script, &options.roles, &renamed);
            }
        }
    }
    if migrations.is_empty() {
        return Err(LoadError::Empty {
            path: shown,
            hint: format!(" for format {format} (see `--format` and `--verbose`)"),
        });
    }
    if format == Format::Alembic {
        // Parents come from `down_revision`: apply in topological order.
        let migrations = graph::apply_order(migrations);
        let findings = graph::check(&migrations);
        return Ok(Chain { format, dir: dir.to_path_buf(), migrations, findings, notes });
    }
    if format == Format::Dbmate {
        // dbmate applies its files in file-name order (`10_` before `9_`), not by version.
        migrations.sort_by(|a, b| a.up.path.file_name().cmp(&b.up.path.file_name()));
    } else {
        // Stable sort: equal versions keep file-name order, repeatables (no version) go last.
        migrations.sort_by(|a, b| match (&a.version, &b.version) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.id.cmp(&b.id),
        });
    }
    for i in 1..migrations.len() {
        let previous = migrations[i - 1].id.clone();
        migrations[i].parents = vec![previous];
    }
    let mut findings = graph::check(&migrations);
    if format == Format::SqlMigrate {
        // sql-migrate keys migrations by file name: files sharing a leading number are legitimate.
        findings.retain(|f| f.rule != "duplicate-version");
    }
    if format == Format::Dbmate {
        findings.retain(|f| f.rule != "missing-downgrade");
        findings.extend(migrations.iter().filter(|m| m.down.is_none()).map(dbmate_without_down));
    }
    Ok(Chain { format, dir: dir.to_path_buf(), migrations, findings, notes })
}

/// A dbmate file without a down block: dbmate 2 refuses to apply it (dbmate 1 applied it, so a
/// warning, not an error), whether or not the chain's other files have one.
fn dbmate_without_down(m: &Migration) -> Finding {
    let mut finding = Finding::of(
        &crate::rules::MISSING_DOWNGRADE,
        format!(
            "{} has no `-- migrate:down` block: dbmate 2 stops there (\"dbmate requires each migration to define a down block\"); dbmate 1 applied it",
            m.id
        ),
    )
    .in_migration(&m.id)
    .at(m.up.display_path(), Some(1))
    .with_help("add a `-- migrate:down` block; leave it empty when the change cannot be undone");
    finding.severity = crate::findings::Severity::Warning;
    finding
}

/// Marks the statements of `script` that are only about roles in `roles` as not to be run, and
/// sends those that name a role `renamed` maps with its new name.
fn declare_roles(script: &mut Script, roles: &[String], renamed: &HashMap<String, String>) {
    for i in 0..script.split.statements.len() {
        let statement = &script.split.statements[i];
        let sent = if renamed.is_empty() { None } else { sql::rename_roles(script.text(statement), renamed) };
        let statement = &mut script.split.statements[i];
        if let sql::Reach::Roles(names) = &statement.reach
            && !names.is_empty()
            && names.iter().all(|n| roles.contains(n))
        {
            statement.reach = sql::Reach::Declared(names.clone());
        }
        statement.sent = sent;
    }
}

/// Whether `a` and `b` name the same file or folder (links and `..` resolved where they exist).
pub fn same_path(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

/// `dir`, then the folders above it up to the repository's root (the first with `.git`), or to
/// the filesystem's root outside a repository: where a project's configuration files are looked
/// for.
pub fn up_to_repository_root(dir: &Path) -> impl Iterator<Item = &Path> {
    let mut past_root = false;
    dir.ancestors().take_while(move |folder| {
        let yield_it = !past_root;
        past_root = past_root || folder.join(".git").exists();
        yield_it
    })
}

/// A path as shown to users: relative to the working directory when it lies below it.
pub fn display_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf());
    let text = relative.to_string_lossy().replace('\\', "/");
    text.strip_prefix("./").map(str::to_string).unwrap_or(text)
}

/// What a migration file may be read from: the git work tree holding `dir`, or else `dir`.
fn boundary(dir: &Path) -> PathBuf {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.ancestors().find(|a| a.join(".git").exists()).unwrap_or(&dir).to_path_buf()
}

/// Refuses an entry of a migrations directory that is not a regular file or directory inside
/// the repository: a symbolic link leading out of it (or nowhere), a FIFO, a socket or a device.
/// Reading those would publish a file of the runner's, hang, or never end.
pub fn check_entry(path: &Path) -> Result<(), LoadError> {
    let refuse = |reason: &str| LoadError::NotRegular { path: display_path(path), reason: reason.to_string() };
    let link = std::fs::symlink_metadata(path).map_err(|source| LoadError::Io { path: display_path(path), source })?;
    if link.file_type().is_symlink() {
        let target = std::fs::canonicalize(path)
            .map_err(|_| refuse("is a symbolic link that leads nowhere (dangling, or a loop)"))?;
        let root = boundary(path.parent().unwrap_or(Path::new(".")));
        if !target.starts_with(&root) {
            return Err(refuse("is a symbolic link to a file outside the repository"));
        }
    }
    // What a link leads to; anything else is what it is (no second look at the disk).
    let kind = if link.file_type().is_symlink() {
        std::fs::metadata(path).map_err(|source| LoadError::Io { path: display_path(path), source })?.file_type()
    } else {
        link.file_type()
    };
    use std::os::unix::fs::FileTypeExt;
    let what = if kind.is_fifo() {
        "is a FIFO"
    } else if kind.is_socket() {
        "is a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "is a device"
    } else {
        return Ok(());
    };
    Err(refuse(what))
}

/// Reads a migration file as UTF-8, dropping a leading byte-order mark (PostgreSQL would
/// reject it; the tools strip it). The file must pass [`check_entry`].
pub fn read_sql_file(path: &Path) -> Result<String, LoadError> {
    check_entry(path)?;
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io { path: display_path(path), source })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..valid].iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        LoadError::NotUtf8 { path: display_path(path), line }
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_up_stops_at_the_repository_root() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(repo.join(".git")).unwrap();
        std::fs::create_dir_all(repo.join("db/migrations")).unwrap();
        let start = repo.join("db/migrations");
        let walked: Vec<&Path> = up_to_repository_root(&start).collect();
        assert_eq!(walked, [start.as_path(), &repo.join("db"), &repo]);
        assert_eq!(up_to_repository_root(&repo).collect::<Vec<_>>(), [repo.as_path()]);
        assert!(same_path(&repo.join("db/../db"), &repo.join("db")));
        assert!(!same_path(&repo.join("db"), &repo));
    }

    fn load_files(format: Format, files: &[(&str, &str)]) -> Chain {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        load(dir.path(), &LoadOptions { format: Some(format), ..LoadOptions::default() }).unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

        /// Every loader, on any directory of oddly named files with odd contents, loads it or
        /// says why not; it never panics.
        #[test]
        fn loading_any_directory_is_safe(
            files in proptest::collection::vec((
                "(V|U|R|B)?[0-9]{0,3}(_|__|-)?[a-z]{0,3}(\\.up|\\.down)?\\.(sql|py)",
                proptest::collection::vec(proptest::prop_oneof![
                    proptest::strategy::Just("-- +goose Up\n"),
                    proptest::strategy::Just("-- +goose Down\n"),
                    proptest::strategy::Just("-- +goose StatementBegin\n"),
                    proptest::strategy::Just("-- +goose StatementEnd\n"),
                    proptest::strategy::Just("-- +goose NO TRANSACTION\n"),
                    proptest::strategy::Just("-- +migrate Up notransaction\n"),
                    proptest::strategy::Just("-- +migrate Down\n"),
                    proptest::strategy::Just("-- migrate:up transaction:false\n"),
                    proptest::strategy::Just("-- migrate:down\n"),
                    proptest::strategy::Just("SELECT 1;\n"),
                    proptest::strategy::Just("$$ unterminated\n"),
                    proptest::strategy::Just("revision = 'a'\ndown_revision = None\n"),
                    proptest::strategy::Just("def upgrade():\n    pass\n"),
                    proptest::strategy::Just("${placeholder}\n"),
                    proptest::strategy::Just("\u{feff}\r\n"),
                ], 0..6),
            ), 0..5),
            format in proptest::prop_oneof![
                proptest::strategy::Just(Format::Sqlx),
                proptest::strategy::Just(Format::GolangMigrate),
                proptest::strategy::Just(Format::Goose),
                proptest::strategy::Just(Format::SqlMigrate),
                proptest::strategy::Just(Format::Dbmate),
                proptest::strategy::Just(Format::Diesel),
                proptest::strategy::Just(Format::Flyway),
                proptest::strategy::Just(Format::Alembic),
            ],
            detect in proptest::bool::ANY,
        ) {
            let dir = tempfile::tempdir().unwrap();
            for (name, parts) in &files {
                let path = if format == Format::Diesel { dir.path().join(name.replace('.', "_")).join("up.sql") } else { dir.path().join(name) };
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, parts.concat()).unwrap();
            }
            let options = LoadOptions { format: (!detect).then_some(format), ..LoadOptions::default() };
            let _ = load(dir.path(), &options);
        }
    }

    #[test]
    fn sql_migrate_shared_leading_numbers_are_not_duplicates() {
        // goalert has four files named 20241108160105-import-river-migration-<n>.sql.
        let up = "-- +migrate Up\nSELECT 1;\n";
        let chain = load_files(
            Format::SqlMigrate,
            &[("10-b.sql", up), ("seed.sql", up), ("10-a.sql", up), ("9-z.sql", up), ("after.sql", up)],
        );
        let ids: Vec<&str> = chain.migrations.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["9-z.sql", "10-a.sql", "10-b.sql", "after.sql", "seed.sql"]);
        assert!(chain.findings.is_empty(), "{:?}", chain.findings);
        assert_eq!(chain.migrations[2].parents, ["10-a.sql"]);
    }

    #[test]
    fn duplicates_are_still_found_in_versioned_formats() {
        let up = "-- +goose Up\nSELECT 1;\n";
        let chain = load_files(Format::Goose, &[("1_a.sql", up), ("001_b.sql", up)]);
        assert_eq!(chain.findings.len(), 1);
        assert_eq!(chain.findings[0].rule, "duplicate-version");
        assert!(chain.findings[0].message.starts_with("version 1 is used twice"), "{}", chain.findings[0].message);
    }

    #[test]
    fn section_scripts_keep_file_lines() {
        let chain = load_files(Format::Dbmate, &[("1_a.sql", "-- migrate:up\n\nSELECT 1;\n-- migrate:down\n")]);
        let m = &chain.migrations[0];
        assert_eq!(m.up.statement_line(&m.up.split.statements[0]), 3);
        assert!(m.down.as_ref().unwrap().is_empty());
    }

    #[test]
    fn rendered_statements_carry_their_own_lines() {
        let mut script =
            Script::new(Path::new("a1.py"), 9, "CREATE TABLE t (id int);\nSELECT 1; SELECT 2;\n".into()).unwrap();
        script.origins = vec![(0, 12), (25, 20)];
        let lines: Vec<u32> = script.split.statements.iter().map(|s| script.statement_line(s)).collect();
        assert_eq!(lines, [12, 20, 20]);
        assert_eq!(script.file_line(3), 12);
    }
}
