//! The check run: a conclusion from the report's status and an annotation per finding on its
//! migration file, sent 50 at a time as GitHub allows.

use super::api::{ApiError, GitHub};
use super::context::Context;
use crate::findings::{Severity, Status};
use crate::report::{Report, markdown};
use serde_json::{Value, json};

/// GitHub takes at most this many annotations per request.
pub const ANNOTATION_BATCH: usize = 50;

/// The check run's conclusion: the report's status decides, renderers do not.
pub fn conclusion(report: &Report) -> &'static str {
    match report.status {
        Status::Pass => "success",
        Status::Fail => "failure",
    }
}

/// One annotation per finding that has a file, with repository-relative paths.
pub fn annotations(report: &Report, ctx: &Context) -> Vec<Value> {
    report
        .findings
        .iter()
        .filter_map(|f| {
            let path = ctx.repo_path(f.file.as_ref()?);
            // GitHub rejects the whole request for a path outside the repository.
            if path.starts_with('/') || path.starts_with("../") {
                return None;
            }
            let line = f.line.unwrap_or(1).max(1);
            let level = match f.severity {
                Severity::Error => "failure",
                Severity::Warning => "warning",
                Severity::Info => "notice",
            };
            let mut annotation = json!({
                "path": path,
                "start_line": line,
                "end_line": line,
                "annotation_level": level,
                "title": f.rule,
                "message": f.message,
            });
            if let Some(help) = &f.help {
                annotation["raw_details"] = json!(help);
            }
            Some(annotation)
        })
        .collect()
}

/// The run's title, e.g. "2 errors, 1 warning".
fn title(report: &Report) -> String {
    let s = &report.summary;
    match (report.status, s.errors, s.warnings) {
        (Status::Pass, 0, 0) => format!("{} migrations applied, no findings", s.applied),
        _ => format!("{} errors, {} warnings", s.errors, s.warnings),
    }
}

/// Creates the completed check run named `name` on `sha` and adds the annotations in batches;
/// returns its id.
pub async fn publish(
    github: &GitHub,
    ctx: &Context,
    report: &Report,
    name: &str,
    sha: &str,
    pointer: &str,
) -> Result<u64, ApiError> {
    let all = annotations(report, ctx);
    let mut batches = all.chunks(ANNOTATION_BATCH);
    let output = |annotations: &[Value]| {
        json!({
            "title": title(report),
            "summary": markdown::render_limited(report, markdown::COMMENT_BUDGET, pointer),
            "annotations": annotations,
        })
    };
    let mut body = json!({
        "name": name,
        "head_sha": sha,
        "status": "completed",
        "conclusion": conclusion(report),
        "output": output(batches.next().unwrap_or_default()),
    });
    if let Some(url) = ctx.run_url() {
        body["details_url"] = json!(url);
    }
    let id = github.create_check_run(&body).await?;
    for batch in batches {
        github.update_check_run(id, &json!({ "output": output(batch) })).await?;
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::{FailOn, Finding};
    use crate::report::ChainInfo;

    #[test]
    fn annotations_use_repository_paths_and_levels() {
        let findings = vec![
            Finding::new("a", Severity::Error, "bad").at("/ws/db/1.sql", Some(3)).with_help("fix"),
            Finding::new("b", Severity::Warning, "meh").at("db/2.sql", None),
            Finding::new("c", Severity::Info, "no file"),
            Finding::new("d", Severity::Error, "outside").at("/elsewhere/x.sql", Some(1)),
        ];
        let report = Report::new(
            FailOn::Error,
            None,
            ChainInfo { format: "sqlx".into(), dir: "db".into() },
            vec![],
            findings,
            1.0,
        );
        let ctx = Context { workspace: Some("/ws".into()), ..Context::default() };
        let got = annotations(&report, &ctx);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0]["path"], "db/1.sql");
        assert_eq!(got[0]["annotation_level"], "failure");
        assert_eq!(got[0]["raw_details"], "fix");
        assert_eq!(got[1]["start_line"], 1);
        assert_eq!(got[1]["annotation_level"], "warning");
        assert_eq!(conclusion(&report), "failure");
    }
}
