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
exec tansu broker --listener-url tcp://0.0.0.0:9092 \
  --advertised-listener-url "tcp://$advertised" --storage-engine sqlite://tansu.db
