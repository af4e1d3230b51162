# authd: release build in a Rust image, run from a slim image as a non-root user.
# The base images are build arguments (defaults: the official images); the Docker
# tests build local stand-ins and pass their names (tests/docker/compose.test.yaml).
# Buildable by the legacy builder and BuildKit alike: dependencies are cached in
# their own layer, compiled against stub crates.
ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# The image's binary keeps its symbols (names in a backtrace) but not the line
# tables of Cargo.toml's release profile: 35 MB instead of 158 (scripts/bench-startup).
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
# Dependencies first: this layer is rebuilt only when a Cargo.toml or Cargo.lock
# changes, not on every source edit.
COPY Cargo.toml Cargo.lock build.rs ./
COPY crates/authd-load/Cargo.toml crates/authd-load/
COPY crates/authd-verify/Cargo.toml crates/authd-verify/
RUN mkdir -p src crates/authd-load/src crates/authd-verify/src crates/authd-verify/examples \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs crates/authd-verify/src/lib.rs \
 && echo 'fn main() {}' > crates/authd-load/src/main.rs \
 && echo 'fn main() {}' > crates/authd-verify/examples/protected.rs \
 && cargo build --release --locked --bin authd \
 && rm -rf src crates/authd-verify/src
# migrations/ is embedded into the binary at compile time.
COPY migrations migrations
COPY crates/authd-verify/src crates/authd-verify/src
COPY src src
# .git is not in the build context: pass the commit for authd_build_info, e.g.
#   docker build --build-arg GIT_SHA=$(git rev-parse --short=12 HEAD) .
ARG GIT_SHA=unknown
RUN touch src/main.rs src/lib.rs crates/authd-verify/src/lib.rs \
 && cargo build --release --locked --bin authd \
 && cp target/release/authd /usr/local/bin/authd

FROM ${RUNTIME_IMAGE}
# The binary needs only libc, libgcc_s, libm and zlib, all in the base image.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/authd --create-home authd
COPY --from=build /usr/local/bin/authd /usr/local/bin/authd
USER authd
WORKDIR /var/lib/authd
ENV AUTHD_LISTEN=0.0.0.0:8080 \
    AUTHD_LOG_FORMAT=json \
    AUTHD_DATA_DIR=/var/lib/authd/data
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
  CMD ["authd", "healthcheck", "http://127.0.0.1:8080"]
ENTRYPOINT ["authd"]
CMD ["serve"]
