//! PostgreSQL servers to run migrations on: an ephemeral local cluster, a server given by URL, or
//! a container, behind one `Server` handle that hands out throwaway `mg_<random>` databases and
//! cleans up after itself. Knows nothing of migrations.

mod container;
mod ephemeral;

use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor, Row};
use std::path::PathBuf;
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
}

/// A throwaway database created by us on a [`Server`].
#[derive(Debug, Clone)]
pub struct ScratchDatabase {
    pub name: String,
    pub options: PgConnectOptions,
}

impl ScratchDatabase {
    /// Opens a new connection to this database.
    pub async fn connect(&self) -> Result<PgConnection, ProvisionError> {
        self.options.connect().await.map_err(|source| ProvisionError::Sql {
            what: format!("connect to scratch database {}", self.name),
            source,
        })
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

impl Server {
    /// Provides a server as the options say: URL, container image, or (default) ephemeral.
    pub async fn start(options: &ProvisionOptions) -> Result<Server, ProvisionError> {
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
            let cluster = ephemeral::Cluster::start(options.pg_bin.as_deref()).await?;
            let admin = cluster.connect_options();
            Server::attach(Provider::Ephemeral, admin, "--pg-bin", Backend::Ephemeral(cluster)).await
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
             current_user::text, (SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user)",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(sql_err("read server version"))?;
        let version: String = row.get(0);
        let version_num: i32 = row.get(1);
        let role: String = row.get(2);
        let can_create: Option<bool> = row.get(3);
        conn.close().await.ok();
        if !can_create.unwrap_or(false) {
            return Err(ProvisionError::NoCreateDb { role });
        }
        Ok(Server {
            provider,
            admin,
            version,
            version_num: version_num as u32,
            scratch: Mutex::new(Vec::new()),
            backend,
        })
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

    /// `server_version_num`, e.g. `150018`.
    pub fn version_num(&self) -> u32 {
        self.version_num
    }

    /// Creates a new empty database `mg_<random>`, dropped again at [`Server::shutdown`].
    pub async fn create_database(&self) -> Result<ScratchDatabase, ProvisionError> {
        let name = format!("mg_{:016x}", crate::random::u64());
        let mut conn = self.admin_connection().await?;
        // template0: the user's template1 may carry objects of their own.
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")))
            .await
            .map_err(|source| ProvisionError::Sql { what: format!("CREATE DATABASE {name}"), source })?;
        conn.close().await.ok();
        self.scratch.lock().expect("scratch list lock").push(name.clone());
        Ok(ScratchDatabase { options: self.admin.clone().database(&name), name })
    }

    /// Drops a scratch database now (it is otherwise dropped at shutdown).
    pub async fn drop_database(&self, database: &ScratchDatabase) -> Result<(), ProvisionError> {
        let mut conn = self.admin_connection().await?;
        conn.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", database.name)))
            .await
            .map_err(|source| ProvisionError::Sql { what: format!("DROP DATABASE {}", database.name), source })?;
        conn.close().await.ok();
        self.scratch.lock().expect("scratch list lock").retain(|n| n != &database.name);
        Ok(())
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
                let db = ScratchDatabase { options: self.admin.clone().database(&name), name };
                if let Err(e) = self.drop_database(&db).await {
                    warnings.push(format!("could not drop scratch database {}: {e}", db.name));
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

/// `host:port/database` (or the socket directory) without user or password, for messages.
fn describe(options: &PgConnectOptions) -> String {
    let host = options.get_socket().map(|s| s.display().to_string()).unwrap_or_else(|| options.get_host().to_string());
    format!("{host}:{}/{}", options.get_port(), options.get_database().unwrap_or("postgres"))
}
