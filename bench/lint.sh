#!/usr/bin/env bash
# Benchmark: traced lint of a migration corpus against the psql floor (psql applying the same
# files over one connection, `BEGIN; \i up.sql; COMMIT;` per migration), plus eugene's time when
# `eugene` is on PATH. All three run against one throwaway cluster started here.
#
#   bench/lint.sh [corpus-name]        (default: lemmy; diesel layout dir/up.sql)
#   MIGRATION_GUARD_BIN=path bench/lint.sh   times another build (e.g. the one before a change)
#
# Needs initdb/pg_ctl/psql on PATH and a release build (`cargo build --release`). Corpora are read
# from $MIGRATION_GUARD_CORPUS (default ../shared/corpus next to the repository).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
corpus="${MIGRATION_GUARD_CORPUS:-$root/../shared/corpus}/${1:-lemmy}"
bin="${MIGRATION_GUARD_BIN:-$root/target/release/migration-guard}"
runs="${RUNS:-3}"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
[ -d "$corpus/migrations" ] || { echo "no migrations under $corpus" >&2; exit 2; }

work="$(mktemp -d)"
chmod 755 "$work"
port=$((20000 + RANDOM % 20000))
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
cleanup() { as_pg "pg_ctl -D '$work/data' -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

# The corpus as a flat, numbered list of up scripts (a sqlx-style directory, so any loader reads it).
mkdir -p "$work/flat"
i=0
for dir in $(ls -d "$corpus"/migrations/*/ | sort); do
  [ -f "$dir/up.sql" ] || continue
  i=$((i + 1))
  cp "$dir/up.sql" "$work/flat/$(printf %04d "$i")_$(basename "$dir" | tr -c 'A-Za-z0-9_\n' _).sql"
done
chmod -R a+rX "$work/flat"
echo "corpus: $(basename "$corpus"), $i migrations"

as_pg "initdb -D '$work/data' -A trust -U postgres >/dev/null"
as_pg "pg_ctl -D '$work/data' -o '-p $port -k $work -c listen_addresses= -c fsync=off' -l '$work/log' -w start >/dev/null"
psql_() { psql -X -q -h "$work" -p "$port" -U postgres "$@"; }
url="postgres://postgres@localhost:$port/postgres?host=$work"

{
  echo '\set ON_ERROR_STOP 1'
  for f in "$work"/flat/*.sql; do printf 'BEGIN;\n\\i %s\nCOMMIT;\n' "$f"; done
} > "$work/all.psql"

now() { date +%s.%N; }
best() { sort -n | head -1; }
floor_times=(); lint_times=(); nolint_times=(); eugene_times=()
for run in $(seq "$runs"); do
  psql_ -c 'DROP DATABASE IF EXISTS floor' -c 'CREATE DATABASE floor'
  t=$(now); psql_ -d floor -f "$work/all.psql" >/dev/null 2>&1 || true; floor_times+=("$(echo "$(now) - $t" | bc)")

  t=$(now); "$bin" check "$work/flat" --format sqlx --database-url "$url" --fail-on never --round-trip none --report-dir "$work/r" >/dev/null
  lint_times+=("$(echo "$(now) - $t" | bc)")
  t=$(now); "$bin" check "$work/flat" --format sqlx --database-url "$url" --fail-on never --round-trip none --no-lint >/dev/null
  nolint_times+=("$(echo "$(now) - $t" | bc)")

  if command -v eugene >/dev/null; then
    psql_ -c 'DROP DATABASE IF EXISTS eugene' -c 'CREATE DATABASE eugene'
    t=$(now)
    PGPASS=unused eugene trace --disable-temporary -H "$work" -p "$port" -d eugene -c -a -f json "$work/flat" >"$work/eugene.json" 2>"$work/eugene.err" || true
    tail -c 300 "$work/eugene.err" >&2
    eugene_times+=("$(echo "$(now) - $t" | bc)")
  fi
done

floor=$(printf '%s\n' "${floor_times[@]}" | best)
lint=$(printf '%s\n' "${lint_times[@]}" | best)
nolint=$(printf '%s\n' "${nolint_times[@]}" | best)
printf 'psql floor            %6.2f s\n' "$floor"
printf 'migration-guard       %6.2f s  (%.2fx floor)  traced lint\n' "$lint" "$(echo "$lint / $floor" | bc -l)"
printf 'migration-guard       %6.2f s  (%.2fx floor)  --no-lint\n' "$nolint" "$(echo "$nolint / $floor" | bc -l)"
if [ ${#eugene_times[@]} -gt 0 ]; then
  eugene=$(printf '%s\n' "${eugene_times[@]}" | best)
  printf 'eugene trace          %6.2f s  (%.2fx floor)\n' "$eugene" "$(echo "$eugene / $floor" | bc -l)"
fi
printf 'findings: %s\n' "$(python3 -c 'import json,sys,collections; r=json.load(open(sys.argv[1])); print(dict(collections.Counter(f["rule"] for f in r["findings"])))' "$work/r/report.json")"
