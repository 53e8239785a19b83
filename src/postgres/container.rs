//! `--postgres-image`: a PostgreSQL container started through a Docker engine (testcontainers),
//! for teams that must match their production server version.

use super::ProvisionError;
use sqlx::postgres::PgConnectOptions;
use std::time::Duration;
use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

/// A running container; removed by [`Container::stop`] (testcontainers also removes it on drop).
pub struct Container {
    inner: ContainerAsync<GenericImage>,
    host: String,
    port: u16,
}

impl Container {
    /// Pulls (if needed) and starts `image` (`postgres:16`, `registry/x/postgres:15-alpine`, ...).
    pub async fn start(image: &str) -> Result<Container, ProvisionError> {
        if !engine_configured() {
            return Err(ProvisionError::Container(format!(
                "--postgres-image {image} needs a Docker engine, and none is reachable (no DOCKER_HOST, no /var/run/docker.sock): \
                 start Docker, or drop --postgres-image to use the embedded PostgreSQL"
            )));
        }
        let (name, tag) = split_image(image);
        let request = GenericImage::new(name, tag)
            .with_wait_for(WaitFor::message_on_either_std("database system is ready to accept connections"))
            .with_exposed_port(5432.tcp())
            .with_env_var("POSTGRES_HOST_AUTH_METHOD", "trust")
            .with_cmd(["postgres", "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off"])
            .with_startup_timeout(Duration::from_secs(120));
        let inner = request.start().await.map_err(|e| {
            ProvisionError::Container(format!(
                "cannot start {image} (check the image name and that Docker is running): {e}"
            ))
        })?;
        let host = inner.get_host().await.map_err(|e| ProvisionError::Container(e.to_string()))?.to_string();
        let port = inner.get_host_port_ipv4(5432).await.map_err(|e| ProvisionError::Container(e.to_string()))?;
        let container = Container { inner, host, port };
        // The image's init server prints the same ready message on its socket-only run; wait
        // until the real server answers on TCP.
        let options = container.connect_options();
        for _ in 0..600 {
            if let Ok(conn) = sqlx::ConnectOptions::connect(&options).await {
                sqlx::Connection::close(conn).await.ok();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(container)
    }

    /// Connection options for the image's superuser.
    pub fn connect_options(&self) -> PgConnectOptions {
        PgConnectOptions::new().host(&self.host).port(self.port).username("postgres").database("postgres")
    }

    /// Stops and removes the container.
    pub async fn stop(self) {
        self.inner.rm().await.ok();
    }
}

/// `name:tag`, defaulting the tag to `latest`; a registry port (`host:5000/pg`) is not a tag.
fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (image.to_string(), "latest".to_string()),
    }
}

/// Whether a Docker engine is configured at all; a fast, clear answer before testcontainers'
/// own longer error.
pub fn engine_configured() -> bool {
    std::env::var_os("DOCKER_HOST").is_some()
        || std::path::Path::new("/var/run/docker.sock").exists()
        || std::env::var_os("HOME").is_some_and(|h| std::path::Path::new(&h).join(".docker/run/docker.sock").exists())
        || std::env::var_os("TESTCONTAINERS_HOST_OVERRIDE").is_some()
}

#[cfg(test)]
mod tests {
    use super::split_image;

    #[test]
    fn image_names() {
        assert_eq!(split_image("postgres:16"), ("postgres".into(), "16".into()));
        assert_eq!(split_image("postgres"), ("postgres".into(), "latest".into()));
        assert_eq!(split_image("host:5000/pg"), ("host:5000/pg".into(), "latest".into()));
        assert_eq!(split_image("host:5000/pg:15"), ("host:5000/pg".into(), "15".into()));
    }
}
