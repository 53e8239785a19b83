#!/usr/bin/env python3
"""Runs migration-guard's traced lint, `eugene trace` and `squawk` side by side on flattened
corpora (see flatten.py) and prints, per rule concept, in how many migrations each tool fires,
plus the migrations where they disagree, for docs/lint-comparison.md.

    bench/compare.py <corpus-name>...      (needs a release build, eugene and squawk on PATH)

Corpora come from $MIGRATION_GUARD_CORPUS (default ../shared/corpus next to the repository).
All tools run against one throwaway cluster started here (as the postgres user when root).
"""
import collections
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.environ.get("MIGRATION_GUARD_CORPUS", os.path.join(ROOT, "..", "shared", "corpus"))
BIN = os.path.join(ROOT, "target", "release", "migration-guard")

# Our rule -> (eugene hint ids, squawk rule names) that report the same hazard.
CONCEPTS = {
    "lock-timeout-missing": ({"E9"}, {"require-lock-timeout"}),
    "statements-after-access-exclusive": ({"E4"}, set()),
    "table-rewrite": ({"E10"}, set()),
    "index-not-concurrent": ({"E6"}, {"require-concurrent-index-creation"}),
    "constraint-validation": ({"E1"}, {"constraint-missing-not-valid", "adding-foreign-key-constraint"}),
    "set-not-null-scan": ({"E2"}, {"adding-not-nullable-field"}),
    "type-change-rewrite": ({"E5"}, {"changing-column-type"}),
    "unique-constraint-build": ({"E7"}, {"disallowed-unique-constraint", "adding-serial-primary-key-field"}),
    "exclusion-constraint": ({"E8"}, set()),
    "enum-add-value-in-transaction": (set(), set()),
    "drop-column": (set(), {"ban-drop-column"}),
    "drop-table": (set(), {"ban-drop-table"}),
    "drop-index-not-concurrent": (set(), {"require-concurrent-index-deletion"}),
    "rename": (set(), {"renaming-column", "renaming-table"}),
    "volatile-default-rewrite": ({"E11"}, {"adding-field-with-default"}),
    "concurrently-in-transaction": (set(), {"ban-concurrent-index-creation-in-transaction"}),
    "foreign-key-not-indexed": ({"E15"}, set()),
    "json-column": ({"E3"}, set()),
    "not-null-column-without-default": (set(), {"adding-required-field"}),
}

# eugene files one rewrite under several hints (E5, E10, E11; E6/E7 for rebuilt indexes), so the
# rewrite and index rules are also compared as groups.
GROUPS = {
    "any rewrite": ({"table-rewrite", "type-change-rewrite", "volatile-default-rewrite"}, {"E5", "E10", "E11"},
                    {"changing-column-type", "adding-field-with-default"}),
    "any index build": ({"index-not-concurrent", "unique-constraint-build", "type-change-rewrite"}, {"E6", "E7"},
                        {"require-concurrent-index-creation", "disallowed-unique-constraint", "adding-serial-primary-key-field"}),
}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


class Cluster:
    def __init__(self):
        self.dir = tempfile.mkdtemp()
        os.chmod(self.dir, 0o755)
        self.port = random.randint(20000, 40000)
        self.root = os.getuid() == 0
        if self.root:
            shutil.chown(self.dir, "postgres")
        self.pg(f"initdb -D {self.dir}/data -A trust -U postgres")
        self.pg(
            f"pg_ctl -D {self.dir}/data -o '-p {self.port} -k {self.dir} -c listen_addresses= -c fsync=off' -l {self.dir}/log -w start"
        )

    def pg(self, command):
        cmd = ["su", "postgres", "-c", command] if self.root else ["sh", "-c", command]
        out = run(cmd)
        if out.returncode:
            sys.exit(out.stderr)

    def psql(self, sql):
        run(["psql", "-X", "-q", "-h", self.dir, "-p", str(self.port), "-U", "postgres", "-c", sql])

    def url(self):
        return f"postgres://postgres@localhost:{self.port}/postgres?host={self.dir}"

    def stop(self):
        self.pg(f"pg_ctl -D {self.dir}/data -m immediate stop")
        shutil.rmtree(self.dir, ignore_errors=True)


def ours(flat, cluster):
    out = tempfile.mkdtemp()
    # The schema-change rules report a dropped or renamed object in place of the lint's
    # drop-table / drop-column / rename; turn them off so the lint's own rules are compared.
    quiet = ["--rule", "destructive-change=off", "--rule", "backward-incompatible=off"]
    run([BIN, "check", flat, "--format", "sqlx", "--database-url", cluster.url(), "--fail-on", "never", "--report-dir", out, *quiet])
    report = json.load(open(os.path.join(out, "report.json")))
    applied = {os.path.basename(m["path"]) for m in report["migrations"] if m["status"] == "applied"}
    hits = collections.defaultdict(set)
    for f in report["findings"]:
        hits[os.path.basename(f["file"] or "")].add(f["rule"])
    return applied, hits


def eugene(flat, cluster):
    cluster.psql("DROP DATABASE IF EXISTS eugene")
    cluster.psql("CREATE DATABASE eugene")
    env = dict(os.environ, PGPASS="unused")
    out = run(
        ["eugene", "trace", "--disable-temporary", "-H", cluster.dir, "-p", str(cluster.port), "-d", "eugene", "-c", "-a", "-f", "json", flat],
        env=env,
    ).stdout
    hits = collections.defaultdict(set)
    traced = set()
    decoder, i = json.JSONDecoder(), 0
    while True:
        m = re.compile(r"\{").search(out, i)
        if not m:
            break
        try:
            doc, i = decoder.raw_decode(out, m.start())
        except json.JSONDecodeError:
            i = m.start() + 1
            continue
        name = os.path.basename(doc.get("name", ""))
        traced.add(name)
        for st in doc.get("statements", []):
            for rule in st.get("triggered_rules", []):
                hits[name].add(rule["id"])
    return traced, hits


def squawk(flat):
    files = sorted(os.path.join(flat, f) for f in os.listdir(flat) if f.endswith(".sql"))
    out = run(["squawk", "--reporter", "json", "--pg-version", "15.0", "--assume-in-transaction", *files]).stdout
    hits = collections.defaultdict(set)
    for v in json.loads(out or "[]"):
        hits[os.path.basename(v["file"])].add(v["rule_name"])
    return hits


def main():
    cluster = Cluster()
    try:
        for name in sys.argv[1:]:
            flat = tempfile.mkdtemp()
            run([sys.executable, os.path.join(ROOT, "bench", "flatten.py"), os.path.join(CORPUS, name), flat])
            applied, mine = ours(flat, cluster)
            (traced, theirs_e), theirs_s = eugene(flat, cluster), squawk(flat)
            files = sorted(applied)
            # eugene runs every script in a transaction and stops at the first failure; compare
            # with it only on the scripts it traced.
            efiles = sorted(applied & traced)
            print(f"\n## {name}: {len(files)} migrations applied on PostgreSQL 15, {len(efiles)} traced by eugene\n")
            print("| our rule | ours | eugene | squawk | ours only (vs eugene) | eugene only | ours only (vs squawk) | squawk only |")
            print("|---|---|---|---|---|---|---|---|")
            detail = []
            for rule, (e_ids, s_ids) in CONCEPTS.items():
                o = {f for f in files if rule in mine[f]}
                e = {f for f in efiles if e_ids & theirs_e[f]}
                oe = o & set(efiles)
                s = {f for f in files if s_ids & theirs_s[f]}
                row = [len(o), len(e) if e_ids else "-", len(s) if s_ids else "-"]
                row += [len(oe - e) if e_ids else "-", len(e - oe) if e_ids else "-"]
                row += [len(o - s) if s_ids else "-", len(s - o) if s_ids else "-"]
                print(f"| `{rule}` | " + " | ".join(map(str, row)) + " |")
                for label, diff in (("eugene only", e - oe), ("ours not eugene", (oe - e) if e_ids else set()),
                                    ("squawk only", s - o), ("ours not squawk", (o - s) if s_ids else set())):
                    if diff:
                        detail.append(f"- {rule} / {label}: {', '.join(sorted(diff)[:6])}{' ...' if len(diff) > 6 else ''}")
            for group, (ours_set, e_ids, s_ids) in GROUPS.items():
                o = {f for f in files if ours_set & mine[f]}
                oe = o & set(efiles)
                e = {f for f in efiles if e_ids & theirs_e[f]}
                s = {f for f in files if s_ids & theirs_s[f]}
                row = [len(o), len(e), len(s), len(oe - e), len(e - oe), len(o - s), len(s - o)]
                print(f"| *{group}* | " + " | ".join(map(str, row)) + " |")
            other_e = collections.Counter(i for f in files for i in theirs_e[f] if not any(i in c[0] for c in CONCEPTS.values()))
            other_s = collections.Counter(i for f in files for i in theirs_s[f] if not any(i in c[1] for c in CONCEPTS.values()))
            print(f"\nunmapped eugene hints (migrations): {dict(other_e)}")
            print(f"unmapped squawk rules (migrations): {dict(other_s)}\n")
            print("\n".join(detail))
            shutil.rmtree(flat, ignore_errors=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
