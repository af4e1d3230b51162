#!/bin/bash
# Serves on :9092 and advertises the PLAINTEXT address of KAFKA_ADVERTISED_LISTENERS
# (kafka:9092 in our compose file), as the real image does.
set -euo pipefail
advertised=${KAFKA_ADVERTISED_LISTENERS:-PLAINTEXT://localhost:9092}
advertised=${advertised%%,*}
advertised=${advertised#*://}
dir=${KAFKA_LOG_DIRS:-/var/lib/kafka/data}
mkdir -p "$dir"
cd "$dir"
# Tansu 0.6's SQLite storage has no index on its header table, so reading a topic
# from the beginning scans every header row per record (scripts/lib/services.sh
# adds the same index for the no-Docker stack). It changes no data.
# Only once Tansu listens (its migrations are done: Tansu does not wait on a lock,
# and exited at start with "database is locked" when the index was created during
# its restart), and only when the index is missing (a restart finds it there).
(
  for _ in $(seq 1 600); do
    if (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then
      if ! sqlite3 -cmd ".timeout 10000" tansu.db \
        "SELECT 1 FROM sqlite_master WHERE name = 'authd_header_record'" | grep -q 1; then
        sqlite3 -cmd ".timeout 10000" tansu.db \
          "CREATE INDEX IF NOT EXISTS authd_header_record ON header (topition, offset_id)"
      fi
      exit 0
    fi
    sleep 0.2
  done
) &
exec tansu broker --listener-url tcp://0.0.0.0:9092 \
  --advertised-listener-url "tcp://$advertised" --storage-engine sqlite://tansu.db
