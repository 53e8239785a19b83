//! The optional Slack message: the status line and a link to the run, posted to an incoming
//! webhook.

use super::retry::{self, Backoff, Verdict};
use crate::findings::Status;
use crate::report::Report;
use serde_json::{Value, json};

/// Why the message was not posted.
#[derive(Debug, thiserror::Error)]
#[error("slack-webhook: {0}")]
pub struct SlackError(String);

/// The message for `report`, linking to `run_url` when known.
pub fn message(report: &Report, repository: &str, run_url: Option<&str>) -> Value {
    let s = &report.summary;
    let (icon, word) = match report.status {
        Status::Pass => (":white_check_mark:", "passed"),
        Status::Fail => (":x:", "failed"),
    };
    let mut text = format!(
        "{icon} Migration Guard {word} on {repository}: {}/{} migrations applied, {} errors, {} warnings",
        s.applied, s.migrations, s.errors, s.warnings
    );
    if let Some(url) = run_url {
        text.push_str(&format!(" (<{url}|run>)"));
    }
    json!({ "text": text })
}

/// Posts `body` to the webhook.
pub async fn post(webhook: &str, body: &Value, backoff: Backoff) -> Result<(), SlackError> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .map_err(|e| SlackError(e.to_string()))?;
    let call = || async {
        let response = client.post(webhook).json(body).send().await.map_err(|e| (None, e.without_url().to_string()))?;
        let status = response.status().as_u16();
        if response.status().is_success() { Ok(()) } else { Err((Some(status), format!("Slack answered {status}"))) }
    };
    let verdict = |e: &(Option<u16>, String)| match e.0 {
        Some(status) => retry::classify_status(status, None, None),
        None => Verdict::Retry(None),
    };
    // The webhook URL is a secret: errors never include it (`without_url`).
    retry::retry(backoff, call, verdict).await.map_err(|(_, message)| SlackError(message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::FailOn;
    use crate::report::ChainInfo;

    #[test]
    fn message_has_status_and_link() {
        let report =
            Report::new(FailOn::Error, None, ChainInfo { format: "sqlx".into(), dir: "m".into() }, vec![], vec![], 1.0);
        let m = message(&report, "acme/shop", Some("https://github.com/acme/shop/actions/runs/1"));
        assert_eq!(
            m["text"],
            ":white_check_mark: Migration Guard passed on acme/shop: 0/0 migrations applied, 0 errors, 0 warnings (<https://github.com/acme/shop/actions/runs/1|run>)"
        );
    }
}
