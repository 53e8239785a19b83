//! The GitHub REST calls the action makes (issue comments and check runs), over octocrab with
//! its base URI taken from `GITHUB_API_URL` and our own retry policy.

use super::retry::{self, Backoff, Verdict};
use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// A failed API call, after retries.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{what}: GitHub answered {status}: {message}")]
    Status { what: String, status: u16, message: String },
    #[error("{what}: {message}")]
    Transport { what: String, message: String },
}

impl ApiError {
    /// The token may not do this (read-only token, fork PR, missing `permissions:`).
    pub fn is_forbidden(&self) -> bool {
        matches!(self, ApiError::Status { status: 401 | 403 | 404, .. })
    }
}

/// An issue comment, as much of it as we read.
#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: Option<String>,
    /// Who wrote it.
    #[serde(default)]
    pub user: Option<Login>,
}

/// A user, as much of it as we read.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Login {
    pub login: String,
}

/// The login behind the workflow's own token, which cannot read `GET /user`.
pub const ACTIONS_BOT: &str = "github-actions[bot]";

/// Longest wait for one HTTP call, the whole answer included (a server that sends a byte now
/// and then must not hold the step).
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Deserialize)]
struct Id {
    id: u64,
}

/// A client for one repository.
pub struct GitHub {
    client: Octocrab,
    owner: String,
    repo: String,
    backoff: Backoff,
}

/// An octocrab error reduced to what retrying and reporting need.
struct Failure {
    status: Option<u16>,
    retry_after: Option<u64>,
    remaining: Option<u64>,
    message: String,
}

impl From<octocrab::Error> for Failure {
    fn from(error: octocrab::Error) -> Failure {
        match error {
            octocrab::Error::GitHub { source, .. } => {
                let header = |name: &str| source.headers.as_ref()?.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
                Failure {
                    status: Some(source.status_code.as_u16()),
                    retry_after: header("retry-after"),
                    remaining: header("x-ratelimit-remaining"),
                    message: source.message.lines().next().unwrap_or_default().chars().take(300).collect(),
                }
            }
            other => Failure { status: None, retry_after: None, remaining: None, message: other.to_string() },
        }
    }
}

impl GitHub {
    /// A client for `owner/repo` on the API at `api_url`, authenticated with `token`.
    pub fn new(api_url: &str, token: &str, owner: &str, repo: &str, backoff: Backoff) -> Result<GitHub, ApiError> {
        let bad = |message: String| ApiError::Transport { what: format!("GITHUB_API_URL {api_url}"), message };
        let client = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))
            .map_err(|e| bad(e.to_string()))?
            .personal_token(token.to_string())
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(GitHub { client, owner: owner.to_string(), repo: repo.to_string(), backoff })
    }

    async fn call<R: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        method: &str,
        route: &str,
        body: Option<&Value>,
    ) -> Result<R, ApiError> {
        let attempt = || async {
            let call = async {
                match method {
                    "GET" => self.client.get(route, None::<&()>).await,
                    "POST" => self.client.post(route, body).await,
                    _ => self.client.patch(route, body).await,
                }
            };
            match tokio::time::timeout(CALL_TIMEOUT, call).await {
                Ok(result) => result.map_err(Failure::from),
                Err(_) => Err(Failure {
                    status: None,
                    retry_after: None,
                    remaining: None,
                    message: format!("no complete answer within {} s", CALL_TIMEOUT.as_secs()),
                }),
            }
        };
        let verdict = |f: &Failure| match f.status {
            Some(status) => retry::classify_status(status, f.retry_after, f.remaining),
            None => Verdict::Retry(None),
        };
        let value = retry::retry(self.backoff, attempt, verdict).await.map_err(|f| match f.status {
            Some(status) => ApiError::Status { what: what.to_string(), status, message: f.message },
            None => ApiError::Transport { what: what.to_string(), message: f.message },
        })?;
        serde_json::from_value(value)
            .map_err(|e| ApiError::Transport { what: what.to_string(), message: format!("unexpected answer: {e}") })
    }

    fn repo_route(&self, rest: &str) -> String {
        format!("/repos/{}/{}/{rest}", self.owner, self.repo)
    }

    /// The login of the token's user; the workflow's own token (an installation token, which
    /// may not read `/user`) is `github-actions[bot]`.
    pub async fn current_login(&self) -> Result<String, ApiError> {
        match self.call::<Login>("read the token's user", "GET", "/user", None).await {
            Ok(user) => Ok(user.login),
            Err(ApiError::Status { status: 401 | 403 | 404, .. }) => Ok(ACTIONS_BOT.to_string()),
            Err(e) => Err(e),
        }
    }

    /// Every comment on issue or PR `number`, oldest first.
    pub async fn list_comments(&self, number: u64) -> Result<Vec<Comment>, ApiError> {
        let mut all = Vec::new();
        for page in 1.. {
            let route = self.repo_route(&format!("issues/{number}/comments?per_page=100&page={page}"));
            let batch: Vec<Comment> = self.call("list PR comments", "GET", &route, None).await?;
            let done = batch.len() < 100;
            all.extend(batch);
            // A bound against a server that never stops paging.
            if done || page >= 50 {
                break;
            }
        }
        Ok(all)
    }

    /// Adds a comment to issue or PR `number`; returns its id.
    pub async fn create_comment(&self, number: u64, body: &str) -> Result<u64, ApiError> {
        let route = self.repo_route(&format!("issues/{number}/comments"));
        let created: Id =
            self.call("create PR comment", "POST", &route, Some(&serde_json::json!({ "body": body }))).await?;
        Ok(created.id)
    }

    /// Replaces the body of comment `id`.
    pub async fn update_comment(&self, id: u64, body: &str) -> Result<(), ApiError> {
        let route = self.repo_route(&format!("issues/comments/{id}"));
        let _: Value =
            self.call("update PR comment", "PATCH", &route, Some(&serde_json::json!({ "body": body }))).await?;
        Ok(())
    }

    /// Creates a check run from `body` (GitHub's create-check-run shape); returns its id.
    pub async fn create_check_run(&self, body: &Value) -> Result<u64, ApiError> {
        let created: Id = self.call("create check run", "POST", &self.repo_route("check-runs"), Some(body)).await?;
        Ok(created.id)
    }

    /// Updates check run `id` with `body` (GitHub's update-check-run shape).
    pub async fn update_check_run(&self, id: u64, body: &Value) -> Result<(), ApiError> {
        let route = self.repo_route(&format!("check-runs/{id}"));
        let _: Value = self.call("update check run", "PATCH", &route, Some(body)).await?;
        Ok(())
    }
}
