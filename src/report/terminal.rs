//! The terminal summary: one line per migration, the findings, and a status line. Styled with
//! ANSI colours; [`print`] strips them unless stdout is a terminal that wants them (`NO_COLOR`,
//! `CLICOLOR_FORCE` are respected).

use super::{MigrationStatus, Report};
use crate::findings::{Severity, Status};
use crate::scope::MigrationScope;
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

/// Renders the report with ANSI styles: a line per changed migration (and per merged one that
/// failed), one line for the merged ones, the findings that count, and the verdict.
pub fn render_styled(report: &Report) -> String {
    let mut out = String::new();
    if let Some(notice) = &report.scope.notice {
        let _ = writeln!(out, "{DIM}note: {notice}{DIM:#}");
    }
    let mut merged = (0usize, 0.0f64);
    for m in &report.migrations {
        if m.scope == MigrationScope::Merged && m.status != MigrationStatus::Failed {
            merged.0 += usize::from(m.status == MigrationStatus::Applied);
            merged.1 += m.duration_ms;
            continue;
        }
        let (mark, style) = match m.status {
            MigrationStatus::Applied => ("ok  ", GREEN),
            MigrationStatus::Failed => ("FAIL", RED),
            MigrationStatus::Skipped => ("skip", DIM),
        };
        let _ = writeln!(
            out,
            "{style}{mark}{style:#} {} {} {DIM}({:.1} ms){DIM:#}",
            line(&m.id),
            line(&m.name),
            m.duration_ms
        );
        if let Some(after) = &m.after_failure {
            let _ = writeln!(out, "     {}", line(&crate::roundtrip::describe_after_failure(after)));
        }
        if let Some(note) = &m.trace_note {
            let _ = writeln!(out, "     {DIM}lint: {}{DIM:#}", line(note));
        }
    }
    let restored = report.prefix_cache.as_ref().map_or(0, |c| c.restored());
    if report.scope.merged > 0 {
        let _ = writeln!(
            out,
            "{DIM}{}replayed {} of {} merged migrations in {:.2} s (not judged; {}){DIM:#}",
            if restored > 0 { format!("restored {restored} and ") } else { String::new() },
            merged.0 - restored,
            report.scope.merged,
            merged.1 / 1000.0,
            report.scope.basis
        );
    }
    if let Some(cache) = &report.prefix_cache {
        let _ = writeln!(out, "{DIM}{}{DIM:#}", line(&cache.describe()));
    }
    if let Some(line) = crate::roundtrip::summary_line(report.changed_migrations()) {
        let _ = writeln!(out, "\n{line}");
    }
    if !report.lint {
        let _ = writeln!(out, "lint trace: off (--no-lint)");
    }
    if !report.findings.is_empty() {
        out.push('\n');
    }
    for f in &report.findings {
        let location = match (&f.file, f.line) {
            (Some(file), Some(at)) => format!("{BOLD}{}:{at}:{BOLD:#} ", line(file)),
            (Some(file), None) => format!("{BOLD}{}:{BOLD:#} ", line(file)),
            _ => String::new(),
        };
        let style = match f.severity {
            Severity::Error => RED,
            Severity::Warning => YELLOW,
            Severity::Info => BLUE,
        };
        let _ = writeln!(out, "{location}{style}{}{style:#} [{}] {}", f.severity, f.rule, line(&f.message));
        if let Some(help) = &f.help {
            let _ = writeln!(out, "  {GREEN}help:{GREEN:#} {}", line(help));
        }
    }
    let mut notes = Vec::new();
    if !report.merged_findings.is_empty() {
        notes.push(format!(
            "{} finding(s) on merged migrations not counted (report.json, merged.md)",
            report.merged_findings.len()
        ));
    }
    if !report.waivers.is_empty() {
        let waived = report.waived().count();
        let unused = report.waivers.iter().filter(|w| w.waived.is_empty()).count();
        let mut line = format!("{waived} finding(s) waived by {} waiver(s)", report.waivers.len());
        if unused > 0 {
            line.push_str(&format!("; {unused} waived nothing"));
        }
        notes.push(line);
    }
    if let Some(baseline) = &report.baseline {
        let mut line = format!("{} finding(s) in the baseline {}", baseline.matched.len(), baseline.file);
        if !baseline.stale.is_empty() {
            line.push_str(&format!("; {} stale entries", baseline.stale.len()));
        }
        notes.push(line);
    }
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            let _ = writeln!(out, "{DIM}{note}{DIM:#}");
        }
    }
    let s = &report.summary;
    let (word, style) = match report.status {
        Status::Pass => ("pass", GREEN.bold()),
        Status::Fail => ("FAIL", RED),
    };
    let judged = if report.scope.merged > 0 {
        format!("{} changed migration(s) checked", report.scope.changed)
    } else {
        format!("{}/{} migrations applied", s.applied, s.migrations)
    };
    let _ = writeln!(
        out,
        "\n{style}{word}{style:#}: {judged}, {} errors, {} warnings in {:.2} s",
        s.errors,
        s.warnings,
        s.duration_ms / 1000.0
    );
    out
}

/// Text from the repository or the server on one line: a line break in it must not start a
/// line of its own (the Actions runner takes a line starting with `::` for a command).
pub fn line(text: &str) -> String {
    text.replace("\r\n", "\n").replace(['\n', '\r'], " ↵ ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn pull_request_strings_cannot_start_lines() {
        let text = render(&sample::hostile());
        insta::assert_snapshot!(text);
        assert!(text.lines().all(|l| !l.trim_start().starts_with("::")), "{text}");
    }

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
