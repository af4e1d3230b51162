# Start and stop the real services from the machine's binaries, on loopback.
# Sourced by scripts/bench-relay (and the stack scripts). Each service gets a
# directory of its own; its pid goes to DIR/pid and its log to DIR/log.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT NAME DIR: until something listens on 127.0.0.1:PORT (10 s at most).
wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$2 did not start; see $3/log" >&2
  return 1
}

pg_bin() {
  if command -v initdb >/dev/null; then dirname "$(readlink -f "$(command -v initdb)")"; else echo /usr/lib/postgresql/15/bin; fi
}

# Runs a command as the postgres user when we are root (Postgres refuses root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start DIR PORT: initdb DIR/data when missing, then serve on 127.0.0.1:PORT.
# AUTHD_PG_OPTIONS: more server options (-c name=value ...), e.g. for a benchmark.
pg_start() {
  local dir=$1 port=$2 bin
  bin=$(pg_bin)
  mkdir -p "$dir"
  [ "$(id -u)" != 0 ] || chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; return 1; }
  fi
  as_pg "$bin/postgres" -D "$dir/data" -p "$port" -k "$dir" -c listen_addresses=127.0.0.1 \
    -c max_connections=300 ${AUTHD_PG_OPTIONS:-} >>"$dir/log" 2>&1 &
  for _ in $(seq 1 100); do
    if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
      # the postmaster's own pid (runuser is only its parent)
      head -n 1 "$dir/data/postmaster.pid" >"$dir/pid"
      echo INT >"$dir/stop-signal"   # fast shutdown: roll back clients, no waiting
      return 0
    fi
    sleep 0.1
  done
  echo "postgres did not start; see $dir/log" >&2
  return 1
}

# tansu_start DIR PORT: a durable broker (SQLite storage in DIR) on 127.0.0.1:PORT.
tansu_start() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  (cd "$dir" && exec tansu broker --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine sqlite://tansu.db) \
    >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  wait_port "$port" tansu "$dir" && tansu_index_headers "$dir/tansu.db"
}

# Tansu 0.6's SQLite storage has no index on its header table, so every fetched
# record scans every header row: reading back a 20,000-event topic (3 headers each)
# took minutes and starved the broker. An index on (topition, offset_id) makes
# reads linear. It changes no data and nothing Tansu writes.
tansu_index_headers() {
  python3 - "$1" <<'PY'
import sqlite3, sys, time
for _ in range(100):
    try:
        db = sqlite3.connect(sys.argv[1], timeout=10)
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'header'").fetchone():
            db.execute("CREATE INDEX IF NOT EXISTS authd_header_record ON header (topition, offset_id)")
            db.commit()
            sys.exit(0)
    except sqlite3.Error:
        pass
    time.sleep(0.1)
sys.exit("tansu: its header table never appeared in " + sys.argv[1])
PY
}

# stop_service DIR: signal the pid in DIR/pid (TERM, or DIR/stop-signal), KILL it
# after 10 s.
stop_service() {
  local pidfile=$1/pid pid signal=TERM
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  [ ! -f "$1/stop-signal" ] || signal=$(cat "$1/stop-signal")
  if kill -0 "$pid" 2>/dev/null; then
    kill -"$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# nginx_render SRC DEST PORT SERVERS [RESOLVER]: the gateway configuration of
# nginx/ with its templates rendered, the same way the nginx image does in compose.
nginx_render() {
  local src=$1 dest=$2 t keyed
  mkdir -p "$dest/conf.d"
  cp "$src/nginx.conf" "$dest/nginx.conf"
  # The keyed upstream: the same servers, never marked failed (max_fails=0).
  keyed=$(sed -E 's/max_fails=[0-9]+( fail_timeout=[^ ;]+)?/max_fails=0/g' <<<"$4")
  for t in "$src"/templates/*.template; do
    AUTHD_GATEWAY_PORT=$3 AUTHD_UPSTREAM_SERVERS=$4 AUTHD_UPSTREAM_KEYED_SERVERS=$keyed \
      AUTHD_UPSTREAM_RESOLVER=${5:-} \
      envsubst '${AUTHD_GATEWAY_PORT} ${AUTHD_UPSTREAM_SERVERS} ${AUTHD_UPSTREAM_KEYED_SERVERS} ${AUTHD_UPSTREAM_RESOLVER}' \
      <"$t" >"$dest/conf.d/$(basename "$t" .template)"
  done
}

# nginx_start DIR: run the rendered configuration in DIR as a child process.
nginx_start() {
  local dir=$1 port=$2
  nginx -t -q -p "$dir" -c "$dir/nginx.conf" -g "pid $dir/nginx.pid; error_log $dir/error.log;" \
    || return 1
  nginx -p "$dir" -c "$dir/nginx.conf" -g "daemon off; pid $dir/nginx.pid; error_log $dir/error.log;" \
    >>"$dir/log" 2>&1 &
  echo $! >"$dir/pid"
  wait_port "$port" nginx "$dir"
}
