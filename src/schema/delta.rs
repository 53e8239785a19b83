//! What changed in a schema between two reads: the objects of the owners that changed, as they
//! were and as they are. Incremental snapshots hand these out, so that diffing, patching and
//! comparing states cost in proportion to what changed, not to the schema's size. Pure code.

use super::diff::{Change, diff};
use super::model::Schema;
use std::collections::{BTreeMap, BTreeSet};

/// Calls `$each!(field)` for every object map of [`Schema`].
macro_rules! each_map {
    ($each:ident) => {
        $each!(schemas);
        $each!(extensions);
        $each!(enums);
        $each!(domains);
        $each!(composites);
        $each!(ranges);
        $each!(sequences);
        $each!(tables);
        $each!(columns);
        $each!(constraints);
        $each!(indexes);
        $each!(views);
        $each!(functions);
        $each!(triggers);
        $each!(policies);
    };
}

/// The objects a change may have touched, before and after it. A name on one side only was
/// added or dropped; a name on neither side is untouched. Objects on both sides may be equal
/// (an owner was re-read and nothing of it changed).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Delta {
    pub before: Schema,
    pub after: Schema,
}

impl Delta {
    /// The differences, as [`diff`] of the two states would give them.
    pub fn changes(&self) -> Vec<Change> {
        diff(&self.before, &self.after)
    }

    /// This change followed by `next` (read from the state this one ends in), as one.
    pub fn then(mut self, next: Delta) -> Delta {
        macro_rules! compose {
            ($field:ident) => {
                compose(&mut self.before.$field, &mut self.after.$field, next.before.$field, next.after.$field)
            };
        }
        each_map!(compose);
        self
    }

    /// `schema.table` of every table the change touched: the table itself, or a column,
    /// constraint, index, trigger or policy of it.
    pub fn tables(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for s in [&self.before, &self.after] {
            out.extend(s.tables.keys().cloned());
            for key in s.columns.keys().chain(s.constraints.keys()).chain(s.triggers.keys()).chain(s.policies.keys()) {
                out.insert(key.rsplit_once('.').map_or(key.as_str(), |(table, _)| table).to_string());
            }
            out.extend(s.indexes.values().map(|index| index.table.clone()));
        }
        out
    }

    /// Whether a type (enum, domain, composite or range) was altered: how rows of any table
    /// using it print may have changed (an enum's renamed label). A new type is in no table
    /// yet; dropping or renaming one leaves the rows as they print.
    pub fn alters_types(&self) -> bool {
        fn altered<T: PartialEq>(before: &BTreeMap<String, T>, after: &BTreeMap<String, T>) -> bool {
            before.iter().any(|(name, object)| after.get(name).is_some_and(|now| now != object))
        }
        let (b, a) = (&self.before, &self.after);
        altered(&b.enums, &a.enums)
            || altered(&b.domains, &a.domains)
            || altered(&b.composites, &a.composites)
            || altered(&b.ranges, &a.ranges)
    }

    /// Applies `f` to both states (e.g. to mask values that differ from run to run).
    pub fn for_both(&mut self, mut f: impl FnMut(&mut Schema)) {
        f(&mut self.before);
        f(&mut self.after);
    }
}

impl Schema {
    /// Brings this schema, the state before `delta`, to the state after it.
    pub fn apply(&mut self, delta: &Delta) {
        macro_rules! patch {
            ($field:ident) => {
                patch(&mut self.$field, &delta.before.$field, &delta.after.$field)
            };
        }
        each_map!(patch);
    }
}

/// One map of [`Delta::then`]: a name keeps its first `before` and its last `after`.
fn compose<T>(
    before: &mut BTreeMap<String, T>,
    after: &mut BTreeMap<String, T>,
    next_before: BTreeMap<String, T>,
    next_after: BTreeMap<String, T>,
) {
    for (name, object) in next_before {
        if !next_after.contains_key(&name) {
            // Dropped by the second change.
            if after.remove(&name).is_some() || before.contains_key(&name) {
                continue;
            }
        } else if after.contains_key(&name) || before.contains_key(&name) {
            continue;
        }
        // First touched by the second change: its state before both is its state before that.
        before.insert(name, object);
    }
    after.extend(next_after);
}

/// One map of [`Schema::apply`].
fn patch<T: Clone>(map: &mut BTreeMap<String, T>, before: &BTreeMap<String, T>, after: &BTreeMap<String, T>) {
    for name in before.keys().filter(|name| !after.contains_key(*name)) {
        map.remove(name);
    }
    for (name, object) in after {
        map.insert(name.clone(), object.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::Column;

    fn column(data_type: &str) -> Column {
        Column {
            data_type: data_type.into(),
            not_null: false,
            default: None,
            identity: None,
            generated: None,
            collation: None,
            comment: None,
        }
    }

    fn schema(columns: &[(&str, &str)]) -> Schema {
        let mut s = Schema::default();
        for (name, data_type) in columns {
            s.columns.insert(format!("public.t.{name}"), column(data_type));
        }
        s
    }

    /// The delta from `a` to `b` restricted to the names either differs in, plus `also`.
    fn delta(a: &Schema, b: &Schema, also: &[&str]) -> Delta {
        let names: BTreeSet<&String> = a.columns.keys().chain(b.columns.keys()).collect();
        let mut d = Delta::default();
        for name in names {
            let (x, y) = (a.columns.get(name), b.columns.get(name));
            if x != y || also.iter().any(|n| name.ends_with(n)) {
                x.map(|c| d.before.columns.insert(name.clone(), c.clone()));
                y.map(|c| d.after.columns.insert(name.clone(), c.clone()));
            }
        }
        d
    }

    #[test]
    fn composed_deltas_give_the_diff_of_their_ends_and_apply_patches() {
        let s0 = schema(&[("a", "int"), ("b", "text"), ("keep", "int")]);
        let s1 = schema(&[("a", "bigint"), ("c", "int"), ("keep", "int")]);
        let s2 = schema(&[("b", "text"), ("c", "uuid"), ("d", "int"), ("keep", "int")]);
        let s3 = schema(&[("a", "int"), ("b", "text"), ("keep", "int")]);
        let (d1, d2, d3) = (delta(&s0, &s1, &["keep"]), delta(&s1, &s2, &[]), delta(&s2, &s3, &["keep"]));
        let mut patched = s0.clone();
        for d in [&d1, &d2, &d3] {
            patched.apply(d);
        }
        assert_eq!(patched, s3);
        assert_eq!(d1.clone().then(d2.clone()).changes(), diff(&s0, &s2));
        assert_eq!(d2.clone().then(d3.clone()).changes(), diff(&s1, &s3));
        let all = d1.then(d2).then(d3);
        assert!(all.changes().is_empty(), "{:?}", all.changes());
        assert!(!all.alters_types());
        assert_eq!(all.tables(), BTreeSet::from(["public.t".to_string()]));
    }
}
