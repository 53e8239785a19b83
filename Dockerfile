# The GitHub Action's image: the migration-guard binary, an embedded PostgreSQL 15 server (with
# the contrib extensions), git for base-ref comparisons, and a Python environment with Alembic
# for Alembic projects. Expected size: see docs/action.md.

# --- build ---------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
# pg_query compiles libpg_query and generates bindings with bindgen, which needs libclang.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libclang-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin migration-guard \
    && strip target/release/migration-guard

# --- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim
# The server binaries only: no default cluster is created (each check starts its own).
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/no-main-cluster.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        postgresql-15 postgresql-contrib-15 git ca-certificates python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir "alembic>=1.13,<2" "sqlalchemy>=2,<3" "psycopg2-binary>=2.9,<3" \
    && find /opt/venv -name __pycache__ -type d -prune -exec rm -rf {} +
ENV PATH="/opt/venv/bin:/usr/lib/postgresql/15/bin:${PATH}"
COPY --from=build /src/target/release/migration-guard /usr/local/bin/migration-guard
# The SQLAlchemy models script for `models-command` (docs/models.md).
COPY python/migration_guard_sqlalchemy.py /usr/local/share/migration-guard/
ENTRYPOINT ["migration-guard"]
CMD ["check"]
