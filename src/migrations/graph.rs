//! The revision graph of a chain (a petgraph DAG, parent → child) and the checks on its
//! shape that need no database: heads, branch points, missing parents, cycles, duplicates,
//! empty or missing downgrades. Also the apply order of graph formats, the summary the report
//! shows (with a Mermaid diagram) and the `graph` command's history text. Pure code.

use super::{Apply, Migration, Version};
use crate::findings::Finding;
use crate::rules::{self, StageRule};
use petgraph::Direction::{Incoming, Outgoing};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Dfs, EdgeFiltered, EdgeRef};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write;

/// Why one revision must come after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Edge {
    /// `down_revision` (or the previous version of a linear format): history.
    Parent,
    /// `depends_on`: order only.
    Dependency,
}

/// The graph of a chain; node weights index into the migrations it was built from.
struct Graph<'a> {
    migrations: &'a [Migration],
    dag: DiGraph<usize, Edge>,
    /// First migration of each id and each branch label.
    by_name: HashMap<&'a str, NodeIndex>,
    /// (migration, name it refers to, dependency?) for names that resolve to nothing.
    missing: Vec<(usize, &'a str, Edge)>,
}

impl<'a> Graph<'a> {
    fn new(migrations: &'a [Migration]) -> Graph<'a> {
        let mut dag = DiGraph::with_capacity(migrations.len(), migrations.len());
        let mut by_name: HashMap<&str, NodeIndex> = HashMap::with_capacity(migrations.len());
        let nodes: Vec<NodeIndex> = (0..migrations.len()).map(|i| dag.add_node(i)).collect();
        for (i, m) in migrations.iter().enumerate() {
            by_name.entry(m.id.as_str()).or_insert(nodes[i]);
        }
        for (i, m) in migrations.iter().enumerate() {
            if let Apply::Alembic(rev) = &m.apply {
                for label in &rev.branch_labels {
                    by_name.entry(label.as_str()).or_insert(nodes[i]);
                }
            }
        }
        let mut missing = Vec::new();
        for (i, m) in migrations.iter().enumerate() {
            // A second file with a taken id is reported as a duplicate, not graphed.
            if by_name.get(m.id.as_str()) != Some(&nodes[i]) {
                continue;
            }
            let dependencies = match &m.apply {
                Apply::Alembic(rev) => rev.depends_on.as_slice(),
                Apply::Sql | Apply::Opaque(_) => &[],
            };
            let named =
                m.parents.iter().map(|p| (p, Edge::Parent)).chain(dependencies.iter().map(|d| (d, Edge::Dependency)));
            for (name, edge) in named {
                match by_name.get(name.as_str()) {
                    Some(&parent) => {
                        dag.add_edge(parent, nodes[i], edge);
                    }
                    None => missing.push((i, name.as_str(), edge)),
                }
            }
        }
        Graph { migrations, dag, by_name, missing }
    }

    fn migration(&self, node: NodeIndex) -> &'a Migration {
        &self.migrations[self.dag[node]]
    }

    fn children(&self, node: NodeIndex) -> Vec<NodeIndex> {
        let mut out: Vec<NodeIndex> = self
            .dag
            .edges_directed(node, Outgoing)
            .filter(|e| *e.weight() == Edge::Parent)
            .map(|e| e.target())
            .collect();
        out.sort_by_key(|n| self.dag[*n]);
        out.dedup();
        out
    }

    fn parents(&self, node: NodeIndex) -> Vec<NodeIndex> {
        let mut out: Vec<NodeIndex> = self
            .dag
            .edges_directed(node, Incoming)
            .filter(|e| *e.weight() == Edge::Parent)
            .map(|e| e.source())
            .collect();
        out.sort_by_key(|n| self.dag[*n]);
        out.dedup();
        out
    }

    /// Nodes that are the first of their id (later duplicates are reported, not graphed).
    fn primary(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.dag.node_indices().filter(|&n| self.by_name.get(self.migration(n).id.as_str()) == Some(&n))
    }

    fn heads(&self) -> Vec<NodeIndex> {
        self.primary().filter(|&n| self.children(n).is_empty()).collect()
    }

    fn roots(&self) -> Vec<NodeIndex> {
        self.primary().filter(|&n| self.migration(n).parents.is_empty()).collect()
    }

    /// Parents with two or more children whose lines of history never meet again.
    fn open_branch_points(&self) -> Vec<(NodeIndex, Vec<NodeIndex>)> {
        let history = EdgeFiltered::from_fn(&self.dag, |e| *e.weight() == Edge::Parent);
        let mut out = Vec::new();
        for node in self.primary() {
            let children = self.children(node);
            if children.len() < 2 {
                continue;
            }
            // Deliberate branches: each new line of history carries its own label.
            if children.iter().skip(1).all(|&c| has_labels(self.migration(c))) {
                continue;
            }
            let mut common: Option<HashSet<NodeIndex>> = None;
            for &child in &children {
                let mut reached = HashSet::new();
                let mut dfs = Dfs::new(&history, child);
                while let Some(n) = dfs.next(&history) {
                    reached.insert(n);
                }
                common = Some(match common {
                    None => reached,
                    Some(c) => c.intersection(&reached).copied().collect(),
                });
            }
            if common.is_none_or(|c| c.is_empty()) {
                out.push((node, children));
            }
        }
        out
    }

    fn merges(&self) -> Vec<NodeIndex> {
        self.primary().filter(|&n| self.parents(n).len() > 1).collect()
    }
}

fn has_labels(m: &Migration) -> bool {
    matches!(&m.apply, Apply::Alembic(rev) if !rev.branch_labels.is_empty())
}

/// The file and line where a migration declares itself.
fn declared_at(m: &Migration) -> (String, u32) {
    match &m.apply {
        Apply::Alembic(rev) => (super::display_path(&rev.file), rev.revision_line),
        Apply::Sql | Apply::Opaque(_) => (m.up.display_path(), m.up.first_line),
    }
}

/// The file and line where a migration names its parents (or dependencies).
fn parents_at(m: &Migration, edge: Edge) -> (String, u32) {
    match (&m.apply, edge) {
        (Apply::Alembic(rev), Edge::Parent) => (super::display_path(&rev.file), rev.down_revision_line),
        (Apply::Alembic(rev), Edge::Dependency) => (super::display_path(&rev.file), rev.depends_on_line),
        (Apply::Sql | Apply::Opaque(_), _) => declared_at(m),
    }
}

fn is_alembic(migrations: &[Migration]) -> bool {
    migrations.iter().any(|m| matches!(m.apply, Apply::Alembic(_)))
}

/// Finds problems in the chain's structure.
pub fn check(migrations: &[Migration]) -> Vec<Finding> {
    let graph = Graph::new(migrations);
    let alembic = is_alembic(migrations);
    let mut findings = duplicates(migrations);
    let finding = |rule: &StageRule, message: String, m: &Migration, (file, line): (String, u32)| {
        Finding::of(rule, message).in_migration(&m.id).at(file, Some(line))
    };

    for &(i, name, edge) in &graph.missing {
        let m = &migrations[i];
        let (what, variable) = match (edge, alembic) {
            (Edge::Parent, true) => ("parent", "down_revision"),
            (Edge::Parent, false) => ("parent", "parent"),
            (Edge::Dependency, _) => ("dependency", "depends_on"),
        };
        findings.push(
            finding(
                &rules::MISSING_PARENT,
                format!("{} names {what} {name:?} in {variable}, but no revision has that id or branch label", m.id),
                m,
                parents_at(m, edge),
            )
            .with_help("point it at an existing revision (the current head, if this one is new) or restore the missing revision file"),
        );
    }

    let mut in_cycle = HashSet::new();
    for component in petgraph::algo::tarjan_scc(&graph.dag) {
        let looped = component.len() > 1 || graph.dag.contains_edge(component[0], component[0]);
        if !looped {
            continue;
        }
        let mut members: Vec<NodeIndex> = component.clone();
        members.sort_by_key(|n| graph.dag[*n]);
        in_cycle.extend(members.iter().copied());
        let ids: Vec<&str> = members.iter().map(|&n| graph.migration(n).id.as_str()).collect();
        let first = graph.migration(members[0]);
        findings.push(
            finding(
                &rules::CYCLE,
                format!(
                    "revisions {} form a cycle through down_revision/depends_on, so no order can apply them",
                    ids.join(", ")
                ),
                first,
                parents_at(first, Edge::Parent),
            )
            .with_help("one of them must revise an older revision; fix its down_revision"),
        );
    }

    for (parent, children) in graph.open_branch_points() {
        let p = graph.migration(parent);
        let kids: Vec<&Migration> = children.iter().map(|&c| graph.migration(c)).collect();
        let ids: Vec<&str> = kids.iter().map(|k| k.id.as_str()).collect();
        let last = kids.last().expect("a branch point has children");
        let help = if alembic {
            format!(
                "merge the branches with `alembic merge -m \"merge heads\" {}`, or point {}'s down_revision at the newest of the others",
                ids.join(" "),
                last.id
            )
        } else {
            format!("renumber {} so it comes after the newest migration", last.id)
        };
        findings.push(
            finding(
                &rules::BRANCH_POINT,
                format!(
                    "{} revisions share the parent {}: {}; no merge revision joins them again",
                    kids.len(),
                    p.id,
                    ids.join(", ")
                ),
                last,
                parents_at(last, Edge::Parent),
            )
            .with_help(help),
        );
    }

    let heads: Vec<NodeIndex> = graph.heads().into_iter().filter(|n| !in_cycle.contains(n)).collect();
    // With a parent missing the history is incomplete: the orphan is not a real head.
    if heads.len() > 1 && graph.missing.is_empty() && !labelled_heads(&graph, &heads) {
        let listed: Vec<String> = heads
            .iter()
            .map(|&h| format!("{} ({})", graph.migration(h).id, declared_at(graph.migration(h)).0))
            .collect();
        let ids: Vec<&str> = heads.iter().map(|&h| graph.migration(h).id.as_str()).collect();
        let newest = graph.migration(*heads.iter().max_by_key(|n| graph.dag[**n]).expect("two heads"));
        let help = if alembic {
            format!("create a merge revision: `alembic merge -m \"merge heads\" {}`", ids.join(" "))
        } else {
            "renumber the newer migration so the versions form one line".to_string()
        };
        findings.push(
            finding(
                &rules::MULTIPLE_HEADS,
                format!(
                    "the history has {} heads: {}; `alembic upgrade head` refuses to run with more than one",
                    heads.len(),
                    listed.join(", ")
                ),
                newest,
                declared_at(newest),
            )
            .with_help(help),
        );
    }

    findings.extend(bodies(migrations));
    findings
}

/// Heads that each sit on their own labelled branch are intended (`alembic upgrade heads`).
fn labelled_heads(graph: &Graph, heads: &[NodeIndex]) -> bool {
    let history = EdgeFiltered::from_fn(&graph.dag, |e| *e.weight() == Edge::Parent);
    let reversed = petgraph::visit::Reversed(&history);
    let mut labels = HashSet::new();
    for &head in heads {
        let mut dfs = Dfs::new(reversed, head);
        let mut label = None;
        while let Some(n) = dfs.next(reversed) {
            if let Apply::Alembic(rev) = &graph.migration(n).apply
                && let Some(l) = rev.branch_labels.first()
            {
                label = Some(l.clone());
                break;
            }
        }
        if !label.is_some_and(|l| labels.insert(l)) {
            return false;
        }
    }
    true
}

fn duplicates(migrations: &[Migration]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut first_version: HashMap<&Version, &Migration> = HashMap::new();
    let mut first_id: HashMap<&str, &Migration> = HashMap::new();
    for m in migrations {
        if let Apply::Alembic(rev) = &m.apply {
            if let Some(first) = first_id.get(m.id.as_str()) {
                findings.push(
                    Finding::of(
                        &rules::DUPLICATE_REVISION,
                        format!(
                            "revision id {} is declared twice: by {} and {}; Alembic refuses to load the history",
                            m.id,
                            declared_at(first).0,
                            super::display_path(&rev.file)
                        ),
                    )
                    .in_migration(&m.id)
                    .at(super::display_path(&rev.file), Some(rev.revision_line))
                    .with_help("give the newer file a fresh id (e.g. `alembic revision` generates one) and fix what revises it"),
                );
            } else {
                first_id.insert(m.id.as_str(), m);
            }
            continue;
        }
        let Some(version) = &m.version else { continue };
        // Equal versions may be spelled differently (`001` and `1`); `Version` compares numerically.
        if let Some(first) = first_version.get(version) {
            findings.push(
                Finding::of(
                    &rules::DUPLICATE_VERSION,
                    format!(
                        "version {} is used twice: by {} and {}; the migration tool refuses to run (or silently skips one)",
                        version,
                        first.up.display_path(),
                        m.up.display_path()
                    ),
                )
                .in_migration(&m.id)
                .at(m.up.display_path(), Some(1))
                .with_help(
                    "give one of them a new version after the newest migration; a folder of another runner, whose files may share a number, is not one Migration Guard reads (it reads sqlx, golang-migrate, goose, sql-migrate, dbmate, diesel, Flyway and Alembic chains; --format names which)",
                ),
            );
        } else {
            first_version.insert(version, m);
        }
    }
    findings
}

/// What to do about a migration without a down: the round trip proves a down once there is one.
const ONE_WAY_HELP: &str = "if it can be undone, write the down and the round trip proves it; if it cannot, nothing to do (raising in the down makes a rollback stop loudly instead of doing nothing)";

/// `empty-upgrade`, `empty-downgrade` and `missing-downgrade`.
fn bodies(migrations: &[Migration]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let uses_downs = migrations.iter().any(|m| m.down.is_some());
    for m in migrations {
        let mut push = |rule: &StageRule, message: String, file: String, line: u32, help: &str| {
            findings.push(Finding::of(rule, message).in_migration(&m.id).at(file, Some(line)).with_help(help));
        };
        match &m.apply {
            Apply::Alembic(rev) => {
                let file = super::display_path(&rev.file);
                // A merge revision is empty by design.
                let merge = m.parents.len() > 1;
                match &rev.upgrade {
                    Some(f) if f.empty && !merge => push(
                        &rules::EMPTY_UPGRADE,
                        format!("upgrade() of {} does nothing (only pass, a docstring or comments)", m.id),
                        file.clone(),
                        f.line,
                        "write the schema change, or delete the revision if it is not needed",
                    ),
                    None => push(
                        &rules::EMPTY_UPGRADE,
                        format!("{} has no upgrade() function; Alembic fails when it reaches it", m.id),
                        file.clone(),
                        rev.revision_line,
                        "add `def upgrade():` with the schema change",
                    ),
                    _ => {}
                }
                match &rev.downgrade {
                    Some(f) if f.empty && !merge => push(
                        &rules::EMPTY_DOWNGRADE,
                        format!(
                            "downgrade() of {} does nothing: not reversible by design, so its round trip is skipped (rolling back leaves its changes in place)",
                            m.id
                        ),
                        file,
                        f.line,
                        ONE_WAY_HELP,
                    ),
                    None => push(
                        &rules::MISSING_DOWNGRADE,
                        format!(
                            "{} has no downgrade() function: not reversible by design, so its round trip is skipped",
                            m.id
                        ),
                        file,
                        rev.revision_line,
                        ONE_WAY_HELP,
                    ),
                    _ => {}
                }
            }
            Apply::Opaque(reason) => push(
                &rules::NOT_RUN,
                reason.clone(),
                m.up.display_path(),
                m.up.first_line,
                "check its effect on the schema by hand, or write it in SQL; the migrations after it were applied without it",
            ),
            Apply::Sql => {
                if m.up.is_empty() {
                    push(
                        &rules::EMPTY_UPGRADE,
                        format!("migration {} has no SQL statement to apply", m.id),
                        m.up.display_path(),
                        m.up.first_line,
                        "write the schema change, or delete the migration if it is not needed",
                    );
                }
                match &m.down {
                    Some(down) if down.is_empty() => push(
                        &rules::EMPTY_DOWNGRADE,
                        format!(
                            "the down migration of {} has no SQL statement: not reversible by design, so its round trip is skipped (rolling back does nothing)",
                            m.id
                        ),
                        down.display_path(),
                        down.first_line,
                        ONE_WAY_HELP,
                    ),
                    None if uses_downs && m.version.is_some() => push(
                        &rules::MISSING_DOWNGRADE,
                        format!(
                            "migration {} has no down migration, unlike others in this chain: not reversible by design, so its round trip is skipped",
                            m.id
                        ),
                        m.up.display_path(),
                        m.up.first_line,
                        ONE_WAY_HELP,
                    ),
                    _ => {}
                }
            }
        }
    }
    findings
}

/// Orders migrations so that every parent and dependency comes before its children; ties
/// keep the given order. Revisions in a cycle (reported by [`check`]) go last.
pub fn apply_order(migrations: Vec<Migration>) -> Vec<Migration> {
    let order: Vec<usize> = {
        let graph = Graph::new(&migrations);
        let mut indegree: Vec<usize> =
            graph.dag.node_indices().map(|n| graph.dag.edges_directed(n, Incoming).count()).collect();
        // Lowest original index first among the ready ones.
        let mut ready: BTreeSet<usize> = (0..migrations.len()).filter(|&i| indegree[i] == 0).collect();
        let mut order = Vec::with_capacity(migrations.len());
        while let Some(i) = ready.pop_first() {
            order.push(i);
            for edge in graph.dag.edges_directed(NodeIndex::new(i), Outgoing) {
                let t = edge.target().index();
                indegree[t] -= 1;
                if indegree[t] == 0 {
                    ready.insert(t);
                }
            }
        }
        let placed: HashSet<usize> = order.iter().copied().collect();
        order.extend((0..migrations.len()).filter(|i| !placed.contains(i)));
        order
    };
    let mut slots: Vec<Option<Migration>> = migrations.into_iter().map(Some).collect();
    order.into_iter().map(|i| slots[i].take().expect("each index once")).collect()
}

/// The shape of the history, for reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Revisions nothing revises yet.
    pub heads: Vec<String>,
    /// Revisions without a parent.
    pub roots: Vec<String>,
    /// Revisions with two or more children that no merge joins again.
    pub branch_points: Vec<String>,
    /// Revisions with two or more parents.
    pub merges: Vec<String>,
    /// A Mermaid flowchart of the history; straight runs are folded into one box.
    pub mermaid: String,
}

/// Heads, roots, branch points, merges and the Mermaid diagram of a chain.
pub fn summary(migrations: &[Migration]) -> Summary {
    let graph = Graph::new(migrations);
    let ids = |nodes: Vec<NodeIndex>| nodes.into_iter().map(|n| graph.migration(n).id.clone()).collect::<Vec<_>>();
    let open: Vec<NodeIndex> = graph.open_branch_points().into_iter().map(|(n, _)| n).collect();
    Summary {
        heads: ids(graph.heads()),
        roots: ids(graph.roots()),
        branch_points: ids(open.clone()),
        merges: ids(graph.merges()),
        mermaid: mermaid(&graph, &open),
    }
}

fn mermaid(graph: &Graph, open: &[NodeIndex]) -> String {
    let heads: HashSet<NodeIndex> = graph.heads().into_iter().collect();
    let merges: HashSet<NodeIndex> = graph.merges().into_iter().collect();
    let open: HashSet<NodeIndex> = open.iter().copied().collect();
    let has_deps = |n: NodeIndex| {
        graph
            .dag
            .edges_directed(n, Incoming)
            .chain(graph.dag.edges_directed(n, Outgoing))
            .any(|e| *e.weight() == Edge::Dependency)
    };
    // A plain revision has one parent and one child in a straight line: folded into a run.
    let plain = |n: NodeIndex| {
        graph.parents(n).len() == 1
            && graph.children(n).len() == 1
            && graph.children(graph.parents(n)[0]).len() == 1
            && graph.parents(graph.children(n)[0]).len() == 1
            && !has_deps(n)
    };
    let nodes: Vec<NodeIndex> = graph.primary().collect();
    let mut box_of: HashMap<NodeIndex, usize> = HashMap::new();
    let mut boxes: Vec<Vec<NodeIndex>> = Vec::new();
    for &n in &nodes {
        if box_of.contains_key(&n) {
            continue;
        }
        if !plain(n) {
            box_of.insert(n, boxes.len());
            boxes.push(vec![n]);
            continue;
        }
        // Start a run only at its first plain node; other plain nodes are reached from there.
        if plain(graph.parents(n)[0]) && !box_of.contains_key(&graph.parents(n)[0]) {
            continue;
        }
        let mut run = vec![n];
        let mut at = n;
        while let Some(&next) = graph.children(at).first() {
            if !plain(next) || box_of.contains_key(&next) || run.contains(&next) {
                break;
            }
            run.push(next);
            at = next;
        }
        for &r in &run {
            box_of.insert(r, boxes.len());
        }
        boxes.push(run);
    }
    // Plain revisions only reachable around a cycle.
    for &n in &nodes {
        if let std::collections::hash_map::Entry::Vacant(slot) = box_of.entry(n) {
            slot.insert(boxes.len());
            boxes.push(vec![n]);
        }
    }
    let mut out = String::from("flowchart BT\n");
    for (b, members) in boxes.iter().enumerate() {
        let first = graph.migration(members[0]);
        let label = if members.len() == 1 {
            let name: String = first.name.chars().take(48).collect();
            if name.is_empty() { first.id.clone() } else { format!("{}: {name}", first.id) }
        } else {
            let last = graph.migration(*members.last().expect("a run is not empty"));
            format!("{} revisions: {} … {}", members.len(), first.id, last.id)
        };
        let label = label.replace('"', "'").replace(['[', ']', '{', '}', '<', '>'], " ");
        let _ = writeln!(out, "  n{b}[\"{label}\"]");
    }
    let mut edges = BTreeSet::new();
    for edge in graph.dag.edge_indices() {
        let (from, to) = graph.dag.edge_endpoints(edge).expect("edge exists");
        let (Some(&a), Some(&b)) = (box_of.get(&from), box_of.get(&to)) else { continue };
        if a != b {
            edges.insert((b, a, graph.dag[edge]));
        }
    }
    // Child points at parent, as in `down_revision`.
    for (child, parent, kind) in edges {
        let arrow = if kind == Edge::Parent { "-->" } else { "-.->" };
        let _ = writeln!(out, "  n{child} {arrow} n{parent}");
    }
    let class = |out: &mut String, name: &str, set: &HashSet<NodeIndex>| {
        let mut members: Vec<usize> = set.iter().filter_map(|n| box_of.get(n)).copied().collect();
        members.sort_unstable();
        members.dedup();
        if !members.is_empty() {
            let list: Vec<String> = members.iter().map(|b| format!("n{b}")).collect();
            let _ = writeln!(out, "  class {} {name}", list.join(","));
        }
    };
    out.push_str("  classDef head fill:#d4f7d4,stroke:#2a7a2a\n");
    out.push_str("  classDef branch fill:#ffe0b3,stroke:#b36b00\n");
    out.push_str("  classDef merge fill:#dde7ff,stroke:#3355aa\n");
    class(&mut out, "merge", &merges);
    class(&mut out, "branch", &open);
    class(&mut out, "head", &heads);
    out
}

/// The history newest first, like `alembic history --verbose`, for any format.
pub fn history(migrations: &[Migration]) -> String {
    let graph = Graph::new(migrations);
    let heads: HashSet<NodeIndex> = graph.heads().into_iter().collect();
    let mut out = String::new();
    for node in graph.dag.node_indices().rev() {
        let m = graph.migration(node);
        let children = graph.children(node);
        let mut tags = Vec::new();
        if heads.contains(&node) {
            tags.push("(head)");
        }
        if children.len() > 1 {
            tags.push("(branchpoint)");
        }
        if m.parents.len() > 1 {
            tags.push("(mergepoint)");
        }
        let _ = writeln!(out, "Rev: {} {}", m.id, tags.join(" "));
        let parents = if m.parents.is_empty() { "<base>".to_string() } else { m.parents.join(", ") };
        let _ = writeln!(out, "{}: {parents}", if m.parents.len() > 1 { "Merges" } else { "Parent" });
        if children.len() > 1 {
            let ids: Vec<&str> = children.iter().map(|&c| graph.migration(c).id.as_str()).collect();
            let _ = writeln!(out, "Branches into: {}", ids.join(", "));
        }
        if let Apply::Alembic(rev) = &m.apply {
            if !rev.branch_labels.is_empty() {
                let _ = writeln!(out, "Branch names: {}", rev.branch_labels.join(", "));
            }
            if !rev.depends_on.is_empty() {
                let _ = writeln!(out, "Also depends on: {}", rev.depends_on.join(", "));
            }
        }
        let _ = writeln!(out, "Path: {}", declared_at(m).0);
        let _ = writeln!(out, "\n    {}\n", m.name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alembic::{Function, Revision};
    use crate::migrations::Script;
    use std::path::Path;

    fn rev(id: &str, parents: &[&str]) -> Migration {
        let path = Path::new("versions").join(format!("{id}.py"));
        Migration {
            id: id.to_string(),
            version: None,
            name: format!("make {id}"),
            parents: parents.iter().map(|p| p.to_string()).collect(),
            up: Script::new(&path, 10, String::new()).unwrap(),
            down: Script::new(&path, 14, String::new()).ok(),
            apply: Apply::Alembic(Box::new(Revision {
                file: path,
                revision_line: 5,
                down_revision_line: 6,
                branch_labels: Vec::new(),
                depends_on: Vec::new(),
                depends_on_line: 8,
                upgrade: Some(Function { line: 10, empty: false, raises: false }),
                downgrade: Some(Function { line: 14, empty: false, raises: false }),
            })),
        }
    }

    fn rules(migrations: &[Migration]) -> Vec<(String, String, u32)> {
        let mut out: Vec<_> = check(migrations)
            .into_iter()
            .map(|f| (f.rule, f.migration.unwrap_or_default(), f.line.unwrap_or(0)))
            .collect();
        out.sort();
        out
    }

    #[test]
    fn linear_history_is_clean() {
        let chain = vec![rev("a", &[]), rev("b", &["a"]), rev("c", &["b"]), rev("d", &["c"]), rev("e", &["d"])];
        assert!(check(&chain).is_empty());
        let s = summary(&chain);
        assert_eq!(s.heads, ["e"]);
        assert_eq!(s.roots, ["a"]);
        assert!(s.mermaid.contains("n1[\"3 revisions: b … d\"]"), "{}", s.mermaid);
        assert!(s.mermaid.contains("n1 --> n0") && s.mermaid.contains("class n2 head"), "{}", s.mermaid);
    }

    #[test]
    fn branch_without_merge_has_two_heads() {
        let chain = vec![rev("a", &[]), rev("b", &["a"]), rev("c", &["a"])];
        assert_eq!(rules(&chain), [("branch-point".into(), "c".into(), 6), ("multiple-heads".into(), "c".into(), 5)]);
        assert_eq!(summary(&chain).branch_points, ["a"]);
    }

    #[test]
    fn merged_branches_are_fine() {
        let chain = vec![rev("a", &[]), rev("b", &["a"]), rev("c", &["a"]), rev("m", &["b", "c"]), rev("n", &["m"])];
        assert!(check(&chain).is_empty(), "{:?}", check(&chain));
        let s = summary(&chain);
        assert_eq!((s.heads, s.merges, s.branch_points), (vec!["n".to_string()], vec!["m".to_string()], vec![]));
    }

    #[test]
    fn missing_parent_cycle_and_duplicate() {
        let chain = vec![rev("a", &["zzz"]), rev("b", &["c"]), rev("c", &["b"]), rev("a", &[])];
        let found = rules(&chain);
        assert!(found.contains(&("missing-parent".into(), "a".into(), 6)), "{found:?}");
        assert!(found.contains(&("cycle".into(), "b".into(), 6)), "{found:?}");
        assert!(found.contains(&("duplicate-revision".into(), "a".into(), 5)), "{found:?}");
    }

    #[test]
    fn a_duplicate_is_not_also_a_branch() {
        let chain = vec![rev("a", &[]), rev("b", &["a"]), rev("b", &["a"])];
        assert_eq!(rules(&chain), [("duplicate-revision".into(), "b".into(), 5)]);
    }

    #[test]
    fn empty_bodies_except_merges() {
        let mut empty = rev("b", &["a"]);
        let mut merge = rev("m", &["b", "c"]);
        for m in [&mut empty, &mut merge] {
            if let Apply::Alembic(r) = &mut m.apply {
                r.upgrade = Some(Function { line: 10, empty: true, raises: false });
                r.downgrade = None;
            }
        }
        let chain = vec![rev("a", &[]), empty, rev("c", &["a"]), merge];
        assert_eq!(
            rules(&chain),
            [
                ("empty-upgrade".into(), "b".into(), 10),
                ("missing-downgrade".into(), "b".into(), 5),
                ("missing-downgrade".into(), "m".into(), 5),
            ]
        );
    }

    #[test]
    fn apply_order_puts_parents_and_dependencies_first() {
        let mut d = rev("d", &["b"]);
        if let Apply::Alembic(r) = &mut d.apply {
            r.depends_on = vec!["c".into()];
        }
        let chain = vec![d, rev("c", &["a"]), rev("b", &["a"]), rev("a", &[])];
        let order: Vec<String> = apply_order(chain).into_iter().map(|m| m.id).collect();
        assert_eq!(order, ["a", "c", "b", "d"]);
    }

    #[test]
    fn labelled_branches_may_have_several_heads() {
        let mut other = rev("x", &[]);
        if let Apply::Alembic(r) = &mut other.apply {
            r.branch_labels = vec!["plugin".into()];
        }
        let mut main = rev("a", &[]);
        if let Apply::Alembic(r) = &mut main.apply {
            r.branch_labels = vec!["core".into()];
        }
        assert!(check(&[main, rev("b", &["a"]), other]).is_empty());
    }
}
