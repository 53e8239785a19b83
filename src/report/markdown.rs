//! `report.md`: the report as GitHub-flavoured Markdown, for PR comments and job summaries.
//!
//! Sections other stages add to the report (`graph` with a Mermaid diagram, `drift`, per-migration
//! `changes`) render when those stages filled them in.

use super::{MigrationStatus, Report};
use crate::findings::{Finding, Severity, Status};
use crate::migrations::graph::Summary as GraphSummary;
use crate::schema::Change;
use crate::schema::drift::Drift;
use std::collections::HashMap;
use std::fmt::Write;

/// GitHub rejects issue comments longer than this many characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// Statements or diffs longer than this many lines are folded into `<details>`.
const FOLD_LINES: usize = 12;

/// How much of the report to render.
#[derive(Debug, Clone)]
struct Detail {
    /// Error details, SQL, changes, graph and drift.
    sections: bool,
    /// Every migration in the table, or only those that failed or have findings.
    all_migrations: bool,
    /// At most this many findings in the findings table.
    max_findings: usize,
}

/// What every rendering of one report needs, computed once.
struct Prepared<'a> {
    report: &'a Report,
    /// Findings per migration id: errors, warnings, infos.
    counts: HashMap<&'a str, [usize; 3]>,
    /// The findings, worst first (stable within a severity).
    ordered: Vec<&'a Finding>,
}

impl<'a> Prepared<'a> {
    fn new(report: &'a Report) -> Prepared<'a> {
        let mut counts: HashMap<&str, [usize; 3]> = HashMap::new();
        for f in &report.findings {
            if let Some(id) = &f.migration {
                counts.entry(id.as_str()).or_default()[slot(f.severity)] += 1;
            }
        }
        let mut ordered: Vec<&Finding> = report.findings.iter().collect();
        ordered.sort_by_key(|f| std::cmp::Reverse(f.severity));
        Prepared { report, counts, ordered }
    }
}

fn slot(severity: Severity) -> usize {
    match severity {
        Severity::Error => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    }
}

/// Renders the whole report as Markdown.
pub fn render(report: &Report) -> String {
    let detail = Detail { sections: true, all_migrations: true, max_findings: usize::MAX };
    render_with(&Prepared::new(report), &detail, None)
}

/// Renders the report in at most `limit` characters (a PR comment), dropping detail sections,
/// then uneventful migrations, then findings as needed; what was dropped is pointed at with
/// `pointer` (e.g. where the full report lives).
pub fn render_limited(report: &Report, limit: usize, pointer: &str) -> String {
    let prepared = Prepared::new(report);
    let full = render_with(&prepared, &Detail { sections: true, all_migrations: true, max_findings: usize::MAX }, None);
    if full.chars().count() <= limit {
        return full;
    }
    let note = format!("\n> [!NOTE]\n> This comment is shortened to fit GitHub's limit; {pointer}.\n");
    let fits = |text: &String| text.chars().count() <= limit;
    for all_migrations in [true, false] {
        let detail = Detail { sections: false, all_migrations, max_findings: usize::MAX };
        let text = render_with(&prepared, &detail, Some(&note));
        if fits(&text) {
            return text;
        }
    }
    // Binary search for the most findings that fit.
    let (mut low, mut high) = (0, report.findings.len());
    let render_n =
        |n| render_with(&prepared, &Detail { sections: false, all_migrations: false, max_findings: n }, Some(&note));
    let mut best = None;
    while low <= high {
        let mid = (low + high) / 2;
        let text = render_n(mid);
        if fits(&text) {
            best = Some(text);
            low = mid + 1;
        } else if mid == 0 {
            break;
        } else {
            high = mid - 1;
        }
    }
    if let Some(text) = best {
        return text;
    }
    // Even the bare tables are too long: cut by characters.
    let text = render_n(0);
    let budget = limit.saturating_sub(note.chars().count() + 8);
    let mut cut: String = text.chars().take(budget).collect();
    if let Some(end) = cut.rfind('\n') {
        cut.truncate(end + 1);
    }
    cut.push_str(&note);
    cut
}

fn render_with(prepared: &Prepared, detail: &Detail, note: Option<&str>) -> String {
    let report = prepared.report;
    let mut out = String::new();
    status_line(&mut out, report);
    findings_table(&mut out, &prepared.ordered, detail.max_findings);
    migrations_table(&mut out, prepared, detail.all_migrations);
    if detail.sections {
        failures(&mut out, report);
        graph_section(&mut out, report.graph.as_ref(), report.chain.format == "alembic");
        drift_section(&mut out, report.drift.as_deref());
        suppressed_section(&mut out, &report.suppressed);
    }
    if let Some(note) = note {
        out.push_str(note);
    }
    out.push_str(&crate::roundtrip::markdown(&report.migrations));
    out
}

/// Findings silenced by `-- migration-guard: ignore` comments, so reviewers see what was waived.
fn suppressed_section(out: &mut String, suppressed: &[Finding]) {
    if suppressed.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>{} suppressed by <code>migration-guard: ignore</code> comments</summary>\n\n| Rule | Location | Message |\n|---|---|---|",
        plural(suppressed.len(), "finding")
    );
    for f in suppressed {
        let _ = writeln!(out, "| `{}` | {} | {} |", f.rule, location(f), escape(&f.message));
    }
    out.push_str("\n</details>\n\n");
}

fn status_line(out: &mut String, report: &Report) {
    let s = &report.summary;
    let (icon, word) = match report.status {
        Status::Pass => ("✅", "passed"),
        Status::Fail => ("❌", "failed"),
    };
    let _ = writeln!(out, "## {icon} Migration Guard {word}\n");
    let mut parts = vec![
        format!("**{}/{}** migrations applied", s.applied, s.migrations),
        plural(s.errors, "error"),
        plural(s.warnings, "warning"),
    ];
    if s.infos > 0 {
        parts.push(plural(s.infos, "note"));
    }
    parts.push(format!("{:.1} s", s.duration_ms / 1000.0));
    let _ = write!(out, "{}", parts.join(" · "));
    let _ = write!(out, "  \n{} migrations in `{}`", report.chain.format, report.chain.dir);
    if let Some(db) = &report.database {
        let _ = write!(out, ", PostgreSQL {} ({})", db.server_version, provider_name(db));
    }
    let _ = writeln!(out, ", fail on: {}\n", fail_on_name(report));
}

fn findings_table(out: &mut String, ordered: &[&Finding], max: usize) {
    if ordered.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Findings\n\n| | Rule | Location | Message |\n|---|---|---|---|");
    // The worst findings first when the table is cut.
    for f in ordered.iter().take(max) {
        let mut message = escape(&f.message);
        if let Some(help) = &f.help {
            let _ = write!(message, "<br>💡 {}", escape(help));
        }
        let _ = writeln!(out, "| {} | `{}` | {} | {message} |", severity_icon(f.severity), f.rule, location(f));
    }
    if ordered.len() > max {
        let _ = writeln!(out, "| | | | … and {} more |", ordered.len() - max);
    }
    out.push('\n');
}

fn migrations_table(out: &mut String, prepared: &Prepared, all: bool) {
    let report = prepared.report;
    if report.migrations.is_empty() {
        return;
    }
    let _ =
        writeln!(out, "### Migrations\n\n| Status | Migration | Time | Changes | Findings |\n|---|---|---|---|---|");
    let mut hidden = 0;
    for m in &report.migrations {
        let counts = prepared.counts.get(m.id.as_str()).copied().unwrap_or_default();
        if !all && m.status == MigrationStatus::Applied && counts == [0, 0, 0] {
            hidden += 1;
            continue;
        }
        let status = match m.status {
            MigrationStatus::Applied => "✅ applied",
            MigrationStatus::Failed => "❌ failed",
            MigrationStatus::Skipped => "⏭️ skipped",
        };
        let time = match m.status {
            MigrationStatus::Skipped => "–".to_string(),
            _ => format!("{:.1} ms", m.duration_ms),
        };
        let changes = changes_cell(&m.changes);
        let findings = findings_cell(counts);
        let _ = writeln!(out, "| {status} | `{}` {} | {time} | {changes} | {findings} |", code(&m.id), escape(&m.name));
    }
    if hidden > 0 {
        let _ = writeln!(out, "| ✅ applied | {} more without findings | | | |", hidden);
    }
    out.push('\n');
}

/// "🔴 2 errors, 🟡 1 warning" for the findings of one migration.
fn findings_cell(counts: [usize; 3]) -> String {
    let parts: Vec<String> = [(Severity::Error, "error"), (Severity::Warning, "warning"), (Severity::Info, "note")]
        .iter()
        .filter_map(|&(s, word)| match counts[slot(s)] {
            0 => None,
            n => Some(format!("{} {}", severity_icon(s), plural(n, word))),
        })
        .collect();
    if parts.is_empty() { "–".to_string() } else { parts.join(", ") }
}

/// What a migration changed, as provided by the stage that records it: a list of strings or of
/// objects with a `summary`/`message`/`description`.
fn changes_cell(changes: &[Change]) -> String {
    if changes.is_empty() {
        return "–".to_string();
    }
    let texts: Vec<String> = changes.iter().map(Change::to_string).collect();
    if texts.len() <= 3 {
        return texts.iter().map(|t| escape(t)).collect::<Vec<_>>().join("<br>");
    }
    let list: String = texts.iter().map(|t| format!("<li>{}</li>", escape(t))).collect();
    format!("<details><summary>{} changes</summary><ul>{list}</ul></details>", texts.len())
}

fn failures(out: &mut String, report: &Report) {
    for m in report.migrations.iter().filter(|m| m.error.is_some()) {
        let Some(e) = &m.error else { continue };
        let _ = writeln!(
            out,
            "<details><summary>❌ <code>{}</code> failed at <code>{}:{}</code>: {}</summary>\n",
            html(&m.id),
            html(&e.file),
            e.line,
            html(&e.message)
        );
        let _ = writeln!(out, "SQLSTATE `{}`, statement {} of the script", e.sqlstate, e.statement + 1);
        if let Some(detail) = &e.detail {
            let _ = writeln!(out, "\n> {}", detail.replace('\n', "\n> "));
        }
        if let Some(hint) = &e.hint {
            let _ = writeln!(out, "\n💡 {hint}");
        }
        let _ = writeln!(out, "\n```sql\n{}\n```", fence_safe(&e.statement_text));
        if m.partially_applied {
            out.push_str(
                "\nThis migration runs without a transaction: the statements before the failing one stay applied.\n",
            );
        }
        out.push_str("\n</details>\n\n");
    }
}

/// The revision graph, when the graph stage provided a Mermaid diagram.
/// Shown for Alembic histories and for any chain that is not a straight line: a diagram of a
/// straight run of files tells the reader nothing.
fn graph_section(out: &mut String, graph: Option<&GraphSummary>, alembic: bool) {
    let Some(GraphSummary { heads, branch_points, merges, mermaid, .. }) = graph else { return };
    if !alembic && heads.len() <= 1 && branch_points.is_empty() && merges.is_empty() {
        return;
    }
    out.push_str("### Revision graph\n\n");
    if heads.len() > 1 {
        let _ = writeln!(out, "⚠️ {} heads: the history has diverged\n", heads.len());
    }
    let list = |items: &[String]| {
        if items.is_empty() {
            "none".to_string()
        } else {
            items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
        }
    };
    let _ =
        writeln!(out, "Heads: {} · branch points: {} · merges: {}\n", list(heads), list(branch_points), list(merges));
    let lines = mermaid.lines().count();
    let block = format!("```mermaid\n{}\n```\n", mermaid.trim_end());
    if lines > FOLD_LINES * 4 {
        let _ = writeln!(out, "<details><summary>Diagram ({lines} lines)</summary>\n\n{block}\n</details>\n");
    } else {
        let _ = writeln!(out, "{block}");
    }
}

/// Schema drift against the declared models, when the drift stage provided it.
fn drift_section(out: &mut String, drift: Option<&[Drift]>) {
    let Some(items) = drift else { return };
    out.push_str("### Schema drift\n\n");
    if items.is_empty() {
        out.push_str("The migrated schema matches the models.\n\n");
        return;
    }
    let _ = writeln!(out, "{} between the migrated schema and the models:\n", plural(items.len(), "difference"));
    let shown = items.len().min(FOLD_LINES);
    for item in &items[..shown] {
        let _ = writeln!(out, "- {}", item.message.replace('\n', " "));
    }
    if items.len() > shown {
        out.push_str("\n<details><summary>All differences</summary>\n\n");
        for item in &items[shown..] {
            let _ = writeln!(out, "- {}", item.message.replace('\n', " "));
        }
        out.push_str("\n</details>\n");
    }
    out.push('\n');
}

fn location(f: &Finding) -> String {
    match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("`{}:{line}`", code(file)),
        (Some(file), None) => format!("`{}`", code(file)),
        _ => String::new(),
    }
}

fn severity_icon(s: Severity) -> &'static str {
    match s {
        Severity::Error => "🔴",
        Severity::Warning => "🟡",
        Severity::Info => "🔵",
    }
}

fn provider_name(db: &super::Database) -> String {
    serde_json::to_value(db.provider).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn fail_on_name(report: &Report) -> String {
    serde_json::to_value(report.fail_on).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

/// Keeps table cells on one line, pipes from splitting cells and `<` from starting HTML.
fn escape(text: &str) -> String {
    html(text).replace('|', "\\|").replace('\r', "").replace('\n', "<br>")
}

/// Text inside a code span in a table cell: only pipes need escaping there.
fn code(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// Escapes text placed inside HTML tags.
fn html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Keeps a code block from being closed early by backticks in the SQL.
fn fence_safe(text: &str) -> String {
    text.replace("```", "`\u{200b}``")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    #[test]
    fn full_report() {
        insta::assert_snapshot!(render(&sample::failing()));
    }

    #[test]
    fn passing_report() {
        insta::assert_snapshot!(render(&sample::passing()));
    }

    #[test]
    fn sections_from_other_stages_render_when_present() {
        let graph = GraphSummary {
            heads: vec!["b".into(), "c".into()],
            mermaid: "graph TD\n  a --> b\n  a --> c".into(),
            ..GraphSummary::default()
        };
        let change = Change {
            kind: crate::schema::model::Kind::Column,
            name: "public.users.email".into(),
            action: crate::schema::diff::Action::Altered,
            attribute: Some("not null".into()),
            before: Some("true".into()),
            after: Some("false".into()),
        };
        let drift = vec![Drift { change, message: "column users.email: models say NOT NULL".into() }];
        let mut out = String::new();
        graph_section(&mut out, Some(&graph), false);
        drift_section(&mut out, Some(&drift));
        insta::assert_snapshot!(out);
    }

    #[test]
    fn limited_report_fits_and_points_at_the_artifact() {
        let report = sample::many_findings(5_000);
        let full = render(&report);
        assert!(full.chars().count() > COMMENT_LIMIT);
        let short =
            render_limited(&report, COMMENT_LIMIT, "the full report is in the `migration-guard-report` artifact");
        assert!(short.chars().count() <= COMMENT_LIMIT, "{}", short.len());
        assert!(short.starts_with("## ❌ Migration Guard failed"));
        assert!(short.contains("the full report is in the `migration-guard-report` artifact"));
        assert!(short.contains("more |"), "the cut is shown in the table");
        let small = sample::failing();
        assert_eq!(render_limited(&small, COMMENT_LIMIT, "x"), render(&small));
    }

    #[test]
    fn long_chains_keep_the_migrations_with_findings() {
        let mut report = sample::failing();
        let template = report.migrations[0].clone();
        for i in 10..3_000 {
            let mut m = template.clone();
            m.id = i.to_string();
            report.migrations.push(m);
        }
        let short = render_limited(&report, 20_000, "see the artifact");
        assert!(short.chars().count() <= 20_000);
        assert!(short.contains("| ❌ failed | `2` add_index |"), "{short}");
        assert!(short.contains("more without findings"), "{short}");
        assert!(short.contains("`db/migrations/2_add_index.sql:3`"), "all findings still fit");
    }

    #[test]
    fn tiny_limit_still_holds() {
        let report = sample::many_findings(50);
        let short = render_limited(&report, 1_000, "see the artifact");
        assert!(short.chars().count() <= 1_000);
        assert!(short.contains("see the artifact"));
    }
}
