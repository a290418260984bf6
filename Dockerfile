# Build: docker build -t burnrate .
# Run:   docker run -e PROMETHEUS_URL=... -e DATABASE_URL=... -p 8080:8080 burnrate
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY migrations migrations
COPY benches benches
COPY tests/support tests/support
RUN cargo build --release --locked --bin burnrate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 burnrate
COPY --from=build /src/target/release/burnrate /usr/local/bin/burnrate
# For CI jobs (ci/gitlab/burnrate.gitlab-ci.yml); git for `check --changed-from`.
COPY ci/burnrate-ci.sh /usr/local/bin/burnrate-ci
COPY slo-definitions /etc/burnrate/slo-definitions
USER burnrate
ENV BURNRATE_CATALOG=/etc/burnrate/slo-definitions \
    BURNRATE_LISTEN=0.0.0.0:8080 \
    BURNRATE_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["burnrate"]
CMD ["serve"]
