# The GitHub Action's image: the migration-guard binary, embedded PostgreSQL servers 15, 16 and 17
# (with the contrib extensions; `postgres-version` picks one, the newest by default), git for
# base-ref comparisons, and a Python environment with Alembic for Alembic projects. Released
# images are built by .github/workflows/release.yml; action.yml points at the published one.

# --- build ---------------------------------------------------------------------------------
FROM rust:1.95.0-bookworm AS chef
# pg_query compiles libpg_query and generates bindings with bindgen, which needs libclang.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libclang-dev \
    && rm -rf /var/lib/apt/lists/* \
    && cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# The dependency list alone, so that the layer that builds dependencies changes only with it.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin migration-guard --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin migration-guard \
    && strip target/release/migration-guard

# --- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-20250520-slim
COPY docker/install-runtime.sh /tmp/install-runtime.sh
RUN PG_MAJORS="15 16 17" sh /tmp/install-runtime.sh && rm /tmp/install-runtime.sh
# No server on PATH: the provisioner picks among /usr/lib/postgresql/<major>/bin.
ENV PATH="/opt/venv/bin:${PATH}"
COPY --from=build /src/target/release/migration-guard /usr/local/bin/migration-guard
# The SQLAlchemy models script (docs/models.md); `models: module:attribute` runs the copy built
# into the binary, this one is for `models-command`.
COPY python/migration_guard_sqlalchemy.py /usr/local/share/migration-guard/
ENTRYPOINT ["migration-guard"]
CMD ["check"]
