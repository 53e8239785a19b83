//! The embedded default: a throwaway cluster made by `initdb` in a temporary directory, served
//! by `postgres` on a Unix socket in that directory only, stopped and removed when dropped.

use super::ProvisionError;
use super::version::{self, VersionChoice};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Gid, Pid, Uid, User};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account the server runs as when we are root (PostgreSQL refuses to run as root).
const SERVICE_USER: &str = "postgres";
/// Created when `postgres` does not exist.
const FALLBACK_USER: &str = "migration-guard";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const PORT: u16 = 5432;
/// A cluster directory untouched this long, with no server running, is a killed check's.
const STALE_AFTER: Duration = Duration::from_secs(600);

/// A running ephemeral cluster; dropping it stops the server and deletes its directory.
pub struct Cluster {
    /// The directory of the server binaries (and their client tools).
    bin: PathBuf,
    dir: Option<tempfile::TempDir>,
    child: Option<Child>,
}

/// PostgreSQL's own default.
const DEFAULT_MAX_CONNECTIONS: u32 = 100;

/// Who runs initdb and postgres.
struct RunAs {
    uid: Uid,
    gid: Gid,
}

impl Cluster {
    /// The directory of the binaries the server runs from.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Runs initdb and starts the server, waiting until it accepts connections; with a note
    /// when a project's declared major is not installed and another one runs.
    pub async fn start(
        pg_bin: Option<&Path>,
        version: Option<&VersionChoice>,
        max_connections: Option<u32>,
    ) -> Result<(Cluster, Option<String>), ProvisionError> {
        let (bin, note) = find_binaries(pg_bin, version)?;
        let run_as = run_as()?;
        for swept in sweep(&cluster_parent()) {
            eprintln!("note: removed {swept}, the cluster of a check that was killed");
        }
        let dir = tempfile::Builder::new()
            .prefix("migration-guard-")
            .tempdir_in(cluster_parent())
            .map_err(|e| ProvisionError::Initdb(format!("cannot create a temporary directory (check TMPDIR): {e}")))?;
        if let Some(who) = &run_as {
            nix::unistd::chown(dir.path(), Some(who.uid), Some(who.gid)).map_err(|e| {
                ProvisionError::NoUser(format!("cannot hand {} to the server user: {e}", dir.path().display()))
            })?;
        }
        let mut cluster = Cluster { bin: bin.clone(), dir: Some(dir), child: None };
        let root = cluster.root().to_path_buf();
        let data = root.join("data");
        let log = root.join("postgres.log");

        let output = command(&bin.join("initdb"), &root, run_as.as_ref())
            .arg("-D")
            .arg(&data)
            .args(["--no-sync", "--auth=trust", "-E", "UTF8", "--locale=C", "-U", "postgres"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| ProvisionError::Initdb(format!("cannot run {}: {e}", bin.join("initdb").display())))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(ProvisionError::Initdb(last_line(&stderr)));
        }

        let log_file = std::fs::File::create(&log)
            .map_err(|e| ProvisionError::Start(format!("cannot create {}: {e}", log.display())))?;
        if let Some(who) = &run_as {
            nix::unistd::chown(&log, Some(who.uid), Some(who.gid)).ok();
        }
        let mut server = command(&bin.join("postgres"), &root, run_as.as_ref());
        server
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&root)
            .args(["-p", &PORT.to_string()])
            .args(["-c", "listen_addresses="])
            .args(["-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"])
            // The lock tables are sized by max_connections, and the lint trace reads pg_locks
            // after statements, which walks them whole: a check needs a few connections, and the
            // default's lock capacity is what a production server of the project offers.
            .args(["-c", &format!("max_connections={}", max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS))])
            .args(["-c", "shared_buffers=128MB"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| ProvisionError::Start(e.to_string()))?)
            .stderr(log_file);
        // SAFETY: only async-signal-safe calls (prctl, setsid) between fork and exec.
        unsafe {
            server.pre_exec(|| {
                // The server dies with us even when we are killed without a chance to clean up.
                nix::sys::prctl::set_pdeathsig(Signal::SIGQUIT).map_err(std::io::Error::from)?;
                // Its own process group: a Ctrl-C in the terminal reaches us, and we stop it.
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let child = server
            .spawn()
            .map_err(|e| ProvisionError::Start(format!("cannot run {}: {e}", bin.join("postgres").display())))?;
        cluster.child = Some(child);
        cluster.wait_ready(&log).await?;
        Ok((cluster, note))
    }

    fn root(&self) -> &Path {
        self.dir.as_ref().expect("cluster directory present until drop").path()
    }

    /// Connection options for the superuser's maintenance database over the socket.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(self.root())
            .port(PORT)
            .username("postgres")
            .database("postgres")
            .log_statements(log::LevelFilter::Off)
    }

    async fn wait_ready(&mut self, log: &Path) -> Result<(), ProvisionError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let options = self.connect_options();
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                let text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(ProvisionError::Start(format!("postgres exited with {status}: {}", last_line(&text))));
            }
            if let Ok(conn) = options.connect().await {
                conn.close().await.ok();
                return Ok(());
            }
            if Instant::now() > deadline {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                return Err(ProvisionError::Start(format!(
                    "not accepting connections after {}s: {}",
                    START_TIMEOUT.as_secs(),
                    last_line(&text)
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the server and removes the directory (the same as dropping it).
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            // Immediate shutdown: the data is thrown away anyway.
            kill(pid, Signal::SIGQUIT).ok();
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() > deadline => {
                        child.kill().ok();
                        child.wait().ok();
                        break;
                    }
                    Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
        if let Some(dir) = self.dir.take() {
            dir.close().ok();
        }
    }
}

/// Removes cluster directories left by checks killed without a chance to clean up: those whose
/// server is gone (its `postmaster.pid` names a dead process, or there is none) and that have
/// not changed for ten minutes (initdb's own short-lived servers come and go in a new one).
/// Returns what it removed.
fn sweep(parent: &Path) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(parent) else { return removed };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_string_lossy().starts_with("migration-guard-") && path.join("data").is_dir();
        if !ours {
            continue;
        }
        let pid = std::fs::read_to_string(path.join("data/postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<i32>().ok());
        // Signal 0 only asks whether the process exists.
        let dead = pid.is_none_or(|pid| kill(Pid::from_raw(pid), None).is_err_and(|e| e == nix::errno::Errno::ESRCH));
        let changed = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let quiet = [path.clone(), path.join("data")]
            .iter()
            .filter_map(|p| changed(p))
            .all(|t| t.elapsed().is_ok_and(|age| age > STALE_AFTER));
        let gone = dead && quiet;
        if gone && std::fs::remove_dir_all(&path).is_ok() {
            removed.push(path.display().to_string());
        }
    }
    removed
}

fn command(program: &Path, cwd: &Path, run_as: Option<&RunAs>) -> Command {
    let mut command = Command::new(program);
    command.current_dir(cwd).env("LC_ALL", "C").env_remove("PGDATA");
    if let Some(who) = run_as {
        // std drops root's supplementary groups when it changes the uid.
        command.uid(who.uid.as_raw()).gid(who.gid.as_raw());
    }
    command
}

/// Where cluster directories go: memory-backed `/dev/shm` when it has room (initdb there takes
/// about a quarter of the time on a disk), else the temporary directory (`TMPDIR`). Containers
/// often give `/dev/shm` only 64 MiB, too little for a migrated database.
fn cluster_parent() -> PathBuf {
    const ROOM: u64 = 1 << 30;
    let shm = Path::new("/dev/shm");
    let roomy =
        nix::sys::statvfs::statvfs(shm).is_ok_and(|s| s.blocks_available().saturating_mul(s.fragment_size()) >= ROOM);
    if std::env::var_os("TMPDIR").is_none() && roomy && nix::unistd::access(shm, nix::unistd::AccessFlags::W_OK).is_ok()
    {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// The server binaries to run: `--pg-bin`, else those of the major asked for, else the default
/// ones (see [`default_binaries`]); with a note when a hint could not be followed.
fn find_binaries(
    pg_bin: Option<&Path>,
    version: Option<&VersionChoice>,
) -> Result<(PathBuf, Option<String>), ProvisionError> {
    if let Some(dir) = pg_bin {
        if !has_both(dir) {
            return Err(ProvisionError::Binaries(format!(
                "--pg-bin {}: no initdb and postgres there (point it at PostgreSQL's bin directory)",
                dir.display()
            )));
        }
        if let Some(asked) = version.filter(|v| v.required)
            && let Some(major) = super::tool_major(&dir.join("postgres"))
            && major != asked.major
        {
            return Err(ProvisionError::Binaries(format!(
                "--pg-bin {} holds PostgreSQL {major}, but {} asks for {}: set one of them",
                dir.display(),
                asked.source,
                asked.major
            )));
        }
        return Ok((dir.to_path_buf(), None));
    }
    let Some(asked) = version else { return Ok((default_binaries()?, None)) };
    let found = servers();
    if let Some((_, bin)) = found.iter().find(|(major, _)| *major == asked.major) {
        return Ok((bin.clone(), None));
    }
    let missing = format!(
        "{} asks for PostgreSQL {}, which is not installed here (installed: {})",
        asked.source,
        asked.major,
        version::list(&found)
    );
    if asked.required {
        return Err(ProvisionError::Binaries(format!(
            "{missing}; install its server package (e.g. postgresql-{}) or pick an installed major",
            asked.major
        )));
    }
    let bin = default_binaries()?;
    let running =
        found.iter().find(|(_, b)| *b == bin).map_or_else(|| bin.display().to_string(), |(m, _)| m.to_string());
    Ok((bin, Some(format!("{missing}; ran {running} instead (set postgres-version to choose)"))))
}

fn has_both(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("postgres").is_file()
}

/// The server binaries there are, by major: those on `PATH` first, then Debian's layout; one
/// directory per major.
fn servers() -> Vec<(u32, PathBuf)> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .filter(|dir| has_both(dir))
        .filter_map(|dir| Some((super::tool_major(&dir.join("postgres"))?, dir)));
    let mut found: Vec<(u32, PathBuf)> = Vec::new();
    for (major, dir) in on_path.chain(installed().into_iter().filter(|(_, bin)| has_both(bin))) {
        if !found.iter().any(|(m, _)| *m == major) {
            found.push((major, dir));
        }
    }
    found.sort_by_key(|(major, _)| *major);
    found
}

/// The binaries on `PATH`, else the newest in `/usr/lib/postgresql/*/bin`.
fn default_binaries() -> Result<PathBuf, ProvisionError> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                return Ok(dir);
            }
        }
    }
    installed().into_iter().rev().find(|(_, bin)| has_both(bin)).map(|(_, bin)| bin).ok_or_else(|| {
        ProvisionError::Binaries(
            "no PostgreSQL server binaries (initdb, postgres) on PATH or in /usr/lib/postgresql/*/bin: \
             install the PostgreSQL server, pass --pg-bin DIR, or use --database-url"
                .into(),
        )
    })
}

/// The `/usr/lib/postgresql/<major>/bin` directories there are (Debian's layout), by major.
pub(super) fn installed() -> Vec<(u32, PathBuf)> {
    let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path().join("bin"))))
        .collect();
    installed.sort();
    installed
}

/// `None` when we may run the server ourselves; as root, the unprivileged user to run it as.
fn run_as() -> Result<Option<RunAs>, ProvisionError> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let lookup = |name: &str| User::from_name(name).ok().flatten();
    let user = match lookup(SERVICE_USER).or_else(|| lookup(FALLBACK_USER)) {
        Some(user) => user,
        None => {
            let status = Command::new("useradd")
                .args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_USER])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .output()
                .map_err(|e| ProvisionError::NoUser(format!("cannot run useradd: {e}")))?;
            if !status.status.success() {
                return Err(ProvisionError::NoUser(last_line(&String::from_utf8_lossy(&status.stderr))));
            }
            lookup(FALLBACK_USER)
                .ok_or_else(|| ProvisionError::NoUser(format!("useradd did not create {FALLBACK_USER}")))?
        }
    };
    Ok(Some(RunAs { uid: user.uid, gid: user.gid }))
}

/// The last non-empty line of a tool's output: where initdb, postgres and the client tools say
/// what went wrong.
pub(crate) fn last_line(text: &str) -> String {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output").trim().to_string()
}
