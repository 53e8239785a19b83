//! `report.md`: the report as GitHub-flavoured Markdown, for PR comments and job summaries.

use super::{MigrationStatus, Report};
use crate::findings::Status;
use std::fmt::Write;

/// Renders the report as Markdown.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let icon = match report.status {
        Status::Pass => "✅",
        Status::Fail => "❌",
    };
    let _ = writeln!(
        out,
        "## {icon} Migration Guard: {}\n\n{} of {} migrations applied ({}), {} errors, {} warnings, {:.1} s\n",
        match report.status {
            Status::Pass => "pass",
            Status::Fail => "fail",
        },
        s.applied,
        s.migrations,
        report.chain.format,
        s.errors,
        s.warnings,
        s.duration_ms / 1000.0
    );
    if let Some(db) = &report.database {
        let _ = writeln!(out, "PostgreSQL {} ({:?})\n", db.server_version, db.provider);
    }
    if !report.findings.is_empty() {
        out.push_str("### Findings\n\n| Severity | Rule | Location | Message |\n|---|---|---|---|\n");
        for f in &report.findings {
            let location = match (&f.file, f.line) {
                (Some(file), Some(line)) => format!("`{file}:{line}`"),
                (Some(file), None) => format!("`{file}`"),
                _ => String::new(),
            };
            let _ = writeln!(out, "| {} | `{}` | {location} | {} |", f.severity, f.rule, escape(&f.message));
        }
        out.push('\n');
    }
    if !report.drift.is_empty() {
        out.push_str(&crate::schema::drift::markdown(&report.drift));
    }
    out.push_str("### Migrations\n\n| Status | Migration | Time |\n|---|---|---|\n");
    for m in &report.migrations {
        let status = match m.status {
            MigrationStatus::Applied => "✅ applied",
            MigrationStatus::Failed => "❌ failed",
            MigrationStatus::Skipped => "⏭ skipped",
        };
        let _ = writeln!(out, "| {status} | `{}` {} | {:.1} ms |", m.id, escape(&m.name), m.duration_ms);
    }
    out.push_str(&crate::roundtrip::markdown(&report.migrations));
    out
}

/// Keeps table cells on one line and pipes from splitting cells.
fn escape(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "<br>")
}
