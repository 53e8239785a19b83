//! Waivers: comments in migration files that silence findings, in our syntax and in those teams
//! already wrote for other tools (squawk, Atlas, eugene, diesel-guard), each optionally with a
//! reason after ` -- `. Finds them, decides which findings each covers, and records what each
//! waived, so that the report lists every waiver used and those that waived nothing. Pure code
//! over the chain's files.
//!
//! | syntax | reach |
//! |---|---|
//! | `-- migration-guard: ignore RULE[, RULE]` | the next statement (or the one it is in) |
//! | `-- migration-guard: ignore-file RULE` | the file |
//! | `-- migration-guard: ignore-migration RULE` | every file and finding of the migration |
//! | `# migration-guard: ignore RULE` (Alembic) | the `op.` call on its line or the next |
//! | `-- squawk-ignore RULE[,RULE]`, `-- squawk-ignore-file [RULE]` | statement, file |
//! | `-- atlas:nolint [CODE|ANALYZER ...]` | statement; the file when in its header |
//! | `-- eugene: ignore [E1, ...]` | statement |
//! | `-- safety-assured:start` … `-- safety-assured:end` (diesel-guard) | the statements between |

use crate::findings::Finding;
use crate::migrations::{Apply, Chain, Script, display_path};
use crate::scope::Scope;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

/// Rules no waiver silences: a migration that fails, fails in production too.
const NEVER: &[&str] = &[crate::roundtrip::MIGRATION_FAILED, "cluster-wide-statement"];

/// Rules a waiver that names no rule leaves alone: they are about the chain, not a statement;
/// a waiver must name them.
const NAMED_ONLY: &[&str] = &[
    "missing-parent",
    "cycle",
    "branch-point",
    "multiple-heads",
    "duplicate-revision",
    "duplicate-version",
    "edited-migration",
    "out-of-order",
    crate::schema::drift::RULE,
];

/// Which tool's comment syntax a waiver is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Syntax {
    MigrationGuard,
    Squawk,
    Atlas,
    Eugene,
    DieselGuard,
}

impl Syntax {
    fn tool(self) -> &'static str {
        match self {
            Syntax::MigrationGuard => "migration-guard",
            Syntax::Squawk => "squawk",
            Syntax::Atlas => "atlas",
            Syntax::Eugene => "eugene",
            Syntax::DieselGuard => "diesel-guard",
        }
    }

    /// Our rules a rule name of this syntax stands for (empty: none of ours).
    fn ours(self, name: &str) -> Vec<&'static str> {
        let table: &[(&str, &[&str])] = match self {
            Syntax::MigrationGuard => {
                return known_rule(name).into_iter().collect();
            }
            Syntax::Squawk => SQUAWK,
            Syntax::Atlas => ATLAS,
            Syntax::Eugene => EUGENE,
            Syntax::DieselGuard => &[],
        };
        table.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).flat_map(|(_, ours)| ours.iter().copied()).collect()
    }
}

/// squawk rule names → our rules reporting the same hazard.
const SQUAWK: &[(&str, &[&str])] = &[
    ("require-timeout-settings", &["lock-timeout-missing"]),
    ("require-lock-timeout", &["lock-timeout-missing"]),
    ("require-concurrent-index-creation", &["index-not-concurrent"]),
    ("require-concurrent-index-deletion", &["drop-index-not-concurrent"]),
    ("constraint-missing-not-valid", &["constraint-validation"]),
    ("adding-foreign-key-constraint", &["constraint-validation"]),
    ("ban-alter-domain-with-add-constraint", &["constraint-validation"]),
    ("adding-not-nullable-field", &["set-not-null-scan"]),
    ("changing-column-type", &["type-change-rewrite", "backward-incompatible"]),
    ("disallowed-unique-constraint", &["unique-constraint-build"]),
    ("adding-serial-primary-key-field", &["unique-constraint-build", "table-rewrite"]),
    ("ban-drop-column", &["drop-column", "destructive-change"]),
    ("ban-drop-table", &["drop-table", "destructive-change"]),
    ("ban-drop-database", &["destructive-change"]),
    ("renaming-column", &["rename", "backward-incompatible"]),
    ("renaming-table", &["rename", "backward-incompatible"]),
    ("adding-field-with-default", &["volatile-default-rewrite"]),
    ("adding-required-field", &["not-null-column-without-default", "backward-incompatible"]),
    ("ban-concurrent-index-creation-in-transaction", &["concurrently-in-transaction"]),
];

/// Atlas lint codes and analyzer names → our rules.
const ATLAS: &[(&str, &[&str])] = &[
    ("destructive", &["destructive-change", "drop-table", "drop-column"]),
    ("DS101", &["destructive-change"]),
    ("DS102", &["destructive-change", "drop-table"]),
    ("DS103", &["destructive-change", "drop-column"]),
    ("data_depend", &["unique-constraint-build", "not-null-column-without-default", "set-not-null-scan"]),
    ("MF101", &["unique-constraint-build"]),
    ("MF102", &["unique-constraint-build"]),
    ("MF103", &["not-null-column-without-default"]),
    ("MF104", &["set-not-null-scan"]),
    ("incompatible", &["backward-incompatible", "rename"]),
    ("BC101", &["backward-incompatible", "rename"]),
    ("BC102", &["backward-incompatible", "rename"]),
    ("concurrent_index", &["index-not-concurrent", "drop-index-not-concurrent", "concurrently-in-transaction"]),
    ("PG101", &["index-not-concurrent"]),
    ("PG102", &["drop-index-not-concurrent"]),
    ("PG103", &["concurrently-in-transaction"]),
];

/// eugene hint ids → our rules.
const EUGENE: &[(&str, &[&str])] = &[
    ("E1", &["constraint-validation"]),
    ("E2", &["set-not-null-scan"]),
    ("E3", &["json-column"]),
    ("E4", &["statements-after-access-exclusive"]),
    ("E5", &["type-change-rewrite"]),
    ("E6", &["index-not-concurrent"]),
    ("E7", &["unique-constraint-build"]),
    ("E8", &["exclusion-constraint"]),
    ("E9", &["lock-timeout-missing"]),
    ("E10", &["table-rewrite"]),
    ("E11", &["volatile-default-rewrite"]),
    ("E15", &["foreign-key-not-indexed"]),
];

/// Our rule named `name`, if there is one.
fn known_rule(name: &str) -> Option<&'static str> {
    crate::lint::rules::by_id(name).map(|r| r.id).or_else(|| crate::rules::by_id(name).map(|r| r.id))
}

/// What a waiver covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reach {
    /// One statement (in Alembic revisions, one `op.` line).
    Statement,
    /// The statements between a start and an end comment.
    Block,
    /// Every finding located in the file.
    File,
    /// Every finding of the migration, in any of its files.
    Migration,
}

/// One waiver as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct WaiverReport {
    pub syntax: Syntax,
    pub reach: Reach,
    pub file: String,
    pub line: u32,
    /// The migration whose file holds it.
    pub migration: String,
    /// The rules as written; empty: every rule.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why it cannot waive some of what it names (rules that are not ours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The findings it silenced; empty: it waived nothing.
    pub waived: Vec<Finding>,
}

/// A waiver with what it covers resolved.
#[derive(Debug, Clone)]
struct Waiver {
    report: WaiverReport,
    /// Our rules it covers; `None`: every rule but those that must be named.
    rules: Option<HashSet<&'static str>>,
    /// Lines of `report.file` it covers (inclusive ranges); unused for file and migration reach.
    lines: Vec<(u32, u32)>,
}

impl Waiver {
    fn covers(&self, f: &Finding) -> bool {
        if NEVER.contains(&f.rule.as_str()) {
            return false;
        }
        let rule_ok = match &self.rules {
            Some(rules) => rules.contains(f.rule.as_str()),
            None => !NAMED_ONLY.contains(&f.rule.as_str()),
        };
        if !rule_ok {
            return false;
        }
        let in_file = f.file.as_deref() == Some(self.report.file.as_str());
        match self.report.reach {
            Reach::Migration => f.migration.as_deref() == Some(self.report.migration.as_str()),
            Reach::File => in_file,
            Reach::Statement | Reach::Block => {
                in_file && f.line.is_some_and(|l| self.lines.iter().any(|(a, b)| (*a..=*b).contains(&l)))
            }
        }
    }
}

/// The waivers written in the files of the migrations `scope` judges.
#[derive(Debug, Clone, Default)]
pub struct Waivers(Vec<Waiver>);

impl Waivers {
    /// Reads the waivers in the files of `chain`'s changed migrations (those of merged ones do
    /// not matter: their findings never count).
    pub fn collect(chain: &Chain, scope: &Scope) -> Waivers {
        let mut waivers = Vec::new();
        let mut seen = HashSet::new();
        for (index, m) in chain.migrations.iter().enumerate() {
            if !scope.is_changed(index) {
                continue;
            }
            match &m.apply {
                Apply::Alembic(rev) => {
                    if seen.insert(rev.file.clone()) {
                        let text = std::fs::read_to_string(&rev.file).unwrap_or_default();
                        waivers.extend(python(&text, &display_path(&rev.file), &m.id));
                    }
                }
                Apply::Sql | Apply::Opaque(_) => {
                    // Section formats keep the up and the down in one file.
                    let mut files: BTreeMap<PathBuf, Vec<&Script>> = BTreeMap::new();
                    for script in std::iter::once(&m.up).chain(m.down.as_ref()) {
                        files.entry(script.path.clone()).or_default().push(script);
                    }
                    for (path, scripts) in files {
                        if seen.insert(path.clone()) {
                            let text = std::fs::read_to_string(&path).unwrap_or_default();
                            waivers.extend(sql(&text, &display_path(&path), &m.id, &statement_lines(&scripts)));
                        }
                    }
                }
            }
        }
        Waivers(waivers)
    }

    /// Silences the findings a waiver covers: returns the others, and every waiver with what it
    /// waived (the first waiver that covers a finding takes it).
    pub fn apply(self, findings: Vec<Finding>) -> (Vec<Finding>, Vec<WaiverReport>) {
        let mut waivers = self.0;
        let mut kept = Vec::with_capacity(findings.len());
        for f in findings {
            match waivers.iter_mut().find(|w| w.covers(&f)) {
                Some(w) => w.report.waived.push(f),
                None => kept.push(f),
            }
        }
        (kept, waivers.into_iter().map(|w| w.report).collect())
    }
}

/// The (first, last) file lines of every statement of `scripts`, in file order.
fn statement_lines(scripts: &[&Script]) -> Vec<(u32, u32)> {
    let mut lines: Vec<(u32, u32)> = scripts
        .iter()
        .filter(|s| !s.is_rendered())
        .flat_map(|s| {
            s.split
                .statements
                .iter()
                .map(|st| (s.statement_line(st), s.file_line(st.end.saturating_sub(1).max(st.start))))
        })
        .collect();
    lines.sort_unstable();
    lines
}

/// A directive found in a comment.
struct Directive {
    syntax: Syntax,
    reach: Reach,
    /// Rules as written; empty: every rule.
    rules: Vec<String>,
    reason: Option<String>,
    /// diesel-guard's block markers.
    block: Option<BlockEdge>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum BlockEdge {
    Start,
    End,
}

/// Parses the text of a comment (after `--` or `#`) as a waiver directive.
fn directive(comment: &str) -> Option<Directive> {
    let comment = comment.trim();
    let (body, reason) = match comment.split_once(" -- ") {
        Some((body, reason)) => (body.trim(), Some(reason.trim().to_string()).filter(|r| !r.is_empty())),
        None => (comment, None),
    };
    let words = |rest: &str| -> Vec<String> {
        rest.split([',', ' ', '\t']).map(str::trim).filter(|w| !w.is_empty()).map(str::to_string).collect()
    };
    let make = |syntax, reach, rules| Some(Directive { syntax, reach, rules, reason: reason.clone(), block: None });
    if let Some(rest) = body.strip_prefix("migration-guard:") {
        let rest = rest.trim_start();
        for (keyword, reach) in
            [("ignore-migration", Reach::Migration), ("ignore-file", Reach::File), ("ignore", Reach::Statement)]
        {
            if let Some(list) = rest.strip_prefix(keyword)
                && (list.is_empty() || list.starts_with([' ', '\t']))
            {
                return make(Syntax::MigrationGuard, reach, words(list));
            }
        }
        return None;
    }
    if let Some(list) = body.strip_prefix("squawk-ignore-file") {
        return make(Syntax::Squawk, Reach::File, words(list));
    }
    if let Some(list) = body.strip_prefix("squawk-ignore") {
        return make(Syntax::Squawk, Reach::Statement, words(list));
    }
    if let Some(list) = body.strip_prefix("atlas:nolint") {
        return make(Syntax::Atlas, Reach::Statement, words(list));
    }
    if let Some(list) = body.strip_prefix("eugene: ignore").or_else(|| body.strip_prefix("eugene-ignore")) {
        return make(Syntax::Eugene, Reach::Statement, words(list));
    }
    for (marker, edge) in [("safety-assured:start", BlockEdge::Start), ("safety-assured:end", BlockEdge::End)] {
        if body.starts_with(marker) {
            return Some(Directive {
                syntax: Syntax::DieselGuard,
                reach: Reach::Block,
                rules: Vec::new(),
                reason: reason.clone(),
                block: Some(edge),
            });
        }
    }
    None
}

/// Resolves the rules of a directive: our rules it covers (`None`: all) and a note on names
/// that stand for none of ours.
fn resolve(syntax: Syntax, rules: &[String]) -> (Option<HashSet<&'static str>>, Option<String>) {
    if rules.is_empty() {
        return (None, None);
    }
    let mut ours = HashSet::new();
    let mut unknown = Vec::new();
    for name in rules {
        let mapped = syntax.ours(name);
        if mapped.is_empty() {
            unknown.push(name.as_str());
        }
        ours.extend(mapped);
    }
    let note = (!unknown.is_empty()).then(|| match syntax {
        Syntax::MigrationGuard => format!("no rule is named {}", unknown.join(", ")),
        other => format!("{} has no Migration Guard counterpart", tool_rules(other, &unknown)),
    });
    (Some(ours), note)
}

fn tool_rules(syntax: Syntax, names: &[&str]) -> String {
    format!("{}'s {}", syntax.tool(), names.join(", "))
}

/// The waivers in the SQL text of one file; `statements` are its statements' line ranges.
fn sql(text: &str, file: &str, migration: &str, statements: &[(u32, u32)]) -> Vec<Waiver> {
    let mut out = Vec::new();
    let mut open_block: Option<(u32, Directive)> = None;
    let first_statement = statements.first().map_or(u32::MAX, |(a, _)| *a);
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let number = i as u32 + 1;
        let Some(at) = line.find("--") else { continue };
        let Some(d) = directive(&line[at + 2..]) else { continue };
        let own_line = line[..at].trim().is_empty();
        if let Some(edge) = d.block {
            match (edge, open_block.take()) {
                (BlockEdge::Start, previous) => {
                    if let Some((start, d)) = previous {
                        out.push(block(file, migration, start, number, d, statements));
                    }
                    open_block = Some((number, d));
                }
                (BlockEdge::End, Some((start, d))) => out.push(block(file, migration, start, number, d, statements)),
                (BlockEdge::End, None) => {}
            }
            continue;
        }
        // Atlas reads a directive in the file's header (before the first statement, followed
        // by a blank line) as one for the whole file.
        let header = d.syntax == Syntax::Atlas
            && own_line
            && number < first_statement
            && lines[i + 1..].iter().find(|l| !l.trim_start().starts_with("--")).is_some_and(|l| l.trim().is_empty());
        let reach = if header { Reach::File } else { d.reach };
        let covered = match reach {
            Reach::Statement => {
                let inside = statements.iter().find(|(a, b)| (*a..=*b).contains(&number));
                let next = || statements.iter().find(|(a, _)| *a > number);
                inside.or_else(|| if own_line { next() } else { None }).copied().into_iter().collect()
            }
            _ => Vec::new(),
        };
        out.push(waiver(file, migration, number, reach, d, covered));
    }
    if let Some((start, d)) = open_block {
        // An unterminated block runs to the end of the file.
        out.push(block(file, migration, start, u32::MAX, d, statements));
    }
    out
}

fn block(file: &str, migration: &str, start: u32, end: u32, d: Directive, statements: &[(u32, u32)]) -> Waiver {
    let covered = statements.iter().filter(|(a, _)| *a > start && *a < end).copied().collect();
    waiver(file, migration, start, Reach::Block, d, covered)
}

fn waiver(file: &str, migration: &str, line: u32, reach: Reach, d: Directive, lines: Vec<(u32, u32)>) -> Waiver {
    let (rules, note) = resolve(d.syntax, &d.rules);
    Waiver {
        report: WaiverReport {
            syntax: d.syntax,
            reach,
            file: file.to_string(),
            line,
            migration: migration.to_string(),
            rules: d.rules,
            reason: d.reason,
            note,
            waived: Vec::new(),
        },
        rules,
        lines,
    }
}

/// The waivers in an Alembic revision: `# migration-guard: ignore RULE` covers its own line and,
/// on a line of its own, the next one (where the `op.` call that emits the statement is).
fn python(text: &str, file: &str, migration: &str) -> Vec<Waiver> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i as u32 + 1;
        let Some(at) = line.find('#') else { continue };
        let Some(d) = directive(&line[at + 1..]) else { continue };
        if d.syntax != Syntax::MigrationGuard {
            continue;
        }
        let own_line = line[..at].trim().is_empty();
        let lines = if own_line { vec![(number, number + 1)] } else { vec![(number, number)] };
        let reach = if d.reach == Reach::File { Reach::Migration } else { d.reach };
        out.push(waiver(file, migration, number, reach, d, lines));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Severity;

    fn statements(text: &str) -> Vec<(u32, u32)> {
        let script = Script::new(std::path::Path::new("x.sql"), 1, text.to_string()).unwrap();
        statement_lines(&[&script])
    }

    fn waived(text: &str, findings: &[(&str, u32)]) -> Vec<bool> {
        let waivers = Waivers(sql(text, "x.sql", "1", &statements(text)));
        let found: Vec<Finding> = findings
            .iter()
            .map(|(rule, line)| Finding::new(rule, Severity::Error, "m").in_migration("1").at("x.sql", Some(*line)))
            .collect();
        let (_, reports) = waivers.apply(found.clone());
        let gone: Vec<&Finding> = reports.iter().flat_map(|r| &r.waived).collect();
        found.iter().map(|f| gone.contains(&f)).collect()
    }

    #[test]
    fn ours_on_the_statement_before_or_inside_with_a_reason() {
        let text = "-- migration-guard: ignore drop-table -- empty since 2021\nDROP TABLE a;\nDROP TABLE b; -- migration-guard: ignore rename, drop-table\nDROP TABLE c;\n";
        assert_eq!(
            waived(text, &[("drop-table", 2), ("rename", 2), ("drop-table", 3), ("drop-table", 4)]),
            [true, false, true, false]
        );
        let ws = sql(text, "x.sql", "1", &statements(text));
        assert_eq!(ws[0].report.reason.as_deref(), Some("empty since 2021"));
        assert_eq!(ws[1].report.rules, ["rename", "drop-table"]);
    }

    #[test]
    fn ours_needs_the_marker_and_an_exact_id() {
        let text = "-- ignore drop-table\nDROP TABLE a;\n-- migration-guard: ignore drop-table-x\nDROP TABLE b;\n-- migration-guard: ignoredrop-table\nDROP TABLE c;\n";
        assert_eq!(waived(text, &[("drop-table", 2), ("drop-table", 4), ("drop-table", 6)]), [false, false, false]);
        let ws = sql(text, "x.sql", "1", &statements(text));
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].report.note.as_deref(), Some("no rule is named drop-table-x"));
    }

    #[test]
    fn file_and_migration_reach() {
        let text =
            "CREATE TABLE t (id int);\n-- migration-guard: ignore-file index-not-concurrent\nCREATE INDEX ON t (id);\n";
        assert_eq!(waived(text, &[("index-not-concurrent", 1), ("table-rewrite", 3)]), [true, false]);
        let ws = sql("-- migration-guard: ignore-migration irreversible\nSELECT 1;\n", "x.sql", "1", &[(2, 2)]);
        let elsewhere = Finding::new("irreversible", Severity::Error, "m").in_migration("1").at("down.sql", Some(4));
        assert!(ws[0].covers(&elsewhere));
        assert!(!ws[0].covers(&Finding::new("irreversible", Severity::Error, "m").in_migration("2")));
    }

    #[test]
    fn squawk_statement_and_file() {
        let text = "-- squawk-ignore ban-drop-column,renaming-column\nALTER TABLE a DROP COLUMN b;\n-- squawk-ignore-nothing\nALTER TABLE a DROP COLUMN c;\n";
        assert_eq!(
            waived(text, &[("drop-column", 2), ("destructive-change", 2), ("drop-column", 4)]),
            [true, true, false]
        );
        let file = "-- squawk-ignore-file\nALTER TABLE a DROP COLUMN b;\n\nCREATE INDEX ON a (c);\n";
        assert_eq!(
            waived(file, &[("drop-column", 2), ("index-not-concurrent", 4), ("edited-migration", 1)]),
            [true, true, false]
        );
        let twin = "-- squawk-ignore ban-drop-table\nALTER TABLE a DROP COLUMN b;\n";
        assert_eq!(waived(twin, &[("drop-column", 2)]), [false]);
    }

    #[test]
    fn atlas_statement_and_file_header() {
        let text = "CREATE TABLE a (b int);\n-- atlas:nolint DS103\nALTER TABLE a DROP COLUMN b;\n-- atlas:nolint PG101\nALTER TABLE a DROP COLUMN c;\n";
        assert_eq!(waived(text, &[("destructive-change", 3), ("destructive-change", 5)]), [true, false]);
        let header = "-- atlas:nolint destructive\n\nALTER TABLE a DROP COLUMN b;\nDROP TABLE c;\n";
        assert_eq!(
            waived(header, &[("drop-column", 3), ("drop-table", 4), ("index-not-concurrent", 4)]),
            [true, true, false]
        );
        let not_header = "-- atlas:nolint destructive\nALTER TABLE a DROP COLUMN b;\nDROP TABLE c;\n";
        assert_eq!(waived(not_header, &[("drop-column", 2), ("drop-table", 3)]), [true, false]);
    }

    #[test]
    fn eugene_all_or_listed() {
        let text = "-- eugene: ignore\nCREATE INDEX ON a (b);\n-- eugene: ignore E9, E3\nCREATE INDEX ON a (c);\n";
        assert_eq!(
            waived(text, &[("index-not-concurrent", 2), ("index-not-concurrent", 4), ("json-column", 4)]),
            [true, false, true]
        );
    }

    #[test]
    fn diesel_guard_blocks() {
        let text = "-- safety-assured:start -- backfilled by the job\nALTER TABLE a DROP COLUMN b;\nCREATE INDEX ON a (c);\n-- safety-assured:end\nDROP TABLE d;\n";
        assert_eq!(
            waived(text, &[("drop-column", 2), ("index-not-concurrent", 3), ("drop-table", 5)]),
            [true, true, false]
        );
        let ws = sql(text, "x.sql", "1", &statements(text));
        assert_eq!((ws[0].report.reach, ws[0].report.reason.as_deref()), (Reach::Block, Some("backfilled by the job")));
    }

    #[test]
    fn failures_are_never_waived_and_chain_rules_only_by_name() {
        let text =
            "-- atlas:nolint\nSELECT 1;\n-- migration-guard: ignore edited-migration -- comment typo\nSELECT 2;\n";
        assert_eq!(
            waived(text, &[("migration-failed", 2), ("edited-migration", 2), ("edited-migration", 4)]),
            [false, false, true]
        );
    }

    #[test]
    fn python_comments_on_the_op_line_or_above() {
        let source = "def upgrade():\n    # migration-guard: ignore index-not-concurrent -- 40 rows\n    op.create_index('a', 't', ['x'])\n    op.create_index('b', 't', ['y'])  # migration-guard: ignore drop-table, index-not-concurrent\n    op.create_index('c', 't', ['z'])\n";
        let waivers = Waivers(python(source, "a.py", "a"));
        let at = |rule: &str, line| Finding::new(rule, Severity::Error, "m").in_migration("a").at("a.py", Some(line));
        let (kept, reports) = waivers.apply(vec![
            at("index-not-concurrent", 3),
            at("index-not-concurrent", 4),
            at("index-not-concurrent", 5),
            at("drop-table", 3),
        ]);
        assert_eq!(
            kept.iter().map(|f| (f.rule.as_str(), f.line)).collect::<Vec<_>>(),
            [("index-not-concurrent", Some(5)), ("drop-table", Some(3))]
        );
        assert_eq!(reports[0].reason.as_deref(), Some("40 rows"));
    }
}
