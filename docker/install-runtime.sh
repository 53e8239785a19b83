#!/bin/sh
# Installs what the action's image runs with, on Debian bookworm: the PostgreSQL server majors in
# PG_MAJORS (default "15 16 17"; from the PostgreSQL project's apt repository unless PGDG=0, then
# Debian's own, which has 15 only), git for base-ref comparisons, and a Python venv at /opt/venv
# with Alembic, SQLAlchemy and psycopg2. The Dockerfile's runtime stage and the image smoke test
# (docker/smoke-test.sh) both run it, so the test installs exactly what the image does.
set -eu
majors="${PG_MAJORS:-15 16 17}"

# Server binaries only: each check starts a cluster of its own, so no default cluster.
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main-cluster.conf

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends ca-certificates postgresql-common git python3 python3-venv
if [ "${PGDG:-1}" = 1 ]; then
    # Ships with postgresql-common: adds the repository with its signing key, then updates.
    /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y
fi
servers=""
for major in $majors; do servers="$servers postgresql-$major"; done
# shellcheck disable=SC2086 # one word per package
apt-get install -y -q --no-install-recommends $servers
apt-get clean
# Translations too: the servers run in the C locale, so their messages are never translated.
rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man /usr/share/locale

python3 -m venv /opt/venv
/opt/venv/bin/pip install --no-cache-dir -q "alembic>=1.13,<2" "sqlalchemy>=2,<3" "psycopg2-binary>=2.9,<3"
find /opt/venv -name __pycache__ -type d -prune -exec rm -rf {} +
