# What scripts/test-docker's scenarios use: the load client, its report and the
# checks on it, the compose stack's state (health, start times, process states),
# and reading the topic. Sourced by scripts/test-docker, which sets compose, work,
# results, network, image and load_bin first.

# fail MESSAGE: the running scenario fails here. Scenarios run in a subshell of
# their own with errexit on (scripts/test-docker's scenario()), so this ends it.
fail() { echo "  FAILED: $*" >&2; exit 1; }
note() { echo "  $*"; echo "$*" >>"$results/notes.txt"; }

# json FILE EXPR: a value of a JSON report (python, so no jq is needed).
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# psql SQL: one query against the compose Postgres, unaligned output.
psql() { "${compose[@]}" exec -T postgres psql -U authd -d authd -At -c "$1"; }

# container SERVICE: the id of the service's (first) container, running or not.
# (Not `| head -1`: with pipefail, compose's write into a closed pipe fails the line.)
container() { local ids; ids=$("${compose[@]}" ps -aq "$1"); echo "${ids%%$'\n'*}"; }
started_at() { docker inspect -f '{{.State.StartedAt}}' "$(container "$1")"; }
running() { docker inspect -f '{{.State.Running}}' "$(container "$1")"; }
# proc_state PID: the kernel's state letter of a process (T: stopped).
proc_state() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1; }

# becomes PID STATE: whether the process's state letter is (or, with !STATE, is
# no longer) STATE within 5 s: a signal takes effect once every thread has
# taken it, not when kill returns.
becomes() {
  local pid=$1 want=$2 _
  for _ in $(seq 1 50); do
    case $want in
      !*) [ "$(proc_state "$pid")" != "${want#!}" ] && return 0 ;;
      *) [ "$(proc_state "$pid")" = "$want" ] && return 0 ;;
    esac
    sleep 0.1
  done
  return 1
}

# load NAME ARGS...: authd-load inside the compose network, against the gateway
# service (nginx:8080), checking rows and events with --verify; JSON report in
# $work/NAME.json. The binary is the one scripts/test built, run in the Debian base.
load() {
  local name=$1
  shift
  docker run --rm --network "$network" -v "$load_bin:/usr/local/bin/authd-load:ro" \
    authd-test/debian:bookworm authd-load --url http://nginx:8080 --json --verify \
    --database-url "postgres://authd:${AUTHD_DB_PASSWORD}@postgres:5432/authd" --brokers kafka:9092 \
    --prefix "$name" "$@" >"$work/$name.json" 2>"$work/$name.err" \
    || { cat "$work/$name.err" >&2; return 1; }
  cp "$work/$name.json" "$results/$name.json"
}

# report NAME: one line of the load report; fails when an accepted sign-up was
# lost or created twice.
report() {
  local f=$work/$1.json
  note "$1: $(json "$f" 'd["statuses"]') transport errors $(json "$f" 'd["transport_errors_total"]'), \
$(json "$f" 'round(d["requests_per_s"], 1)') req/s, 503s retried $(json "$f" 'd.get("retries", 0)'), \
retried answers $(json "$f" 'd.get("retried_statuses", {})'), \
p99 $(json "$f" 'd["latency_ms"].get("p99")') ms, max $(json "$f" 'd["latency_ms"].get("max")') ms, \
verify $(json "$f" 'd["verify"]')"
  [ "$(json "$f" 'd["verify"]["lost"]')" = 0 ] || fail "$1: accepted sign-ups were lost"
  [ "$(json "$f" 'd["verify"].get("unconfirmed", 0)')" = 0 ] || fail "$1: a sign-up was created twice or never confirmed"
}

no_client_error() {
  local f=$work/$1.json
  if [ "$(json "$f" 'd["transport_errors_total"]')" != 0 ] \
    || [ "$(json "$f" 'sorted(set(d["statuses"]) - {"201"})')" != "[]" ]; then
    echo "  nginx said:" >&2
    "${compose[@]}" logs --no-log-prefix nginx 2>&1 | grep -E '\[(error|warn)\]|" 5[0-9][0-9] ' | tail -20 >&2 || true
    fail "$1: answers other than 201, or transport errors"
  fi
}

# answers_only NAME: every sign-up ended in 201, every answer retried on the way
# was 409 "in progress" or 503, and the client never timed out or lost a connection.
answers_only() {
  local f=$work/$1.json
  [ "$(json "$f" 'sorted(set(d["statuses"]) - {"201"})')" = "[]" ] || fail "$1: final answers other than 201"
  [ "$(json "$f" 'sorted(set(d.get("retried_statuses", {})) - {"409", "503"})')" = "[]" ] \
    || fail "$1: answers other than 409 and 503 on the way"
  [ "$(json "$f" 'd["transport_errors_total"] + sum(d.get("retried_errors", {}).values())')" = 0 ] \
    || fail "$1: transport errors or client timeouts: $(json "$f" 'd.get("retried_errors")')"
}

# felt NAME: how the client felt a fault: 503s (final or retried), 409s "in
# progress", and seconds in which no sign-up completed (inside the run). A
# fault the client did not feel at all was not a fault: the scenarios fail on 0.
felt() {
  json "$work/$1.json" 'd["statuses"].get("503", 0) + sum(v for k, v in d.get("retried_statuses", {}).items() if k in ("409", "503")) + sum(1 for x in d["created_per_second"][1:-1] if x == 0)'
}

# resent: the requests of a gateway access log (stdin) that nginx sent to a second
# replica when the first failed (the connection refused or reset, or silent past
# the keyed timeout): their upstream= lists both.
resent() {
  grep -cE 'upstream=[^ ]+, ' || true
}

# taken_over URL...: keyed requests the replicas at URL did for a holder whose
# lease ran out (its replica died or hung), after waiting for it
# (authd_idempotency_waits_total{outcome="taken_over"}), summed.
taken_over() {
  python3 - "$@" <<'PY'
import sys, urllib.request
total = 0.0
for url in sys.argv[1:]:
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if line.startswith("authd_idempotency_waits_total{") and 'outcome="taken_over"' in line:
            total += float(line.rsplit(" ", 1)[1])
print(int(total))
PY
}

# replica_urls: the compose replicas' own addresses (the host reaches them).
replica_urls() {
  local c
  for c in $("${compose[@]}" ps -q auth); do
    printf 'http://%s:8080\n' "$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$c")"
  done
}

# instances N SECS: until N distinct X-Authd-Instance values answered through the
# published port (SECS at most); prints the seconds it took.
instances() {
  python3 - "$1" "$2" "$AUTHD_PORT" <<'PY'
import sys, time, urllib.request
want, limit, port = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
seen, start = set(), time.monotonic()
while time.monotonic() - start < limit:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            seen.add(r.headers["X-Authd-Instance"])
    except Exception:
        pass
    if len(seen) >= want:
        print(f"{time.monotonic() - start:.1f}")
        sys.exit(0)
    time.sleep(0.05)
print(f"only {len(seen)} of {want} instances answered in {limit} s", file=sys.stderr)
sys.exit(1)
PY
}

healthy_replicas() {
  local id n=0
  for id in $("${compose[@]}" ps -q auth); do
    if [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ]; then n=$((n + 1)); fi
  done
  echo "$n"
}

wait_healthy() {
  local want=$1
  for _ in $(seq 1 120); do
    [ "$(healthy_replicas)" -lt "$want" ] || return 0
    sleep 1
  done
  fail "only $(healthy_replicas) of $want replicas turned healthy"
}

up() {
  AUTHD_PORT=$(free_port)
  export AUTHD_PORT
  "${compose[@]}" up -d --wait "$@" >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; fail "compose up"; }
}

# fresh: a new stack with empty volumes, so a scenario sees no earlier one's state.
fresh() {
  "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1
  up "$@"
}

# missing_events IDS_FILE: how many of the ids have no authd.user.created event on
# the topic; reads again (up to 4 times) while some are missing, since a broker
# that just restarted may answer its first fetches empty.
missing_events() {
  local missing=
  for _ in 1 2 3 4; do
    topic_subjects | sort -u >"$work/subjects"
    missing=$(sort -u "$1" | comm -23 - "$work/subjects" | wc -l)
    [ "$missing" != 0 ] || break
    sleep 3
  done
  echo "$missing"
}

# topic_subjects: the subjects of authd.user.created events on the topic, read
# from the beginning by the authd image itself (inside the network).
topic_subjects() {
  docker run --rm --network "$network" --entrypoint authd "$image" events tail \
    --brokers kafka:9092 --from-beginning --idle-timeout 8 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    e = json.loads(line)
    e = e.get("event", e)
    if e.get("type") == "authd.user.created":
        print(e["subject"])'
}

# sign_up_ids PREFIX N: N sign-ups through the published port (201 each, or it
# fails); prints their ids, one a line.
sign_up_ids() {
  python3 - "$AUTHD_PORT" "$1" "$2" <<'PY'
import json, sys, urllib.request
port, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    body = json.dumps({"username": f"{prefix}{i}", "email": f"{prefix}{i}@example.com",
                       "password": "correct horse battery"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/auth/user", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 201, r.status
        print(json.load(r)["id"], r.headers["X-Authd-Instance"])
PY
}

# build_image: the project's Dockerfile, as compose builds it, from this tree.
build_image() {
  local sha
  sha=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  "${compose[@]}" build --build-arg "GIT_SHA=$sha" auth >"$work/build.log" 2>&1 \
    || { tail -30 "$work/build.log" >&2; fail "docker build"; }
  # What a new replica pulls: the image, and how much of it is the base (here the
  # debootstrap stand-in of debian:bookworm-slim; the official one is about 75 MB).
  local size base
  size=$(docker image inspect -f '{{.Size}}' authd-test/authd:latest)
  base=$(docker image inspect -f '{{.Size}}' authd-test/debian:bookworm)
  say "image size: $(( size / 1000000 )) MB, of which the base image $(( base / 1000000 )) MB and authd $(( (size - base) / 1000000 )) MB"
}
