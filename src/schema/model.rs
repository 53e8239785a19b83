//! The schema model: every object introspection reads, keyed by qualified name in sorted maps so
//! that two schemas compare and serialize deterministically. Plain data; knows no SQL.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A database schema as read from the catalogs. Keys are qualified names: `schema.object` for
/// schema-level objects, `schema.table.name` for columns, constraints, triggers and policies,
/// `schema.function(identity arguments)` for routines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    pub schemas: BTreeMap<String, Namespace>,
    pub extensions: BTreeMap<String, Extension>,
    pub enums: BTreeMap<String, Enum>,
    pub domains: BTreeMap<String, Domain>,
    pub composites: BTreeMap<String, Composite>,
    pub ranges: BTreeMap<String, Range>,
    pub sequences: BTreeMap<String, Sequence>,
    pub tables: BTreeMap<String, Table>,
    pub columns: BTreeMap<String, Column>,
    pub constraints: BTreeMap<String, Constraint>,
    pub indexes: BTreeMap<String, Index>,
    pub views: BTreeMap<String, View>,
    pub functions: BTreeMap<String, Function>,
    pub triggers: BTreeMap<String, Trigger>,
    pub policies: BTreeMap<String, Policy>,
}

impl Schema {
    /// Number of objects of every kind.
    pub fn len(&self) -> usize {
        self.schemas.len()
            + self.extensions.len()
            + self.enums.len()
            + self.domains.len()
            + self.composites.len()
            + self.ranges.len()
            + self.sequences.len()
            + self.tables.len()
            + self.columns.len()
            + self.constraints.len()
            + self.indexes.len()
            + self.views.len()
            + self.functions.len()
            + self.triggers.len()
            + self.policies.len()
    }

    /// True when the schema holds no object at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What sort of object a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Schema,
    Extension,
    Enum,
    Domain,
    Composite,
    Range,
    Sequence,
    Table,
    Column,
    Constraint,
    Index,
    View,
    MaterializedView,
    Function,
    Procedure,
    Aggregate,
    Trigger,
    Policy,
}

impl Kind {
    /// The name used in messages, e.g. `materialized view`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Schema => "schema",
            Kind::Extension => "extension",
            Kind::Enum => "enum",
            Kind::Domain => "domain",
            Kind::Composite => "composite type",
            Kind::Range => "range type",
            Kind::Sequence => "sequence",
            Kind::Table => "table",
            Kind::Column => "column",
            Kind::Constraint => "constraint",
            Kind::Index => "index",
            Kind::View => "view",
            Kind::MaterializedView => "materialized view",
            Kind::Function => "function",
            Kind::Procedure => "procedure",
            Kind::Aggregate => "aggregate",
            Kind::Trigger => "trigger",
            Kind::Policy => "policy",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An object the diff can compare attribute by attribute.
pub trait Object {
    /// The object's kind (a view struct may be a materialized view, a function a procedure).
    fn kind(&self) -> Kind;
    /// Named attribute values in a fixed order; `None` means unset. An attribute called
    /// `definition` sums up the others and is only reported when nothing more precise differs.
    fn attributes(&self) -> Vec<(&'static str, Option<String>)>;
    /// A short description for "adds ..." lines, e.g. `text NOT NULL`; may be empty.
    fn summary(&self) -> String {
        String::new()
    }
}

/// Renders attribute values as text for changes.
trait AttrValue {
    fn attr(&self) -> Option<String>;
}

impl AttrValue for String {
    fn attr(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl AttrValue for Option<String> {
    fn attr(&self) -> Option<String> {
        self.clone()
    }
}

impl AttrValue for bool {
    fn attr(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl AttrValue for i64 {
    fn attr(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl AttrValue for Vec<String> {
    fn attr(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.join(", "))
    }
}

/// `attributes()` from a list of fields.
macro_rules! attributes {
    ($self:ident: $($field:ident),* $(,)?) => {
        vec![$((stringify!($field), AttrValue::attr(&$self.$field))),*]
    };
}

/// A schema (namespace).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespace {
    pub comment: Option<String>,
}

impl Object for Namespace {
    fn kind(&self) -> Kind {
        Kind::Schema
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: comment)
    }
}

/// An installed extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub schema: String,
    pub version: String,
}

impl Object for Extension {
    fn kind(&self) -> Kind {
        Kind::Extension
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: schema, version)
    }
    fn summary(&self) -> String {
        format!("{} in schema {}", self.version, self.schema)
    }
}

/// An enum type and its labels in sort order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enum {
    pub labels: Vec<String>,
    pub comment: Option<String>,
}

impl Object for Enum {
    fn kind(&self) -> Kind {
        Kind::Enum
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: labels, comment)
    }
    fn summary(&self) -> String {
        format!("({})", self.labels.iter().map(|l| format!("'{l}'")).collect::<Vec<_>>().join(", "))
    }
}

/// A domain over a base type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    pub base_type: String,
    pub not_null: bool,
    pub default: Option<String>,
    pub collation: Option<String>,
    /// `name definition`, sorted by name.
    pub constraints: Vec<String>,
    pub comment: Option<String>,
}

impl Object for Domain {
    fn kind(&self) -> Kind {
        Kind::Domain
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: base_type, not_null, default, collation, constraints, comment)
    }
    fn summary(&self) -> String {
        self.base_type.clone()
    }
}

/// A composite type (`CREATE TYPE ... AS (...)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Composite {
    /// `name type`, in attribute order.
    pub attributes: Vec<String>,
    pub comment: Option<String>,
}

impl Object for Composite {
    fn kind(&self) -> Kind {
        Kind::Composite
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: attributes, comment)
    }
    fn summary(&self) -> String {
        format!("({})", self.attributes.join(", "))
    }
}

/// A range type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub subtype: Option<String>,
    pub comment: Option<String>,
}

impl Object for Range {
    fn kind(&self) -> Kind {
        Kind::Range
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: subtype, comment)
    }
}

/// A sequence, including those behind serial and identity columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    pub data_type: String,
    pub start: i64,
    pub increment: i64,
    pub min_value: i64,
    pub max_value: i64,
    pub cache: i64,
    pub cycle: bool,
    /// `permanent` or `unlogged`.
    pub persistence: String,
    /// `schema.table.column` of the owning column.
    pub owned_by: Option<String>,
    pub comment: Option<String>,
}

impl Object for Sequence {
    fn kind(&self) -> Kind {
        Kind::Sequence
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: data_type, start, increment, min_value, max_value, cache, cycle, persistence, owned_by, comment)
    }
    fn summary(&self) -> String {
        self.data_type.clone()
    }
}

/// A table (ordinary or partitioned); its columns, constraints and indexes are kept apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// `permanent`, `unlogged` or `temporary`.
    pub persistence: String,
    /// `PARTITION BY` clause of a partitioned table.
    pub partition_by: Option<String>,
    /// Bound of a partition, e.g. `FOR VALUES FROM (1) TO (10)`.
    pub partition_bound: Option<String>,
    /// Parents (inheritance or the partitioned table), in order.
    pub inherits: Vec<String>,
    pub row_security: bool,
    pub force_row_security: bool,
    /// Storage parameters, e.g. `fillfactor=70`.
    pub options: Vec<String>,
    /// `default`, `nothing`, `full` or `index`.
    pub replica_identity: String,
    pub comment: Option<String>,
}

impl Object for Table {
    fn kind(&self) -> Kind {
        Kind::Table
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: persistence, partition_by, partition_bound, inherits, row_security, force_row_security, options, replica_identity, comment)
    }
}

/// A table column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Type with modifiers as PostgreSQL prints it, e.g. `character varying(20)`.
    pub data_type: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// `always` or `by default` for identity columns.
    pub identity: Option<String>,
    /// Expression of a stored generated column.
    pub generated: Option<String>,
    /// Collation when it is not the type's default.
    pub collation: Option<String>,
    pub comment: Option<String>,
}

impl Object for Column {
    fn kind(&self) -> Kind {
        Kind::Column
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: data_type, not_null, default, identity, generated, collation, comment)
    }
    fn summary(&self) -> String {
        let mut text = self.data_type.clone();
        if let Some(collation) = &self.collation {
            text.push_str(&format!(" COLLATE {collation}"));
        }
        if let Some(identity) = &self.identity {
            text.push_str(&format!(" GENERATED {} AS IDENTITY", identity.to_uppercase()));
        }
        if let Some(generated) = &self.generated {
            text.push_str(&format!(" GENERATED ALWAYS AS ({generated}) STORED"));
        }
        if self.not_null {
            text.push_str(" NOT NULL");
        }
        if let Some(default) = &self.default {
            text.push_str(&format!(" DEFAULT {default}"));
        }
        text
    }
}

/// A table constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    /// `primary key`, `unique`, `foreign key`, `check`, `exclusion` or `trigger`.
    pub constraint_type: String,
    /// As `pg_get_constraintdef` prints it, with match, actions, deferrability and NOT VALID.
    pub definition: String,
    pub comment: Option<String>,
}

impl Object for Constraint {
    fn kind(&self) -> Kind {
        Kind::Constraint
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: constraint_type, definition, comment)
    }
    fn summary(&self) -> String {
        self.definition.clone()
    }
}

/// The table (`schema.name`) a `CREATE INDEX ... ON [ONLY] table ...` definition names, a
/// name without a schema taken to be in `public`.
pub fn indexed_table(definition: &str) -> Option<String> {
    let on = definition.split(" ON ").nth(1)?;
    let table = on.strip_prefix("ONLY ").unwrap_or(on).split_whitespace().next()?.replace('"', "");
    Some(if table.contains('.') { table } else { format!("public.{table}") })
}

/// An index that does not implement a constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// The indexed table or materialized view (`schema.name`).
    pub table: String,
    pub method: String,
    pub unique: bool,
    pub nulls_not_distinct: bool,
    /// Key columns or expressions.
    pub columns: Vec<String>,
    /// `INCLUDE` columns.
    pub include: Vec<String>,
    pub predicate: Option<String>,
    /// The whole `CREATE INDEX` statement (operator classes, ordering, options).
    pub definition: String,
    pub comment: Option<String>,
}

impl Object for Index {
    fn kind(&self) -> Kind {
        Kind::Index
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: table, method, unique, nulls_not_distinct, columns, include, predicate, definition, comment)
    }
    fn summary(&self) -> String {
        self.definition.clone()
    }
}

/// A view or materialized view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub materialized: bool,
    /// The query as PostgreSQL normalizes it.
    pub definition: String,
    /// Options such as `security_barrier=true` or `check_option=local`.
    pub options: Vec<String>,
    pub comment: Option<String>,
}

impl Object for View {
    fn kind(&self) -> Kind {
        if self.materialized { Kind::MaterializedView } else { Kind::View }
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: options, definition, comment)
    }
}

/// A function, procedure or aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    /// `function`, `procedure`, `aggregate` or `window`.
    pub routine_kind: String,
    pub returns: Option<String>,
    pub language: String,
    /// `immutable`, `stable` or `volatile`.
    pub volatility: String,
    pub strict: bool,
    pub security_definer: bool,
    /// `CREATE OR REPLACE ...` as `pg_get_functiondef` prints it (none for aggregates).
    pub definition: Option<String>,
    pub comment: Option<String>,
}

impl Object for Function {
    fn kind(&self) -> Kind {
        match self.routine_kind.as_str() {
            "procedure" => Kind::Procedure,
            "aggregate" => Kind::Aggregate,
            _ => Kind::Function,
        }
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: routine_kind, returns, language, volatility, strict, security_definer, definition, comment)
    }
    fn summary(&self) -> String {
        match &self.returns {
            Some(returns) if !returns.is_empty() => format!("returning {returns} in {}", self.language),
            _ => format!("in {}", self.language),
        }
    }
}

/// A trigger on a table or view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    /// `CREATE TRIGGER ...` as `pg_get_triggerdef` prints it.
    pub definition: String,
    /// `origin`, `disabled`, `replica` or `always` (`ALTER TABLE ... ENABLE/DISABLE TRIGGER`).
    pub enabled: String,
    pub comment: Option<String>,
}

impl Object for Trigger {
    fn kind(&self) -> Kind {
        Kind::Trigger
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: enabled, definition, comment)
    }
    fn summary(&self) -> String {
        self.definition.clone()
    }
}

/// A row-level security policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// `all`, `select`, `insert`, `update` or `delete`.
    pub command: String,
    pub permissive: bool,
    pub roles: Vec<String>,
    pub using: Option<String>,
    pub with_check: Option<String>,
}

impl Object for Policy {
    fn kind(&self) -> Kind {
        Kind::Policy
    }
    fn attributes(&self) -> Vec<(&'static str, Option<String>)> {
        attributes!(self: command, permissive, roles, using, with_check)
    }
    fn summary(&self) -> String {
        format!("for {}", self.command)
    }
}
