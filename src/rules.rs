//! The rules outside the lint: those of the graph, the base comparison, the stairway, the
//! effect and data checks and drift. Each has its id, default severity and the reason for that
//! severity, which `docs/rules/` renders beside the lint rules' pages. Stages file findings
//! through [`crate::findings::Finding::of`], so the severity lives here only.

use crate::findings::Severity;

/// One rule of a stage other than the lint.
#[derive(Debug)]
pub struct StageRule {
    /// Stable kebab-case id.
    pub id: &'static str,
    pub severity: Severity,
    /// The stage that reports it.
    pub stage: &'static str,
    /// One line: what the rule reports.
    pub summary: &'static str,
    /// Why it has its default severity.
    pub why: &'static str,
}

macro_rules! stage_rules {
    ($($name:ident = $id:literal, $severity:ident, $stage:literal, $summary:literal, $why:literal;)*) => {
        $(
            #[doc = $summary]
            pub static $name: StageRule = StageRule {
                id: $id,
                severity: Severity::$severity,
                stage: $stage,
                summary: $summary,
                why: $why,
            };
        )*
        /// Every stage rule, in documentation order.
        pub static ALL: &[&StageRule] = &[$(&$name),*];
    };
}

stage_rules! {
    MIGRATION_FAILED = "migration-failed", Error, "apply",
        "A migration fails on a real PostgreSQL.",
        "It fails the same way when deployed. A merged migration that fails stops the check before the change is applied, so it counts too: nothing after it could be checked.";
    CLUSTER_WIDE = "cluster-wide-statement", Error, "apply",
        "A migration changes the server as a whole (roles, databases, tablespaces, server settings) or reaches outside it (`COPY ... PROGRAM`, `LOAD`, subscriptions): the check refuses to run it.",
        "The check runs on throwaway databases, often on a server others share; a statement that changes the rest of the server cannot be proved there, and the chain stops at it as at a failure. Roles the chain needs can be declared under `roles`.";
    IRREVERSIBLE = "irreversible", Error, "round trip",
        "The down fails, or does not restore the schema from before the up.",
        "A rollback is what a team reaches for when a deploy goes wrong; a down that fails or leaves the schema half-changed turns an incident into an outage. Migrations that are one-way on purpose are `irreversible-by-design` instead.";
    REAPPLY_FAILED = "reapply-failed", Error, "round trip",
        "The up fails, or gives another schema, when run again after its own down.",
        "Rolling back and deploying again is the normal way out of a bad release; an up that cannot follow its own down blocks it.";
    BY_DESIGN = "irreversible-by-design", Info, "round trip",
        "A migration is one-way on purpose: its down raises, or it is listed under `irreversible`.",
        "A deliberate choice, not a defect: it is reported once so that reviewers see it, and the round trip is skipped.";
    DESTRUCTIVE = "destructive-change", Warning, "effects",
"A migration drops a table (one finding, naming its columns), column, view or enum value that existed before it, or narrows a column type.",
        "Data is lost for good and code still reading the object fails, but dropping what the application no longer uses is the normal last step of a cleanup: the check cannot tell that from an accident, so it asks for a look (and a waiver with the reason) rather than stopping the merge. `--rule destructive-change=error` makes it a stop.";
    INCOMPATIBLE = "backward-incompatible", Warning, "effects",
"A migration renames a table or column, adds a required column or makes one NOT NULL, drops the default of a required column, drops a unique key no other key covers, or changes a type (also by swapping in a new column under the old name).",
        "The application version still running during a rolling deploy may break, but many teams deploy with downtime or in expand/contract steps where this is planned: worth a look, not a stop.";
    DATA_CHANGED = "data-changed", Warning, "data",
        "Rows of a table the migration does not name changed (triggers, cascades).",
        "Often intended (a trigger that keeps a counter), sometimes a surprise; it cannot tell which.";
    DRIFT = "drift", Error, "drift",
        "The migrated schema differs from the declared models.",
        "The application is written against the models: a difference is a query that fails or a column that is never written. Pre-existing drift can be recorded in the baseline.";
    EDITED = "edited-migration", Error, "base",
        "A migration that exists on the base was changed.",
        "Databases that applied it never run it again, so the edit silently never reaches them.";
    OUT_OF_ORDER = "out-of-order", Error, "base",
        "A new migration sorts before migrations already on the base.",
        "Databases already past it never apply it (or the tool refuses to run), depending on the tool.";
    MISSING_PARENT = "missing-parent", Error, "graph",
        "A revision names a parent or dependency that no revision has.",
        "The migration tool refuses to load the history.";
    CYCLE = "cycle", Error, "graph",
        "Revisions depend on each other in a loop.",
        "No order can apply them; the tool refuses to load the history.";
    BRANCH_POINT = "branch-point", Error, "graph",
        "Two revisions share a parent and no merge joins them again.",
        "`alembic upgrade head` refuses to run with two heads; the deploy stops.";
    MULTIPLE_HEADS = "multiple-heads", Error, "graph",
        "The history has more than one head.",
        "`alembic upgrade head` refuses to run; the deploy stops.";
    DUPLICATE_REVISION = "duplicate-revision", Error, "graph",
        "Two revision files declare the same id.",
        "Alembic refuses to load the history.";
    DUPLICATE_VERSION = "duplicate-version", Error, "graph",
        "Two migrations share a version.",
        "The tools refuse to run, or silently skip one of them.";
    EMPTY_UPGRADE = "empty-upgrade", Warning, "graph",
        "A migration's up does nothing.",
        "Usually a forgotten body or a leftover file; harmless when applied, so not a stop.";
    EMPTY_DOWNGRADE = "empty-downgrade", Info, "graph",
        "A migration's down is empty: it is not reversible by design.",
        "Many teams never roll back and leave downs empty on purpose; there is nothing for the round trip to prove, so it is skipped and the migration is reported once.";
    NOT_RUN = "migration-not-run", Warning, "graph",
        "A migration is code the check cannot run (a goose Go migration): the chain goes on without it.",
        "goose compiles Go migrations into the application; the check applies the SQL migrations around one as goose orders them, so the rest of the chain is still checked. What the Go code does is not: a data backfill (the usual case) changes nothing the check judges, a schema change shows up as a failure or drift after it.";
    MISSING_DOWNGRADE = "missing-downgrade", Info, "graph",
        "A migration has no down where others in the chain have one: it is not reversible by design.",
        "As for an empty down: a choice the format allows, reported once, not a defect.";
}

/// The Markdown page `docs/rules/<id>.md` of a stage rule.
pub fn doc_page(rule: &StageRule) -> String {
    let waiving = match rule.id {
        "migration-failed" => "No waiver silences it: a migration that fails here fails in production.".to_string(),
        "drift" => {
            "Drift that predates the check can be recorded in the baseline (`migration-guard baseline`).".to_string()
        }
        id => format!(
            "Waive one finding with `-- migration-guard: ignore {id} -- why` on its statement, or `ignore-file` / `ignore-migration` (see [waivers](../waivers.md))."
        ),
    };
    format!(
        "<!-- Generated from src/rules.rs; edit the rule, then run `UPDATE_RULE_DOCS=1 cargo test --lib lint::rules`. -->\n\n# `{}`\n\n{}\n\nDefault severity: **{}**. {}\n\nReported by the {} stage. Change its severity with `--rule {}=LEVEL`. {waiving}\n",
        rule.id, rule.summary, rule.severity, rule.why, rule.stage, rule.id
    )
}

/// The stage rule with `id`.
pub fn by_id(id: &str) -> Option<&'static StageRule> {
    ALL.iter().copied().find(|r| r.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_not_lint_rules() {
        let mut seen = std::collections::HashSet::new();
        for rule in ALL {
            assert!(seen.insert(rule.id), "duplicate {}", rule.id);
            assert!(crate::lint::rules::by_id(rule.id).is_none(), "{} is also a lint rule", rule.id);
        }
    }
}
