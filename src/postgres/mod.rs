//! PostgreSQL servers to run migrations on: an ephemeral local cluster, a server given by URL, or
//! a container, behind one `Server` handle that hands out throwaway `mg_<random>` databases and
//! cleans up after itself. Knows nothing of migrations.

mod container;
mod ephemeral;
pub mod version;

pub(crate) use ephemeral::last_line;

/// Whether statements planned when the schema had `planned_for` objects should be planned again
/// now that it has `size`: a cached plan keeps the guesses made from the catalogs' size then
/// (one made on small catalogs scans them whole), so plans are made again each time the schema
/// doubled, which keeps a query's cost following what it reads.
pub fn plans_outgrown(planned_for: usize, size: usize) -> bool {
    size > 2 * planned_for + 64
}

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor, Row};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

/// Where the server comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// A cluster started by us from local binaries in a temporary directory.
    Ephemeral,
    /// A server given by `--database-url` / `DATABASE_URL`.
    Url,
    /// A container started through a Docker engine (`--postgres-image`).
    Container,
}

/// How to get a server; at most one of `database_url` and `postgres_image` is set.
#[derive(Debug, Clone, Default)]
pub struct ProvisionOptions {
    /// Connect to this server instead of starting one.
    pub database_url: Option<String>,
    /// Start this image through testcontainers.
    pub postgres_image: Option<String>,
    /// Directory holding `initdb` and `postgres` for the ephemeral cluster.
    pub pg_bin: Option<PathBuf>,
    /// Run migrations as the server's superuser (or the URL's role) instead of a role of their
    /// own that owns only the scratch database. Unsafe for untrusted pull requests.
    pub allow_superuser: bool,
    /// Roles the chain needs, created (NOLOGIN) before it and granted to the role migrations
    /// run as; on a server we do not own, under `role_prefix`.
    pub roles: Vec<String>,
    /// The prefix of this run's roles on a shared server (see `LoadOptions::role_prefix`).
    pub role_prefix: Option<String>,
    /// The major the embedded server runs (a setting, or a project's hint).
    pub postgres_version: Option<version::VersionChoice>,
    /// Run-time parameters every session migrations run in starts with (`lock_timeout`, ...),
    /// as the deploy's runner sets them.
    pub session_settings: Vec<(String, String)>,
    /// `max_connections` of the embedded server; `None`: PostgreSQL's default of 100, enough for
    /// one check (a harness that runs many checks on one server asks for more).
    pub max_connections: Option<u32>,
}

/// Why no server could be provided. Messages name the setting to change.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Binaries(String),
    #[error("running as root, PostgreSQL needs an unprivileged user and none could be created: {0}")]
    NoUser(String),
    #[error("initdb failed: {0}")]
    Initdb(String),
    #[error("the ephemeral PostgreSQL did not start: {0}")]
    Start(String),
    #[error("{setting} is not a valid PostgreSQL URL (expected postgres://user:password@host:port/database)")]
    InvalidUrl {
        setting: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("{setting} must start with postgres:// or postgresql:// (got {scheme}://...)")]
    UrlScheme { setting: &'static str, scheme: String },
    #[error("cannot connect to PostgreSQL at {target} (check {setting})")]
    Connect {
        target: String,
        setting: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "timed out after {seconds}s connecting to PostgreSQL at {target} (check {setting}, and that the server is reachable)"
    )]
    ConnectTimeout { target: String, setting: &'static str, seconds: u64 },
    #[error(
        "role {role:?} may not create databases, and migration-guard runs every check in a throwaway database: grant it with `ALTER ROLE {role} CREATEDB`, or drop --database-url to use the embedded PostgreSQL"
    )]
    NoCreateDb { role: String },
    #[error("{0}")]
    Container(String),
    #[error("session-settings: PostgreSQL refuses them: {0} (fix the setting or remove it)")]
    SessionSettings(String),
    #[error("database command failed on the server: {what}")]
    Sql {
        what: String,
        #[source]
        source: sqlx::Error,
    },
}

enum Backend {
    Ephemeral(ephemeral::Cluster),
    Url,
    Container(Box<container::Container>),
}

/// A running server we may create databases on. Call [`Server::shutdown`] when done; dropping
/// it still stops an ephemeral cluster (panic and signal paths).
pub struct Server {
    provider: Provider,
    admin: PgConnectOptions,
    version: String,
    version_num: u32,
    scratch: Mutex<Vec<String>>,
    backend: Backend,
    /// Whom migrations run as.
    isolation: Isolation,
    /// Roles created before the chain (as named on the server), granted to every role
    /// migrations run as.
    roles: Vec<String>,
    /// Why it is not the major that was asked for, when it is not.
    version_note: Option<String>,
    /// See [`ProvisionOptions::session_settings`].
    session_settings: Vec<(String, String)>,
}

/// Whom migrations run as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// A role of their own per scratch database: LOGIN, no other attribute, owner of that
    /// database only. No `COPY ... PROGRAM`, no server files, no `ALTER SYSTEM`, no other database.
    OwnRole,
    /// The server's administrative role, for this reason (`allow-superuser`, or a URL role that
    /// cannot create roles).
    Admin(String),
}

/// A throwaway database created by us on a [`Server`].
#[derive(Debug, Clone)]
pub struct ScratchDatabase {
    pub name: String,
    /// Connections as the role migrations run as.
    pub options: PgConnectOptions,
    /// That role, when it was made for this database (dropped with it).
    pub role: Option<String>,
    /// Its password, for tools that connect with a URL of their own.
    pub password: Option<String>,
    /// Connections as the server's administrator, for what we install there ourselves (never
    /// for the chain's SQL).
    pub admin: PgConnectOptions,
    /// The run-time parameters `options` starts sessions with, for tools that connect on their
    /// own (see [`ScratchDatabase::pgoptions`]).
    pub session_settings: Vec<(String, String)>,
}

/// Scratch databases (and their roles) of servers we do not own, by maintenance connection:
/// dropped on a signal, when the tasks holding the servers are gone.
static REGISTERED: Mutex<Vec<(PgConnectOptions, String)>> = Mutex::new(Vec::new());

/// Declared roles made under this run's prefix on servers we do not own, dropped after the
/// databases (whose objects they may own).
static REGISTERED_ROLES: Mutex<Vec<(PgConnectOptions, String)>> = Mutex::new(Vec::new());

/// Scratch databases older than this are left over from a run that was killed.
const STALE_AFTER: Duration = Duration::from_secs(6 * 3600);

impl ScratchDatabase {
    /// Opens a new connection to this database as the server's administrator.
    pub async fn connect_admin(&self) -> Result<PgConnection, ProvisionError> {
        self.admin.connect().await.map_err(|source| ProvisionError::Sql {
            what: format!("connect to scratch database {} as the administrator", self.name),
            source,
        })
    }

    /// Opens a new connection to this database.
    pub async fn connect(&self) -> Result<PgConnection, ProvisionError> {
        self.options.connect().await.map_err(|source| self.connect_error(source))
    }

    /// A failed connection; one the session settings made fail says so.
    fn connect_error(&self, source: sqlx::Error) -> ProvisionError {
        if let sqlx::Error::Database(db) = &source
            && !self.session_settings.is_empty()
            // Unknown parameter, bad value, or one the role may not set.
            && matches!(db.code().as_deref(), Some("42704" | "22023" | "42501" | "55P02"))
        {
            return ProvisionError::SessionSettings(db.message().replace('\n', " "));
        }
        ProvisionError::Sql { what: format!("connect to scratch database {}", self.name), source }
    }

    /// `PGOPTIONS` for a libpq client that should start its sessions as `options` does
    /// (`-c name=value` each, spaces and backslashes escaped as libpq reads them).
    pub fn pgoptions(&self) -> Option<String> {
        let escape = |text: &str| text.replace('\\', "\\\\").replace(' ', "\\ ");
        let parts: Vec<String> = self
            .session_settings
            .iter()
            .map(|(name, value)| format!("-c {}={}", escape(name), escape(value)))
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }

    /// A URL of this database with the credentials of the role migrations run as (the
    /// password only `with_password`: tools that take it from `PGPASSWORD` keep it off their
    /// command line): the server URL given by the user with its database and credentials
    /// swapped, or one built from the connection options (a Unix socket goes in `?host=`); a
    /// plain `postgres(ql)://` scheme becomes `driver` (e.g. SQLAlchemy's `postgresql+psycopg2`).
    pub fn url(&self, given: Option<&str>, driver: &str, with_password: bool) -> String {
        let (options, name) = (&self.options, &self.name);
        // A `/` in the user or password would end the authority.
        let part = |text: &str| encode(text).replace('/', "%2F");
        let userinfo = match self.password.as_ref().filter(|_| with_password) {
            Some(password) => format!("{}:{}", part(options.get_username()), part(password)),
            None => part(options.get_username()),
        };
        if let Some(url) = given
            && let Some((scheme, rest)) = url.split_once("://")
        {
            // The given server's host, port and options; our role's credentials.
            let scheme = if matches!(scheme, "postgres" | "postgresql") { driver } else { scheme };
            let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
            let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
            let query =
                tail.split_once('?').map(|(_, q)| format!("?{q}&{APPLICATION}")).unwrap_or(format!("?{APPLICATION}"));
            return format!("{scheme}://{userinfo}@{host}/{name}{query}");
        }
        match options.get_socket() {
            Some(socket) => format!(
                "{driver}://{userinfo}@/{name}?host={}&port={}&{APPLICATION}",
                encode(&socket.to_string_lossy()),
                options.get_port()
            ),
            None => format!("{driver}://{userinfo}@{}:{}/{name}?{APPLICATION}", options.get_host(), options.get_port()),
        }
    }

    /// Opens a new connection to this database that the server lists as `application`.
    pub async fn connect_as(&self, application: &str) -> Result<PgConnection, ProvisionError> {
        self.options.clone().application_name(application).connect().await.map_err(|source| self.connect_error(source))
    }
}

/// The connection name the stairway stops a step that ran out of time by.
const APPLICATION: &str = "application_name=migration-guard%20migrate";

/// Percent-encodes what is not safe in a URL component (`/` stays: socket paths read better).
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl Server {
    /// Provides a server as the options say: URL, container image, or (default) ephemeral.
    pub async fn start(options: &ProvisionOptions) -> Result<Server, ProvisionError> {
        let mut server = Server::provide(options).await?;
        if let Some(asked) = options.postgres_version.as_ref().filter(|v| v.required)
            && server.provider != Provider::Ephemeral
            && server.version_num / 10000 != asked.major
        {
            server.version_note = Some(format!(
                "{} asks for PostgreSQL {}, but the server given is {}; the setting picks the embedded server's major only",
                asked.source,
                asked.major,
                server.version_num / 10000
            ));
        }
        if let Some(note) = &server.version_note {
            eprintln!("warning: {note}");
        }
        let prefix = if server.provider == Provider::Url { options.role_prefix.as_deref() } else { None };
        let roles: Vec<String> = options.roles.iter().map(|r| format!("{}{r}", prefix.unwrap_or_default())).collect();
        server.create_roles(&roles).await?;
        server.session_settings = options.session_settings.clone();
        if options.allow_superuser {
            server.isolation = Isolation::Admin("allow-superuser is set".into());
        }
        if let Isolation::Admin(reason) = &server.isolation
            && !options.allow_superuser
        {
            eprintln!("warning: migrations run as the role of database-url: {reason}");
        }
        if server.provider == Provider::Url {
            for notice in server.sweep_stale().await {
                eprintln!("note: {notice}");
            }
        }
        Ok(server)
    }

    async fn provide(options: &ProvisionOptions) -> Result<Server, ProvisionError> {
        if let Some(url) = &options.database_url {
            let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
            if scheme != "postgres" && scheme != "postgresql" {
                let setting = "--database-url / DATABASE_URL";
                return Err(ProvisionError::UrlScheme { setting, scheme: scheme.to_string() });
            }
            let admin = PgConnectOptions::from_str(url)
                .map_err(|source| ProvisionError::InvalidUrl { setting: "--database-url / DATABASE_URL", source })?;
            Server::attach(Provider::Url, admin, "--database-url / DATABASE_URL", Backend::Url).await
        } else if let Some(image) = &options.postgres_image {
            let container = container::Container::start(image).await?;
            let admin = container.connect_options();
            Server::attach(Provider::Container, admin, "--postgres-image", Backend::Container(Box::new(container)))
                .await
        } else {
            let (cluster, note) = ephemeral::Cluster::start(
                options.pg_bin.as_deref(),
                options.postgres_version.as_ref(),
                options.max_connections,
            )
            .await?;
            let admin = cluster.connect_options();
            let mut server =
                Server::attach(Provider::Ephemeral, admin, "--pg-bin", Backend::Ephemeral(cluster)).await?;
            server.version_note = note;
            Ok(server)
        }
    }

    async fn attach(
        provider: Provider,
        admin: PgConnectOptions,
        setting: &'static str,
        backend: Backend,
    ) -> Result<Server, ProvisionError> {
        let admin = admin.log_statements(log::LevelFilter::Off);
        let target = describe(&admin);
        let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, admin.connect()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(source)) => return Err(ProvisionError::Connect { target, setting, source }),
            Err(_) => {
                return Err(ProvisionError::ConnectTimeout { target, setting, seconds: CONNECT_TIMEOUT.as_secs() });
            }
        };
        let sql_err = |what: &str| {
            let what = what.to_string();
            move |source| ProvisionError::Sql { what, source }
        };
        let row = sqlx::query(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int, \
             current_user::text, (SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user), \
             (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user)",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(sql_err("read server version"))?;
        let version: String = row.get(0);
        let version_num: i32 = row.get(1);
        let role: String = row.get(2);
        let can_create: Option<bool> = row.get(3);
        let can_create_roles: Option<bool> = row.get(4);
        conn.close().await.ok();
        if !can_create.unwrap_or(false) {
            return Err(ProvisionError::NoCreateDb { role });
        }
        let isolation = if can_create_roles.unwrap_or(false) {
            Isolation::OwnRole
        } else {
            Isolation::Admin(format!(
                "role {role:?} cannot create roles; give it CREATEROLE so that migrations run as a role of their own"
            ))
        };
        Ok(Server {
            provider,
            admin,
            version,
            version_num: version_num as u32,
            scratch: Mutex::new(Vec::new()),
            backend,
            isolation,
            roles: Vec::new(),
            version_note: None,
            session_settings: Vec::new(),
        })
    }

    /// Creates the roles the chain needs (NOLOGIN, no attributes), on a server of our own.
    async fn create_roles(&mut self, roles: &[String]) -> Result<(), ProvisionError> {
        if roles.is_empty() {
            return Ok(());
        }
        let mut conn = self.admin_connection().await?;
        if self.provider != Provider::Ephemeral {
            REGISTERED_ROLES
                .lock()
                .expect("registry lock")
                .extend(roles.iter().map(|r| (self.admin.clone(), r.clone())));
        }
        for role in roles {
            let quoted = role.replace('"', "\"\"");
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE ROLE \"{quoted}\" NOLOGIN")))
                .await
                .map_err(|source| ProvisionError::Sql { what: format!("CREATE ROLE {role} (from `roles`)"), source })?;
        }
        conn.close().await.ok();
        self.roles = roles.to_vec();
        Ok(())
    }

    /// Whom migrations run as.
    pub fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    /// Connection options of the maintenance database (superuser for our own servers).
    pub fn admin_options(&self) -> &PgConnectOptions {
        &self.admin
    }

    /// Where the server listens, without credentials: `host:port/db` or the socket directory.
    pub fn location(&self) -> String {
        describe(&self.admin)
    }

    /// Where the server came from.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// `server_version`, e.g. `15.18 (Debian 15.18-0+deb12u1)`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// A PostgreSQL client program (`pg_dump`, `pg_restore`) that can talk to this server: the
    /// one beside the server's own binaries, else of the server's major version, else on
    /// `PATH`, else the newest installed, whichever first is of the server's major or newer.
    pub fn client_tool(&self, name: &str) -> Result<PathBuf, String> {
        let major = self.version_num / 10000;
        let mut dirs = Vec::new();
        if let Backend::Ephemeral(cluster) = &self.backend {
            dirs.push(cluster.bin().to_path_buf());
        }
        dirs.push(PathBuf::from(format!("/usr/lib/postgresql/{major}/bin")));
        dirs.extend(std::env::var_os("PATH").iter().flat_map(std::env::split_paths));
        dirs.extend(ephemeral::installed().into_iter().rev().map(|(_, bin)| bin));
        dirs.into_iter()
            .map(|dir| dir.join(name))
            .find(|program| program.is_file() && tool_major(program).is_some_and(|m| m >= major))
            .ok_or_else(|| format!("no {name} of PostgreSQL {major} or newer on PATH or in /usr/lib/postgresql/*/bin"))
    }

    /// `server_version_num`, e.g. `150018`.
    pub fn version_num(&self) -> u32 {
        self.version_num
    }

    /// Why the server is not of the major that was asked for (a setting or a project's hint).
    pub fn version_note(&self) -> Option<&str> {
        self.version_note.as_deref()
    }

    /// Creates a new empty database `mg_<seconds>_<random>` (owned by a role of the same name
    /// that migrations run as, unless they run as the admin), dropped again at
    /// [`Server::shutdown`].
    pub async fn create_database(&self) -> Result<ScratchDatabase, ProvisionError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let name = format!("mg_{now}_{:016x}", crate::random::u64());
        let sql = |what: String| move |source| ProvisionError::Sql { what, source };
        let mut conn = self.admin_connection().await?;
        self.scratch.lock().expect("scratch list lock").push(name.clone());
        if self.provider != Provider::Ephemeral {
            REGISTERED.lock().expect("registry lock").push((self.admin.clone(), name.clone()));
        }
        let mut options = self.admin.clone().database(&name);
        let mut role = None;
        let mut password = None;
        let mut owner = String::new();
        if self.isolation == Isolation::OwnRole {
            // The ephemeral cluster trusts its socket; other servers get a password.
            password = (self.provider != Provider::Ephemeral).then(|| crate::random::hex(128));
            let login = match &password {
                Some(p) => format!(" PASSWORD '{p}'"),
                None => String::new(),
            };
            conn.execute(sqlx::AssertSqlSafe(format!(
                "CREATE ROLE \"{name}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS{login}"
            )))
            .await
            .map_err(sql(format!("CREATE ROLE {name}")))?;
            // A non-superuser may only give a database to a role it is a member of.
            conn.execute(sqlx::AssertSqlSafe(format!("GRANT \"{name}\" TO CURRENT_USER"))).await.ok();
            // The declared roles carry no attribute; membership lets migrations give them
            // objects (`ALTER ... OWNER TO`).
            for declared in &self.roles {
                let quoted = declared.replace('"', "\"\"");
                conn.execute(sqlx::AssertSqlSafe(format!("GRANT \"{quoted}\" TO \"{name}\"")))
                    .await
                    .map_err(sql(format!("GRANT {declared} TO {name}")))?;
            }
            owner = format!(" OWNER \"{name}\"");
            options = options.username(&name);
            if let Some(p) = &password {
                options = options.password(p);
            }
            role = Some(name.clone());
        }
        // template0: the user's template1 may carry objects of their own.
        conn.execute(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{name}\"{owner} TEMPLATE template0 ENCODING 'UTF8'"
        )))
        .await
        .map_err(sql(format!("CREATE DATABASE {name}")))?;
        if role.is_some() {
            // Other databases stay closed to it.
            conn.execute(sqlx::AssertSqlSafe(format!("REVOKE ALL ON DATABASE \"{name}\" FROM PUBLIC"))).await.ok();
        }
        conn.close().await.ok();
        let session_settings = self.session_settings.clone();
        if !session_settings.is_empty() {
            options = options.options(session_settings.iter().map(|(name, value)| (name, value)));
        }
        Ok(ScratchDatabase {
            options,
            name: name.clone(),
            role,
            password,
            admin: self.admin.clone().database(&name),
            session_settings,
        })
    }

    /// Drops a scratch database now (it is otherwise dropped at shutdown), and its role.
    pub async fn drop_database(&self, database: &ScratchDatabase) -> Result<(), ProvisionError> {
        let mut conn = self.admin_connection().await?;
        drop_scratch(&mut conn, &database.name).await?;
        conn.close().await.ok();
        self.scratch.lock().expect("scratch list lock").retain(|n| n != &database.name);
        REGISTERED.lock().expect("registry lock").retain(|(_, n)| n != &database.name);
        Ok(())
    }

    /// Drops scratch databases and roles that runs killed without a chance to clean up left
    /// behind (older than [`STALE_AFTER`]); says what it dropped.
    async fn sweep_stale(&self) -> Vec<String> {
        let Ok(mut conn) = self.admin_connection().await else { return Vec::new() };
        // Databases first: roles may own objects in them.
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM (SELECT datname::text AS name, 0 AS o FROM pg_database WHERE datname ~ '^mg_[0-9]+_[0-9a-f]+$' \
             UNION ALL SELECT rolname::text, 1 FROM pg_roles WHERE rolname ~ '^mg_[0-9]+_[0-9a-f]+(_.+)?$') n ORDER BY o, name",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut notices = Vec::new();
        for name in names {
            let born = name.split('_').nth(1).and_then(|s| s.parse::<u64>().ok()).unwrap_or(now);
            if now.saturating_sub(born) > STALE_AFTER.as_secs() && drop_scratch(&mut conn, &name).await.is_ok() {
                notices.push(format!("dropped {name}, left over from a check that was killed"));
            }
        }
        conn.close().await.ok();
        notices
    }

    async fn admin_connection(&self) -> Result<PgConnection, ProvisionError> {
        self.admin
            .connect()
            .await
            .map_err(|source| ProvisionError::Sql { what: "connect to the maintenance database".into(), source })
    }

    /// Drops the scratch databases still left and stops what we started. Errors are reported
    /// as warnings: cleanup must not hide the check's result.
    pub async fn shutdown(self) -> Vec<String> {
        let mut warnings = Vec::new();
        // Only a server we do not own keeps its databases; ours go away with the cluster.
        if self.provider == Provider::Url {
            let names = std::mem::take(&mut *self.scratch.lock().expect("scratch list lock"));
            for name in names {
                let options = self.admin.clone().database(&name);
                let db = ScratchDatabase {
                    admin: options.clone(),
                    options,
                    name,
                    role: None,
                    password: None,
                    session_settings: Vec::new(),
                };
                if let Err(e) = self.drop_database(&db).await {
                    warnings.push(format!("could not drop scratch database {}: {e}", db.name));
                }
            }
            for role in &self.roles {
                let dropped = async {
                    let mut conn = self.admin_connection().await?;
                    drop_scratch(&mut conn, role).await?;
                    conn.close().await.ok();
                    Ok::<_, ProvisionError>(())
                };
                match dropped.await {
                    Ok(()) => REGISTERED_ROLES.lock().expect("registry lock").retain(|(_, r)| r != role),
                    Err(e) => warnings.push(format!("could not drop role {role}: {e}")),
                }
            }
        }
        match self.backend {
            Backend::Ephemeral(cluster) => cluster.stop(),
            Backend::Container(container) => container.stop().await,
            Backend::Url => {}
        }
        warnings
    }
}

/// Drops a scratch database and the role of the same name, if there are.
async fn drop_scratch(conn: &mut PgConnection, name: &str) -> Result<(), ProvisionError> {
    let sql = |what: String| move |source| ProvisionError::Sql { what, source };
    conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
        .await
        .map_err(sql(format!("DROP DATABASE {name}")))?;
    conn.execute(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS \"{name}\"")))
        .await
        .map_err(sql(format!("DROP ROLE {name}")))?;
    Ok(())
}

/// Drops the scratch databases of servers we do not own that are still registered: on a
/// signal, after the task that held the servers was stopped. Best effort, a few seconds at most.
pub async fn drop_registered() -> Vec<String> {
    let mut registered = std::mem::take(&mut *REGISTERED.lock().expect("registry lock"));
    registered.extend(std::mem::take(&mut *REGISTERED_ROLES.lock().expect("registry lock")));
    let mut dropped = Vec::new();
    for (admin, name) in registered {
        let attempt = async {
            let mut conn = admin.connect().await.ok()?;
            let done = drop_scratch(&mut conn, &name).await.is_ok();
            conn.close().await.ok();
            done.then_some(())
        };
        if let Ok(Some(())) = tokio::time::timeout(Duration::from_secs(5), attempt).await {
            dropped.push(name);
        }
    }
    dropped
}

/// The major version a client program says it is of (`pg_dump (PostgreSQL) 15.18 ...`).
pub(crate) fn tool_major(program: &Path) -> Option<u32> {
    let output =
        std::process::Command::new(program).arg("--version").stdin(std::process::Stdio::null()).output().ok()?;
    let said = String::from_utf8_lossy(&output.stdout);
    let version = said.split_once(") ")?.1;
    version.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// `host:port/database` (or the socket directory) without user or password, for messages.
fn describe(options: &PgConnectOptions) -> String {
    let host = options.get_socket().map(|s| s.display().to_string()).unwrap_or_else(|| options.get_host().to_string());
    format!("{host}:{}/{}", options.get_port(), options.get_database().unwrap_or("postgres"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_for_socket_tcp_and_given_servers() {
        let db = |options: sqlx::postgres::PgConnectOptions, name: &str, password: Option<&str>| ScratchDatabase {
            name: name.to_string(),
            admin: options.clone(),
            options,
            role: None,
            password: password.map(str::to_string),
            session_settings: Vec::new(),
        };
        let socket = sqlx::postgres::PgConnectOptions::new().socket("/run/pg sock").port(5432).username("mg_1");
        assert_eq!(
            db(socket, "mg_1", None).url(None, "postgresql", true),
            "postgresql://mg_1@/mg_1?host=/run/pg%20sock&port=5432&application_name=migration-guard%20migrate"
        );
        let tcp = sqlx::postgres::PgConnectOptions::new().host("db").port(6543).username("u");
        assert_eq!(
            db(tcp.clone(), "mg_1", None).url(None, "postgresql+psycopg2", true),
            "postgresql+psycopg2://u@db:6543/mg_1?application_name=migration-guard%20migrate"
        );
        // The server's address and options, never the admin's credentials.
        assert_eq!(
            db(tcp.clone(), "mg_2", Some("p/w")).url(
                Some("postgres://a:b@h:1/app?sslmode=require"),
                "postgresql",
                true
            ),
            "postgresql://u:p%2Fw@h:1/mg_2?sslmode=require&application_name=migration-guard%20migrate"
        );
        assert_eq!(
            db(tcp, "mg_2", Some("p/w")).url(None, "postgresql", false),
            "postgresql://u@db:6543/mg_2?application_name=migration-guard%20migrate"
        );
    }
}
