//! SQL text: splitting a script into statements with PostgreSQL's own grammar (libpg_query),
//! mapping byte offsets and server error positions to lines, and telling which statements
//! control or cannot run inside a transaction. Knows nothing of files, formats or databases.

use pg_query::NodeEnum;
use pg_query::protobuf::{ReindexObjectType, TransactionStmtKind};
use prost::Message;
use std::ops::Range;
use std::sync::Arc;

/// `"name"` with embedded quotes doubled: an identifier as written in SQL.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with embedded quotes doubled: a string literal (standard_conforming_strings on).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// What a statement means for the transaction it runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEffect {
    /// An ordinary statement.
    Plain,
    /// BEGIN, COMMIT, ROLLBACK, ...: the script manages its own transaction.
    Control(&'static str),
    /// A statement PostgreSQL refuses to run inside a transaction block (named).
    NotInTransaction(&'static str),
}

/// What a statement reaches beyond the database it runs in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Reach {
    /// Only the database.
    #[default]
    Database,
    /// The server as a whole (roles, databases, tablespaces, server settings) or something
    /// outside it (a program, a shared library, another server), named.
    Cluster(&'static str),
    /// `CREATE ROLE name` (or membership among roles): cluster-wide, unless the check creates
    /// those roles itself (see [`Reach::Declared`]).
    Roles(Vec<String>),
    /// A role statement about roles the check created before the chain: not run.
    Declared(Vec<String>),
}

/// One statement of a script: its byte range in the script and its first line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Byte offset of the statement's first token in the script.
    pub start: usize,
    /// Byte offset just past the statement (before its `;`).
    pub end: usize,
    /// 1-based line of `start` in the script.
    pub line: u32,
    /// What the statement does to the surrounding transaction.
    pub tx: TxEffect,
    /// What it reaches beyond its database.
    pub reach: Reach,
    /// The text sent to the server in place of the script's, when the check rewrote it (roles
    /// renamed to this run's own).
    pub sent: Option<String>,
    /// The splitter's parse tree of the statement, when it parsed the script whole.
    pub tree: Option<Tree>,
}

impl Statement {
    /// The statement's parse tree (its first command's, for a block of several) and whether
    /// more commands follow; `text` is the statement's text, parsed when no tree was kept.
    pub fn parsed(&self, text: &str) -> (Option<NodeEnum>, bool) {
        if let Some(node) = self.tree.as_ref().and_then(Tree::node) {
            return (Some(node), false);
        }
        let Ok(parsed) = pg_query::parse(text, 0) else { return (None, false) };
        let more = parsed.protobuf.stmts.len() > 1;
        (parsed.protobuf.stmts.into_iter().next().and_then(|s| s.stmt?.node), more)
    }
}

/// A parse tree, protobuf-encoded: a few times smaller than the decoded tree, and decoding it
/// costs a fraction of parsing again (the parser runs while loading, where its code is warm,
/// not once per statement between round trips). Its locations count from the start of the
/// text the splitter parsed.
#[derive(Clone, PartialEq, Eq)]
pub struct Tree(Arc<[u8]>);

impl Tree {
    fn of(node: &pg_query::protobuf::Node) -> Tree {
        Tree(node.encode_to_vec().into())
    }

    /// The decoded tree.
    pub fn node(&self) -> Option<NodeEnum> {
        pg_query::protobuf::Node::decode(&self.0[..]).ok()?.node
    }
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tree({} bytes)", self.0.len())
    }
}

/// A script split into statements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// The statements, in order; comments and blank text between them are not statements.
    pub statements: Vec<Statement>,
    /// Where the script's lines start, for line numbers of any offset.
    pub lines: Lines,
    /// The parser's message when the script is not valid SQL for PostgreSQL's grammar. The
    /// statements then come from the tolerant scanner, so the server can report the error itself.
    pub syntax_error: Option<String>,
    /// Some statement is a block of several commands sent as one (see [`split_keeping`]).
    pub compound: bool,
}

/// The byte offset at which each line of a text starts: line numbers of offsets in O(log n),
/// so that long scripts split in linear time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lines(Vec<usize>);

impl Lines {
    /// Indexes the lines of `text`.
    pub fn new(text: &str) -> Lines {
        let starts = text.bytes().enumerate().filter(|(_, b)| *b == b'\n').map(|(i, _)| i + 1);
        Lines(std::iter::once(0).chain(starts).collect())
    }

    /// The 1-based line of byte offset `byte`.
    pub fn line(&self, byte: usize) -> u32 {
        self.0.partition_point(|&start| start <= byte).max(1) as u32
    }
}

/// Why a script cannot be split at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SqlError {
    #[error("the SQL contains a NUL byte at line {line}")]
    Nul { line: u32 },
    #[error("{message}, which runs to the end of the script")]
    Scan { message: String, line: u32 },
}

/// Scripts longer than this are split by the scanner, and only statements whose first word can
/// touch the transaction are parsed: the parse tree of a whole data dump takes gigabytes.
const WHOLE_PARSE_LIMIT: usize = 1 << 20;

/// Splits `sql` into statements, exactly as PostgreSQL's parser would.
pub fn split(sql: &str) -> Result<Split, SqlError> {
    if let Some(pos) = sql.find('\0') {
        return Err(SqlError::Nul { line: line_of(sql, pos) });
    }
    let lines = Lines::new(sql);
    if sql.len() > WHOLE_PARSE_LIMIT {
        let mut statements = split_tokens(sql, &lines)?;
        for statement in &mut statements {
            let text = &sql[statement.start..statement.end];
            if needs_parse(text)
                && let Ok(parsed) = pg_query::parse(text, 0)
                && let Some(node) = parsed.protobuf.stmts.first().and_then(|s| s.stmt.as_ref()?.node.as_ref())
            {
                statement.tx = tx_effect(node);
                statement.reach = reach(node);
            }
        }
        return Ok(Split { statements, lines, syntax_error: None, compound: false });
    }
    match pg_query::parse(sql, 0) {
        Ok(parsed) => {
            let mut statements = Vec::with_capacity(parsed.protobuf.stmts.len());
            for raw in &parsed.protobuf.stmts {
                let begin = raw.stmt_location as usize;
                // stmt_len 0 means "to the end of the string".
                let end = if raw.stmt_len == 0 { sql.len() } else { begin + raw.stmt_len as usize };
                let start = skip_trivia(sql, begin, end);
                if start >= end {
                    continue;
                }
                let node = raw.stmt.as_ref().and_then(|n| n.node.as_ref());
                let tx = node.map(tx_effect).unwrap_or(TxEffect::Plain);
                let reach = node.map(reach).unwrap_or_default();
                statements.push(Statement {
                    start,
                    end: trim_end(sql, start, end),
                    line: lines.line(start),
                    tx,
                    reach,
                    sent: None,
                    tree: raw.stmt.as_deref().map(Tree::of),
                });
            }
            Ok(Split { statements, lines, syntax_error: None, compound: false })
        }
        Err(err) => {
            let message = match err {
                pg_query::Error::Parse(m) => m,
                other => other.to_string(),
            };
            Ok(Split { statements: split_tokens(sql, &lines)?, lines, syntax_error: Some(message), compound: false })
        }
    }
}

/// Splits `sql` like [`split`], except that each byte range in `whole` becomes exactly one
/// statement sent as written (the `StatementBegin`/`StatementEnd` blocks of goose and
/// sql-migrate). Ranges must be sorted and must not overlap.
pub fn split_keeping(sql: &str, whole: &[Range<usize>]) -> Result<Split, SqlError> {
    if whole.is_empty() {
        return split(sql);
    }
    if let Some(pos) = sql.find('\0') {
        return Err(SqlError::Nul { line: line_of(sql, pos) });
    }
    let mut result = Split { lines: Lines::new(sql), ..Split::default() };
    let split_part = |from: usize, to: usize, result: &mut Split| -> Result<(), SqlError> {
        let part = split(&sql[from..to])?;
        for s in part.statements {
            let start = from + s.start;
            let line = result.lines.line(start);
            result.statements.push(Statement { start, end: from + s.end, line, ..s });
        }
        if result.syntax_error.is_none() {
            result.syntax_error = part.syntax_error;
        }
        Ok(())
    };
    let mut at = 0;
    for range in whole {
        split_part(at, range.start, &mut result)?;
        let start = skip_trivia(sql, range.start, range.end);
        if start < range.end {
            // The block is one statement for the server. Its transaction control is its last
            // one (`BEGIN; ...; COMMIT;` leaves no transaction open); otherwise what it does to
            // the transaction is what its first statement that matters does.
            let inner = split(&sql[start..range.end])?;
            // Unparsed, it may hold several commands for all we know.
            result.compound |= inner.statements.len() > 1 || inner.syntax_error.is_some();
            let mut inner = inner.statements;
            // A block of one command keeps its tree.
            let tree = if inner.len() == 1 { inner[0].tree.take() } else { None };
            let reach = inner.iter().map(|s| s.reach.clone()).find(|r| *r != Reach::Database).unwrap_or_default();
            let effects: Vec<TxEffect> = inner.into_iter().map(|s| s.tx).collect();
            let tx = effects
                .iter()
                .rev()
                .find(|tx| matches!(tx, TxEffect::Control(_)))
                .or_else(|| effects.iter().find(|tx| **tx != TxEffect::Plain))
                .cloned()
                .unwrap_or(TxEffect::Plain);
            let line = result.lines.line(start);
            result.statements.push(Statement {
                start,
                end: trim_end(sql, start, range.end),
                line,
                tx,
                reach,
                sent: None,
                tree,
            });
        }
        at = range.end;
    }
    split_part(at, sql.len(), &mut result)?;
    Ok(result)
}

/// Splits on top-level semicolons using the scanner only, for scripts the parser rejects.
/// Statements are never dropped, so the server sees (and reports) the broken one.
fn split_tokens(sql: &str, lines: &Lines) -> Result<Vec<Statement>, SqlError> {
    let tokens = pg_query::scan_tokens(sql).map_err(|e| scan_error(sql, &e.to_string()))?;
    let mut statements = Vec::new();
    let mut begin = 0usize;
    let semicolon = pg_query::protobuf::Token::Ascii59 as i32;
    let mut push = |from: usize, to: usize| {
        let start = skip_trivia(sql, from, to);
        if start < to {
            let end = trim_end(sql, start, to);
            statements.push(Statement {
                start,
                end,
                line: lines.line(start),
                tx: TxEffect::Plain,
                reach: Reach::Database,
                sent: None,
                tree: None,
            });
        }
    };
    for token in tokens.iter().filter(|t| t.token == semicolon) {
        push(begin, token.start as usize);
        begin = token.end as usize;
    }
    push(begin, sql.len());
    Ok(statements)
}

/// Turns the scanner's "unterminated ... at or near \"<rest of input>\"" into a message and the
/// line where the unterminated token starts.
fn scan_error(sql: &str, raw: &str) -> SqlError {
    let raw = raw.strip_prefix("Error scanning: ").unwrap_or(raw);
    let (message, line) = match raw.split_once(" at or near \"") {
        Some((message, rest)) => {
            let fragment = rest.strip_suffix('"').unwrap_or(rest);
            let line = sql.rfind(fragment).map_or(1, |at| line_of(sql, at));
            (message.to_string(), line)
        }
        None => (raw.to_string(), 1),
    };
    SqlError::Scan { message, line }
}

/// Whether a statement's first word is one of those [`tx_effect`] or [`reach`] may classify as
/// other than plain (INSERT, UPDATE, SELECT, ... never are).
fn needs_parse(text: &str) -> bool {
    let word: String = text.chars().take_while(char::is_ascii_alphabetic).collect::<String>().to_ascii_uppercase();
    matches!(
        word.as_str(),
        "BEGIN"
            | "START"
            | "COMMIT"
            | "END"
            | "ROLLBACK"
            | "ABORT"
            | "PREPARE"
            | "CREATE"
            | "DROP"
            | "REINDEX"
            | "VACUUM"
            | "ALTER"
            | "GRANT"
            | "REVOKE"
            | "COPY"
            | "LOAD"
            | "REASSIGN"
            | "COMMENT"
            | "SECURITY"
    )
}

/// `statement` with every role it names that `renamed` maps renamed to its value, quoted; `None`
/// when it names none of them (or cannot be parsed).
pub fn rename_roles(statement: &str, renamed: &std::collections::HashMap<String, String>) -> Option<String> {
    let parsed = pg_query::parse(statement, 0).ok()?;
    // pg_query's own node walk skips some statements' role lists: walk the whole tree.
    fn role_specs(value: &serde_json::Value, out: &mut Vec<(usize, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                if let (Some(name), Some(at)) = (map.get("rolename").and_then(|v| v.as_str()), map.get("location"))
                    && map.contains_key("roletype")
                    && let Some(at) = at.as_i64().filter(|at| *at >= 0)
                {
                    out.push((at as usize, name.to_string()));
                }
                map.values().for_each(|v| role_specs(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| role_specs(v, out)),
            _ => {}
        }
    }
    let tree = serde_json::to_value(&parsed.protobuf).ok()?;
    let mut specs = Vec::new();
    role_specs(&tree, &mut specs);
    let mut at: Vec<(usize, String)> =
        specs.into_iter().filter_map(|(at, name)| renamed.get(&name).map(|new| (at, new.clone()))).collect();
    if at.is_empty() {
        return None;
    }
    at.sort();
    let tokens = pg_query::scan_tokens(statement).ok()?;
    let mut out = String::with_capacity(statement.len() + 32 * at.len());
    let mut done = 0;
    for (start, new) in at {
        let token = tokens.iter().find(|t| t.start as usize == start)?;
        out.push_str(&statement[done..start]);
        out.push_str(&ident(&new));
        done = token.end as usize;
    }
    out.push_str(&statement[done..]);
    Some(out)
}

/// What a parsed statement reaches beyond its database.
fn reach(node: &NodeEnum) -> Reach {
    use pg_query::protobuf::ObjectType;
    let shared_object = |objtype: i32| {
        matches!(
            ObjectType::try_from(objtype),
            Ok(ObjectType::ObjectDatabase | ObjectType::ObjectRole | ObjectType::ObjectTablespace)
        )
    };
    let role_names = |nodes: &[pg_query::protobuf::Node]| -> Vec<String> {
        nodes
            .iter()
            .filter_map(|n| match &n.node {
                Some(NodeEnum::RoleSpec(r)) => Some(r.rolename.clone()),
                Some(NodeEnum::AccessPriv(p)) => Some(p.priv_name.clone()),
                _ => None,
            })
            .collect()
    };
    Reach::Cluster(match node {
        NodeEnum::AlterSystemStmt(_) => "ALTER SYSTEM",
        NodeEnum::CreatedbStmt(_) => "CREATE DATABASE",
        NodeEnum::DropdbStmt(_) => "DROP DATABASE",
        NodeEnum::AlterDatabaseStmt(_)
        | NodeEnum::AlterDatabaseSetStmt(_)
        | NodeEnum::AlterDatabaseRefreshCollStmt(_) => "ALTER DATABASE",
        NodeEnum::CreateTableSpaceStmt(_) => "CREATE TABLESPACE",
        NodeEnum::DropTableSpaceStmt(_) => "DROP TABLESPACE",
        NodeEnum::AlterTableSpaceOptionsStmt(_) => "ALTER TABLESPACE",
        NodeEnum::CreateRoleStmt(s) => return Reach::Roles(vec![s.role.clone()]),
        NodeEnum::AlterRoleStmt(s) => return Reach::Roles(s.role.iter().map(|r| r.rolename.clone()).collect()),
        NodeEnum::AlterRoleSetStmt(s) => {
            // `ALTER ROLE ALL SET ...` names no role: it changes every one.
            return match &s.role {
                Some(r) if !r.rolename.is_empty() => Reach::Roles(vec![r.rolename.clone()]),
                _ => Reach::Cluster("ALTER ROLE ALL"),
            };
        }
        NodeEnum::DropRoleStmt(s) => return Reach::Roles(role_names(&s.roles)),
        NodeEnum::GrantRoleStmt(s) => {
            let mut roles = role_names(&s.granted_roles);
            roles.extend(role_names(&s.grantee_roles));
            return Reach::Roles(roles);
        }
        NodeEnum::ReassignOwnedStmt(_) => "REASSIGN OWNED",
        NodeEnum::CreateSubscriptionStmt(_)
        | NodeEnum::AlterSubscriptionStmt(_)
        | NodeEnum::DropSubscriptionStmt(_) => "a SUBSCRIPTION (it connects to another server)",
        NodeEnum::CopyStmt(s) if s.is_program => "COPY ... PROGRAM (it runs a command on the server)",
        NodeEnum::LoadStmt(_) => "LOAD (it loads a library into the server)",
        NodeEnum::RenameStmt(s) if shared_object(s.rename_type) => "renaming a database, role or tablespace",
        NodeEnum::CommentStmt(s) if shared_object(s.objtype) => "COMMENT ON a database, role or tablespace",
        NodeEnum::SecLabelStmt(s) if shared_object(s.objtype) => "SECURITY LABEL ON a database, role or tablespace",
        _ => return Reach::Database,
    })
}

/// Classifies a parsed statement for transaction handling (PostgreSQL 12+ rules).
fn tx_effect(node: &NodeEnum) -> TxEffect {
    match node {
        NodeEnum::TransactionStmt(t) => match TransactionStmtKind::try_from(t.kind) {
            Ok(TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart) => TxEffect::Control("BEGIN"),
            Ok(TransactionStmtKind::TransStmtCommit) => TxEffect::Control("COMMIT"),
            Ok(TransactionStmtKind::TransStmtRollback) => TxEffect::Control("ROLLBACK"),
            Ok(TransactionStmtKind::TransStmtPrepare) => TxEffect::Control("PREPARE TRANSACTION"),
            // Savepoints only make sense inside a transaction; they do not end one.
            _ => TxEffect::Plain,
        },
        NodeEnum::IndexStmt(s) if s.concurrent => TxEffect::NotInTransaction("CREATE INDEX CONCURRENTLY"),
        NodeEnum::DropStmt(s) if s.concurrent => TxEffect::NotInTransaction("DROP INDEX CONCURRENTLY"),
        NodeEnum::ReindexStmt(s) => {
            let concurrently = s.params.iter().any(
                |p| matches!(&p.node, Some(NodeEnum::DefElem(d)) if d.defname.eq_ignore_ascii_case("concurrently")),
            );
            let kind = ReindexObjectType::try_from(s.kind).ok();
            if concurrently {
                TxEffect::NotInTransaction("REINDEX CONCURRENTLY")
            } else if matches!(
                kind,
                Some(
                    ReindexObjectType::ReindexObjectSystem
                        | ReindexObjectType::ReindexObjectDatabase
                        | ReindexObjectType::ReindexObjectSchema
                )
            ) {
                TxEffect::NotInTransaction("REINDEX SCHEMA/DATABASE/SYSTEM")
            } else {
                TxEffect::Plain
            }
        }
        NodeEnum::VacuumStmt(s) if s.is_vacuumcmd => TxEffect::NotInTransaction("VACUUM"),
        NodeEnum::CreatedbStmt(_) => TxEffect::NotInTransaction("CREATE DATABASE"),
        NodeEnum::DropdbStmt(_) => TxEffect::NotInTransaction("DROP DATABASE"),
        NodeEnum::CreateTableSpaceStmt(_) => TxEffect::NotInTransaction("CREATE TABLESPACE"),
        NodeEnum::DropTableSpaceStmt(_) => TxEffect::NotInTransaction("DROP TABLESPACE"),
        NodeEnum::AlterSystemStmt(_) => TxEffect::NotInTransaction("ALTER SYSTEM"),
        NodeEnum::AlterTableStmt(s) => {
            let detach_concurrently = s.cmds.iter().any(|c| match &c.node {
                Some(NodeEnum::AlterTableCmd(cmd)) => matches!(
                    cmd.def.as_ref().and_then(|d| d.node.as_ref()),
                    Some(NodeEnum::PartitionCmd(p)) if p.concurrent
                ),
                _ => false,
            });
            if detach_concurrently {
                TxEffect::NotInTransaction("DETACH PARTITION CONCURRENTLY")
            } else {
                TxEffect::Plain
            }
        }
        _ => TxEffect::Plain,
    }
}

/// The whitespace skipped before a statement and trimmed after it: ASCII bytes only, as
/// PostgreSQL's scanner reads Unicode's other spaces as identifier characters.
const WHITESPACE: &[u8] = b" \t\n\r\x0c";

/// Skips whitespace and comments from `from`, never past `to`.
fn skip_trivia(sql: &str, mut from: usize, to: usize) -> usize {
    let bytes = sql.as_bytes();
    while from < to {
        match bytes[from] {
            b if WHITESPACE.contains(&b) => from += 1,
            b'-' if bytes.get(from + 1) == Some(&b'-') => {
                from = sql[from..to].find('\n').map_or(to, |n| from + n + 1);
            }
            b'/' if bytes.get(from + 1) == Some(&b'*') => {
                // Block comments nest in PostgreSQL.
                let mut depth = 0usize;
                let mut i = from;
                while i < to {
                    // Bytes, not str: `i` steps through multi-byte characters.
                    if bytes[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
                from = i.min(to);
            }
            _ => break,
        }
    }
    from
}

/// Trims trailing [`WHITESPACE`] of a statement (the bytes [`skip_trivia`] skips).
fn trim_end(sql: &str, start: usize, end: usize) -> usize {
    start + sql[start..end].trim_end_matches(|c: char| c.is_ascii() && WHITESPACE.contains(&(c as u8))).len()
}

/// The line PL/pgSQL gives for an error inside a `DO` block, from the error's context
/// ("PL/pgSQL function inline_code_block line 7 at IF").
pub fn plpgsql_do_line(context: &str) -> Option<u32> {
    let rest = &context[context.find("inline_code_block line ")? + "inline_code_block line ".len()..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[..digits].parse().ok()
}

/// Byte offset in `statement`, a `DO` statement, of line `line` (1-based, as PL/pgSQL counts
/// from the character after the body's opening quote) of its body.
pub fn do_body_line(statement: &str, line: u32) -> Option<usize> {
    let tokens = pg_query::scan_tokens(statement).ok()?;
    let first = tokens.first()?;
    if !statement[first.start as usize..first.end as usize].eq_ignore_ascii_case("do") {
        return None;
    }
    let body = tokens.iter().find(|t| t.token == pg_query::protobuf::Token::Sconst as i32)?;
    let literal = &statement[body.start as usize..body.end as usize];
    let opening = if let Some(tag) = literal.strip_prefix('$') {
        tag.find('$')? + 2
    } else if literal.starts_with(['E', 'e']) {
        2
    } else {
        1
    };
    let mut at = body.start as usize + opening;
    for _ in 1..line {
        at += statement[at..].find('\n')? + 1;
    }
    Some(at)
}

/// Whether `statement` is a `DO` block whose first action is `RAISE EXCEPTION` (or a `RAISE` of
/// another error level that aborts): a script written to fail on purpose, as one-way downs are.
/// A `RAISE` behind an `IF` is a guard, not this.
pub fn raises_unconditionally(statement: &str) -> bool {
    let Ok(parsed) = pg_query::parse(statement, 0) else { return false };
    let Some(NodeEnum::DoStmt(stmt)) = parsed.protobuf.stmts.first().and_then(|s| s.stmt.as_ref()?.node.as_ref())
    else {
        return false;
    };
    let mut body = None;
    for arg in &stmt.args {
        if let Some(NodeEnum::DefElem(def)) = &arg.node {
            let value = match def.arg.as_ref().and_then(|a| a.node.as_ref()) {
                Some(NodeEnum::String(s)) => s.sval.as_str(),
                _ => continue,
            };
            match def.defname.as_str() {
                "as" => body = Some(value.to_string()),
                "language" if !value.eq_ignore_ascii_case("plpgsql") => return false,
                _ => {}
            }
        }
    }
    let Some(body) = body else { return false };
    let mut tag = String::from("$mg$");
    while body.contains(&tag) {
        tag.insert(1, 'x');
    }
    let function = format!("CREATE FUNCTION mg_do() RETURNS void LANGUAGE plpgsql AS {tag}{body}{tag}");
    let Ok(json) = pg_query::parse_plpgsql(&function) else { return false };
    let first = &json[0]["PLpgSQL_function"]["action"]["PLpgSQL_stmt_block"]["body"][0];
    // elog levels: ERROR is 21; a RAISE without a level raises an exception.
    first.get("PLpgSQL_stmt_raise").is_some_and(|raise| raise["elog_level"].as_i64().is_none_or(|level| level >= 21))
}

/// 1-based line of byte offset `byte` in `text`.
pub fn line_of(text: &str, byte: usize) -> u32 {
    let byte = byte.min(text.len());
    text.as_bytes()[..byte].iter().filter(|&&b| b == b'\n').count() as u32 + 1
}

/// Byte offset of PostgreSQL's 1-based character position `position` in `text`.
pub fn char_position_to_byte(text: &str, position: usize) -> usize {
    text.char_indices().nth(position.saturating_sub(1)).map_or(text.len(), |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_double_their_quotes() {
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    /// PostgreSQL reads a Unicode space such as U+2000 as part of an identifier, not as
    /// whitespace: a statement made of one is kept whole, never trimmed to nothing.
    #[test]
    fn unicode_spaces_are_not_whitespace() {
        assert_eq!(texts("\u{2000}"), ["\u{2000}"]);
        assert_eq!(texts("SELECT 1;\n\u{2000} \n"), ["SELECT 1", "\u{2000}"]);
    }

    fn texts(sql: &str) -> Vec<&str> {
        split(sql).unwrap().statements.iter().map(|s| &sql[s.start..s.end]).collect()
    }

    /// SQL-ish text: the tokens that make splitting hard, in any order, and raw noise.
    fn sqlish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let token = prop_oneof![
            Just("SELECT 1;".to_string()),
            Just("BEGIN;".to_string()),
            Just("COMMIT;".to_string()),
            Just("'a;b'".to_string()),
            Just("$$ x; $$".to_string()),
            Just("$t$ ; $t$".to_string()),
            Just("-- c;\n".to_string()),
            Just("/* a /* nested; */ */".to_string()),
            Just("\"q;\"".to_string()),
            Just("E'\\';".to_string()),
            Just(";".to_string()),
            Just("\n".to_string()),
            Just("CREATE INDEX CONCURRENTLY i ON t (a);".to_string()),
            Just("CREATE ROLE r;".to_string()),
            Just("DO $$ BEGIN RAISE EXCEPTION 'x'; END $$;".to_string()),
            "[a-z ]{1,6}",
            "\\PC{0,8}",
        ];
        proptest::collection::vec(token, 0..40).prop_map(|parts| parts.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// Splitting never panics, and what it returns lies in the text, in order, on line
        /// numbers the line index agrees with.
        #[test]
        fn splitting_any_text_is_safe(sql in sqlish()) {
            if let Ok(split) = split(&sql) {
                let lines = Lines::new(&sql);
                let mut last = 0;
                for s in &split.statements {
                    proptest::prop_assert!(last <= s.start && s.start < s.end && s.end <= sql.len());
                    proptest::prop_assert!(sql.is_char_boundary(s.start) && sql.is_char_boundary(s.end));
                    proptest::prop_assert_eq!(s.line, lines.line(s.start));
                    last = s.end;
                }
            }
            let _ = raises_unconditionally(&sql);
            // Loaders keep blocks that start and end on line boundaries, so on characters.
            let half = (0..=sql.len() / 2).rev().find(|i| sql.is_char_boundary(*i)).unwrap_or(0);
            let blocks = [std::ops::Range { start: 0, end: half }];
            let _ = split_keeping(&sql, &blocks);
        }
    }

    /// Found by the property test: a block comment with multi-byte characters before a statement
    /// the parser rejects (split by the scanner).
    #[test]
    fn comments_with_wide_characters_before_a_statement() {
        let sql = "/*v9:\u{1FBAF}¥ /* é */ */SELEC 1;\n/*🩶*/ CREATE TABLE t (id int);";
        let split = split(sql).unwrap();
        let starts: Vec<&str> = split.statements.iter().map(|s| &sql[s.start..s.end]).collect();
        assert_eq!(starts.len(), 2, "{starts:?}");
    }

    #[test]
    fn roles_are_renamed_where_they_stand_for_roles() {
        let renamed: std::collections::HashMap<String, String> =
            [("app_reader".to_string(), "mg_1_ab_app_reader".to_string())].into();
        assert_eq!(
            rename_roles("GRANT SELECT ON app_reader TO app_reader, other", &renamed).as_deref(),
            Some("GRANT SELECT ON app_reader TO \"mg_1_ab_app_reader\", other"),
            "the table of the same name stays"
        );
        assert_eq!(
            rename_roles("ALTER TABLE t OWNER TO \"app_reader\"", &renamed).as_deref(),
            Some("ALTER TABLE t OWNER TO \"mg_1_ab_app_reader\"")
        );
        assert_eq!(
            rename_roles("CREATE POLICY p ON t TO app_reader USING (true)", &renamed).as_deref(),
            Some("CREATE POLICY p ON t TO \"mg_1_ab_app_reader\" USING (true)")
        );
        assert_eq!(rename_roles("SELECT app_reader FROM t", &renamed), None);
    }

    #[test]
    fn long_scripts_split_as_short_ones_do() {
        let unit = "BEGIN;\nINSERT INTO t VALUES (1, 'a;b'); -- ; here\nCREATE INDEX CONCURRENTLY i ON t (a);\n\
                    CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nCOMMIT;\n";
        let small = split(unit).unwrap().statements;
        let n = WHOLE_PARSE_LIMIT / unit.len() + 2;
        let big = split(&unit.repeat(n)).unwrap().statements;
        assert_eq!(big.len(), n * small.len());
        let lines_per_unit = unit.lines().count() as u32;
        for (i, statement) in big.iter().enumerate() {
            let twin = &small[i % small.len()];
            assert_eq!(statement.tx, twin.tx, "statement {i}");
            assert_eq!(statement.line, twin.line + (i / small.len()) as u32 * lines_per_unit, "statement {i}");
            assert_eq!(statement.end - statement.start, twin.end - twin.start, "statement {i}");
        }
    }

    #[test]
    fn do_blocks_that_raise_on_purpose() {
        assert!(raises_unconditionally("DO $$ BEGIN RAISE EXCEPTION 'one-way migration'; END $$"));
        assert!(raises_unconditionally("DO $x$\nBEGIN\n  RAISE 'no going back';\nEND\n$x$;"));
        assert!(!raises_unconditionally("DO $$ BEGIN RAISE NOTICE 'hello'; END $$"));
        assert!(!raises_unconditionally(
            "DO $$ BEGIN IF EXISTS (SELECT 1) THEN RAISE EXCEPTION 'has data'; END IF; END $$"
        ));
        assert!(!raises_unconditionally("DROP TABLE t"));
    }

    #[test]
    fn splits_like_postgres() {
        let sql = "-- header\nCREATE TABLE a (x int);\n\n/* c; */ INSERT INTO a VALUES (1) ;\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- trailing";
        assert_eq!(
            texts(sql),
            vec![
                "CREATE TABLE a (x int)",
                "INSERT INTO a VALUES (1)",
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql"
            ]
        );
        let lines: Vec<u32> = split(sql).unwrap().statements.iter().map(|s| s.line).collect();
        assert_eq!(lines, vec![2, 4, 5]);
    }

    #[test]
    fn comment_only_script_has_no_statements() {
        assert!(split("-- nothing\n/* here */\n").unwrap().statements.is_empty());
        assert!(split("").unwrap().statements.is_empty());
    }

    #[test]
    fn invalid_sql_keeps_every_statement_for_the_server() {
        let sql = "CREATE TABLE a (x int);\nCREAT TABLE b (y int);\nSELECT 1;";
        let split = split(sql).unwrap();
        assert!(split.syntax_error.unwrap().contains("CREAT"));
        let texts: Vec<&str> = split.statements.iter().map(|s| &sql[s.start..s.end]).collect();
        assert_eq!(texts, vec!["CREATE TABLE a (x int)", "CREAT TABLE b (y int)", "SELECT 1"]);
        assert_eq!(split.statements[1].line, 2);
    }

    #[test]
    fn transaction_effects() {
        let effects = |sql: &str| split(sql).unwrap().statements.into_iter().map(|s| s.tx).collect::<Vec<_>>();
        assert_eq!(
            effects(
                "BEGIN; CREATE INDEX CONCURRENTLY i ON t (x); COMMIT; DROP INDEX CONCURRENTLY i; VACUUM t; ANALYZE t; REINDEX INDEX CONCURRENTLY i; REINDEX TABLE t"
            ),
            vec![
                TxEffect::Control("BEGIN"),
                TxEffect::NotInTransaction("CREATE INDEX CONCURRENTLY"),
                TxEffect::Control("COMMIT"),
                TxEffect::NotInTransaction("DROP INDEX CONCURRENTLY"),
                TxEffect::NotInTransaction("VACUUM"),
                TxEffect::Plain,
                TxEffect::NotInTransaction("REINDEX CONCURRENTLY"),
                TxEffect::Plain,
            ]
        );
        assert_eq!(effects("REFRESH MATERIALIZED VIEW CONCURRENTLY v"), vec![TxEffect::Plain]);
        assert_eq!(
            effects("ALTER TABLE p DETACH PARTITION c CONCURRENTLY"),
            vec![TxEffect::NotInTransaction("DETACH PARTITION CONCURRENTLY")]
        );
    }

    #[test]
    fn kept_blocks_are_one_statement() {
        let sql = "CREATE TABLE a (x int);\nDO $$ BEGIN PERFORM 1; END $$;\nSELECT 1; SELECT 2;\nCREATE INDEX CONCURRENTLY i ON a (x);\n";
        let block_start = sql.find("DO").unwrap();
        let block_end = sql.find("CREATE INDEX").unwrap();
        let block = block_start..block_end;
        let split = split_keeping(sql, std::slice::from_ref(&block)).unwrap();
        let texts: Vec<&str> = split.statements.iter().map(|s| &sql[s.start..s.end]).collect();
        assert_eq!(
            texts,
            vec![
                "CREATE TABLE a (x int)",
                "DO $$ BEGIN PERFORM 1; END $$;\nSELECT 1; SELECT 2;",
                "CREATE INDEX CONCURRENTLY i ON a (x)"
            ]
        );
        let lines: Vec<u32> = split.statements.iter().map(|s| s.line).collect();
        assert_eq!(lines, vec![1, 2, 4]);
        assert_eq!(split.statements[2].tx, TxEffect::NotInTransaction("CREATE INDEX CONCURRENTLY"));
        assert!(split.compound, "the block holds three commands");
        let one = "CREATE TABLE a (x int);\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n";
        let function = one.find("CREATE FUNCTION").unwrap()..one.len();
        assert!(!split_keeping(one, std::slice::from_ref(&function)).unwrap().compound);
        assert!(!super::split(sql).unwrap().compound);
    }

    #[test]
    fn statements_keep_their_parse_trees() {
        let kind = |node: Option<NodeEnum>| match node {
            Some(NodeEnum::CreateStmt(s)) => format!("create {}", s.relation.unwrap().relname),
            Some(NodeEnum::DoStmt(_)) => "do".into(),
            Some(NodeEnum::IndexStmt(s)) => format!("index {}", s.idxname),
            other => format!("{other:?}"),
        };
        let sql = "CREATE TABLE a (x int);\nDO $$ BEGIN PERFORM 1; END $$;\nSELECT 1;\nCREATE INDEX i ON a (x);\n";
        let block = sql.find("DO").unwrap()..sql.find("CREATE INDEX").unwrap();
        let split = split_keeping(sql, std::slice::from_ref(&block)).unwrap();
        let trees: Vec<bool> = split.statements.iter().map(|s| s.tree.is_some()).collect();
        assert_eq!(trees, vec![true, false, true], "a block of two commands keeps none");
        let parsed: Vec<(String, bool)> =
            split.statements.iter().map(|s| s.parsed(&sql[s.start..s.end])).map(|(n, more)| (kind(n), more)).collect();
        assert_eq!(parsed, vec![("create a".into(), false), ("do".into(), true), ("index i".into(), false)]);
        // Without its tree, a statement is parsed from its text.
        let mut bare = split.statements[2].clone();
        bare.tree = None;
        assert_eq!(kind(bare.parsed("CREATE INDEX j ON a (x)").0), "index j");
        // A script the parser rejects is split by the scanner: no trees.
        let broken = super::split("CREATE TABLE a (x int);\nCREATE TABEL b ();").unwrap();
        assert!(broken.statements.iter().all(|s| s.tree.is_none()));
    }

    #[test]
    fn a_block_that_commits_leaves_no_transaction_open() {
        let tx =
            |sql: &str| split_keeping(sql, std::slice::from_ref(&(0..sql.len()))).unwrap().statements[0].tx.clone();
        assert_eq!(tx("BEGIN;\nDROP TABLE t;\nCOMMIT;\n"), TxEffect::Control("COMMIT"));
        assert_eq!(tx("COMMIT;\nCREATE TABLE t (x int);\nBEGIN;\n"), TxEffect::Control("BEGIN"));
        assert_eq!(
            tx("CREATE INDEX CONCURRENTLY i ON a (x);\n"),
            TxEffect::NotInTransaction("CREATE INDEX CONCURRENTLY")
        );
    }

    #[test]
    fn do_block_lines() {
        let sql = "DO\n$body$\nBEGIN\n    IF x THEN\n    END IF;\nEND;\n$body$ LANGUAGE plpgsql";
        let context = "SQL statement \"SELECT x\"\nPL/pgSQL function inline_code_block line 3 at IF";
        let line = plpgsql_do_line(context).unwrap();
        assert_eq!(line, 3);
        assert_eq!(line_of(sql, do_body_line(sql, line).unwrap()), 4);
        assert_eq!(line_of("DO 'BEGIN\nPERFORM 1;\nEND'", do_body_line("DO 'BEGIN\nPERFORM 1;\nEND'", 2).unwrap()), 2);
        assert_eq!(do_body_line("SELECT 'x'", 1), None);
        assert_eq!(plpgsql_do_line("PL/pgSQL function f() line 3 at IF"), None);
    }

    #[test]
    fn nul_byte_is_an_error_with_its_line() {
        assert_eq!(split("SELECT 1;\nSELECT '\0';"), Err(SqlError::Nul { line: 2 }));
        assert_eq!(
            split("SELECT 1;\nSELECT 2;\nSELECT 'abc\n;\n"),
            Err(SqlError::Scan { message: "unterminated quoted string".into(), line: 3 })
        );
    }

    #[test]
    fn positions_are_characters_not_bytes() {
        let text = "SELECT 'é', x";
        // Position 13 (1-based, in characters) is the 'x'.
        assert_eq!(&text[char_position_to_byte(text, 13)..], "x");
    }
}
