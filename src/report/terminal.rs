//! The terminal summary: one line per migration, the findings, and a status line. Styled with
//! ANSI colours; [`print`] strips them unless stdout is a terminal that wants them (`NO_COLOR`,
//! `CLICOLOR_FORCE` are respected).

use super::{MigrationStatus, Report};
use crate::findings::{Severity, Status};
use anstyle::{AnsiColor, Style};
use std::fmt::Write;
use std::io::Write as _;

const GREEN: Style = AnsiColor::Green.on_default();
const RED: Style = AnsiColor::Red.on_default().bold();
const YELLOW: Style = AnsiColor::Yellow.on_default();
const BLUE: Style = AnsiColor::Blue.on_default();
const DIM: Style = Style::new().dimmed();
const BOLD: Style = Style::new().bold();

/// Renders the report for a terminal, without colours.
pub fn render(report: &Report) -> String {
    anstream::adapter::strip_str(&render_styled(report)).to_string()
}

/// Writes the report to stdout, coloured when stdout supports it.
pub fn print(report: &Report) {
    let mut out = anstream::stdout();
    let _ = out.write_all(render_styled(report).as_bytes());
    let _ = out.flush();
}

/// Renders the report with ANSI styles.
pub fn render_styled(report: &Report) -> String {
    let mut out = String::new();
    for m in &report.migrations {
        let (mark, style) = match m.status {
            MigrationStatus::Applied => ("ok  ", GREEN),
            MigrationStatus::Failed => ("FAIL", RED),
            MigrationStatus::Skipped => ("skip", DIM),
        };
        let _ = writeln!(out, "{style}{mark}{style:#} {} {} {DIM}({:.1} ms){DIM:#}", m.id, m.name, m.duration_ms);
        if let Some(after) = &m.after_failure {
            let _ = writeln!(out, "     {}", crate::roundtrip::describe_after_failure(after));
        }
        if let Some(note) = &m.trace_note {
            let _ = writeln!(out, "     {DIM}lint: {note}{DIM:#}");
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
            (Some(file), Some(line)) => format!("{BOLD}{file}:{line}:{BOLD:#} "),
            (Some(file), None) => format!("{BOLD}{file}:{BOLD:#} "),
            _ => String::new(),
        };
        let style = match f.severity {
            Severity::Error => RED,
            Severity::Warning => YELLOW,
            Severity::Info => BLUE,
        };
        let _ = writeln!(out, "{location}{style}{}{style:#} [{}] {}", f.severity, f.rule, f.message);
        if let Some(help) = &f.help {
            let _ = writeln!(out, "  {GREEN}help:{GREEN:#} {help}");
        }
    }
    if !report.suppressed.is_empty() {
        let _ =
            writeln!(out, "\n{} finding(s) suppressed by migration-guard: ignore comments", report.suppressed.len());
    }
    let s = &report.summary;
    let (word, style) = match report.status {
        Status::Pass => ("pass", GREEN.bold()),
        Status::Fail => ("FAIL", RED),
    };
    let _ = writeln!(
        out,
        "\n{style}{word}{style:#}: {}/{} migrations applied, {} errors, {} warnings in {:.2} s",
        s.applied,
        s.migrations,
        s.errors,
        s.warnings,
        s.duration_ms / 1000.0
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn plain() {
        insta::assert_snapshot!(render(&sample::failing()));
    }

    #[test]
    fn styled_has_colours_and_strips_to_plain() {
        let report = sample::failing();
        let styled = render_styled(&report);
        assert!(styled.contains("\u{1b}[31m") || styled.contains("\u{1b}[1m\u{1b}[31m"), "{styled:?}");
        assert_eq!(anstream::adapter::strip_str(&styled).to_string(), render(&report));
        assert!(!render(&report).contains('\u{1b}'));
    }
}
