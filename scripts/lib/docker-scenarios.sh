# The scenarios of scripts/test-docker. Each runs in a subshell of its own with
# errexit on, so every command is checked and the first failure ends it; each
# starts from a stack of its own (fresh: empty volumes) and proves that the fault
# it is about happened: a fault the client did not feel would make the scenario
# pass for nothing.

image_scenario() {
  build_image
  local user size status=
  user=$(docker image inspect -f '{{.Config.User}}' "$image")
  [ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || fail "the image runs as '$user'"
  [ "$(docker run --rm --entrypoint id "$image" -u)" != 0 ] || fail "uid 0 in the container"
  # Into a file first: grep -q closing the pipe early would fail the pipeline.
  docker run --rm "$image" --help >"$work/help.txt" 2>&1 || fail "authd --help exited non-zero"
  grep -q "Usage: authd" "$work/help.txt" || fail "authd --help printed no usage"
  docker run --rm --entrypoint sh "$image" -c \
    'for c in cc gcc c++ rustc cargo ld; do command -v $c && exit 1; done; exit 0' \
    || fail "a compiler is in the image"
  docker run -d --name authd-test-single "$image" >/dev/null
  for _ in $(seq 1 60); do
    status=$(docker inspect -f '{{.State.Health.Status}}' authd-test-single)
    [ "$status" != healthy ] || break
    sleep 1
  done
  docker rm -f authd-test-single >/dev/null
  [ "$status" = healthy ] || fail "HEALTHCHECK says $status"
  size=$(docker image inspect -f '{{.Size}}' "$image")
  note "image: $((size / 1000000)) MB, runs as $user, no compiler, healthy on the embedded store"
}

compose_scenario() {
  fresh
  [ "$(healthy_replicas)" = 3 ] || fail "$(healthy_replicas) of 3 replicas healthy"
  # authd sizes its hashing pool from the cgroup CPU quota (deploy.resources.limits).
  local workers rows missing
  workers=$("${compose[@]}" logs auth 2>/dev/null | grep -o '"hash_workers":[0-9]*' | sort -u)
  [ "$workers" = '"hash_workers":1' ] || fail "hash workers per replica: $workers (want 1 with cpus: 1)"
  # Sign-ups through the published port reach every replica.
  sign_up_ids compose 60 >"$work/signed"
  cut -d' ' -f1 "$work/signed" >"$work/ids"
  [ "$(cut -d' ' -f2 "$work/signed" | sort -u | wc -l)" = 3 ] || fail "sign-ups did not reach all 3 replicas"
  rows=$(psql "SELECT COUNT(*) FROM users WHERE username LIKE 'compose%'")
  [ "$rows" = 60 ] || fail "$rows rows for 60 sign-ups"
  missing=$(missing_events "$work/ids")
  [ "$missing" = 0 ] || fail "$missing of 60 users have no authd.user.created event"
  note "compose: 3 healthy replicas (1 hashing thread each), 60 sign-ups on port $AUTHD_PORT reached all 3, 60 rows, 60 events"
}

scale_scenario() {
  fresh
  load scale-up --duration 40 --concurrency 16 --retry-503 &
  local pid=$! took
  sleep 8
  "${compose[@]}" up -d --no-recreate --scale auth=5 auth >"$work/scale.log" 2>&1 || { cat "$work/scale.log" >&2; fail "scale to 5"; }
  took=$(instances 5 15) || fail "the new replicas did not serve within 15 s"
  note "scale 3 -> 5: five replicas answered through nginx $took s after the command returned (nginx not restarted)"
  wait $pid || fail "the load during scale-up failed"
  report scale-up
  no_client_error scale-up
  load scale-down --duration 40 --concurrency 16 --retry-503 &
  pid=$!
  sleep 8
  "${compose[@]}" up -d --no-recreate --scale auth=2 auth >"$work/scale.log" 2>&1 || { cat "$work/scale.log" >&2; fail "scale to 2"; }
  [ "$("${compose[@]}" ps -q auth | wc -l)" = 2 ] || fail "not 2 replicas after scaling down"
  wait $pid || fail "the load during scale-down failed"
  report scale-down
  no_client_error scale-down
}

# A careful client: Idempotency-Key on every sign-up, retried on 503, on 409 "in
# progress" and on transport errors; none may be created twice.
db_restart_scenario() {
  fresh
  local pid before
  before=$(started_at postgres)
  load db-restart --duration 45 --concurrency 16 --retry --attempt-timeout 5 --timeout 30 &
  pid=$!
  sleep 8
  "${compose[@]}" restart postgres >/dev/null 2>&1 || fail "compose restart postgres"
  [ "$(started_at postgres)" != "$before" ] || fail "Postgres did not restart"
  wait $pid || fail "the load across the Postgres restart failed"
  report db-restart
  # A database that is down answers 503 + Retry-After (retried), never 500.
  [ "$(json "$work/db-restart.json" 'sorted(set(d["statuses"]) - {"201", "503"})')" = "[]" ] \
    || fail "db-restart: answers other than 201 and 503"
  [ "$(json "$work/db-restart.json" 'd["transport_errors_total"]')" = 0 ] || fail "db-restart: transport errors"
  [ "$(felt db-restart)" -gt 0 ] || fail "db-restart: the client felt no outage (no 503, no pause)"
  [ "$(json "$work/db-restart.json" 'sum(d["created_per_second"][-5:]) > 0')" = True ] \
    || fail "no sign-up succeeded after Postgres came back"
  note "db-restart: felt as $(felt db-restart) (503s, in-progress 409s, seconds without a sign-up); sign-ups per second in the last 5 s: $(json "$work/db-restart.json" 'd["created_per_second"][-5:]')"
}

broker_kill_scenario() {
  fresh
  local pid waiting max=0
  load broker-kill --duration 45 --concurrency 16 --retry --attempt-timeout 5 --timeout 30 &
  pid=$!
  sleep 8
  "${compose[@]}" kill kafka >/dev/null 2>&1 || fail "compose kill kafka"
  [ "$(running kafka)" = false ] || fail "the broker still runs after kill"
  # While it is down, events wait in the outbox: it grows.
  for _ in $(seq 1 10); do
    waiting=$(psql "SELECT COUNT(*) FROM outbox")
    [ "$waiting" -le "$max" ] || max=$waiting
    sleep 1
  done
  "${compose[@]}" start kafka >/dev/null 2>&1 || fail "compose start kafka"
  [ "$(running kafka)" = true ] || fail "the broker did not start again"
  wait $pid || { "${compose[@]}" logs --no-log-prefix kafka 2>&1 | tail -30 >&2; fail "the load across the broker outage failed"; }
  report broker-kill
  no_client_error broker-kill
  [ "$max" -ge 20 ] || fail "only $max events waited in the outbox while the broker was down"
  note "broker-kill: up to $max events waited in the outbox while the broker was down; every one published after (verify)"
}

# The longest a careful client (Idempotency-Key, --retry) may wait for a sign-up
# across a replica's crash or hang: nginx sends a keyed request to another replica
# at once after a crash, or after 1.5 s of silence (its keyed read timeout); there
# the request waits for the dead holder's lease on the key (1 s, renewed every
# 300 ms, so it ends within a second of the fault) and does the work.
# Measured 1.4-2.8 s (issue 27).
max_wait_ms=3000
# Clients of the kill and hang scenarios. At 16, the three one-CPU replicas on a
# 2-CPU host are past their hashing budget now and then without any fault: a 503
# after 1.5 s, then its 1 s Retry-After, 2.99 s in all, 10-20 s after a hang had
# ended; on a slower CI host (83 sign-ups/s against 125 here) a killed replica's
# request queued on a second replica past nginx's keyed 1.5 s and waited on a
# third. That is the overload's bound (README: "Overload gets a fast, clear
# answer"), not the fault's; 8 clients keep every replica busy without it.
fault_clients=8

# within_bound NAME: the longest answer of the run NAME was at most max_wait_ms.
within_bound() {
  local max
  max=$(json "$work/$1.json" 'd["latency_ms"]["max"]')
  [ "$(json "$work/$1.json" "d['latency_ms']['max'] <= $max_wait_ms")" = True ] \
    || fail "$1: the longest answer took $max ms, more than $max_wait_ms"
}

# A replica crashes (SIGKILL: its restart policy brings it back). The client waits
# longer per attempt than nginx (15 s > 4 s), so whatever it saw was an answer:
# only 201 in the end, and only 409 "in progress" or 503 on the way.
replica_kill_scenario() {
  fresh
  local victim pid victim_pid
  victim=$("${compose[@]}" ps -q auth)
  victim=${victim%%$'\n'*}   # the first (not `| head -1`, which fails under pipefail)
  victim_pid=$(docker inspect -f '{{.State.Pid}}' "$victim")
  load replica-kill --duration 40 --concurrency "$fault_clients" --retry --attempt-timeout 15 --timeout 60 &
  pid=$!
  sleep 8
  [ "$victim_pid" -gt 1 ] || fail "the replica has no process ($victim_pid)"
  kill -KILL "$victim_pid" || fail "kill -KILL the replica"
  wait $pid || fail "the load across the replica crash failed"
  report replica-kill
  answers_only replica-kill
  [ "$(docker inspect -f '{{.RestartCount}}' "$victim")" -ge 1 ] || fail "the killed replica was not restarted"
  [ "$(docker inspect -f '{{.State.Pid}}' "$victim")" != "$victim_pid" ] || fail "the killed replica is the same process"
  local taken resent_n
  # shellcheck disable=SC2046 # one URL per word
  taken=$(taken_over $(replica_urls)) || fail "reading the replicas' metrics"
  resent_n=$("${compose[@]}" logs --no-log-prefix nginx 2>/dev/null | resent)
  [ "$(( $(felt replica-kill) + taken + resent_n ))" -gt 0 ] || fail "replica-kill: the client felt no crash"
  within_bound replica-kill
  wait_healthy 3
  note "replica-kill: felt as $(felt replica-kill), $resent_n requests re-sent by nginx to another replica, $taken keys of the killed replica taken over after their lease; the longest answer took $(json "$work/replica-kill.json" 'd["latency_ms"]["max"]') ms; the replica was restarted (restart count $(docker inspect -f '{{.RestartCount}}' "$victim"))"
}

# Another hangs for 10 s (SIGSTOP): a keyed request it held goes to a live replica
# after nginx's 1.5 s; max_fails sends the rest to the live replicas.
replica_stop_scenario() {
  fresh
  local victim pid victim_pid
  victim=$("${compose[@]}" ps -q auth)
  victim=${victim##*$'\n'}   # the last
  victim_pid=$(docker inspect -f '{{.State.Pid}}' "$victim")
  load replica-stop --duration 40 --concurrency "$fault_clients" --retry --attempt-timeout 15 --timeout 60 &
  pid=$!
  sleep 8
  [ "$victim_pid" -gt 1 ] || fail "the replica has no process ($victim_pid)"
  kill -STOP "$victim_pid" || fail "kill -STOP the replica"
  becomes "$victim_pid" T || fail "the replica is not stopped: state $(proc_state "$victim_pid")"
  sleep 10
  kill -CONT "$victim_pid" || fail "kill -CONT the replica"
  becomes "$victim_pid" '!T' || fail "the replica did not wake"
  wait $pid || fail "the load across the hung replica failed"
  # What the replicas and the gateway said, for a long answer to be explained.
  "${compose[@]}" logs --no-color auth nginx >"$results/replica-stop.log" 2>&1 || true
  report replica-stop
  answers_only replica-stop
  hung_felt replica-stop
  within_bound replica-stop
  note "replica-stop: the longest answer took $(json "$work/replica-stop.json" 'd["latency_ms"]["max"]') ms; nothing created twice (verify)"
}

# hung_felt NAME: a request of the run waited out nginx's keyed read timeout (1.5 s;
# a healthy answer takes under 1 s here), or was refused with 503: the hang was felt.
hung_felt() {
  [ "$(json "$work/$1.json" 'd["latency_ms"]["max"] >= 1400 or d.get("retried_statuses", {}).get("503", 0) > 0')" = True ] \
    || fail "$1: no request waited on the hung replica"
}

restart_scenario() {
  fresh
  local waiting rows missing drained=
  "${compose[@]}" stop kafka >/dev/null 2>&1 || fail "compose stop kafka"
  [ "$(running kafka)" = false ] || fail "the broker still runs after stop"
  sign_up_ids kept 20 | cut -d' ' -f1 >"$work/kept"
  waiting=$(psql "SELECT COUNT(*) FROM outbox")
  [ "$waiting" -ge 20 ] || fail "only $waiting events wait in the outbox with the broker stopped"
  "${compose[@]}" down >/dev/null 2>&1 || fail "compose down"
  [ -z "$("${compose[@]}" ps -aq)" ] || fail "containers left after down"
  up
  rows=$(psql "SELECT COUNT(*) FROM users WHERE username LIKE 'kept%'")
  [ "$rows" = 20 ] || fail "$rows of 20 users survived down/up"
  for _ in $(seq 1 60); do
    if [ "$(psql "SELECT COUNT(*) FROM outbox")" = 0 ]; then drained=1; break; fi
    sleep 1
  done
  [ -n "$drained" ] || fail "the outbox was not drained within 60 s of up"
  missing=$(missing_events "$work/kept")
  [ "$missing" = 0 ] || fail "$missing of 20 unsent events never reached the topic"
  note "down/up: 20 users and their 20 unsent events survived (volumes), events published after up"
}

# Sign-ups/s through the compose gateway and through the no-Docker stack
# (scripts/stack) with the same binary, replicas and hashing threads, measured
# interleaved: compose, stack, compose.
throughput_scenario() {
  local n=${AUTHD_DOCKER_BENCH_REQUESTS:-2000} bin url c1 s c2
  bin=$work/authd
  docker run --rm --entrypoint cat "$image" /usr/local/bin/authd >"$bin"
  chmod +x "$bin"
  "${compose[@]}" down -v >/dev/null 2>&1
  AUTHD_REPLICAS=2 up
  load bench-compose-1 --requests "$n" --concurrency 100 --retry-503 --timeout 60
  "${compose[@]}" stop >/dev/null 2>&1
  AUTHD_STACK_DIR=$work/stack scripts/stack down --purge >/dev/null 2>&1 || true
  AUTHD_STACK_DIR=$work/stack AUTHD_BIN=$bin AUTHD_HASH_WORKERS=1 \
    scripts/stack up --replicas 2 --port "$(free_port)" >"$work/stack.log" 2>&1 \
    || { cat "$work/stack.log" >&2; fail "the no-Docker stack did not start"; }
  url=$(grep '^AUTHD_URL=' "$work/stack/env" | cut -d= -f2-)
  # shellcheck disable=SC1091
  source "$work/stack/env"
  "$load_bin" --url "$url" --requests "$n" --concurrency 100 --retry-503 --timeout 60 --json \
    --verify --database-url "$DATABASE_URL" --brokers "$AUTHD_KAFKA_BROKERS" --prefix bench-stack \
    >"$work/bench-stack.json"
  cp "$work/bench-stack.json" "$results/"
  AUTHD_STACK_DIR=$work/stack scripts/stack down --purge >/dev/null
  "${compose[@]}" start >/dev/null 2>&1
  wait_healthy 2
  load bench-compose-2 --requests "$n" --concurrency 100 --retry-503 --timeout 60
  c1=$(json "$work/bench-compose-1.json" 'round(d["requests_per_s"], 1)')
  s=$(json "$work/bench-stack.json" 'round(d["requests_per_s"], 1)')
  c2=$(json "$work/bench-compose-2.json" 'round(d["requests_per_s"], 1)')
  note "throughput ($n sign-ups, 100 clients, 2 replicas x 1 hashing thread): compose $c1, no-Docker $s, compose $c2 sign-ups/s; compose/no-Docker $(python3 -c "print(round(($c1 + $c2) / 2 / $s, 3))")"
  for f in bench-compose-1 bench-stack bench-compose-2; do
    [ "$(json "$work/$f.json" 'd["verify"]["lost"]')" = 0 ] || fail "$f lost sign-ups"
  done
}
