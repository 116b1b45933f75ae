# Live Stars instance server. Build: docker build -t livestars .
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libsqlite3-dev libpq-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p livestars-server --bin livestars

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-0 libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/livestars livestars \
    && mkdir -p /var/lib/livestars/data && chown -R livestars /var/lib/livestars \
    && chmod 700 /var/lib/livestars/data
COPY --from=build /src/target/release/livestars /usr/local/bin/livestars
USER livestars
WORKDIR /var/lib/livestars
ENV LIVESTARS_BIND=0.0.0.0:8080 LIVESTARS_DATA_DIR=/var/lib/livestars/data
# ID-document ciphertexts (and, on SQLite, the database): keep them across container upgrades.
VOLUME /var/lib/livestars/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s CMD ["livestars", "health"]
CMD ["livestars", "serve"]
