//! Where the action runs: the `GITHUB_*` / `ACTIONS_*` variables and the event payload, read
//! into one typed context. Reads only; decides nothing.

use serde_json::Value;
use std::path::PathBuf;

/// The workflow run the action is part of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// REST API base (`GITHUB_API_URL`), so GitHub Enterprise Server works.
    pub api_url: String,
    /// Web base (`GITHUB_SERVER_URL`), for links.
    pub server_url: String,
    pub owner: String,
    pub repo: String,
    pub event_name: String,
    /// The commit the check run belongs to: the PR head for pull requests (`GITHUB_SHA` is then
    /// a merge commit), else `GITHUB_SHA`.
    pub sha: Option<String>,
    /// The pull request number, for `pull_request` / `pull_request_target` events.
    pub pr_number: Option<u64>,
    /// The PR's base branch, the default for `base-ref`.
    pub base_ref: Option<String>,
    /// For a `push`, the commit the branch pointed at before it (none for a new branch): the
    /// base a push is judged against.
    pub push_before: Option<String>,
    /// The PR comes from a fork, whose token is read-only.
    pub fork: bool,
    pub workflow: String,
    pub job: String,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    /// `GITHUB_WORKSPACE`: annotation paths are made relative to it.
    pub workspace: Option<PathBuf>,
    pub output_file: Option<PathBuf>,
    pub summary_file: Option<PathBuf>,
    /// `ACTIONS_RUNTIME_TOKEN` and `ACTIONS_RESULTS_URL`, for the artifact service.
    pub runtime_token: Option<String>,
    pub results_url: Option<String>,
}

/// Why the context cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("GITHUB_EVENT_PATH {path}: cannot read the event payload")]
    Event {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("GITHUB_EVENT_PATH {path}: the event payload is not JSON")]
    EventJson {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

/// Whether the event is a pull request from a fork (its head in another repository), read from
/// the event payload; `false` when there is none or it cannot be read.
pub fn fork_pull_request(env: &dyn Fn(&str) -> Option<String>) -> bool {
    let Some(path) = env("GITHUB_EVENT_PATH") else { return false };
    let Ok(text) = std::fs::read_to_string(path.trim()) else { return false };
    let Ok(event) = serde_json::from_str::<Value>(&text) else { return false };
    let pr = &event["pull_request"];
    let head = pr["head"]["repo"]["full_name"].as_str();
    let base = pr["base"]["repo"]["full_name"].as_str().map(str::to_string).or_else(|| env("GITHUB_REPOSITORY"));
    head.is_some() && head.map(str::to_string) != base
}

impl Context {
    /// Reads the context from the environment; `None` outside GitHub Actions.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Context>, ContextError> {
        if env("GITHUB_ACTIONS").as_deref() != Some("true") {
            return Ok(None);
        }
        let var = |k: &str| env(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let event = match var("GITHUB_EVENT_PATH") {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| ContextError::Event { path: path.clone(), source })?;
                serde_json::from_str(&text).map_err(|source| ContextError::EventJson { path, source })?
            }
            None => Value::Null,
        };
        let repository = var("GITHUB_REPOSITORY").unwrap_or_default();
        let (owner, repo) = repository.split_once('/').map(|(o, r)| (o.to_string(), r.to_string())).unwrap_or_default();
        let pr = &event["pull_request"];
        let pr_number = pr["number"].as_u64().or_else(|| {
            // `issue_comment` on a PR carries the number under `issue`.
            event["issue"]["pull_request"].is_object().then(|| event["issue"]["number"].as_u64()).flatten()
        });
        Ok(Some(Context {
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".to_string()),
            server_url: var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".to_string()),
            owner,
            repo,
            event_name: var("GITHUB_EVENT_NAME").unwrap_or_default(),
            sha: pr["head"]["sha"].as_str().map(str::to_string).or_else(|| var("GITHUB_SHA")),
            pr_number,
            base_ref: pr["base"]["ref"].as_str().map(str::to_string).or_else(|| var("GITHUB_BASE_REF")),
            push_before: event["before"]
                .as_str()
                .filter(|sha| var("GITHUB_EVENT_NAME").as_deref() == Some("push") && sha.bytes().any(|b| b != b'0'))
                .map(str::to_string),
            fork: fork_pull_request(env),
            workflow: var("GITHUB_WORKFLOW").unwrap_or_default(),
            job: var("GITHUB_JOB").unwrap_or_default(),
            run_id: var("GITHUB_RUN_ID"),
            run_attempt: var("GITHUB_RUN_ATTEMPT"),
            workspace: var("GITHUB_WORKSPACE").map(PathBuf::from),
            output_file: var("GITHUB_OUTPUT").map(PathBuf::from),
            summary_file: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            runtime_token: var("ACTIONS_RUNTIME_TOKEN"),
            results_url: var("ACTIONS_RESULTS_URL"),
        }))
    }

    /// Whether the repository is known (needed for every API call).
    pub fn has_repository(&self) -> bool {
        !self.owner.is_empty() && !self.repo.is_empty()
    }

    /// Link to this workflow run, when its id is known.
    pub fn run_url(&self) -> Option<String> {
        let id = self.run_id.as_ref()?;
        let mut url =
            format!("{}/{}/{}/actions/runs/{id}", self.server_url.trim_end_matches('/'), self.owner, self.repo);
        if let Some(attempt) = self.run_attempt.as_ref().filter(|a| a.as_str() != "1") {
            url.push_str(&format!("/attempts/{attempt}"));
        }
        Some(url)
    }

    /// A path as the repository names it: relative to the workspace, with `/` separators.
    pub fn repo_path(&self, path: &str) -> String {
        let p = std::path::Path::new(path);
        let relative = match &self.workspace {
            Some(ws) if p.is_absolute() => p.strip_prefix(ws).unwrap_or(p),
            _ => p,
        };
        let text = relative.to_string_lossy().replace('\\', "/");
        text.strip_prefix("./").map(str::to_string).unwrap_or(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(event: &std::path::Path) -> impl Fn(&str) -> Option<String> {
        let event = event.to_string_lossy().into_owned();
        move |k| {
            Some(match k {
                "GITHUB_ACTIONS" => "true".into(),
                "GITHUB_REPOSITORY" => "acme/shop".into(),
                "GITHUB_EVENT_NAME" => "pull_request".into(),
                "GITHUB_EVENT_PATH" => event.clone(),
                "GITHUB_SHA" => "merge".into(),
                "GITHUB_RUN_ID" => "42".into(),
                "GITHUB_WORKSPACE" => "/github/workspace".into(),
                _ => return None,
            })
        }
    }

    #[test]
    fn pull_request_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("event.json");
        let event = serde_json::json!({"pull_request": {"number": 7,
            "head": {"sha": "abc", "repo": {"full_name": "someone/shop"}},
            "base": {"ref": "main", "repo": {"full_name": "acme/shop"}}}});
        std::fs::write(&path, event.to_string()).unwrap();
        let ctx = Context::from_env(&env_with(&path)).unwrap().unwrap();
        assert_eq!((ctx.owner.as_str(), ctx.repo.as_str()), ("acme", "shop"));
        assert_eq!(ctx.pr_number, Some(7));
        assert_eq!(ctx.sha.as_deref(), Some("abc"));
        assert_eq!(ctx.base_ref.as_deref(), Some("main"));
        assert!(ctx.fork);
        assert_eq!(ctx.api_url, "https://api.github.com");
        assert_eq!(ctx.run_url().unwrap(), "https://github.com/acme/shop/actions/runs/42");
        assert_eq!(ctx.repo_path("/github/workspace/db/1.sql"), "db/1.sql");
        assert_eq!(ctx.repo_path("./db/1.sql"), "db/1.sql");
    }

    #[test]
    fn outside_actions_and_bad_payload() {
        assert_eq!(Context::from_env(&|_| None).unwrap(), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("event.json");
        std::fs::write(&path, "{").unwrap();
        let err = Context::from_env(&env_with(&path)).unwrap_err().to_string();
        assert!(err.starts_with("GITHUB_EVENT_PATH") && err.ends_with("is not JSON"), "{err}");
    }
}
