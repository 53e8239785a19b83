//! `report.md` and `merged.md`: the report as GitHub-flavoured Markdown, for PR comments, job
//! summaries and the artifact.
//!
//! A passing check is one status line and a one-line summary with the details folded; a
//! failing one shows what blocks first (a count per rule, then each finding with its file and
//! line), then the changed migrations. Merged migrations are one line here and listed in
//! `merged.md`, so the size follows the change, not the history. Every string that comes from
//! the repository or the server (file names, SQL, messages, reasons) is escaped.

use super::{MigrationReport, MigrationStatus, Report};
use crate::findings::{Finding, Severity, Status};
use crate::migrations::graph::Summary as GraphSummary;
use crate::roundtrip::RoundTripStatus;
use crate::schema::Change;
use crate::schema::drift::Drift;
use crate::scope::MigrationScope;
use crate::waivers::{Reach, Syntax, WaiverReport};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// What the PR comment and the check run summary stay under, whatever the history's length
/// (GitHub's own limit is 65,536 characters; half of it keeps a comment readable).
pub const COMMENT_BUDGET: usize = 30_000;

/// Statements or diffs longer than this many lines are folded into `<details>`.
const FOLD_LINES: usize = 12;

/// A Mermaid diagram longer than this many lines is left to `migration-guard graph --mermaid`.
const DIAGRAM_LINES: usize = 120;

/// How much of the report to render.
#[derive(Debug, Clone)]
struct Detail {
    /// Error details, SQL, changes, graph, drift, waivers, baseline.
    sections: bool,
    /// Every changed migration in the table, or only those that failed or have findings.
    all_migrations: bool,
    /// At most this many findings in the findings table.
    max_findings: usize,
}

const FULL: Detail = Detail { sections: true, all_migrations: true, max_findings: usize::MAX };

/// What every rendering of one report needs, computed once.
struct Prepared<'a> {
    report: &'a Report,
    /// Findings per migration id: errors, warnings, infos.
    counts: HashMap<&'a str, [usize; 3]>,
    /// The findings, worst first (stable within a severity).
    ordered: Vec<&'a Finding>,
    /// The migrations in the table: the changed ones, and merged ones that failed.
    shown: Vec<&'a MigrationReport>,
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
        let shown = report
            .migrations
            .iter()
            .filter(|m| m.scope == MigrationScope::Changed || m.status == MigrationStatus::Failed)
            .collect();
        Prepared { report, counts, ordered, shown }
    }

    /// No error and no warning counts: one line says it all.
    fn clean(&self) -> bool {
        self.report.summary.errors == 0 && self.report.summary.warnings == 0
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
    render_with(&Prepared::new(report), &FULL, None)
}

/// Renders the report in at most `limit` characters (a PR comment), dropping detail sections,
/// then uneventful migrations, then findings as needed; what was dropped is pointed at with
/// `pointer` (e.g. where the full report lives).
pub fn render_limited(report: &Report, limit: usize, pointer: &str) -> String {
    let prepared = Prepared::new(report);
    let full = render_with(&prepared, &FULL, None);
    if full.chars().count() <= limit {
        return full;
    }
    let note = format!("\n> [!NOTE]\n> This comment is shortened to fit; {pointer}.\n");
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
    status_lines(&mut out, report);
    let mut body = String::new();
    if !prepared.clean() {
        rule_table(&mut body, &prepared.ordered);
    }
    findings_table(&mut body, &prepared.ordered, detail.max_findings);
    migrations_table(&mut body, prepared, detail.all_migrations);
    if detail.sections {
        failures(&mut body, &prepared.shown);
        untraced_section(&mut body, &prepared.shown);
        graph_section(&mut body, report);
        drift_section(&mut body, report.drift.as_deref());
        waivers_section(&mut body, &report.waivers);
        baseline_section(&mut body, report);
        changes_section(&mut body, &prepared.shown);
    }
    if prepared.clean() && !body.trim().is_empty() {
        let _ = write!(out, "<details><summary>Details</summary>\n\n{}\n\n</details>\n", body.trim_end());
    } else {
        out.push_str(&body);
    }
    if let Some(note) = note {
        out.push_str(note);
    }
    out
}

/// The heading, the one-line summary and where the check ran.
fn status_lines(out: &mut String, report: &Report) {
    let s = &report.summary;
    let (icon, word) = match report.status {
        Status::Pass => ("✅", "passed"),
        Status::Fail => ("❌", "failed"),
    };
    let _ = writeln!(out, "## {icon} Migration Guard {word}\n");
    let scope = &report.scope;
    let mut parts = Vec::new();
    if scope.merged > 0 {
        parts.push(format!("**{}** checked", plural(scope.changed, "changed migration")));
        parts.push(format!("{} replayed", plural(scope.merged, "merged migration")));
    } else {
        parts.push(format!("**{}/{}** migrations applied", s.applied, s.migrations));
    }
    if s.failed > 0 {
        parts.push(format!("**{} failed**", s.failed));
    }
    parts.push(bold_if(s.errors > 0, plural(s.errors, "error")));
    parts.push(plural(s.warnings, "warning"));
    if s.infos > 0 {
        parts.push(plural(s.infos, "note"));
    }
    parts.push(drift_status(report));
    let judged = report.migrations.iter().filter(|m| m.scope != MigrationScope::Merged);
    let untraced = judged.filter(|m| m.trace_note.is_some()).count();
    if !report.lint {
        parts.push("lint trace: off".to_string());
    } else if untraced > 0 {
        // The lint could not see all of these: say so where a pass would otherwise claim it.
        parts.push(format!("lint trace: {} not fully traced", plural(untraced, "migration")));
    }
    parts.push(format!("{:.1} s", s.duration_ms / 1000.0));
    let _ = write!(out, "{}", parts.join(" · "));
    let _ = write!(out, "  \n{} migrations in `{}`", report.chain.format, code(&report.chain.dir));
    if let Some(db) = &report.database {
        let _ = write!(out, ", PostgreSQL {} ({})", escape(&db.server_version), provider_name(db));
    }
    if !scope.basis.is_empty() {
        let _ = write!(out, ", {}", escape(&scope.basis));
    }
    let _ = writeln!(out, ", fail on: {}", fail_on_name(report));
    if let Some(note) = report.database.as_ref().and_then(|db| db.version_note.as_deref()) {
        let _ = writeln!(out, "\n⚠️ {}", escape(note));
    }
    let merged = &report.merged_findings;
    if !merged.is_empty() {
        let migrations = merged.iter().filter_map(|f| f.migration.as_deref()).collect::<std::collections::HashSet<_>>();
        let _ = writeln!(
            out,
            "\n{} in {}, not counted: see `merged.md` in the report",
            plural(merged.len(), "finding"),
            plural(migrations.len(), "merged migration")
        );
    }
    out.push('\n');
}

fn bold_if(bold: bool, text: String) -> String {
    if bold { format!("**{text}**") } else { text }
}

/// `drift: none`, `drift: 3 differences`, or why it was not checked.
fn drift_status(report: &Report) -> String {
    match &report.drift {
        Some(items) if items.is_empty() => "drift: none".to_string(),
        Some(items) => format!("drift: {}", plural(items.len(), "difference")),
        None if report.summary.failed > 0 => "drift: not checked (the chain did not apply)".to_string(),
        None if report.findings.iter().any(|f| f.rule == crate::rules::DRIFT.id) => {
            "drift: not checked (the models do not apply)".to_string()
        }
        None => "drift: not checked (no models)".to_string(),
    }
}

/// Findings per rule, worst first: what blocks, at a glance.
fn rule_table(out: &mut String, ordered: &[&Finding]) {
    if ordered.is_empty() {
        return;
    }
    let mut per_rule: BTreeMap<(std::cmp::Reverse<Severity>, &str), usize> = BTreeMap::new();
    for f in ordered {
        *per_rule.entry((std::cmp::Reverse(f.severity), f.rule.as_str())).or_default() += 1;
    }
    let mut rows: Vec<_> = per_rule.into_iter().collect();
    rows.sort_by_key(|((severity, _), n)| (*severity, std::cmp::Reverse(*n)));
    out.push_str("| Rule | Severity | Findings |\n|---|---|---|\n");
    for ((severity, rule), n) in rows {
        let _ = writeln!(out, "| `{}` | {} {} | {n} |", code(rule), severity_icon(severity.0), severity.0);
    }
    out.push('\n');
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
        let _ = writeln!(out, "| {} | `{}` | {} | {message} |", severity_icon(f.severity), code(&f.rule), location(f));
    }
    if ordered.len() > max {
        let _ = writeln!(out, "| | | | … and {} more |", ordered.len() - max);
    }
    out.push('\n');
}

fn migrations_table(out: &mut String, prepared: &Prepared, all: bool) {
    let report = prepared.report;
    if !prepared.shown.is_empty() {
        let title = if report.scope.merged > 0 { "Changed migrations" } else { "Migrations" };
        let _ = writeln!(
            out,
            "### {title}\n\n| Status | Migration | Time | Round trip | Changes | Findings |\n|---|---|---|---|---|---|"
        );
        let mut hidden = 0;
        for m in &prepared.shown {
            let counts = prepared.counts.get(m.id.as_str()).copied().unwrap_or_default();
            if !all && m.status == MigrationStatus::Applied && counts == [0, 0, 0] {
                hidden += 1;
                continue;
            }
            let status = match (m.status.clone(), m.scope) {
                (MigrationStatus::Applied, _) => "✅ applied",
                (MigrationStatus::Failed, MigrationScope::Merged) => "❌ failed (merged)",
                (MigrationStatus::Failed, _) => "❌ failed",
                (MigrationStatus::Skipped, _) => "⏭️ skipped",
            };
            let time = match m.status {
                MigrationStatus::Skipped => "–".to_string(),
                _ => format!("{:.1} ms", m.duration_ms),
            };
            let _ = writeln!(
                out,
                "| {status} | `{}` {} | {time} | {} | {} | {} |",
                code(&m.id),
                escape(&m.name),
                round_trip_cell(m),
                changes_cell(&m.changes),
                findings_cell(counts)
            );
        }
        if hidden > 0 {
            let _ = writeln!(out, "| ✅ applied | {hidden} more without findings | | | | |");
        }
        out.push('\n');
    }
    let merged: Vec<&MigrationReport> =
        report.migrations.iter().filter(|m| m.scope == MigrationScope::Merged).collect();
    if !merged.is_empty() {
        let restored = report.prefix_cache.as_ref().map_or(0, |c| c.restored());
        let applied = merged.iter().filter(|m| m.status == MigrationStatus::Applied).count() - restored;
        let ms: f64 = merged.iter().map(|m| m.duration_ms).sum();
        let _ = writeln!(
            out,
            "{}{applied} of {} merged migrations replayed in {:.2} s to build the schema the change applies to; they are not judged.\n",
            if restored > 0 { format!("{restored} restored and ") } else { String::new() },
            merged.len(),
            ms / 1000.0
        );
    }
    if let Some(cache) = &report.prefix_cache {
        let _ = writeln!(out, "{}.\n", escape(&cache.describe()));
    }
}

fn round_trip_cell(m: &MigrationReport) -> &'static str {
    match m.round_trip.as_ref().map(|r| &r.status) {
        Some(RoundTripStatus::Passed) => "✅ reversible",
        Some(RoundTripStatus::Irreversible) => "❌ irreversible",
        Some(RoundTripStatus::ReapplyFailed) => "❌ re-apply fails",
        Some(RoundTripStatus::OneWay) => "➡️ one-way by design",
        Some(RoundTripStatus::NoDown) => "no down",
        Some(RoundTripStatus::NotSelected) | None => "–",
    }
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

/// What a migration changed in the schema.
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

fn failures(out: &mut String, shown: &[&MigrationReport]) {
    for m in shown.iter().filter(|m| m.error.is_some()) {
        let Some(e) = &m.error else { continue };
        let _ = writeln!(
            out,
            "<details><summary>❌ <code>{}</code> failed at <code>{}:{}</code>: {}</summary>\n",
            escape(&m.id),
            escape(&e.file),
            e.line,
            escape(&e.message)
        );
        let _ = writeln!(out, "SQLSTATE `{}`, statement {} of the script", code(&e.sqlstate), e.statement + 1);
        if let Some(detail) = &e.detail {
            let _ = writeln!(out, "\n> {}", escape(detail));
        }
        if let Some(hint) = &e.hint {
            let _ = writeln!(out, "\n💡 {}", escape(hint));
        }
        let _ = writeln!(out, "\n```sql\n{}\n```", fence_safe(&e.statement_text));
        if m.partially_applied {
            out.push_str(
                "\nThis migration runs without a transaction: the statements before the failing one stay applied.\n",
            );
        }
        if let Some(after) = &m.after_failure {
            let _ = writeln!(out, "\n{}", escape(&crate::roundtrip::describe_after_failure(after)));
        }
        out.push_str("\n</details>\n\n");
    }
}

/// The judged migrations the lint trace did not see all of, and why (an Alembic revision that
/// cannot be rendered offline, the part from an `autocommit_block()` on): their lint findings
/// may be missing.
fn untraced_section(out: &mut String, shown: &[&MigrationReport]) {
    let untraced: Vec<_> = shown.iter().filter_map(|m| Some((m, m.trace_note.as_deref()?))).collect();
    if untraced.is_empty() {
        return;
    }
    out.push_str(
        "### Not fully traced

The lint may miss findings in these:

",
    );
    for (m, note) in untraced {
        let _ = writeln!(out, "- `{}`: {}", code(&m.id), escape(note));
    }
    out.push('\n');
}

/// The revision graph: shown for Alembic histories and for any chain that is not a straight
/// line (a diagram of a straight run of files tells the reader nothing).
fn graph_section(out: &mut String, report: &Report) {
    let Some(GraphSummary { heads, branch_points, merges, mermaid, .. }) = report.graph.as_ref() else { return };
    let alembic = report.chain.format == "alembic";
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
            items.iter().map(|i| format!("`{}`", code(i))).collect::<Vec<_>>().join(", ")
        }
    };
    let _ =
        writeln!(out, "Heads: {} · branch points: {} · merges: {}\n", list(heads), list(branch_points), list(merges));
    let lines = mermaid.lines().count();
    if lines > DIAGRAM_LINES {
        let _ = writeln!(out, "The diagram has {lines} lines: `migration-guard graph --mermaid` prints it.\n");
        return;
    }
    let block = format!("```mermaid\n{}\n```\n", fence_safe(mermaid.trim_end()));
    if lines > FOLD_LINES * 4 {
        let _ = writeln!(out, "<details><summary>Diagram ({lines} lines)</summary>\n\n{block}\n</details>\n");
    } else {
        let _ = writeln!(out, "{block}");
    }
}

/// Schema drift against the declared models.
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
        let _ = writeln!(out, "- {}", escape(&item.message));
    }
    if items.len() > shown {
        out.push_str("\n<details><summary>All differences</summary>\n\n");
        for item in &items[shown..] {
            let _ = writeln!(out, "- {}", escape(&item.message));
        }
        out.push_str("\n</details>\n");
    }
    out.push('\n');
}

/// Every waiver of the changed migrations: what it waived and why, and those that waived nothing.
fn waivers_section(out: &mut String, waivers: &[WaiverReport]) {
    if waivers.is_empty() {
        return;
    }
    let waived: usize = waivers.iter().map(|w| w.waived.len()).sum();
    let unused = waivers.iter().filter(|w| w.waived.is_empty()).count();
    let mut summary = format!("{} waived by {}", plural(waived, "finding"), plural(waivers.len(), "waiver"));
    if unused > 0 {
        let _ = write!(summary, "; {unused} waived nothing");
    }
    let _ = writeln!(
        out,
        "<details><summary>{summary}</summary>\n\n| Waiver | Location | Rules | Reason | Waived |\n|---|---|---|---|---|"
    );
    for w in waivers {
        let rules = if w.rules.is_empty() {
            "all".to_string()
        } else {
            w.rules.iter().map(|r| escape(r)).collect::<Vec<_>>().join(", ")
        };
        let mut what: Vec<String> = w
            .waived
            .iter()
            .map(|f| format!("`{}`{}", code(&f.rule), f.line.map(|l| format!(" line {l}")).unwrap_or_default()))
            .collect();
        if what.is_empty() {
            what.push("nothing".to_string());
        }
        if let Some(note) = &w.note {
            what.push(format!("({})", escape(note)));
        }
        let _ = writeln!(
            out,
            "| {} | `{}:{}` | {rules} | {} | {} |",
            waiver_kind(w.syntax, w.reach),
            code(&w.file),
            w.line,
            w.reason.as_deref().map(escape).unwrap_or_else(|| "–".to_string()),
            what.join(", ")
        );
    }
    out.push_str("\n</details>\n\n");
}

fn waiver_kind(syntax: Syntax, reach: Reach) -> String {
    let syntax = match syntax {
        Syntax::MigrationGuard => "migration-guard",
        Syntax::Squawk => "squawk",
        Syntax::Atlas => "atlas",
        Syntax::Eugene => "eugene",
        Syntax::DieselGuard => "diesel-guard",
    };
    let reach = match reach {
        Reach::Statement => "statement",
        Reach::Block => "block",
        Reach::File => "file",
        Reach::Migration => "migration",
    };
    format!("{syntax} ({reach})")
}

/// The baseline's effect: findings it holds, and entries that no longer match.
fn baseline_section(out: &mut String, report: &Report) {
    let Some(baseline) = &report.baseline else { return };
    let _ =
        write!(out, "Baseline `{}`: {} not counted", code(&baseline.file), plural(baseline.matched.len(), "finding"));
    if baseline.stale.is_empty() {
        out.push_str(".\n\n");
        return;
    }
    let _ = writeln!(
        out,
        "; {} (fixed, or changed beyond recognition; `migration-guard baseline` writes it again):\n",
        if baseline.stale.len() == 1 {
            "1 entry no longer matches".to_string()
        } else {
            format!("{} entries no longer match", baseline.stale.len())
        }
    );
    for e in baseline.stale.iter().take(FOLD_LINES) {
        let at = e.file.as_deref().map(|f| format!(" at `{}:{}`", code(f), e.line.unwrap_or(1))).unwrap_or_default();
        let _ = writeln!(out, "- `{}`{at}: {}", code(&e.rule), escape(&e.message));
    }
    if baseline.stale.len() > FOLD_LINES {
        let _ = writeln!(out, "- … and {} more", baseline.stale.len() - FOLD_LINES);
    }
    out.push('\n');
}

/// The round trip's outcome and what each changed migration did to the schema.
fn changes_section(out: &mut String, shown: &[&MigrationReport]) {
    if let Some(line) = crate::roundtrip::summary_line(shown.iter().copied()) {
        let _ = writeln!(out, "{}", line.replacen("round trip", "**Round trip**", 1));
    }
    let changed: Vec<&&MigrationReport> = shown.iter().filter(|m| !m.changes.is_empty()).collect();
    if changed.is_empty() {
        return;
    }
    out.push_str("\n<details><summary>What each migration changed</summary>\n\n");
    for m in changed {
        let _ = writeln!(out, "- `{}` {}", code(&m.id), escape(&m.name));
        for change in m.changes.iter().take(50) {
            let _ = writeln!(out, "  - {}", escape(&crate::schema::diff::one_line(&change.to_string())));
        }
        if m.changes.len() > 50 {
            let _ = writeln!(out, "  - … and {} more", m.changes.len() - 50);
        }
    }
    out.push_str("\n</details>\n");
}

/// `merged.md`: the merged migrations the check replayed, and the findings on them it did not
/// count.
pub fn render_merged(report: &Report) -> String {
    let merged: Vec<&MigrationReport> =
        report.migrations.iter().filter(|m| m.scope == MigrationScope::Merged).collect();
    let mut out = String::from("# Merged migrations\n\n");
    if merged.is_empty() {
        out.push_str("Every migration was judged in this check: none was only replayed.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{} were replayed to build the schema the change applies to ({}). They are not judged, and the findings below do not count.\n",
        plural(merged.len(), "merged migration"),
        escape(&report.scope.basis)
    );
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for f in &report.merged_findings {
        if let Some(id) = &f.migration {
            *counts.entry(id.as_str()).or_default() += 1;
        }
    }
    out.push_str("| Status | Migration | Time | Findings |\n|---|---|---|---|\n");
    for m in &merged {
        let status = match m.status {
            MigrationStatus::Applied => "✅ replayed",
            MigrationStatus::Failed => "❌ failed",
            MigrationStatus::Skipped => "⏭️ skipped",
        };
        let n = counts.get(m.id.as_str()).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "| {status} | `{}` {} | {:.1} ms | {} |",
            code(&m.id),
            escape(&m.name),
            m.duration_ms,
            if n == 0 { "–".to_string() } else { n.to_string() }
        );
    }
    if !report.merged_findings.is_empty() {
        out.push_str(
            "\n## Findings on merged migrations (not counted)\n\n| | Rule | Location | Message |\n|---|---|---|---|\n",
        );
        for f in &report.merged_findings {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} |",
                severity_icon(f.severity),
                code(&f.rule),
                location(f),
                escape(&f.message)
            );
        }
    }
    out
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

/// `n word` or `n words`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 { format!("{n} {word}") } else { format!("{n} {word}s") }
}

/// Text from the repository or the server as Markdown: one line (table cells), no HTML, no
/// table cell breaks, no `@` mention that notifies people, no link.
pub(crate) fn escape(text: &str) -> String {
    html(text)
        .replace('|', "\\|")
        .replace('\r', "")
        .replace('\n', "<br>")
        .replace('@', "&#64;")
        .replace('[', "\\[")
        .replace(']', "\\]")
}

/// Text inside a code span in a table cell: only pipes and line breaks need care there.
pub(crate) fn code(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ").replace('`', "'")
}

/// Escapes text placed inside HTML tags (`&`, `<`, `>`: also all Slack's message text asks).
pub(crate) fn html(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Keeps a code block from being closed early by backticks in the SQL.
pub(crate) fn fence_safe(text: &str) -> String {
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
    fn change_scoped_report() {
        let report = sample::change_scoped();
        let text = render(&report);
        insta::assert_snapshot!(text);
        insta::assert_snapshot!("change_scoped_merged", render_merged(&report));
    }

    #[test]
    fn pull_request_strings_cannot_shape_the_markup() {
        let text = render(&sample::hostile());
        insta::assert_snapshot!(text);
        for forged in ["x</details>", "\n## ✅", "<img", "@acme", "[click](", "<!-- migration-guard:CI/other", "\n::"]
        {
            assert!(!text.contains(forged), "{forged:?} got through:\n{text}");
        }
        assert_eq!(text.matches("<details>").count(), text.matches("</details>").count());
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
        let mut report = sample::passing();
        report.graph = Some(graph);
        let mut out = String::new();
        graph_section(&mut out, &report);
        drift_section(&mut out, Some(&drift));
        insta::assert_snapshot!(out);
    }

    #[test]
    fn migrations_the_trace_did_not_see_are_named_in_the_status_and_listed() {
        let mut report = sample::passing();
        report.migrations[0].trace_note =
            Some("not traced: its upgrade failed when run to be traced (<KeyError: 'x'>)".into());
        let out = render(&report);
        assert!(out.contains("lint trace: 1 migration not fully traced"), "{out}");
        let id = &report.migrations[0].id;
        assert!(
            out.contains(&format!(
                "- `{id}`: not traced: its upgrade failed when run to be traced (&lt;KeyError: 'x'&gt;)"
            )),
            "{out}"
        );
        report.migrations[0].trace_note = None;
        assert!(!render(&report).contains("not fully traced"));
    }

    #[test]
    fn limited_report_fits_and_points_at_the_artifact() {
        let report = sample::many_findings(5_000);
        let full = render(&report);
        assert!(full.chars().count() > COMMENT_BUDGET);
        let short =
            render_limited(&report, COMMENT_BUDGET, "the full report is in the `migration-guard-report` artifact");
        assert!(short.chars().count() <= COMMENT_BUDGET, "{}", short.len());
        assert!(short.starts_with("## ❌ Migration Guard failed"));
        assert!(short.contains("the full report is in the `migration-guard-report` artifact"));
        assert!(short.contains("more |"), "the cut is shown in the table");
        let small = sample::failing();
        assert_eq!(render_limited(&small, COMMENT_BUDGET, "x"), render(&small));
    }

    #[test]
    fn the_prefix_cache_line_counts_restored_migrations_and_escapes_its_note() {
        use crate::prefix_cache::{CacheOutcome, CacheReport};
        let mut report = sample::change_scoped();
        let merged = report.migrations.iter().filter(|m| m.scope == MigrationScope::Merged).count();
        let cache = |outcome, note: Option<&str>| CacheReport {
            dir: ".cache".into(),
            key: "ab".into(),
            migrations: merged,
            outcome,
            note: note.map(str::to_string),
            duration_ms: 120.0,
        };
        report.prefix_cache = Some(cache(CacheOutcome::Restored, None));
        let out = render(&report);
        assert!(out.contains(&format!("{merged} restored and 0 of {merged} merged migrations replayed")), "{out}");
        assert!(
            out.contains(&format!(
                "prefix cache (.cache): the first {merged} merged migrations were restored in 0.12 s"
            ))
        );
        // pg_restore's message quotes names from the pull request's SQL.
        let note = "restoring the archive failed (pg_restore failed: relation \"<img src=x>|@team\")";
        report.prefix_cache = Some(cache(CacheOutcome::Unused, Some(note)));
        let out = render(&report);
        assert!(out.contains(&format!("\n{merged} of {merged} merged migrations replayed")), "{out}");
        assert!(out.contains("&lt;img src=x&gt;\\|&#64;team"), "{out}");
        assert!(!out.contains("<img"));
    }

    #[test]
    fn long_histories_do_not_grow_the_report() {
        let mut report = sample::change_scoped();
        let template = report.migrations[0].clone();
        let small = render(&report).chars().count();
        for i in 10..5_000 {
            let mut m = template.clone();
            m.id = i.to_string();
            report.migrations.insert(0, m);
            report.merged_findings.push(
                Finding::new("index-not-concurrent", Severity::Error, "old")
                    .in_migration(i.to_string())
                    .at("old.sql", Some(1)),
            );
        }
        report.scope.merged += 4_990;
        let big = render(&report);
        assert!(big.chars().count() < small + 200, "{} vs {small}", big.chars().count());
        assert!(big.contains("4991 findings in 4991 merged migrations, not counted"), "{big}");
        assert!(big.contains("4993 of 4993 merged migrations replayed"), "{big}");
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
