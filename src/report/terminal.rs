//! The terminal summary: one line per migration, the findings, and a status line.

use super::{MigrationStatus, Report};
use crate::findings::Status;
use std::fmt::Write;

/// Renders the report for a terminal.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for m in &report.migrations {
        let mark = match m.status {
            MigrationStatus::Applied => "ok  ",
            MigrationStatus::Failed => "FAIL",
            MigrationStatus::Skipped => "skip",
        };
        let _ = writeln!(out, "{mark} {} {} ({:.1} ms)", m.id, m.name, m.duration_ms);
        if let Some(after) = &m.after_failure {
            let _ = writeln!(out, "     {}", crate::roundtrip::describe_after_failure(after));
        }
    }
    if let Some(line) = crate::roundtrip::summary_line(&report.migrations) {
        let _ = writeln!(out, "{line}");
    }
    if !report.findings.is_empty() {
        out.push('\n');
    }
    for f in &report.findings {
        let location = match (&f.file, f.line) {
            (Some(file), Some(line)) => format!("{file}:{line}: "),
            (Some(file), None) => format!("{file}: "),
            _ => String::new(),
        };
        let _ = writeln!(out, "{location}{} [{}] {}", f.severity, f.rule, f.message);
        if let Some(help) = &f.help {
            let _ = writeln!(out, "  help: {help}");
        }
    }
    let s = &report.summary;
    let _ = writeln!(
        out,
        "\n{}: {}/{} migrations applied, {} errors, {} warnings in {:.2} s",
        match report.status {
            Status::Pass => "pass",
            Status::Fail => "FAIL",
        },
        s.applied,
        s.migrations,
        s.errors,
        s.warnings,
        s.duration_ms / 1000.0
    );
    out
}
