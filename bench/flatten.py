#!/usr/bin/env python3
"""Writes a migration corpus's up scripts as a flat, numbered sqlx-style directory
(`NNNN_name.sql`, `-- no-transaction` where the tool would not wrap the script), so the lint
benchmark and the squawk/eugene comparison can feed the same files to every tool while the
project's own loaders for these formats live elsewhere.

    bench/flatten.py <corpus-dir> <out-dir>

Understands diesel (dir/up.sql), golang-migrate (N_name.up.sql), Flyway (V<n>__name.sql) and
sql-migrate (-- +migrate Up/Down sections) layouts. Prints the layout it used.
"""
import os
import re
import sys


def natural(name):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def needs_own_mode(sql):
    # Statements PostgreSQL refuses in a transaction block, or a script managing its own.
    return bool(re.search(r"\bCONCURRENTLY\b", sql, re.I) and re.search(r"\b(CREATE|DROP)\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b", sql, re.I)) or bool(
        re.search(r"^\s*(BEGIN|START TRANSACTION)\s*;", sql, re.I | re.M)
    )


def find(corpus):
    for root, dirs, files in os.walk(corpus):
        dirs.sort()
        if any(f == "up.sql" for f in files):
            return "diesel", os.path.dirname(root)
        if any(f.endswith(".up.sql") for f in files):
            return "golang-migrate", root
        if any(re.match(r"V\d+__.*\.sql$", f) for f in files) and "sql" == os.path.basename(root):
            return "flyway", root
        if any(f.endswith(".sql") for f in files) and any(
            "+migrate Up" in open(os.path.join(root, f), errors="replace").read() for f in files if f.endswith(".sql")
        ):
            return "sql-migrate", root
    sys.exit(f"no known layout under {corpus}")


def scripts(layout, base):
    if layout == "diesel":
        for d in sorted(os.listdir(base)):
            path = os.path.join(base, d, "up.sql")
            if os.path.isfile(path):
                sql = open(path, errors="replace").read()
                meta = os.path.join(base, d, "metadata.toml")
                no_tx = os.path.isfile(meta) and "run_in_transaction = false" in open(meta).read()
                yield d, sql, no_tx or needs_own_mode(sql)
    elif layout == "golang-migrate":
        for f in sorted((f for f in os.listdir(base) if f.endswith(".up.sql")), key=natural):
            sql = open(os.path.join(base, f), errors="replace").read()
            yield f[: -len(".up.sql")], sql, needs_own_mode(sql)
    elif layout == "flyway":
        for f in sorted((f for f in os.listdir(base) if re.match(r"V\d+__.*\.sql$", f)), key=natural):
            sql = open(os.path.join(base, f), errors="replace").read()
            yield f[:-4], sql, needs_own_mode(sql)
    else:
        for f in sorted(f for f in os.listdir(base) if f.endswith(".sql")):
            text = open(os.path.join(base, f), errors="replace").read()
            m = re.search(r"^--\s*\+migrate Up(.*)$", text, re.M)
            if not m:
                continue
            rest = text[m.end():]
            down = re.search(r"^--\s*\+migrate Down", rest, re.M)
            up = rest[: down.start()] if down else rest
            # Keep line numbers: blank out everything before the Up section.
            prefix = "\n" * text[: m.end()].count("\n")
            yield f[:-4], prefix + up, "notransaction" in m.group(1) or needs_own_mode(up)


def main():
    corpus, out = sys.argv[1], sys.argv[2]
    layout, base = find(corpus)
    os.makedirs(out, exist_ok=True)
    n = 0
    for n, (name, sql, no_tx) in enumerate(scripts(layout, base), start=1):
        safe = re.sub(r"[^A-Za-z0-9_]", "_", name)
        with open(os.path.join(out, f"{n:04d}_{safe}.sql"), "w") as f:
            if no_tx:
                # sqlx reads this marker only on the first line; it shifts lines by one.
                f.write("-- no-transaction\n")
            f.write(sql)
    print(f"{layout}: {n} migrations from {os.path.relpath(base, corpus)}")


if __name__ == "__main__":
    main()
