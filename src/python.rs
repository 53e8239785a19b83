//! The project's Python environment: installs its requirements (`python-requirements`) before
//! the check, so that an Alembic env.py and SQLAlchemy models can import the application.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Longest the install may take (a registry that stops answering must not hold the job).
const TIMEOUT: Duration = Duration::from_secs(900);

/// Why the requirements could not be installed; each names the setting and the file.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("python-requirements {file}: no such file")]
    NotFound { file: String },
    #[error("python-requirements {file}: cannot run {python} -m pip: {source}")]
    Spawn {
        file: String,
        python: String,
        #[source]
        source: std::io::Error,
    },
    #[error("python-requirements {file}: pip failed ({status}): {last}")]
    Failed { file: String, status: String, last: String },
    #[error("python-requirements {file}: pip did not finish in {} s", TIMEOUT.as_secs())]
    Timeout { file: String },
}

/// Runs `python -m pip install -r file`, without the run's secrets in pip's environment.
pub async fn install_requirements(python: &Path, file: &Path) -> Result<(), InstallError> {
    let shown = crate::migrations::display_path(file);
    if !file.is_file() {
        return Err(InstallError::NotFound { file: shown });
    }
    let mut pip = crate::scrub::command(python);
    pip.args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input", "-r"]).arg(file);
    let run = pip.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true).output();
    let output =
        tokio::time::timeout(TIMEOUT, run).await.map_err(|_| InstallError::Timeout { file: shown.clone() })?.map_err(
            |source| InstallError::Spawn { file: shown.clone(), python: python.display().to_string(), source },
        )?;
    if output.status.success() {
        return Ok(());
    }
    Err(InstallError::Failed {
        file: shown,
        status: output.status.to_string(),
        last: crate::postgres::last_line(&String::from_utf8_lossy(&output.stderr)),
    })
}
