//! Suppression comments: `-- migration-guard: ignore <rule>[, <rule>...]` on the line before a
//! statement or on one of its own lines silences those rules for that statement only. In SQL a
//! tool rendered from Python (Alembic), `# migration-guard: ignore <rule>` does the same on the
//! Python line that emitted the statement or on the line before it.

use crate::migrations::Script;
use crate::sql::Statement;

/// The marker that starts a suppression comment.
const MARKER: &str = "migration-guard:";

/// Whether `rule` is suppressed for `statement` of `script`.
pub fn is_suppressed(script: &Script, statement: &Statement, rule: &str) -> bool {
    if script.is_rendered() {
        let source = std::fs::read_to_string(&script.path).unwrap_or_default();
        return in_python(&source, script.statement_line(statement), rule);
    }
    let lines: Vec<&str> = script.sql.lines().collect();
    let first = statement.line as usize; // 1-based
    let last = crate::sql::line_of(&script.sql, statement.end) as usize;
    // The line before counts only when it is a comment of its own, so a trailing comment of the
    // previous statement does not leak onto this one.
    let before = first.checked_sub(2).and_then(|i| lines.get(i)).filter(|l| l.trim_start().starts_with("--"));
    let own = lines.get(first.saturating_sub(1)..last.min(lines.len())).unwrap_or(&[]);
    before.into_iter().chain(own).any(|line| ignores(line, rule))
}

/// Whether `rule` is suppressed for the statement emitted from 1-based `line` of Python `source`.
fn in_python(source: &str, line: u32, rule: &str) -> bool {
    let lines: Vec<&str> = source.lines().collect();
    let at = line as usize;
    let own = at.checked_sub(1).and_then(|i| lines.get(i));
    // As in SQL, the line before counts only when it is a comment of its own.
    let before = at.checked_sub(2).and_then(|i| lines.get(i)).filter(|l| l.trim_start().starts_with('#'));
    own.into_iter().chain(before).any(|l| l.find('#').is_some_and(|i| listed(&l[i + 1..], rule)))
}

/// Whether one line carries a suppression comment naming `rule`.
fn ignores(line: &str, rule: &str) -> bool {
    let Some(at) = line.find("--") else { return false };
    listed(&line[at + 2..], rule)
}

/// Whether the text of a comment (after its `--` or `#`) is a suppression naming `rule`.
fn listed(comment: &str, rule: &str) -> bool {
    let comment = comment.trim_start();
    let Some(rest) = comment.strip_prefix(MARKER) else { return false };
    let Some(list) = rest.trim_start().strip_prefix("ignore") else { return false };
    list.split([',', ' ', '\t']).map(str::trim).any(|id| id == rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn script(sql: &str) -> Script {
        Script::new(Path::new("x.sql"), 1, sql.to_string()).unwrap()
    }

    #[test]
    fn line_before_and_same_line() {
        let s = script(
            "-- migration-guard: ignore drop-table\nDROP TABLE a;\nDROP TABLE b; -- migration-guard: ignore rename, drop-table\nDROP TABLE c;",
        );
        let st = &s.split.statements;
        assert!(is_suppressed(&s, &st[0], "drop-table"));
        assert!(!is_suppressed(&s, &st[0], "rename"));
        assert!(is_suppressed(&s, &st[1], "drop-table"));
        assert!(is_suppressed(&s, &st[1], "rename"));
        // A trailing comment of the previous statement does not cover the next one.
        assert!(!is_suppressed(&s, &st[2], "drop-table"));
    }

    #[test]
    fn needs_the_marker_and_an_exact_id() {
        let s = script("-- ignore drop-table\nDROP TABLE a;\n-- migration-guard: ignore drop-table-x\nDROP TABLE b;");
        assert!(!is_suppressed(&s, &s.split.statements[0], "drop-table"));
        assert!(!is_suppressed(&s, &s.split.statements[1], "drop-table"));
    }

    #[test]
    fn python_comments_on_the_op_line_or_above() {
        let source = "def upgrade():\n    # migration-guard: ignore index-not-concurrent\n    op.create_index('a', 't', ['x'])\n    op.create_index('b', 't', ['y'])  # migration-guard: ignore drop-table, index-not-concurrent\n    op.create_index('c', 't', ['z'])\n";
        assert!(in_python(source, 3, "index-not-concurrent"));
        assert!(in_python(source, 4, "index-not-concurrent"));
        // A trailing comment of the previous line does not cover the next one.
        assert!(!in_python(source, 5, "index-not-concurrent"));
        assert!(!in_python(source, 3, "drop-table"));
    }
}
