#!/bin/bash
# The official image's contract, as far as our compose file uses it: on first start
# initialise PGDATA with POSTGRES_USER / POSTGRES_PASSWORD and create POSTGRES_DB,
# accept password logins from the network, then run the command as postgres.
set -euo pipefail
if [ "${1:-}" = postgres ]; then
  user=${POSTGRES_USER:-postgres} db=${POSTGRES_DB:-${POSTGRES_USER:-postgres}}
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pw=$(mktemp); echo "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" >"$pw"; chown postgres "$pw"
    runuser -u postgres -- initdb -D "$PGDATA" --username="$user" --pwfile="$pw" \
      --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pw"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
      runuser -u postgres -- postgres --single -D "$PGDATA" -j postgres <<<"CREATE DATABASE \"$db\" OWNER \"$user\";" >/dev/null
    fi
  fi
  exec runuser -u postgres -- "$@"
fi
exec "$@"
