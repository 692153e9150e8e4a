# syntax=docker/dockerfile:1
#
# The roster server in a small Debian image.
#
#   docker build -t roster .
#   docker run -d --name roster -p 8080:8080 -v roster-data:/var/lib/roster roster
#
# The first start of an empty database writes the operator key to
# /var/lib/roster/roster-operator.key (read it with `docker exec roster cat ...`, then delete it).
# scripts/check-packaging.sh checks the build command and the copied binary path below.

# ---- build ---------------------------------------------------------------------------------
FROM rust:1.95-slim-bookworm AS build
# gcc and libc6-dev come with the image (bundled SQLite, ring); jemalloc's build runs make.
RUN apt-get update \
    && apt-get install -y --no-install-recommends make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The whole workspace (see .dockerignore): .cargo/config.toml sets SQLite and jemalloc build flags.
COPY . .
# The registry cache only speeds up rebuilds; target/ stays in the layer so the next stage can copy it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo build --release --locked -p roster-server \
    && test -x /src/target/release/roster

# ---- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim
# curl serves the HEALTHCHECK only; no recommends (the check speaks plain HTTP to localhost).
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 roster \
    && useradd --system --uid 10001 --gid roster --home-dir /var/lib/roster --no-create-home \
        --shell /usr/sbin/nologin roster \
    && install -d -o roster -g roster -m 0700 /var/lib/roster
COPY --from=build /src/target/release/roster /usr/local/bin/roster

USER roster:roster
WORKDIR /var/lib/roster
# A new named volume mounted here starts out owned by roster (copied from the image's directory).
VOLUME ["/var/lib/roster"]
ENV ROSTER_DATABASE_URL=sqlite:///var/lib/roster/roster.db \
    ROSTER_LISTEN=0.0.0.0:8080
EXPOSE 8080

# Liveness: 200 once the database answers. The port follows ROSTER_LISTEN if it is overridden.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${ROSTER_LISTEN##*:}/api/health/" || exit 1

# roster handles SIGTERM itself: it stops accepting and finishes requests in flight.
ENTRYPOINT ["roster"]
CMD ["serve"]
