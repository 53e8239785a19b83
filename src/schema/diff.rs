//! Compares two schemas: an ordered list of changes (object added, removed, or one attribute
//! altered from before to after), each classed as additive or destructive. Pure code.

use super::model::{Kind, Object, Schema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What happened to an object between the two schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Added,
    Removed,
    Altered,
}

/// One difference between two schemas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: Kind,
    /// Qualified name, e.g. `public.users.email`.
    pub name: String,
    pub action: Action,
    /// The attribute that differs (altered only).
    pub attribute: Option<String>,
    /// The attribute's value before, or for a removed object its summary.
    pub before: Option<String>,
    /// The attribute's value after, or for an added object its summary.
    pub after: Option<String>,
}

impl Change {
    /// True when applying the change can lose data: dropping a table, column, schema, sequence
    /// or extension, narrowing or changing a column's type, removing enum labels.
    pub fn is_destructive(&self) -> bool {
        match self.action {
            Action::Added => false,
            Action::Removed => {
                matches!(self.kind, Kind::Table | Kind::Column | Kind::Schema | Kind::Sequence | Kind::Extension)
            }
            Action::Altered => match (self.kind, self.attribute.as_deref()) {
                (Kind::Column, Some("data_type")) => {
                    !is_widening(self.before.as_deref().unwrap_or(""), self.after.as_deref().unwrap_or(""))
                }
                (Kind::Enum, Some("labels")) => {
                    let after: Vec<&str> = self.after.as_deref().map(split_list).unwrap_or_default();
                    self.before.as_deref().map(split_list).unwrap_or_default().iter().any(|l| !after.contains(l))
                }
                (Kind::Table, Some("persistence")) => self.after.as_deref() == Some("temporary"),
                _ => false,
            },
        }
    }

    /// The qualified name without the `public.` prefix, as messages show it.
    pub fn short_name(&self) -> &str {
        self.name.strip_prefix("public.").unwrap_or(&self.name)
    }
}

fn split_list(text: &str) -> Vec<&str> {
    text.split(", ").collect()
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.short_name();
        match self.action {
            Action::Added => match self.after.as_deref().filter(|s| !s.is_empty()) {
                Some(summary) => write!(f, "adds {} {name} {summary}", self.kind),
                None => write!(f, "adds {} {name}", self.kind),
            },
            Action::Removed => write!(f, "drops {} {name}", self.kind),
            Action::Altered => {
                let show = |v: &Option<String>| v.as_deref().map_or("(none)".to_string(), one_line);
                write!(
                    f,
                    "changes {} {name} {}: {} → {}",
                    self.kind,
                    self.attribute.as_deref().unwrap_or("?").replace('_', " "),
                    show(&self.before),
                    show(&self.after)
                )
            }
        }
    }
}

/// The changes as text, one per line, then a count; `!` marks destructive ones.
pub fn to_text(changes: &[Change]) -> String {
    let mut out = String::new();
    for change in changes {
        let mark = if change.is_destructive() { "!" } else { " " };
        out.push_str(&format!("{mark} {change}\n"));
    }
    let destructive = changes.iter().filter(|c| c.is_destructive()).count();
    match changes.len() {
        0 => out.push_str("the schemas are equal\n"),
        n => out.push_str(&format!("{n} difference(s), {destructive} destructive\n")),
    }
    out
}

/// The changes as a JSON document `{"equal": ..., "changes": [...]}`, each change with its
/// `destructive` flag and `text`.
pub fn to_json(changes: &[Change]) -> String {
    #[derive(Serialize)]
    struct Entry<'a> {
        #[serde(flatten)]
        change: &'a Change,
        destructive: bool,
        text: String,
    }
    #[derive(Serialize)]
    struct Document<'a> {
        equal: bool,
        changes: Vec<Entry<'a>>,
    }
    let document = Document {
        equal: changes.is_empty(),
        changes: changes
            .iter()
            .map(|change| Entry { change, destructive: change.is_destructive(), text: change.to_string() })
            .collect(),
    };
    serde_json::to_string_pretty(&document).expect("changes serialize")
}

/// Collapses whitespace so that multi-line definitions fit a line.
pub fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 { format!("{}…", line.chars().take(200).collect::<String>()) } else { line }
}

/// Every difference that turns `before` into `after`, ordered by kind, then name, then attribute.
pub fn diff(before: &Schema, after: &Schema) -> Vec<Change> {
    let mut changes = Vec::new();
    diff_map(&before.schemas, &after.schemas, &mut changes);
    diff_map(&before.extensions, &after.extensions, &mut changes);
    diff_map(&before.enums, &after.enums, &mut changes);
    diff_map(&before.domains, &after.domains, &mut changes);
    diff_map(&before.composites, &after.composites, &mut changes);
    diff_map(&before.ranges, &after.ranges, &mut changes);
    diff_map(&before.sequences, &after.sequences, &mut changes);
    diff_map(&before.tables, &after.tables, &mut changes);
    diff_map(&before.columns, &after.columns, &mut changes);
    diff_map(&before.constraints, &after.constraints, &mut changes);
    diff_map(&before.indexes, &after.indexes, &mut changes);
    diff_map(&before.views, &after.views, &mut changes);
    diff_map(&before.functions, &after.functions, &mut changes);
    diff_map(&before.triggers, &after.triggers, &mut changes);
    diff_map(&before.policies, &after.policies, &mut changes);
    changes
}

/// Merge-joins two sorted maps of one object type.
fn diff_map<T: Object + PartialEq>(before: &BTreeMap<String, T>, after: &BTreeMap<String, T>, out: &mut Vec<Change>) {
    let mut left = before.iter().peekable();
    let mut right = after.iter().peekable();
    loop {
        let order = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((a, _)), Some((b, _))) => a.cmp(b),
        };
        match order {
            std::cmp::Ordering::Less => {
                let (name, object) = left.next().expect("peeked");
                out.push(removed(name, object));
            }
            std::cmp::Ordering::Greater => {
                let (name, object) = right.next().expect("peeked");
                out.push(added(name, object));
            }
            std::cmp::Ordering::Equal => {
                let (name, a) = left.next().expect("peeked");
                let (_, b) = right.next().expect("peeked");
                if a != b {
                    altered(name, a, b, out);
                }
            }
        }
    }
}

fn added<T: Object>(name: &str, object: &T) -> Change {
    Change {
        kind: object.kind(),
        name: name.to_string(),
        action: Action::Added,
        attribute: None,
        before: None,
        after: Some(object.summary()),
    }
}

fn removed<T: Object>(name: &str, object: &T) -> Change {
    Change {
        kind: object.kind(),
        name: name.to_string(),
        action: Action::Removed,
        attribute: None,
        before: Some(object.summary()),
        after: None,
    }
}

fn altered<T: Object>(name: &str, a: &T, b: &T, out: &mut Vec<Change>) {
    if a.kind() != b.kind() {
        // A view that became a materialized view (or a function a procedure) is another object.
        out.push(removed(name, a));
        out.push(added(name, b));
        return;
    }
    let differing: Vec<_> = a.attributes().into_iter().zip(b.attributes()).filter(|((_, x), (_, y))| x != y).collect();
    // `definition` restates the other attributes; show it only when it is all that differs.
    let precise = differing.iter().any(|((attr, _), _)| *attr != "definition");
    for ((attribute, before), (_, after)) in differing {
        if precise && attribute == "definition" {
            continue;
        }
        out.push(Change {
            kind: a.kind(),
            name: name.to_string(),
            action: Action::Altered,
            attribute: Some(attribute.to_string()),
            before,
            after,
        });
    }
}

/// True when every value of type `before` fits `after` unchanged (PostgreSQL's printed type
/// names, e.g. `character varying(20)` → `text`).
pub fn is_widening(before: &str, after: &str) -> bool {
    if before == after {
        return true;
    }
    let (base_a, mods_a) = split_type(before);
    let (base_b, mods_b) = split_type(after);
    let integer_rank = |t: &str| match t {
        "smallint" => Some(1),
        "integer" => Some(2),
        "bigint" => Some(3),
        _ => None,
    };
    if let (Some(x), Some(y)) = (integer_rank(base_a), integer_rank(base_b)) {
        return x <= y;
    }
    if let Some(x) = integer_rank(base_a)
        && base_b == "numeric"
    {
        return mods_b.is_empty()
            || mods_b.first().is_some_and(|p| *p - mods_b.get(1).unwrap_or(&0) >= [5, 10, 19][x - 1]);
    }
    let textual = |t: &str| matches!(t, "character varying" | "text" | "character");
    match (base_a, base_b) {
        (a, "text") if textual(a) => true,
        ("character varying", "character varying") => {
            mods_b.is_empty() || (!mods_a.is_empty() && mods_a[0] <= mods_b[0])
        }
        ("character", "character varying") => mods_b.is_empty() || mods_a.first().unwrap_or(&1) <= &mods_b[0],
        ("numeric", "numeric") => {
            mods_b.is_empty()
                || (mods_a.len() == 2
                    && mods_b.len() == 2
                    && mods_a[1] <= mods_b[1]
                    && mods_a[0] - mods_a[1] <= mods_b[0] - mods_b[1])
        }
        ("real", "double precision") => true,
        ("timestamp without time zone", "timestamp with time zone") => false,
        ("bit varying", "bit varying") => mods_b.is_empty() || (!mods_a.is_empty() && mods_a[0] <= mods_b[0]),
        ("json", "jsonb") => false,
        _ => false,
    }
}

/// `numeric(10,2)` → (`numeric`, [10, 2]); array brackets stay in the base name.
fn split_type(t: &str) -> (&str, Vec<i64>) {
    match (t.find('('), t.rfind(')')) {
        (Some(open), Some(close)) if close > open && t[close + 1..].is_empty() => {
            let mods = t[open + 1..close].split(',').filter_map(|m| m.trim().parse().ok()).collect();
            (&t[..open], mods)
        }
        _ => (t, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::{Column, Enum};

    fn column(data_type: &str, not_null: bool) -> Column {
        Column {
            data_type: data_type.into(),
            not_null,
            default: None,
            identity: None,
            generated: None,
            collation: None,
            comment: None,
        }
    }

    #[test]
    fn added_removed_and_altered_in_order() {
        let mut a = Schema::default();
        let mut b = Schema::default();
        a.columns.insert("public.users.name".into(), column("character varying(20)", false));
        a.columns.insert("public.users.old".into(), column("text", false));
        b.columns.insert("public.users.email".into(), column("text", true));
        b.columns.insert("public.users.name".into(), column("character varying(10)", false));
        let changes = diff(&a, &b);
        let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "adds column users.email text NOT NULL",
                "changes column users.name data type: character varying(20) → character varying(10)",
                "drops column users.old",
            ]
        );
        assert_eq!(changes.iter().map(Change::is_destructive).collect::<Vec<_>>(), vec![false, true, true]);
        assert!(diff(&a, &a).is_empty());
        let json = serde_json::to_value(&changes[1]).unwrap();
        assert_eq!(json["kind"], "column");
        assert_eq!(json["action"], "altered");
        assert_eq!(json["attribute"], "data_type");
        assert_eq!(json["after"], "character varying(10)");
    }

    #[test]
    fn enum_label_removal_is_destructive_and_addition_is_not() {
        let mut a = Schema::default();
        a.enums.insert("public.mood".into(), Enum { labels: vec!["sad".into(), "ok".into()], comment: None });
        let mut b = a.clone();
        b.enums.get_mut("public.mood").unwrap().labels.push("happy".into());
        assert!(!diff(&a, &b)[0].is_destructive());
        assert!(diff(&b, &a)[0].is_destructive());
    }

    #[test]
    fn widening_types() {
        for (a, b) in [
            ("integer", "bigint"),
            ("smallint", "integer"),
            ("character varying(10)", "character varying(20)"),
            ("character varying(10)", "text"),
            ("character varying(10)", "character varying"),
            ("numeric(10,2)", "numeric(12,2)"),
            ("numeric(10,2)", "numeric"),
            ("integer", "numeric"),
            ("real", "double precision"),
        ] {
            assert!(is_widening(a, b), "{a} → {b}");
        }
        for (a, b) in [
            ("bigint", "integer"),
            ("text", "character varying(10)"),
            ("character varying(20)", "character varying(10)"),
            ("numeric(10,2)", "numeric(10,1)"),
            ("numeric", "numeric(10,2)"),
            ("text", "integer"),
            ("timestamp without time zone", "timestamp with time zone"),
        ] {
            assert!(!is_widening(a, b), "{a} → {b}");
        }
    }
}
