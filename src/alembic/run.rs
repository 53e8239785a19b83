//! Applies and reverts Alembic revisions one at a time through the project's own Alembic,
//! against a scratch database, timing each step and locating a failure in the revision file
//! from the Python traceback.
//!
//! One Python process (`driver.py`) builds the config exactly as `alembic -c <ini> -x url=<url>`
//! would and then, per request, runs `alembic.command.upgrade`, reverts exactly one revision,
//! or captures the statements one revision's online upgrade executes, rolled back (for the
//! lint trace), so Python, SQLAlchemy and the project are imported once rather than once per
//! revision. The database
//! URL reaches the project in every way Alembic projects read it: the `DATABASE_URL`
//! environment variable, `-x url=<url>` (`context.get_x_argument()`), and the `sqlalchemy.url`
//! (and `url`) main options of the config.

use super::Project;
use crate::migrations::display_path;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::process::Child;

const DRIVER: &str = include_str!("driver.py");

/// The logging sections of the ini `alembic init` writes: a stock env.py passes the ini to
/// `logging.config.fileConfig`, which fails without them (`KeyError: 'formatters'`).
const GENERATED_LOGGING: &str = "[loggers]\nkeys = root\n\n[handlers]\nkeys = console\n\n[formatters]\nkeys = generic\n\n\
    [logger_root]\nlevel = WARNING\nhandlers = console\nqualname =\n\n\
    [handler_console]\nclass = StreamHandler\nargs = (sys.stderr,)\nlevel = NOTSET\nformatter = generic\n\n\
    [formatter_generic]\nformat = %(levelname)-5.5s [%(name)s] %(message)s\n";

/// Finds the SQLAlchemy URL scheme whose PostgreSQL driver is installed, preferring the
/// SQLAlchemy default.
const PREFLIGHT: &str = r#"import alembic, sqlalchemy
from sqlalchemy.engine import make_url
for scheme in ("postgresql", "postgresql+psycopg2", "postgresql+psycopg", "postgresql+pg8000"):
    try:
        dialect = make_url(scheme + "://").get_dialect()
        (getattr(dialect, "import_dbapi", None) or dialect.dbapi)()
    except Exception:
        continue
    print(scheme)
    break
else:
    raise SystemExit("no PostgreSQL driver for SQLAlchemy")
"#;

/// Why Alembic could not be run at all (a failing revision is not this).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "cannot run {python}: Python is needed to apply Alembic revisions (install Python 3 or point --python at the project's interpreter)"
    )]
    NoPython {
        python: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{python} cannot run Alembic ({reason}); install the project's requirements, e.g. `pip install alembic sqlalchemy psycopg2-binary`, or point --python at its virtualenv"
    )]
    NoAlembic { python: String, reason: String },
    #[error(
        "{path}: no env.py next to the revisions, so Alembic cannot run them; point check at the folder with alembic.ini or env.py"
    )]
    NoEnvironment { path: String },
    #[error("cannot write a temporary alembic.ini")]
    Temp(#[source] std::io::Error),
    #[error("Alembic could not load the project: {reason}")]
    Start { reason: String },
}

/// A failed step, located in the revision file when the traceback passes through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// The exception line (`sqlalchemy.exc.ProgrammingError: ...`) or Alembic's `FAILED:` line.
    pub message: String,
    /// Innermost traceback frame in the revision file, or else in the project's `env.py`.
    pub location: Option<(PathBuf, u32)>,
}

/// What one `upgrade` / `downgrade` did.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// Time Alembic spent on the command.
    pub duration: Duration,
    /// Everything the command wrote to stdout and stderr, and the traceback if it failed.
    pub output: String,
    /// Why the command failed, if it did.
    pub error: Option<StepError>,
}

#[derive(serde::Deserialize)]
struct Reply {
    ok: bool,
    seconds: f64,
    output: String,
    traceback: Option<String>,
    #[serde(default)]
    statements: Vec<Captured>,
    #[serde(default)]
    lock_timeout: Option<String>,
}

/// What a captured upgrade executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// In the order the upgrade executed them, up to where it left its transaction.
    pub statements: Vec<Captured>,
    /// The session's `lock_timeout` when the upgrade's first statement ran (env.py may set
    /// one on its connection); `None` when it ran none.
    pub lock_timeout: Option<String>,
}

/// One thing a revision's `upgrade()` did when its online upgrade was captured.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(untagged)]
pub enum Captured {
    /// A statement as the database driver sent it, and the revision file's line that executed it.
    Statement { sql: String, line: Option<u32> },
    /// The upgrade leaves the migration's transaction here (`what`: its `autocommit_block()`, a
    /// commit, a transaction statement); the capture stopped.
    Autocommit { autocommit: bool, line: Option<u32>, what: String },
}

/// A running Alembic for one project and one database.
pub struct Alembic {
    child: Child,
    requests: OwnedWriteHalf,
    replies: BufReader<OwnedReadHalf>,
    /// Standard error outside of commands (start-up failures).
    errors: tempfile::NamedTempFile,
    /// Holds the generated ini of a project without one.
    _temp: Option<tempfile::TempDir>,
}

impl Alembic {
    /// Starts Alembic for `project` on the database at `url` (an SQLAlchemy URL, see
    /// [`crate::postgres::ScratchDatabase::url`]) with `python`; `pgoptions` starts its sessions
    /// with the session settings.
    pub async fn start(
        project: &Project,
        python: &Path,
        url: String,
        pgoptions: Option<String>,
    ) -> Result<Alembic, RunError> {
        let (ini, temp) = match &project.ini {
            Some(ini) => (ini.clone(), None),
            None => {
                let Some(location) = &project.script_location else {
                    let dir = project.version_locations.first().map(|p| display_path(p)).unwrap_or_default();
                    return Err(RunError::NoEnvironment { path: dir });
                };
                let temp =
                    tempfile::Builder::new().prefix("migration-guard-alembic-").tempdir().map_err(RunError::Temp)?;
                let ini = temp.path().join("alembic.ini");
                let locations: Vec<String> =
                    project.version_locations.iter().map(|p| p.to_string_lossy().replace('%', "%%")).collect();
                let text = format!(
                    "[alembic]\nscript_location = {}\nversion_locations = {}\npath_separator = newline\n\n{GENERATED_LOGGING}",
                    location.to_string_lossy().replace('%', "%%"),
                    locations.join("\n    ")
                );
                std::fs::write(&ini, text).map_err(RunError::Temp)?;
                (ini, Some(temp))
            }
        };
        let errors = tempfile::NamedTempFile::new().map_err(RunError::Temp)?;
        let stdout = errors.reopen().map_err(RunError::Temp)?;
        let stderr = errors.reopen().map_err(RunError::Temp)?;
        // The protocol has a channel of its own: a revision that reads stdin gets end of file.
        let socket_dir =
            tempfile::Builder::new().prefix("migration-guard-driver-").tempdir().map_err(RunError::Temp)?;
        let socket = socket_dir.path().join("driver.sock");
        let listener = tokio::net::UnixListener::bind(&socket).map_err(RunError::Temp)?;
        let mut command = crate::scrub::command(python);
        if let Some(options) = pgoptions {
            // libpq drivers start every session with the session settings.
            command.env("PGOPTIONS", options);
        }
        if project.per_dialect && project.ini.is_some() {
            let locations: Vec<String> =
                project.version_locations.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            command.env("MIGRATION_GUARD_VERSION_LOCATIONS", locations.join("\n"));
        }
        let mut child = command
            .arg("-c")
            .arg(DRIVER)
            .arg("-c")
            .arg(&ini)
            .current_dir(&project.run_dir)
            .env("DATABASE_URL", &url)
            .env("MIGRATION_GUARD_DRIVER_SOCKET", &socket)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::from(stdout))
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| RunError::NoPython { python: python.display().to_string(), source })?;
        // The driver connects once it is set up; if it dies first, its stderr says why.
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted.ok(),
            _ = child.wait() => None,
        };
        let Some((stream, _)) = accepted else {
            return Err(start_failure(&errors));
        };
        drop(socket_dir);
        let (replies, requests) = stream.into_split();
        Ok(Alembic { child, requests, replies: BufReader::new(replies), errors, _temp: temp })
    }

    /// `alembic upgrade <revision>`: applies `revision` and whatever it needs first. `file` is
    /// the revision's file, to locate a failure in.
    pub async fn upgrade(&mut self, revision: &str, file: &Path) -> Result<StepOutcome, RunError> {
        Ok(self.step("upgrade", revision, file).await?.0)
    }

    /// Downgrades exactly `revision` (which must be a current head): Alembic's own downgrade
    /// step for it, through the project's env.py. Unlike `alembic downgrade <parent>` or
    /// `<revision>-1`, this leaves other branches alone and undoes a merge into its parents.
    pub async fn revert(&mut self, revision: &str, file: &Path) -> Result<StepOutcome, RunError> {
        Ok(self.step("revert", revision, file).await?.0)
    }

    /// The statements `revision`'s `upgrade()` executes in `alembic upgrade <revision>` (through
    /// env.py, on the database), up to where it leaves the migration's transaction, all rolled
    /// back before Alembic records the revision. `Err(reason)` inside when the upgrade failed.
    pub async fn capture(&mut self, revision: &str, file: &Path) -> Result<Result<Capture, String>, RunError> {
        let (outcome, reply) = self.step("capture", revision, file).await?;
        Ok(match outcome.error {
            None => Ok(Capture { statements: reply.statements, lock_timeout: reply.lock_timeout }),
            Some(error) => Err(match error.location {
                Some((_, line)) => format!("line {line}: {}", error.message),
                None => error.message,
            }),
        })
    }

    async fn step(&mut self, command: &str, revision: &str, file: &Path) -> Result<(StepOutcome, Reply), RunError> {
        let request = serde_json::json!({ "cmd": command, "rev": revision }).to_string() + "\n";
        let mut line = String::new();
        let sent = self.requests.write_all(request.as_bytes()).await.is_ok() && self.requests.flush().await.is_ok();
        if !sent || self.replies.read_line(&mut line).await.unwrap_or(0) == 0 {
            return Err(self.died().await);
        }
        let mut reply: Reply = serde_json::from_str(&line)
            .map_err(|e| RunError::Start { reason: format!("unexpected reply from the driver: {e}") })?;
        let traceback = reply.traceback.take().unwrap_or_default();
        let error = (!reply.ok).then(|| failure(&traceback, file, None));
        let outcome = StepOutcome {
            duration: Duration::from_secs_f64(reply.seconds.max(0.0)),
            output: format!("{}{traceback}", reply.output),
            error,
        };
        Ok((outcome, reply))
    }

    /// The error of a driver that exited: its last line of standard error.
    async fn died(&mut self) -> RunError {
        let _ = self.child.wait().await;
        start_failure(&self.errors)
    }
}

/// Why the driver stopped: the last line it wrote to standard error.
fn start_failure(errors: &tempfile::NamedTempFile) -> RunError {
    let text = std::fs::read_to_string(errors.path()).unwrap_or_default();
    let reason = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("the Python process exited without output")
        .to_string();
    RunError::Start { reason }
}

/// Checks that `python` can run Alembic against PostgreSQL; returns the SQLAlchemy URL scheme
/// of the installed driver (`postgresql`, `postgresql+psycopg2`, ...).
pub async fn preflight(python: &Path) -> Result<String, RunError> {
    let name = python.display().to_string();
    let output = crate::scrub::command(python)
        .args(["-c", PREFLIGHT])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| RunError::NoPython { python: name.clone(), source })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).trim().to_string());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reason = stderr.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no output").to_string();
    Err(RunError::NoAlembic { python: name, reason })
}

/// The error line and the revision file's line from Alembic's standard error.
fn failure(stderr: &str, file: &Path, code: Option<i32>) -> StepError {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines.iter().rposition(|l| l.starts_with("Traceback (most recent call last)")).unwrap_or(0);
    let wanted = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let mut in_revision = None;
    let mut in_env = None;
    let mut message = None;
    for (i, text) in lines.iter().enumerate().skip(start) {
        if let Some((path, number)) = frame(text) {
            let path = Path::new(path);
            if std::fs::canonicalize(path).map(|p| p == wanted).unwrap_or(false) {
                in_revision = Some((file.to_path_buf(), number));
            } else if path.file_name().is_some_and(|n| n == "env.py") {
                // A failure while loading the environment (an import, the URL) is not the revision's.
                in_env = Some((path.to_path_buf(), number));
            }
        } else if i > start && !text.starts_with([' ', '\t']) && !text.trim().is_empty() && message.is_none() {
            message = Some(text.trim().to_string());
        }
    }
    let failed = lines.iter().rev().find(|l| l.starts_with("FAILED:")).map(|l| l.trim().to_string());
    let message = message.or(failed).unwrap_or_else(|| {
        let last = lines.iter().rev().map(|l| l.trim()).find(|l| !l.is_empty());
        last.map(str::to_string).unwrap_or_else(|| format!("alembic exited with status {code:?} and no output"))
    });
    StepError { message, location: in_revision.or(in_env) }
}

/// `  File "/path/x.py", line 12, in upgrade` → (path, 12).
fn frame(text: &str) -> Option<(&str, u32)> {
    let rest = text.trim_start().strip_prefix("File \"")?;
    let (path, rest) = rest.split_once("\", line ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((path, digits.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceback_points_into_the_revision_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("abc_add.py");
        std::fs::write(&file, "x").unwrap();
        let stderr = format!(
            "INFO  [alembic.runtime.migration] Running upgrade  -> abc\nTraceback (most recent call last):\n  File \"/usr/lib/alembic/x.py\", line 3, in run\n    fn()\n  File \"{}\", line 17, in upgrade\n    op.execute(\"SELECT * FROM nope\")\n  File \"/usr/lib/sqlalchemy/y.py\", line 9, in execute\n    raise\nsqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedTable) relation \"nope\" does not exist\nLINE 1: SELECT * FROM nope\n                      ^\n\n[SQL: SELECT * FROM nope]\n",
            file.display()
        );
        let error = failure(&stderr, &file, Some(1));
        assert_eq!(error.location, Some((file.clone(), 17)));
        assert!(error.message.starts_with("sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedTable)"));
    }

    #[test]
    fn alembic_command_errors() {
        let error = failure("FAILED: Multiple head revisions are present\n", Path::new("x.py"), Some(255));
        assert_eq!(error, StepError { message: "FAILED: Multiple head revisions are present".into(), location: None });
        let env = "Traceback (most recent call last):\n  File \"/srv/app/migrations/env.py\", line 8, in <module>\n    from app import models\nModuleNotFoundError: No module named 'app'\n";
        let error = failure(env, Path::new("x.py"), Some(1));
        assert_eq!(error.location, Some((PathBuf::from("/srv/app/migrations/env.py"), 8)));
        assert_eq!(error.message, "ModuleNotFoundError: No module named 'app'");
    }
}
