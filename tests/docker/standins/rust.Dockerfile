# Stand-in for rust:1-bookworm: Debian bookworm, a C toolchain for -sys crates, and
# the Rust toolchain of the machine that builds it (copied into the context).
ARG BASE=authd-test/debian:bookworm
FROM ${BASE}
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
 && apt-get -o Acquire::Check-Valid-Until=false update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc g++ make libc6-dev pkg-config zlib1g-dev perl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY toolchain /usr/local/rust
# The registries are reached through this machine's TLS trust store.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:$PATH \
    CARGO_HOME=/usr/local/cargo
RUN mkdir -p /usr/local/cargo/bin && rustc --version && cargo --version
