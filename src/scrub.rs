//! What child processes may not inherit: the tool's own secrets and the runner's. The project's
//! code (a models command, its Python and env.py) runs from the pull request, so it gets our
//! environment without tokens, webhooks, passwords, action inputs or the runner's credentials.

/// A child process of `program` whose environment is this process's without the secrets: every
/// command the check runs from the repository (its Python, `models-command`, pip) starts so.
pub fn command(program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    for key in secret_keys() {
        command.env_remove(key);
    }
    command
}

/// Names of the variables of this process that a child must not see.
fn secret_keys() -> Vec<String> {
    std::env::vars_os().filter_map(|(key, _)| key.into_string().ok()).filter(|key| is_secret(key)).collect()
}

/// Whether an environment variable may hold a secret.
fn is_secret(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    upper.starts_with("INPUT_")
        || upper.starts_with("ACTIONS_")
        || upper.starts_with("PG")
        || upper == "DATABASE_URL"
        || ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "WEBHOOK", "CREDENTIAL", "PRIVATE_KEY", "API_KEY"]
            .iter()
            .any(|word| upper.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_inputs_and_runner_credentials_are_secret() {
        for key in [
            "GITHUB_TOKEN",
            "INPUT_GITHUB-TOKEN",
            "INPUT_SLACK_WEBHOOK",
            "ACTIONS_RUNTIME_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "DATABASE_URL",
            "PGPASSWORD",
            "AWS_SECRET_ACCESS_KEY",
            "npm_token",
        ] {
            assert!(is_secret(key), "{key}");
        }
        for key in ["PATH", "HOME", "LANG", "VIRTUAL_ENV", "PYTHONPATH", "GITHUB_WORKSPACE", "RUNNER_TEMP"] {
            assert!(!is_secret(key), "{key}");
        }
    }
}
