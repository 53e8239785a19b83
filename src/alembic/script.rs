//! Reads one Alembic revision file without running it: the module-level `revision`,
//! `down_revision`, `branch_labels` and `depends_on` assignments, the docstring message, and
//! where `upgrade()` / `downgrade()` are defined and whether their bodies do anything.
//!
//! Parsing uses tree-sitter with its Python grammar: a maintained, error-tolerant parser that
//! gives exact line numbers, handles annotated assignments, multi-line tuples, comments and
//! every string quoting, and builds on stable Rust (rustpython-parser is no longer maintained
//! and ruff's parser is not published on crates.io).

use std::cell::RefCell;
use tree_sitter::{Node, Parser, Tree};

/// A value assigned to one of the revision variables, with the line of its assignment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assigned {
    /// The identifiers: empty for `None`, one for a string, several for a tuple or list.
    pub values: Vec<String>,
    /// 1-based line of the assignment statement.
    pub line: u32,
}

/// A module-level function (`upgrade` or `downgrade`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// 1-based line of the `def`.
    pub line: u32,
    /// The body holds only `pass`, `...`, a docstring or comments.
    pub empty: bool,
    /// The body's first statement (after a docstring) is a `raise`: one-way on purpose.
    pub raises: bool,
}

/// What a revision file declares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RevisionFile {
    /// `revision = "..."`.
    pub revision: Option<Assigned>,
    /// `down_revision = ...`: the parents.
    pub down_revision: Option<Assigned>,
    /// `branch_labels = ...`.
    pub branch_labels: Option<Assigned>,
    /// `depends_on = ...`.
    pub depends_on: Option<Assigned>,
    /// First line of the module docstring (Alembic writes the `-m` message there).
    pub message: Option<String>,
    /// `def upgrade()`.
    pub upgrade: Option<Function>,
    /// `def downgrade()`.
    pub downgrade: Option<Function>,
}

/// Why a revision file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    #[error("line {line}: Python syntax error")]
    Syntax { line: u32 },
    #[error("line {line}: `{name}` must be a string, None, or a tuple or list of strings")]
    Value { name: &'static str, line: u32 },
}

thread_local! {
    // Building a parser costs more than parsing a small revision file; keep one per thread.
    static PARSER: RefCell<Option<Parser>> = const { RefCell::new(None) };
}

fn parse_tree(source: &str) -> Tree {
    PARSER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let parser = slot.get_or_insert_with(|| {
            let mut parser = Parser::new();
            parser.set_language(&tree_sitter_python::LANGUAGE.into()).expect("the Python grammar matches tree-sitter");
            parser
        });
        // Only fails on cancellation or a missing language, neither of which we allow.
        parser.parse(source, None).expect("tree-sitter parses without a timeout")
    })
}

/// Parses the text of a revision file.
pub fn parse(source: &str) -> Result<RevisionFile, ScriptError> {
    let tree = parse_tree(source);
    let root = tree.root_node();
    if root.has_error() {
        return Err(ScriptError::Syntax { line: first_error(root).map_or(1, line_of) });
    }
    let bytes = source.as_bytes();
    let mut file = RevisionFile::default();
    for (index, statement) in named_children(root).into_iter().enumerate() {
        match statement.kind() {
            "expression_statement" => {
                let Some(inner) = statement.named_child(0) else { continue };
                if index == 0 && is_string(inner) {
                    file.message = string_value(inner, bytes)
                        .and_then(|doc| doc.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_string));
                } else if inner.kind() == "assignment" {
                    assignment(inner, bytes, &mut file)?;
                }
            }
            "function_definition" => function(statement, bytes, &mut file),
            "decorated_definition" => {
                if let Some(def) = statement.child_by_field_name("definition") {
                    function(def, bytes, &mut file);
                }
            }
            _ => {}
        }
    }
    Ok(file)
}

fn assignment(node: Node, bytes: &[u8], file: &mut RevisionFile) -> Result<(), ScriptError> {
    let Some(left) = node.child_by_field_name("left") else { return Ok(()) };
    if left.kind() != "identifier" {
        return Ok(());
    }
    let (name, slot) = match text(left, bytes) {
        "revision" => ("revision", &mut file.revision),
        "down_revision" => ("down_revision", &mut file.down_revision),
        "branch_labels" => ("branch_labels", &mut file.branch_labels),
        "depends_on" => ("depends_on", &mut file.depends_on),
        _ => return Ok(()),
    };
    let line = line_of(node);
    // An annotation without a value (`revision: str`) assigns nothing.
    let Some(right) = node.child_by_field_name("right") else { return Ok(()) };
    let values = identifiers(right, bytes).ok_or(ScriptError::Value { name, line })?;
    *slot = Some(Assigned { values, line });
    Ok(())
}

/// `None`, a string, or a tuple / list / parenthesized group of strings.
fn identifiers(node: Node, bytes: &[u8]) -> Option<Vec<String>> {
    match node.kind() {
        "none" => Some(Vec::new()),
        "string" | "concatenated_string" => Some(vec![string_value(node, bytes)?]),
        "tuple" | "list" | "parenthesized_expression" | "expression_list" => {
            let mut out = Vec::new();
            for child in named_children(node) {
                if child.kind() == "comment" {
                    continue;
                }
                out.extend(identifiers(child, bytes)?);
            }
            Some(out)
        }
        _ => None,
    }
}

fn is_string(node: Node) -> bool {
    matches!(node.kind(), "string" | "concatenated_string")
}

/// The content of a plain (not f-) string literal; escape sequences are kept as written,
/// which is exact for the identifiers and messages we read.
fn string_value(node: Node, bytes: &[u8]) -> Option<String> {
    if node.kind() == "concatenated_string" {
        return named_children(node).into_iter().map(|part| string_value(part, bytes)).collect();
    }
    let mut out = String::new();
    for child in named_children(node) {
        match child.kind() {
            "string_start" => {
                if text(child, bytes).to_ascii_lowercase().contains('f') {
                    return None;
                }
            }
            "string_content" => out.push_str(text(child, bytes)),
            "string_end" => {}
            _ => return None,
        }
    }
    Some(out)
}

fn function(node: Node, bytes: &[u8], file: &mut RevisionFile) {
    let Some(name) = node.child_by_field_name("name") else { return };
    let slot = match text(name, bytes) {
        "upgrade" => &mut file.upgrade,
        "downgrade" => &mut file.downgrade,
        _ => return,
    };
    let trivial = |statement: &Node| match statement.kind() {
        "pass_statement" | "comment" => true,
        "expression_statement" => {
            statement.named_child_count() == 1
                && statement.named_child(0).is_some_and(|e| is_string(e) || e.kind() == "ellipsis")
        }
        _ => false,
    };
    let body = node.child_by_field_name("body").map(named_children).unwrap_or_default();
    let empty = body.iter().all(trivial);
    let raises = body.iter().find(|s| !trivial(s)).is_some_and(|s| s.kind() == "raise_statement");
    *slot = Some(Function { line: line_of(node), empty, raises });
}

fn named_children(node: Node) -> Vec<Node> {
    (0..node.named_child_count() as u32).filter_map(|i| node.named_child(i)).collect()
}

fn text<'a>(node: Node, bytes: &'a [u8]) -> &'a str {
    node.utf8_text(bytes).unwrap_or("")
}

fn line_of(node: Node) -> u32 {
    node.start_position().row as u32 + 1
}

fn first_error(node: Node) -> Option<Node> {
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    (0..node.child_count() as u32).filter_map(|i| node.child(i)).filter(|c| c.has_error()).find_map(first_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(a: &Option<Assigned>) -> Vec<&str> {
        a.as_ref().unwrap().values.iter().map(String::as_str).collect()
    }

    #[test]
    fn plain_and_annotated_assignments() {
        let file = parse(
            "\"\"\"add users\n\nRevision ID: abc\n\"\"\"\nfrom typing import Union\n\nrevision: str = 'abc'\ndown_revision: Union[str, None] = \"def\"\nbranch_labels = None\ndepends_on = ('x',)\n",
        )
        .unwrap();
        assert_eq!(file.message.as_deref(), Some("add users"));
        assert_eq!(values(&file.revision), ["abc"]);
        assert_eq!(file.revision.as_ref().unwrap().line, 7);
        assert_eq!(values(&file.down_revision), ["def"]);
        assert_eq!(file.down_revision.as_ref().unwrap().line, 8);
        assert!(values(&file.branch_labels).is_empty());
        assert_eq!(values(&file.depends_on), ["x"]);
    }

    #[test]
    fn multi_line_tuples_with_comments() {
        let file = parse("revision = \"m\"\ndown_revision = (\n    \"a\",  # first\n    'b',\n)\n").unwrap();
        assert_eq!(values(&file.down_revision), ["a", "b"]);
        assert_eq!(file.down_revision.unwrap().line, 2);
        let list = parse("down_revision = ['a', \"b\"]\n").unwrap();
        assert_eq!(values(&list.down_revision), ["a", "b"]);
    }

    #[test]
    fn empty_and_real_bodies() {
        let file = parse(
            "def upgrade():\n    \"\"\"Nothing.\"\"\"\n    # really nothing\n    pass\n\n\ndef downgrade() -> None:\n    op.drop_table('x')\n",
        )
        .unwrap();
        assert_eq!(file.upgrade, Some(Function { line: 1, empty: true, raises: false }));
        assert_eq!(file.downgrade, Some(Function { line: 7, empty: false, raises: false }));
        let ellipsis = parse("def upgrade():\n    ...\n").unwrap();
        assert!(ellipsis.upgrade.unwrap().empty);
        let one_way = parse("def downgrade():\n    \"\"\"No.\"\"\"\n    raise NotImplementedError()\n").unwrap();
        assert!(one_way.downgrade.unwrap().raises);
        let guarded =
            parse("def downgrade():\n    if x:\n        raise RuntimeError()\n    op.drop_table('t')\n").unwrap();
        assert!(!guarded.downgrade.unwrap().raises, "a guard is not a one-way downgrade");
    }

    #[test]
    fn only_module_level_names_count() {
        let file = parse("revision = 'a'\ndef upgrade():\n    revision = 'zzz'\n    op.execute('x')\n").unwrap();
        assert_eq!(values(&file.revision), ["a"]);
        assert!(file.down_revision.is_none());
    }

    #[test]
    fn bad_input_names_the_line() {
        assert_eq!(parse("revision = 'a'\ndef upgrade(:\n").unwrap_err(), ScriptError::Syntax { line: 2 });
        assert_eq!(
            parse("revision = 'a'\ndown_revision = make()\n").unwrap_err(),
            ScriptError::Value { name: "down_revision", line: 2 }
        );
    }
}
