//! Retrying calls to GitHub, the artifact service and Slack: server errors, rate limits and
//! broken connections are retried with exponential backoff; anything else fails at once.

use std::time::Duration;

/// How often and how long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubled for each later one.
    pub base: Duration,
    /// Longest single wait, also for a server's `Retry-After`.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { attempts: 4, base: Duration::from_secs(1), max: Duration::from_secs(30) }
    }
}

impl Backoff {
    /// The default policy, with the first wait overridden by `MIGRATION_GUARD_RETRY_BASE_MS`
    /// (for slow proxies, or fast tests).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Backoff {
        let mut backoff = Backoff::default();
        if let Some(ms) = env("MIGRATION_GUARD_RETRY_BASE_MS").and_then(|v| v.trim().parse::<u64>().ok()) {
            backoff.base = Duration::from_millis(ms);
        }
        backoff
    }

    /// The wait after failed attempt `attempt` (0-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(1 << attempt.min(16)).min(self.max)
    }
}

/// Whether a failed call may succeed when repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Retry, after the server's requested wait if it gave one.
    Retry(Option<Duration>),
    Fail,
}

/// The verdict for an HTTP status (with `Retry-After` / `x-ratelimit-remaining` if present).
pub fn classify_status(status: u16, retry_after: Option<u64>, rate_limit_remaining: Option<u64>) -> Verdict {
    let wait = retry_after.map(Duration::from_secs);
    match status {
        429 | 500..=599 => Verdict::Retry(wait),
        // A 403 is a rate limit only when the headers say so; else the token lacks permission.
        403 if retry_after.is_some() || rate_limit_remaining == Some(0) => Verdict::Retry(wait),
        _ => Verdict::Fail,
    }
}

/// Runs `call` until it succeeds, `verdict` says to stop, or the attempts are used up; returns
/// the last error and the number of attempts made.
pub async fn retry<T, E, F, Fut>(backoff: Backoff, mut call: F, verdict: impl Fn(&E) -> Verdict) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(error) => {
                let Verdict::Retry(wait) = verdict(&error) else { return Err(error) };
                if attempt + 1 >= backoff.attempts {
                    return Err(error);
                }
                let wait = wait.unwrap_or_else(|| backoff.delay(attempt)).min(backoff.max);
                log::debug!("retrying in {wait:?}");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify_status(502, None, None), Verdict::Retry(None));
        assert_eq!(classify_status(429, Some(3), None), Verdict::Retry(Some(Duration::from_secs(3))));
        assert_eq!(classify_status(403, None, Some(0)), Verdict::Retry(None));
        assert_eq!(classify_status(403, None, Some(10)), Verdict::Fail);
        assert_eq!(classify_status(404, None, None), Verdict::Fail);
    }

    #[test]
    fn delays_double_and_cap() {
        let b = Backoff { attempts: 4, base: Duration::from_millis(100), max: Duration::from_millis(350) };
        assert_eq!(b.delay(0), Duration::from_millis(100));
        assert_eq!(b.delay(1), Duration::from_millis(200));
        assert_eq!(b.delay(2), Duration::from_millis(350));
    }

    #[tokio::test]
    async fn retries_until_success_or_attempts_run_out() {
        let b = Backoff { attempts: 3, base: Duration::from_millis(1), max: Duration::from_millis(5) };
        let mut calls = 0;
        let r: Result<u32, u16> = retry(
            b,
            || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err(500) } else { Ok(n) } }
            },
            |s| classify_status(*s, None, None),
        )
        .await;
        assert_eq!(r, Ok(3));
        let mut calls = 0;
        let r: Result<u32, u16> = retry(
            b,
            || {
                calls += 1;
                async { Err(500) }
            },
            |s| classify_status(*s, None, None),
        )
        .await;
        assert_eq!((r, calls), (Err(500), 3));
        let mut calls = 0;
        let r: Result<u32, u16> = retry(
            b,
            || {
                calls += 1;
                async { Err(403) }
            },
            |s| classify_status(*s, None, None),
        )
        .await;
        assert_eq!((r, calls), (Err(403), 1));
    }
}
