# The replica faults of scripts/test-docker on the no-Docker stack (scripts/stack:
# the same nginx files, replicas as plain processes, nothing restarts them), with
# the binary of the image: a client with Idempotency-Keys that retries waits at
# most max_wait_ms across a crash or a hang, and nothing is lost or created twice.

# stack_up N: a fresh stack of N replicas; its env (AUTHD_URL, DATABASE_URL, ...)
# sourced.
stack_up() {
  local bin=$work/stack-authd
  AUTHD_STACK_DIR=$work/stack scripts/stack down --purge >/dev/null 2>&1 || true
  # Down again when the scenario ends, failed or not (and its load stopped, as
  # scripts/test-docker's own trap does): the next scenario may start a stack.
  trap 'jobs -p | xargs -r kill 2>/dev/null || true
    AUTHD_STACK_DIR=$work/stack scripts/stack down --purge >/dev/null 2>&1 || true' EXIT
  if [ ! -x "$bin" ]; then
    docker run --rm --entrypoint cat "$image" /usr/local/bin/authd >"$bin"
    chmod +x "$bin"
  fi
  AUTHD_STACK_DIR=$work/stack AUTHD_BIN=$bin scripts/stack up --replicas "$1" --port "$(free_port)" \
    >"$work/stack.log" 2>&1 || { cat "$work/stack.log" >&2; fail "the no-Docker stack did not start"; }
  # shellcheck disable=SC1091
  source "$work/stack/env"
}

# stack_load NAME ARGS...: authd-load against the stack's nginx, verified.
stack_load() {
  local name=$1
  shift
  "$load_bin" --url "$AUTHD_URL" --json --verify --database-url "$DATABASE_URL" \
    --brokers "$AUTHD_KAFKA_BROKERS" --prefix "$name" "$@" >"$work/$name.json" 2>"$work/$name.err" \
    || { cat "$work/$name.err" >&2; return 1; }
  cp "$work/$name.json" "$results/$name.json"
}

stack_replica_kill_scenario() {
  stack_up 3
  local pid victim
  victim=$(cat "$work/stack/auth-1/pid")
  stack_load stack-replica-kill --duration 30 --concurrency "$fault_clients" --retry --attempt-timeout 15 --timeout 60 &
  pid=$!
  sleep 8
  kill -KILL "$victim" || fail "kill -KILL the replica"
  wait $pid || fail "the load across the replica crash failed"
  ! kill -0 "$victim" 2>/dev/null || fail "the killed replica still runs"
  report stack-replica-kill
  answers_only stack-replica-kill
  local taken resent_n dir urls=()
  for dir in "$work"/stack/auth-*; do   # the survivors: the victim has no metrics
    [ "$(cat "$dir/pid")" = "$victim" ] || urls+=("http://127.0.0.1:$(cat "$dir/port")")
  done
  taken=$(taken_over "${urls[@]}") || fail "reading the replicas' metrics"
  resent_n=$(resent <"$work/stack/nginx/log")
  [ "$(( $(felt stack-replica-kill) + taken + resent_n ))" -gt 0 ] || fail "stack-replica-kill: the client felt no crash"
  within_bound stack-replica-kill
  note "stack-replica-kill: felt as $(felt stack-replica-kill), $resent_n requests re-sent by nginx to another replica, $taken keys of the killed replica taken over after their lease; the longest answer took $(json "$work/stack-replica-kill.json" 'd["latency_ms"]["max"]') ms"
  AUTHD_STACK_DIR=$work/stack scripts/stack down --purge >/dev/null
}

stack_replica_stop_scenario() {
  stack_up 3
  local pid victim
  victim=$(cat "$work/stack/auth-3/pid")
  stack_load stack-replica-stop --duration 30 --concurrency "$fault_clients" --retry --attempt-timeout 15 --timeout 60 &
  pid=$!
  sleep 8
  kill -STOP "$victim" || fail "kill -STOP the replica"
  becomes "$victim" T || fail "the replica is not stopped: state $(proc_state "$victim")"
  sleep 10
  kill -CONT "$victim" || fail "kill -CONT the replica"
  becomes "$victim" '!T' || fail "the replica did not wake"
  wait $pid || fail "the load across the hung replica failed"
  report stack-replica-stop
  answers_only stack-replica-stop
  hung_felt stack-replica-stop
  within_bound stack-replica-stop
  note "stack-replica-stop: the longest answer took $(json "$work/stack-replica-stop.json" 'd["latency_ms"]["max"]') ms; nothing created twice (verify)"
  AUTHD_STACK_DIR=$work/stack scripts/stack down --purge >/dev/null
}
