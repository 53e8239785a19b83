# Build: Rust toolchain plus libclang, which the PostgreSQL parser bindings need.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libclang-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin migration-guard

# Run: the PostgreSQL 15 server for the embedded database, nothing else.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 postgresql-contrib-15 ca-certificates git \
    && rm -rf /var/lib/apt/lists/*
ENV PATH="/usr/lib/postgresql/15/bin:${PATH}"
COPY --from=build /src/target/release/migration-guard /usr/local/bin/migration-guard
ENTRYPOINT ["migration-guard"]
CMD ["check"]
